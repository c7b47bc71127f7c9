"""Named queries on the journalist columns of `subscribers` and on `terms_acceptances`.

`people.journalists` keeps the rules (who may be verified, what a revocation covers); every function here
joins the caller's transaction. Times are passed in as stored text.
"""

from __future__ import annotations

from typing import Any

from newsroom_feed.store.database import Store

#: The version of the embargo terms the subscriber ``s`` accepted last (NULL: none), for every query that
#: asks whether a journalist accepted the terms in force.
NEWEST_TERMS = (
    "(SELECT t.version FROM terms_acceptances t WHERE t.subscriber_id = s.id ORDER BY t.id DESC LIMIT 1)"
)
#: The columns of a journalist row, in the order `people.journalists.Journalist` takes them; the last is
#: the version of the newest terms acceptance.
COLUMNS = (
    "s.id, s.email, s.name, s.organization, s.status, s.verification, s.work_url, s.press_card, "
    f"s.created_at, s.verified_at, s.revoked_at, {NEWEST_TERMS}"
)


def set_application(store: Store, subscriber_id: int, work_url: str, press_card: str | None) -> None:
    """Mark a subscriber as a journalist who applied, with what shows their work."""
    store.conn.execute(
        "UPDATE subscribers SET verification = 'applied', work_url = ?, press_card = ? WHERE id = ?",
        (work_url, press_card, subscriber_id),
    )


def set_verification(store: Store, subscriber_id: int, verification: str, stamp: str) -> None:
    """Change the verification; `verified_at` or `revoked_at` takes ``stamp`` when it is that change."""
    store.conn.execute(
        "UPDATE subscribers SET verification = :v, "
        "verified_at = CASE WHEN :v = 'verified' THEN :at ELSE verified_at END, "
        "revoked_at = CASE WHEN :v = 'revoked' THEN :at ELSE revoked_at END WHERE id = :id",
        {"v": verification, "at": stamp, "id": subscriber_id},
    )


def add_acceptance(store: Store, subscriber_id: int, version: str, stamp: str, source: str) -> None:
    store.conn.execute(
        "INSERT INTO terms_acceptances (subscriber_id, version, at, source) VALUES (?, ?, ?, ?)",
        (subscriber_id, version, stamp, source),
    )


def latest_acceptance(store: Store, subscriber_id: int) -> tuple[str, str, str] | None:
    """(version, at, source) of the newest acceptance of the terms by this subscriber."""
    row: tuple[str, str, str] | None = store.conn.execute(
        "SELECT version, at, source FROM terms_acceptances WHERE subscriber_id = ? ORDER BY id DESC LIMIT 1",
        (subscriber_id,),
    ).fetchone()
    return row


def listing(store: Store, verification: str | None) -> list[tuple[Any, ...]]:
    """Journalist rows (any verification, or the one given), ordered by id."""
    sql = f"SELECT {COLUMNS} FROM subscribers s WHERE s.verification IS NOT NULL"
    params: list[Any] = []
    if verification is not None:
        sql += " AND s.verification = ?"
        params.append(verification)
    return store.conn.execute(sql + " ORDER BY s.id", params).fetchall()


def row_by_id(store: Store, subscriber_id: int) -> tuple[Any, ...] | None:
    row: tuple[Any, ...] | None = store.conn.execute(
        f"SELECT {COLUMNS} FROM subscribers s WHERE s.id = ? AND s.verification IS NOT NULL", (subscriber_id,)
    ).fetchone()
    return row


def row_by_email(store: Store, email: str) -> tuple[Any, ...] | None:
    row: tuple[Any, ...] | None = store.conn.execute(
        f"SELECT {COLUMNS} FROM subscribers s "
        "WHERE s.email = ? COLLATE NOCASE AND s.verification IS NOT NULL",
        (email,),
    ).fetchone()
    return row
