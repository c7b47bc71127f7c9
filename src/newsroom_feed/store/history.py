"""Named queries on what happened to one release after it went out: its alert rows and their delivery
attempts, the digests that carried it, the WebSub pings that announced it; and the daemon's record of
those pings.

Alert rows are found by their key (``alert:<release uid>``, which `mail.kinds.ALERT` makes and the
caller passes in); digests and pings by the release id inside their ``release_ids`` JSON array
(SQLite's ``json_each``). Every function joins the caller's transaction; times are stored text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from newsroom_feed.models import iso
from newsroom_feed.store.database import Store, id_chunks, stored_moment

#: Every status an outbox row can have, in the order of its life.
STATUSES = ("pending", "sending", "sent", "failed", "withdrawn")


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One alert of the release: to whom (None once the subscriber was erased), and how it went."""

    id: int
    email: str | None
    #: The subscriber's status now (``bounced`` after too many permanent failures); None once erased.
    subscriber_status: str | None
    status: str
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    next_attempt_at: datetime | None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One SMTP transaction of an outbox row, with the server's answer."""

    outbox_id: int
    attempt: int
    at: datetime | None
    code: int | None
    reply: str | None
    outcome: str


@dataclass(frozen=True, slots=True)
class DigestLine:
    """The rows of one digest run (its key) that listed the release, by status."""

    key: str
    status: str
    rows: int


@dataclass(frozen=True, slots=True)
class PingLine:
    at: datetime | None
    hub: str
    url: str
    ok: bool
    status: int | None
    error: str | None


# -- alerts ---------------------------------------------------------------------------------------------


def alert_counts(store: Store, key: str) -> dict[str, int]:
    """How many alert rows of ``key`` are in each status (every status present, zeros included)."""
    counts = dict.fromkeys(STATUSES, 0)
    for status, count in store.conn.execute(
        "SELECT status, count(*) FROM outbox WHERE key = ? GROUP BY status", (key,)
    ):
        counts[str(status)] = int(count)
    return counts


def bounced_count(store: Store, key: str) -> int:
    """How many recipients of ``key`` are now marked bounced."""
    row = store.conn.execute(
        "SELECT count(*) FROM outbox o JOIN subscribers s ON s.id = o.subscriber_id "
        "WHERE o.key = ? AND s.status = 'bounced'",
        (key,),
    ).fetchone()
    return int(row[0])


def bounce_reports(
    store: Store, key: str, limit: int = 100
) -> list[tuple[str, str, str | None, str | None, str | None]]:
    """What the bounce mailbox said of the rows of ``key``, newest first: (at, kind, recipient,
    status, diagnostic); the recipient is NULL once its subscriber was erased."""
    return [
        (str(at), str(kind), recipient, status, diagnostic)
        for at, kind, recipient, status, diagnostic in store.conn.execute(
            "SELECT b.at, b.kind, b.recipient, b.status, b.diagnostic FROM bounces b "
            "JOIN outbox o ON o.id = b.outbox_id WHERE o.key = ? ORDER BY b.id DESC LIMIT ?",
            (key, limit),
        )
    ]


def alert_rows(
    store: Store, key: str, statuses: Sequence[str] = (), *, limit: int = 50, offset: int = 0
) -> list[AlertRow]:
    """Alert rows of ``key``, failed first, then by id; only ``statuses`` if any are given."""
    sql = (
        "SELECT o.id, s.email, s.status, o.status, o.attempts, o.last_error, o.sent_at, o.next_attempt_at "
        "FROM outbox o LEFT JOIN subscribers s ON s.id = o.subscriber_id WHERE o.key = ?"
    )
    params: list[object] = [key]
    if statuses:
        sql += f" AND o.status IN ({','.join('?' * len(statuses))})"
        params += list(statuses)
    sql += " ORDER BY o.status = 'failed' DESC, o.id LIMIT ? OFFSET ?"
    params += [limit, offset]
    rows = store.conn.execute(sql, params).fetchall()
    return [
        AlertRow(int(row[0]), row[1], row[2], row[3], int(row[4]), row[5], *map(stored_moment, row[6:8]))
        for row in rows
    ]


def attempts_of(store: Store, outbox_ids: Sequence[int]) -> dict[int, list[Attempt]]:
    """The delivery attempts of these rows, oldest first, by row id."""
    found: dict[int, list[Attempt]] = {}
    for chunk, marks in id_chunks(list(outbox_ids)):
        for outbox_id, attempt, at, code, reply, outcome in store.conn.execute(
            "SELECT outbox_id, attempt, at, code, reply, outcome FROM deliveries "
            f"WHERE outbox_id IN ({marks}) ORDER BY id",
            chunk,
        ):
            found.setdefault(int(outbox_id), []).append(
                Attempt(int(outbox_id), int(attempt), stored_moment(at), code, reply, outcome)
            )
    return found


def requeue_failed(store: Store, key: str, now: str) -> list[int]:
    """Queue the failed rows of ``key`` again, due ``now`` with fresh attempts, as `outbox retry
    --failed` does for every row (`store.outbox.requeue_failed`); returns their ids."""
    ids = [
        int(row[0])
        for row in store.conn.execute("SELECT id FROM outbox WHERE key = ? AND status = 'failed'", (key,))
    ]
    store.conn.executemany(
        "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ? "
        "WHERE id = ? AND status = 'failed'",
        [(now, row_id) for row_id in ids],
    )
    return ids


# -- digests --------------------------------------------------------------------------------------------


def digests_with(store: Store, release_id: int) -> list[DigestLine]:
    """The digest runs whose rows listed the release: rows by run (key) and status, newest run first."""
    return [
        DigestLine(str(key), str(status), int(count))
        for key, status, count in store.conn.execute(
            "SELECT o.key, o.status, count(*) FROM outbox o WHERE o.kind = 'digest' AND EXISTS "
            "(SELECT 1 FROM json_each(o.release_ids) WHERE json_each.value = ?) "
            "GROUP BY o.key, o.status ORDER BY o.key DESC, o.status",
            (release_id,),
        )
    ]


# -- WebSub pings ---------------------------------------------------------------------------------------


def record_pings(
    store: Store,
    pings: Iterable[tuple[str, str, bool, int | None, str | None]],
    release_ids: Iterable[int],
    at: datetime,
) -> int:
    """Append pings (hub, url, ok, status, error) made at ``at`` about these releases; returns how many."""
    ids = json.dumps(sorted(set(release_ids)))
    before = store.conn.total_changes
    store.conn.executemany(
        "INSERT INTO websub_pings (at, hub, url, ok, status, error, release_ids) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(iso(at), hub, url, int(ok), status, error, ids) for hub, url, ok, status, error in pings],
    )
    return store.conn.total_changes - before


def pings_about(store: Store, release_id: int, limit: int = 200) -> list[PingLine]:
    """The pings that announced the release, newest first."""
    return [
        PingLine(stored_moment(at), hub, url, bool(ok), status, error)
        for at, hub, url, ok, status, error in store.conn.execute(
            "SELECT at, hub, url, ok, status, error FROM websub_pings p WHERE EXISTS "
            "(SELECT 1 FROM json_each(p.release_ids) WHERE json_each.value = ?) ORDER BY p.id DESC LIMIT ?",
            (release_id, limit),
        )
    ]
