"""Named queries on `release_mailings` and on the outbox rows a follow-up mail answers: what the early
recipients of a release were told of its embargo, whether its withdrawal was told, and who received it.

Every function joins the caller's transaction; the planner keeps the rules (`planner.plan_early`,
`planner.plan_notices`). Times are passed in as stored text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from newsroom_feed.store.database import Store

#: Rows of these statuses hold a copy, or will: a subscriber with one needs no second alert at the lift.
_HELD = "('pending', 'sending', 'sent')"


def tell_first(store: Store, told: Iterable[tuple[int, str]]) -> None:
    """Record (release_id, lift) as what its early recipients are told, unless something was told
    already: a moved embargo is `retell`'s, after its notices are planned."""
    store.conn.executemany(
        "INSERT INTO release_mailings (release_id, early_told_until) VALUES (?, ?) "
        "ON CONFLICT(release_id) DO UPDATE SET early_told_until = "
        "coalesce(release_mailings.early_told_until, excluded.early_told_until)",
        told,
    )


def retell(store: Store, release_id: int, lift: str) -> None:
    store.conn.execute(
        "UPDATE release_mailings SET early_told_until = ? WHERE release_id = ?", (lift, release_id)
    )


def moved(store: Store, now: str) -> list[tuple[int, str, str]]:
    """(release_id, uid, lift now) of the releases not retracted whose lift differs from the one their
    early recipients were told, while that told lift is still to come. A scan of `release_mailings`,
    which holds a row only for a release shared early or withdrawn."""
    rows = store.conn.execute(
        "SELECT r.id, r.uid, r.visible_at FROM release_mailings m JOIN releases r ON r.id = m.release_id "
        "WHERE m.early_told_until > ? AND r.retracted_at IS NULL AND r.uid IS NOT NULL "
        "AND r.visible_at IS NOT m.early_told_until",
        (now,),
    )
    return [(int(release_id), uid, lift) for release_id, uid, lift in rows]


def withdrawn_untold(store: Store, since: str) -> list[tuple[int, str]]:
    """(release_id, uid) of the releases retracted (so changed) since ``since`` whose withdrawal was not
    told yet: read through the index on ``updated_at``, never the whole table."""
    rows = store.conn.execute(
        "SELECT r.id, r.uid FROM releases r LEFT JOIN release_mailings m ON m.release_id = r.id "
        "WHERE r.uid IS NOT NULL AND r.updated_at > ? AND r.retracted_at IS NOT NULL "
        "AND m.withdrawal_planned_at IS NULL",
        (since,),
    )
    return [(int(release_id), uid) for release_id, uid in rows]


def withdrawal_told(store: Store, release_ids: Sequence[int], at: str) -> None:
    store.conn.executemany(
        "INSERT INTO release_mailings (release_id, withdrawal_planned_at) VALUES (?, ?) "
        "ON CONFLICT(release_id) DO UPDATE SET withdrawal_planned_at = excluded.withdrawal_planned_at",
        [(release_id, at) for release_id in release_ids],
    )


def received(store: Store, keys: Sequence[str]) -> list[tuple[int, str, str | None]]:
    """(subscriber_id, key, message_id) of the sent rows of these keys whose subscriber is still
    stored, oldest first: who received those messages, and the Message-ID a follow-up answers."""
    found: list[tuple[int, str, str | None]] = []
    for chunk, marks in _chunks(keys):
        found.extend(
            (int(sid), key, message_id)
            for sid, key, message_id in store.conn.execute(
                "SELECT subscriber_id, key, message_id FROM outbox WHERE status = 'sent' "
                f"AND subscriber_id IS NOT NULL AND key IN ({marks}) ORDER BY id",
                chunk,
            )
        )
    return found


def holders(store: Store, keys: Sequence[str]) -> set[tuple[int, str]]:
    """(subscriber_id, key) of the rows of these keys sent or still to go (not withdrawn or failed)."""
    found: set[tuple[int, str]] = set()
    for chunk, marks in _chunks(keys):
        found.update(
            (int(sid), key)
            for sid, key in store.conn.execute(
                f"SELECT subscriber_id, key FROM outbox WHERE status IN {_HELD} "
                f"AND subscriber_id IS NOT NULL AND key IN ({marks})",
                chunk,
            )
        )
    return found


def _chunks(keys: Sequence[str]) -> Iterator[tuple[list[str], str]]:
    """Keys in runs that fit one ``IN (...)`` (as `database.id_chunks` cuts ids)."""
    for start in range(0, len(keys), 900):
        chunk = list(keys[start : start + 900])
        yield chunk, ",".join("?" * len(chunk))
