"""Named queries on corrections and the mail that follows them: what to plan, what a digest shows.

Every function joins the caller's transaction; the planner decides what commits together. Times are
passed in as stored text (`models.iso`).
"""

from __future__ import annotations

from collections.abc import Sequence

from newsroom_feed.store.database import Store, id_chunks


def unplanned(store: Store) -> list[tuple[int, int, str, bool]]:
    """(correction id, release id, release uid, retracted) of the corrections whose mail is not planned
    yet, oldest first (the partial index ``corrections_unplanned`` holds exactly these)."""
    return [
        (int(correction_id), int(release_id), str(uid), bool(retracted))
        for correction_id, release_id, uid, retracted in store.conn.execute(
            "SELECT c.id, c.release_id, r.uid, r.retracted_at IS NOT NULL FROM corrections c "
            "JOIN releases r ON r.id = c.release_id WHERE c.planned_at IS NULL AND r.uid IS NOT NULL "
            "ORDER BY c.id"
        )
    ]


def mark_planned(store: Store, ids: Sequence[int], when: str) -> int:
    """Stamp these corrections planned at ``when`` (those not stamped yet); returns how many."""
    changed = 0
    for chunk, marks in id_chunks(list(ids)):
        changed += store.conn.execute(
            f"UPDATE corrections SET planned_at = ? WHERE planned_at IS NULL AND id IN ({marks})",
            [when, *chunk],
        ).rowcount
    return changed


def corrected_between(store: Store, start: str, end: str) -> list[int]:
    """Ids of the releases seen before ``start`` (noticed by then, so in an earlier digest's reach) that
    were corrected in (start, end] and are not retracted; the most recently corrected first. Walks the
    corrections (CROSS JOIN: left free, SQLite walks every release instead)."""
    return [
        int(release_id)
        for (release_id,) in store.conn.execute(
            "SELECT r.id FROM corrections c CROSS JOIN releases r ON r.id = c.release_id "
            "WHERE c.at > ? AND c.at <= ? AND r.retracted_at IS NULL AND r.noticed_at <= ? "
            "GROUP BY r.id ORDER BY max(c.at) DESC, r.id DESC",
            (start, end, start),
        )
    ]
