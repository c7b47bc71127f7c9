"""Named queries on the outbox and deliveries tables; `mail.outbox` keeps the ledger's rules.

Every function runs on the store's one connection and joins the caller's transaction: the ledger
decides which calls commit together (`with store.transaction():`). Counts of changed rows come from
``total_changes``, which, unlike ``rowcount``, adds up over the statements of an ``executemany``.
Times are passed in as stored text (`models.iso`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from newsroom_feed.store.database import Store, id_chunks
from newsroom_feed.store.journalists import NEWEST_TERMS

#: The terms a verified journalist accepted last (NULL for anyone else): an early copy goes only to one
#: who accepted those in force.
_TERMS = f"CASE WHEN s.verification = 'verified' THEN {NEWEST_TERMS} END"

#: The rows an outcome may change: held by the recording owner.
_HELD = "id = ? AND status = 'sending' AND lease_owner = ?"


def _changed(store: Store, sql: str, params: Iterable[Sequence[Any]]) -> int:
    """Run one statement per parameter row; returns how many rows they changed in all."""
    before = store.conn.total_changes
    store.conn.executemany(sql, params)
    return store.conn.total_changes - before


def insert_new(store: Store, rows: Iterable[tuple[str, str, int, str, str | None]], when: str) -> int:
    """Add rows (key, kind, subscriber_id, release_ids JSON, the Message-ID they answer or None) due at
    ``when``, skipping any (subscriber, key) there already; returns how many are new."""
    return _changed(
        store,
        "INSERT INTO outbox (key, kind, subscriber_id, release_ids, in_reply_to, status, attempts, "
        "next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?) "
        "ON CONFLICT(subscriber_id, key) DO NOTHING",
        ((key, kind, sid, ids, answers, when, when) for key, kind, sid, ids, answers in rows),
    )


def expire_leases(store: Store, now: str, owner: str) -> None:
    """Put ``sending`` rows whose lease ran out back in the queue, except ``owner``'s own."""
    store.conn.execute(
        "UPDATE outbox SET status = 'pending', lease_until = NULL, lease_owner = NULL "
        "WHERE status = 'sending' AND lease_until < ? AND lease_owner IS NOT ?",
        (now, owner),
    )


def due_rows(store: Store, now: str, limit: int) -> list[tuple[Any, ...]]:
    """Up to ``limit`` pending rows due by ``now``, oldest due first: id, key, kind, subscriber_id,
    release_ids (JSON), attempts, message_id, in_reply_to, the subscriber's status (None once erased),
    journalist verification (None for anyone else) and, for a verified one, the terms accepted last."""
    return store.conn.execute(
        "SELECT o.id, o.key, o.kind, o.subscriber_id, o.release_ids, o.attempts, o.message_id, "
        f"o.in_reply_to, s.status, s.verification, {_TERMS} FROM outbox o "
        "LEFT JOIN subscribers s ON s.id = o.subscriber_id "
        "WHERE o.status = 'pending' AND o.next_attempt_at <= ? "
        "ORDER BY o.next_attempt_at, o.id LIMIT ?",
        (now, limit),
    ).fetchall()


def close_withdrawn(store: Store, reasons: Iterable[tuple[str, int]]) -> None:
    """Close rows (reason, id) ``withdrawn`` whoever holds them: a claim's own skips."""
    store.conn.executemany(
        "UPDATE outbox SET status = 'withdrawn', last_error = ?, lease_until = NULL, "
        "lease_owner = NULL WHERE id = ?",
        reasons,
    )


def take(store: Store, leases: Iterable[tuple[str, str, int]]) -> None:
    """Mark rows (lease_until, owner, id) ``sending`` under a lease."""
    store.conn.executemany(
        "UPDATE outbox SET status = 'sending', lease_until = ?, lease_owner = ? WHERE id = ?", leases
    )


def subscriber_states(
    store: Store, ids: Sequence[int]
) -> dict[int, tuple[int | None, str | None, str | None, str | None]]:
    """Each existing row's subscriber id, status, journalist verification and, for a verified
    journalist, the terms accepted last (all None once the subscriber was erased)."""
    found: dict[int, tuple[int | None, str | None, str | None, str | None]] = {}
    for chunk, marks in id_chunks(list(ids)):
        for row_id, subscriber_id, status, verification, terms in store.conn.execute(
            f"SELECT o.id, o.subscriber_id, s.status, s.verification, {_TERMS} FROM outbox o "
            f"LEFT JOIN subscribers s ON s.id = o.subscriber_id WHERE o.id IN ({marks})",
            chunk,
        ):
            found[int(row_id)] = (subscriber_id, status, verification, terms)
    return found


