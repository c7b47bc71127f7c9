"""Named queries on `release_mailings` and on the outbox rows a follow-up mail answers: what the early
recipients of a release were told of its embargo, whether its withdrawal was told, and who received it.

Every function joins the caller's transaction; the planner keeps the rules (`planner.plan_early`,
`planner.plan_notices`, `planner.plan_corrections`). Times are passed in as stored text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from newsroom_feed.store.database import Store, id_chunks


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
    which holds a row only for a release shared early or withdrawn (CROSS JOIN keeps that order: left
    free, SQLite walks every release through its uid index)."""
    rows = store.conn.execute(
        "SELECT r.id, r.uid, r.visible_at FROM release_mailings m CROSS JOIN releases r "
        "ON r.id = m.release_id "
        "WHERE m.early_told_until > ? AND r.retracted_at IS NULL AND r.uid IS NOT NULL "
        "AND r.visible_at IS NOT m.early_told_until",
        (now,),
    )
    return [(int(release_id), uid, lift) for release_id, uid, lift in rows]


def withdrawn_untold(store: Store) -> list[tuple[int, str]]:
    """(release_id, uid) of the retracted releases whose withdrawal was not told yet, whenever they
    were retracted: read through the index of retracted releases (``releases_retracted``), never the
    whole table (``+r.uid`` keeps SQLite off the uid index, which would walk every release)."""
    rows = store.conn.execute(
        "SELECT r.id, r.uid FROM releases r LEFT JOIN release_mailings m ON m.release_id = r.id "
        "WHERE r.retracted_at IS NOT NULL AND +r.uid IS NOT NULL AND m.withdrawal_planned_at IS NULL"
    )
    return [(int(release_id), uid) for release_id, uid in rows]


def withdrawal_told(store: Store, release_ids: Sequence[int], at: str) -> None:
    store.conn.executemany(
        "INSERT INTO release_mailings (release_id, withdrawal_planned_at) VALUES (?, ?) "
        "ON CONFLICT(release_id) DO UPDATE SET withdrawal_planned_at = excluded.withdrawal_planned_at",
        [(release_id, at) for release_id in release_ids],
    )


def received(store: Store, keys: Sequence[str]) -> list[tuple[int, int, str, str | None]]:
    """(outbox row id, subscriber id, key, Message-ID or None) of the rows of these keys sent or on the
    wire now, to subscribers still active; by subscriber, then oldest row first: who holds a release, and
    the message a follow-up (a notice, a correction) answers.

    A row in flight counts: its message may be accepted a moment from now, and a follow-up planned now
    must reach that reader too. Its Message-ID is stored only once the attempt is recorded, hence None
    (`message_ids.row_message_id` gives the one it goes out with). Read through the ``outbox_key`` index
    (``+o.status`` keeps SQLite off ``outbox_due``, which would walk every sent row).
    """
    found: list[tuple[int, int, str, str | None]] = []
    for chunk, marks in id_chunks(keys):
        found.extend(
            (int(row_id), int(subscriber_id), str(key), message_id)
            for row_id, subscriber_id, key, message_id in store.conn.execute(
                "SELECT o.id, o.subscriber_id, o.key, o.message_id FROM outbox o "
                "JOIN subscribers s ON s.id = o.subscriber_id "
                f"WHERE o.key IN ({marks}) AND +o.status IN ('sent', 'sending') AND s.status = 'active'",
                chunk,
            )
        )
    return sorted(found, key=lambda row: (row[1], row[0]))


def holders(store: Store, keys: Sequence[str]) -> set[tuple[int, str]]:
    """(subscriber_id, key) of the rows of these keys sent: whoever has one needs no second alert at
    the lift. A row not sent by then never goes (the sender withdraws it, `errors.EmbargoLifted`), so
    its reader is alerted; one on the wire that very moment may reach its reader
    beside the alert, the rarer and the milder of the two mistakes."""
    found: set[tuple[int, str]] = set()
    for chunk, marks in id_chunks(keys):
        found.update(
            (int(sid), key)
            for sid, key in store.conn.execute(
                f"SELECT subscriber_id, key FROM outbox WHERE key IN ({marks}) AND +status = 'sent'",
                chunk,
            )
        )
    return found
