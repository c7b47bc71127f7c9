"""Named queries on the bounces table (one row per report read from the bounce mailbox), and the lookups
of the outbox row a report names; `mail.bounces` keeps the rules.

Every function joins the caller's transaction. Times are passed in as stored text (`models.iso`).
"""

from __future__ import annotations

import re
from typing import Any

from newsroom_feed.store.database import Store


def insert(
    store: Store,
    *,
    at: str,
    source: str,
    digest: str,
    kind: str,
    outbox_id: int | None,
    delivery_id: int | None,
    subscriber_id: int | None,
    recipient: str | None,
    status: str | None,
    diagnostic: str | None,
    report_message_id: str | None,
) -> bool:
    """Record one report; False (and nothing written) when a report with these bytes (``digest``) was
    recorded before."""
    cursor = store.conn.execute(
        "INSERT INTO bounces (at, source, digest, kind, outbox_id, delivery_id, subscriber_id, recipient, "
        "status, diagnostic, report_message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(digest) DO NOTHING",
        (at, source, digest, kind, outbox_id, delivery_id, subscriber_id, recipient, status, diagnostic,
         report_message_id),
    )  # fmt: skip
    return bool(cursor.rowcount)


def seen(store: Store, digest: str) -> bool:
    """Whether a report with these bytes was recorded already."""
    return store.conn.execute("SELECT 1 FROM bounces WHERE digest = ?", (digest,)).fetchone() is not None


def outbox_target(store: Store, outbox_id: int) -> tuple[int | None, int | None, str | None] | None:
    """(subscriber id, latest delivery id, message id) of an outbox row, or None when there is no such
    row. The subscriber id is None once the subscriber was erased, the delivery id when nothing was
    ever attempted."""
    row: tuple[int | None, int | None, str | None] | None = store.conn.execute(
        "SELECT o.subscriber_id, (SELECT max(d.id) FROM deliveries d WHERE d.outbox_id = o.id), o.message_id "
        "FROM outbox o WHERE o.id = ?",
        (outbox_id,),
    ).fetchone()
    return row


def soft_count(store: Store, subscriber_id: int, since: str) -> int:
    """Soft bounces recorded for a subscriber at or after ``since``."""
    row = store.conn.execute(
        "SELECT count(*) FROM bounces WHERE subscriber_id = ? AND kind = 'soft' AND at >= ?",
        (subscriber_id, since),
    ).fetchone()
    return int(row[0])


def listing(store: Store, limit: int | None = None, kind: str | None = None) -> list[tuple[Any, ...]]:
    """Reports newest first: id, at, source, kind, recipient, status, diagnostic, the subscriber's email
    (None once erased or when the report named nobody) and the outbox row's key (None likewise)."""
    sql = (
        "SELECT b.id, b.at, b.source, b.kind, b.recipient, b.status, b.diagnostic, s.email, o.key "
        "FROM bounces b LEFT JOIN subscribers s ON s.id = b.subscriber_id "
        "LEFT JOIN outbox o ON o.id = b.outbox_id"
    )
    params: list[Any] = []
    if kind is not None:
        sql += " WHERE b.kind = ?"
        params.append(kind)
    sql += " ORDER BY b.at DESC, b.id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return store.conn.execute(sql, params).fetchall()


def scrub_subscriber(store: Store, subscriber_id: int, pattern: re.Pattern[str], stand_in: str) -> None:
    """Take an erased subscriber's address out of the reports about them: a DSN quotes it in its
    recipient and diagnostic ("550 5.1.1 <ania@...>: no such user")."""
    found = store.conn.execute(
        "SELECT id, recipient, diagnostic FROM bounces WHERE subscriber_id = ?", (subscriber_id,)
    ).fetchall()
    store.conn.executemany(
        "UPDATE bounces SET recipient = ?, diagnostic = ? WHERE id = ?",
        [
            (
                None if recipient is None else pattern.sub(stand_in, recipient),
                None if diagnostic is None else pattern.sub(stand_in, diagnostic),
                row_id,
            )
            for row_id, recipient, diagnostic in found
        ],
    )