def withdraw_held(store: Store, reasons: Iterable[tuple[str, int, str]]) -> int:
    """Close rows (reason, id, owner) ``withdrawn`` where that owner still holds them; returns how many."""
    return _changed(
        store,
        f"UPDATE outbox SET status = 'withdrawn', last_error = ?, lease_until = NULL, lease_owner = NULL "
        f"WHERE {_HELD}",
        reasons,
    )


def erased_among(store: Store, ids: Sequence[int]) -> set[int]:
    """Which of these rows lost their subscriber (erased)."""
    found: set[int] = set()
    for chunk, marks in id_chunks(list(ids)):
        rows = store.conn.execute(
            f"SELECT id FROM outbox WHERE subscriber_id IS NULL AND id IN ({marks})", chunk
        )
        found.update(int(row[0]) for row in rows)
    return found


def insert_deliveries(store: Store, rows: Iterable[tuple[int, int, str, int | None, str, str]]) -> None:
    """Append attempts (outbox_id, attempt, at, code, reply, outcome) to ``deliveries``."""
    store.conn.executemany(
        "INSERT INTO deliveries (outbox_id, attempt, at, code, reply, outcome) VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )


def mark_sent(store: Store, row_id: int, attempts: int, at: str, message_id: str | None, owner: str) -> bool:
    """Settle a row ``sent`` if ``owner`` holds it or it waits unowned in the queue (given back
    meanwhile): nobody may send it again. False if the row belongs to someone else or is settled."""
    return bool(
        store.conn.execute(
            "UPDATE outbox SET status = 'sent', attempts = ?, sent_at = ?, message_id = ?, "
            "last_error = NULL, lease_until = NULL, lease_owner = NULL WHERE id = ? AND "
            "((status = 'sending' AND lease_owner = ?) OR (status = 'pending' AND lease_owner IS NULL))",
            (attempts, at, message_id, row_id, owner),
        ).rowcount
    )


def mark_pending(
    store: Store, row_id: int, attempts: int, retry_at: str, error: str, message_id: str | None, owner: str
) -> bool:
    """Put a held row back to wait until ``retry_at``; False if ``owner`` no longer holds it."""
    return bool(
        store.conn.execute(
            "UPDATE outbox SET status = 'pending', attempts = ?, next_attempt_at = ?, "
            "last_error = ?, message_id = coalesce(?, message_id), lease_until = NULL, "
            f"lease_owner = NULL WHERE {_HELD}",
            (attempts, retry_at, error, message_id, row_id, owner),
        ).rowcount
    )


def mark_failed(
    store: Store, row_id: int, attempts: int, error: str, message_id: str | None, owner: str
) -> bool:
    """Close a held row ``failed``; False if ``owner`` no longer holds it."""
    return bool(
        store.conn.execute(
            "UPDATE outbox SET status = 'failed', attempts = ?, last_error = ?, "
            f"message_id = coalesce(?, message_id), lease_until = NULL, lease_owner = NULL WHERE {_HELD}",
            (attempts, error, message_id, row_id, owner),
        ).rowcount
    )


def renew_leases(store: Store, owner: str, until: str) -> int:
    """Extend every lease ``owner`` holds to ``until``; returns how many."""
    return int(
        store.conn.execute(
            "UPDATE outbox SET lease_until = ? WHERE status = 'sending' AND lease_owner = ?", (until, owner)
        ).rowcount
    )


def give_back(store: Store, rows: Iterable[tuple[int, str]]) -> int:
    """Return rows (id, owner) that owner holds to the queue unchanged; returns how many."""
    return _changed(
        store,
        "UPDATE outbox SET status = 'pending', lease_until = NULL, lease_owner = NULL "
        "WHERE id = ? AND status = 'sending' AND lease_owner = ?",
        rows,
    )


def postpone(store: Store, rows: Iterable[tuple[str, int, str]]) -> int:
    """Return rows (next_attempt_at, id, owner) that owner holds to wait until then; returns how many."""
    return _changed(
        store,
        "UPDATE outbox SET status = 'pending', next_attempt_at = ?, lease_until = NULL, "
        "lease_owner = NULL WHERE id = ? AND status = 'sending' AND lease_owner = ?",
        rows,
    )


def reclaim_all(store: Store) -> int:
    """Return every ``sending`` row to the queue, whoever holds it; returns how many."""
    return int(
        store.conn.execute(
            "UPDATE outbox SET status = 'pending', lease_until = NULL, lease_owner = NULL "
            "WHERE status = 'sending'"
        ).rowcount
    )


def hurry_pending(store: Store, now: str) -> int:
    """Make pending rows due later due ``now``; returns how many."""
    return int(
        store.conn.execute(
            "UPDATE outbox SET next_attempt_at = ? WHERE status = 'pending' AND next_attempt_at > ?",
            (now, now),
        ).rowcount
    )


def requeue_failed(store: Store, now: str) -> int:
    """Queue failed rows again, due ``now`` with fresh attempts; returns how many."""
    return int(
        store.conn.execute(
            "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ? WHERE status = 'failed'",
            (now,),
        ).rowcount
    )


def count_waiting(store: Store) -> int:
    """Rows not yet delivered nor given up: due later, or held by a sender."""
    row = store.conn.execute("SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')").fetchone()
    return int(row[0])


def counts_by_kind(store: Store) -> list[tuple[str, str, int]]:
    """(kind, status, rows) for every pair present, in that order."""
    return [
        (kind, status, int(count))
        for kind, status, count in store.conn.execute(
            "SELECT kind, status, count(*) FROM outbox GROUP BY kind, status ORDER BY kind, status"
        )
    ]


def earliest_due(store: Store) -> str | None:
    """The stored time the earliest pending row becomes due, if any."""
    row = store.conn.execute("SELECT min(next_attempt_at) FROM outbox WHERE status = 'pending'").fetchone()
    return row[0] if row[0] else None


def listing(store: Store, statuses: Sequence[str], limit: int | None) -> list[tuple[Any, ...]]:
    """Rows newest first as `outbox list` shows them (the address None once erased)."""
    sql = (
        "SELECT o.id, o.key, o.kind, s.email, o.status, o.attempts, o.next_attempt_at, o.last_error, "
        "o.message_id, o.sent_at FROM outbox o LEFT JOIN subscribers s ON s.id = o.subscriber_id"
    )
    params: list[Any] = list(statuses)
    if statuses:
        sql += f" WHERE o.status IN ({','.join('?' * len(statuses))})"
    sql += " ORDER BY o.id DESC"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return store.conn.execute(sql, params).fetchall()


# -- a subscriber leaving ---------------------------------------------------------------------------


def drop_pending(store: Store, subscriber_id: int) -> None:
    """Delete a subscriber's rows not yet sent: they may no longer be written to."""
    store.conn.execute("DELETE FROM outbox WHERE subscriber_id = ? AND status = 'pending'", (subscriber_id,))


def scrub_subscriber(store: Store, subscriber_id: int, pattern: re.Pattern[str], stand_in: str) -> None:
    """Replace ``pattern`` (an erased address) with ``stand_in`` in the errors of a subscriber's rows
    and the replies of their attempts: SMTP replies often quote the address."""
    for outbox_id in _scrub(store, pattern, stand_in, "outbox", "last_error", "subscriber_id", subscriber_id):
        _scrub(store, pattern, stand_in, "deliveries", "reply", "outbox_id", outbox_id)


def _scrub(
    store: Store, pattern: re.Pattern[str], stand_in: str, table: str, column: str, key: str, value: int
) -> list[int]:
    """Replace ``pattern`` in ``column`` of the rows of ``table`` whose ``key`` is ``value``; their ids."""
    found = store.conn.execute(f"SELECT id, {column} FROM {table} WHERE {key} = ?", (value,)).fetchall()
    for row_id, text in found:
        if text:
            store.conn.execute(
                f"UPDATE {table} SET {column} = ? WHERE id = ?", (pattern.sub(stand_in, text), row_id)
            )
    return [int(row_id) for row_id, _ in found]


def delete_deliveries_before(store: Store, before: str) -> int:
    """Delete the attempts (and their replies) recorded before ``before``; the outbox rows stay."""
    return int(store.conn.execute("DELETE FROM deliveries WHERE at < ?", (before,)).rowcount)
