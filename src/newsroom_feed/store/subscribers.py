"""Named queries on subscribers, subscriber_categories and consent_events; `people` keeps the rules.

Every function joins the caller's transaction. Rows come back as tuples in the order of `COLUMNS`;
`people.subscriptions` turns them into `Subscriber`s. Times are passed in as stored text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from newsroom_feed.store.database import Store, id_chunks

COLUMNS = (
    "id, email, name, kind, organization, language, frequency, status, token, consent_text, consent_at, "
    "consent_source, created_at, confirmed_at, unsubscribed_at"
)

#: Pending subscribers whose last confirmation mail (or sign-up) is at or before ``:cutoff``.
#: `created_at <= ?` is implied by the second condition; spelled out, it lets SQLite use the
#: partial index `subscribers_pending` (created_at WHERE status = 'pending').
_STALE = (
    "status = 'pending' AND created_at <= :cutoff AND coalesce(last_confirmation_at, created_at) <= :cutoff"
)

# -- subscribers ------------------------------------------------------------------------------------


def rows_by_ids(store: Store, ids: list[int]) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    for chunk, marks in id_chunks(ids):
        found.extend(store.conn.execute(f"SELECT {COLUMNS} FROM subscribers WHERE id IN ({marks})", chunk))
    return found


def _one(store: Store, where: str, value: object) -> tuple[Any, ...] | None:
    row: tuple[Any, ...] | None = store.conn.execute(
        f"SELECT {COLUMNS} FROM subscribers WHERE {where}", (value,)
    ).fetchone()
    return row


def row_by_id(store: Store, subscriber_id: int) -> tuple[Any, ...] | None:
    return _one(store, "id = ?", subscriber_id)


def row_by_email(store: Store, email: str) -> tuple[Any, ...] | None:
    """The subscriber with this address, compared case-insensitively."""
    return _one(store, "email = ? COLLATE NOCASE", email)


def row_by_token(store: Store, token: str) -> tuple[Any, ...] | None:
    return _one(store, "token = ?", token)


def listing(store: Store, status: str | None, frequencies: Sequence[str] | None) -> list[tuple[Any, ...]]:
    """Rows ordered by id, filtered by status and frequency when given."""
    sql = f"SELECT {COLUMNS} FROM subscribers WHERE 1 = 1"
    params: list[Any] = []
    if status is not None:
        sql += " AND status = ?"
        params.append(status)
    if frequencies is not None:
        sql += f" AND frequency IN ({','.join('?' * len(frequencies))})"
        params.extend(frequencies)
    return store.conn.execute(sql + " ORDER BY id", params).fetchall()


def exists(store: Store, email: str) -> bool:
    return (
        store.conn.execute("SELECT 1 FROM subscribers WHERE email = ? COLLATE NOCASE", (email,)).fetchone()
        is not None
    )


def confirmation_state(store: Store, email: str) -> tuple[int, str, str | None] | None:
    """(id, status, last_confirmation_at) of the address, compared case-insensitively."""
    row = store.conn.execute(
        "SELECT id, status, last_confirmation_at FROM subscribers WHERE email = ? COLLATE NOCASE", (email,)
    ).fetchone()
    return (int(row[0]), row[1], row[2]) if row is not None else None


def consent_text(store: Store, subscriber_id: int) -> tuple[str | None] | None:
    """The stored consent text, in a one-tuple; None when there is no such subscriber."""
    row = store.conn.execute("SELECT consent_text FROM subscribers WHERE id = ?", (subscriber_id,)).fetchone()
    return (row[0],) if row is not None else None


def pending_since(store: Store, since: str) -> tuple[int, str | None]:
    """How many web sign-ups after ``since`` are still pending, and the oldest one's ``created_at``.

    The partial index `subscribers_pending` keeps this one cheap query however many subscribers there are.
    """
    count, oldest = store.conn.execute(
        "SELECT count(*), min(created_at) FROM subscribers "
        "WHERE status = 'pending' AND created_at > ? AND consent_source = 'web'",
        (since,),
    ).fetchone()
    return int(count), oldest


def stale_pending_ids(store: Store, cutoff: str) -> list[int]:
    return [
        int(row[0])
        for row in store.conn.execute(f"SELECT id FROM subscribers WHERE {_STALE}", {"cutoff": cutoff})
    ]


def stale_pending(store: Store, subscriber_id: int, cutoff: str) -> tuple[str, str | None] | None:
    """(email, unsubscribed_at) of the subscriber if still pending and stale at ``cutoff``."""
    row = store.conn.execute(
        f"SELECT email, unsubscribed_at FROM subscribers WHERE id = :id AND {_STALE}",
        {"id": subscriber_id, "cutoff": cutoff},
    ).fetchone()
    return (row[0], row[1]) if row is not None else None


def insert(store: Store, values: dict[str, Any]) -> int:
    """Add a subscriber from column values; returns its id."""
    names = ", ".join(values)
    marks = ", ".join("?" * len(values))
    cursor = store.conn.execute(f"INSERT INTO subscribers ({names}) VALUES ({marks})", tuple(values.values()))
    return int(cursor.lastrowid or 0)


def update(store: Store, subscriber_id: int, values: dict[str, Any]) -> None:
    """Set columns of one subscriber; the names come from code, never from input."""
    if values:
        assignments = ", ".join(f"{name} = ?" for name in values)
        store.conn.execute(
            f"UPDATE subscribers SET {assignments} WHERE id = ?", (*values.values(), subscriber_id)
        )


def apply_request(
    store: Store, subscriber_id: int, values: dict[str, Any], consent_at: str, source: str
) -> None:
    """Write a confirmed request's choices; a request with no consent text keeps the stored one."""
    store.conn.execute(
        "UPDATE subscribers SET name = ?, kind = ?, organization = ?, language = ?, frequency = ?, "
        "consent_text = coalesce(?, consent_text), consent_at = ?, consent_source = ? WHERE id = ?",
        (
            values["name"],
            values["kind"],
            values["organization"],
            values["language"],
            values["frequency"],
            values["consent_text"],
            consent_at,
            source,
            subscriber_id,
        ),
    )


