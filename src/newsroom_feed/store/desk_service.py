"""Named queries of the desk's health page beyond what `Store` and the outbox already answer."""

from __future__ import annotations

from newsroom_feed.store.database import Store


def release_count(store: Store) -> int:
    """Every release row, drafts of outside writers and retracted ones included (as `check` counts)."""
    return int(store.conn.execute("SELECT count(*) FROM releases").fetchone()[0])
