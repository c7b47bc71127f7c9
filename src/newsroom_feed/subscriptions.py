"""Subscribers: adding, importing, confirming, unsubscribing, preferences, erasure, and their tokens.

The `subscribers` and `subscriber_categories` tables belong to this module; others read subscribers
through the functions here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from newsroom_feed.errors import SubscriberNotFound
from newsroom_feed.models import Subscriber
from newsroom_feed.store import Store

_COLUMNS = (
    "id, email, name, kind, organization, language, frequency, status, token, consent_text, consent_at, "
    "consent_source, created_at, confirmed_at, unsubscribed_at"
)


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).astimezone(UTC) if text else None


def _categories(store: Store, ids: list[int]) -> dict[int, tuple[str, ...]]:
    found: dict[int, list[str]] = {}
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        marks = ",".join("?" * len(chunk))
        for subscriber_id, slug in store.conn.execute(
            f"SELECT sc.subscriber_id, c.slug FROM subscriber_categories sc "
            f"JOIN categories c ON c.id = sc.category_id WHERE sc.subscriber_id IN ({marks}) "
            f"ORDER BY c.slug",
            chunk,
        ):
            found.setdefault(subscriber_id, []).append(slug)
    return {key: tuple(value) for key, value in found.items()}


def _build(rows: list[Any], categories: dict[int, tuple[str, ...]]) -> list[Subscriber]:
    result = []
    for row in rows:
        (sid, email, name, kind, organization, language, frequency, status, token, consent_text,
         consent_at, consent_source, created_at, confirmed_at, unsubscribed_at) = row  # fmt: skip
        result.append(
            Subscriber(
                id=sid,
                email=email,
                name=name,
                kind=kind,
                organization=organization,
                language=language,
                frequency=frequency,
                status=status,
                token=token,
                categories=categories.get(sid, ()),
                consent_text=consent_text,
                consent_at=_moment(consent_at),
                consent_source=consent_source,
                created_at=_moment(created_at),
                confirmed_at=_moment(confirmed_at),
                unsubscribed_at=_moment(unsubscribed_at),
            )
        )
    return result


def subscribers_by_ids(store: Store, ids: Iterable[int]) -> list[Subscriber]:
    wanted = sorted(set(ids))
    rows: list[Any] = []
    for start in range(0, len(wanted), 900):
        chunk = wanted[start : start + 900]
        marks = ",".join("?" * len(chunk))
        rows.extend(
            store.conn.execute(f"SELECT {_COLUMNS} FROM subscribers WHERE id IN ({marks})", chunk).fetchall()
        )
    return _build(rows, _categories(store, wanted))


def get_subscriber(store: Store, ref: int | str) -> Subscriber:
    """A subscriber by id or e-mail address (case-insensitive).

    :raises SubscriberNotFound: none matches.
    """
    if isinstance(ref, int) or str(ref).isdigit():
        row = store.conn.execute(f"SELECT {_COLUMNS} FROM subscribers WHERE id = ?", (int(ref),)).fetchone()
    else:
        row = store.conn.execute(
            f"SELECT {_COLUMNS} FROM subscribers WHERE email = ? COLLATE NOCASE", (str(ref).strip(),)
        ).fetchone()
    if row is None:
        raise SubscriberNotFound(str(ref))
    return _build([row], _categories(store, [row[0]]))[0]


def list_subscribers(
    store: Store, *, status: str | None = None, frequencies: Iterable[str] | None = None
) -> list[Subscriber]:
    """Subscribers ordered by id, filtered by status and frequency when given."""
    sql = f"SELECT {_COLUMNS} FROM subscribers WHERE 1 = 1"
    params: list[Any] = []
    if status is not None:
        sql += " AND status = ?"
        params.append(status)
    if frequencies is not None:
        wanted = list(frequencies)
        sql += f" AND frequency IN ({','.join('?' * len(wanted))})"
        params.extend(wanted)
    rows = store.conn.execute(sql + " ORDER BY id", params).fetchall()
    return _build(rows, _categories(store, [row[0] for row in rows]))