def change_status(
    store: Store, subscriber_id: int, old: Sequence[str], new: str, **stamps: str | None
) -> bool:
    """Move a subscriber from one of ``old`` statuses to ``new``, setting the time columns ``stamps``;
    False when it was in none of them (someone else got there first)."""
    sets = "".join(f", {name} = ?" for name in stamps)
    marks = ",".join("?" * len(old))
    cursor = store.conn.execute(
        f"UPDATE subscribers SET status = ?{sets} WHERE id = ? AND status IN ({marks})",
        (new, *stamps.values(), subscriber_id, *old),
    )
    return bool(cursor.rowcount)


def delete(store: Store, subscriber_id: int) -> None:
    store.conn.execute("DELETE FROM subscribers WHERE id = ?", (subscriber_id,))


def count_bounce(store: Store, subscriber_id: int, bounce_after: int) -> None:
    """Count one permanent failure; the ``bounce_after``-th makes an active subscriber `bounced`."""
    store.conn.execute(
        "UPDATE subscribers SET permanent_failures = permanent_failures + 1, "
        "status = CASE WHEN permanent_failures + 1 >= ? AND status = 'active' THEN 'bounced' "
        "ELSE status END WHERE id = ?",
        (bounce_after, subscriber_id),
    )


def bounced_among(store: Store, ids: list[int]) -> set[int]:
    found: set[int] = set()
    for chunk, marks in id_chunks(ids):
        rows = store.conn.execute(
            f"SELECT id FROM subscribers WHERE status = 'bounced' AND id IN ({marks})", chunk
        )
        found.update(int(row[0]) for row in rows)
    return found


# -- subscriber_categories --------------------------------------------------------------------------


def category_slugs(store: Store, ids: list[int]) -> dict[int, list[str]]:
    """Each subscriber's category slugs, in slug order."""
    found: dict[int, list[str]] = {}
    for chunk, marks in id_chunks(ids):
        for subscriber_id, slug in store.conn.execute(
            f"SELECT sc.subscriber_id, c.slug FROM subscriber_categories sc "
            f"JOIN categories c ON c.id = sc.category_id WHERE sc.subscriber_id IN ({marks}) "
            f"ORDER BY c.slug",
            chunk,
        ):
            found.setdefault(subscriber_id, []).append(slug)
    return found


def set_categories(store: Store, subscriber_id: int, slugs: Iterable[str]) -> None:
    """Replace a subscriber's categories, creating unknown ones."""
    store.conn.execute("DELETE FROM subscriber_categories WHERE subscriber_id = ?", (subscriber_id,))
    store.conn.executemany(
        "INSERT INTO subscriber_categories (subscriber_id, category_id) VALUES (?, ?)",
        [(subscriber_id, category_id) for category_id in store.ensure_categories(slugs)],
    )


# -- consent_events ---------------------------------------------------------------------------------


def add_event(
    store: Store,
    subscriber_id: int,
    at: str,
    event: str,
    source: str,
    consent_text: str | None,
    version: str | None,
    detail: str | None,
) -> None:
    store.conn.execute(
        "INSERT INTO consent_events (subscriber_id, at, event, source, consent_text, consent_version, "
        "detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (subscriber_id, at, event, source, consent_text, version, detail),
    )


def events(
    store: Store, subscriber_id: int
) -> list[tuple[str, str, str, str | None, str | None, str | None]]:
    """(at, event, source, consent_version, consent_text, detail) of every event, oldest first."""
    return store.conn.execute(
        "SELECT at, event, source, consent_version, consent_text, detail FROM consent_events "
        "WHERE subscriber_id = ? ORDER BY id",
        (subscriber_id,),
    ).fetchall()


def unconfirmed_opt_ins(
    store: Store, subscriber_id: int, made_by: str
) -> list[tuple[str, str, str | None, str | None]]:
    """(at, source, consent_text, detail) of the opt-ins since the last confirmation made by
    ``made_by``, newest first."""
    return store.conn.execute(
        "SELECT at, source, consent_text, detail FROM consent_events WHERE subscriber_id = ? "
        "AND event = 'opt-in' AND at <= ? AND id > (SELECT coalesce(max(id), 0) FROM consent_events "
        "WHERE subscriber_id = ? AND event = 'confirmation') ORDER BY id DESC",
        (subscriber_id, made_by, subscriber_id),
    ).fetchall()


def clear_open_requests(store: Store, subscriber_id: int) -> None:
    """Empty the detail of opt-ins since the last confirmation or withdrawal."""
    store.conn.execute(
        "UPDATE consent_events SET detail = NULL WHERE subscriber_id = ? AND event = 'opt-in' "
        "AND id > (SELECT coalesce(max(id), 0) FROM consent_events WHERE subscriber_id = ? "
        "AND event IN ('confirmation', 'withdrawal'))",
        (subscriber_id, subscriber_id),
    )


def delete_events(store: Store, subscriber_id: int) -> None:
    store.conn.execute("DELETE FROM consent_events WHERE subscriber_id = ?", (subscriber_id,))


def category_pairs(
    store: Store, *, frequency: str | None = None, subscriber_id: int | None = None
) -> Iterator[tuple[int, str | None]]:
    """(subscriber id, category slug or None) by subscriber id: the active subscribers of ``frequency``,
    or the one ``subscriber_id`` whatever its status. A cursor, not a list: a digest run streams 100,000
    subscribers through it."""
    sql = (
        "SELECT s.id, c.slug FROM subscribers s "
        "LEFT JOIN subscriber_categories sc ON sc.subscriber_id = s.id "
        "LEFT JOIN categories c ON c.id = sc.category_id WHERE "
    )
    params: list[object]
    if subscriber_id is None:
        sql += "s.status = 'active' AND s.frequency = ?"
        params = [frequency]
    else:
        sql += "s.id = ?"
        params = [subscriber_id]
    return iter(store.conn.execute(sql + " ORDER BY s.id", params))
