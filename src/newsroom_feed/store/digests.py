"""Named queries on digest_runs: each run's period, the watermark the next run starts from."""

from __future__ import annotations

from newsroom_feed.store.database import Store


def last_period_end(store: Store, frequency: str) -> str | None:
    """The stored end of the last run of ``frequency``; None before the first."""
    row = store.conn.execute(
        "SELECT max(period_end) FROM digest_runs WHERE frequency = ?", (frequency,)
    ).fetchone()
    return row[0] if row[0] else None


def record_run(store: Store, frequency: str, period_start: str, period_end: str, created_at: str) -> None:
    """Note a run; a second one for the same period end changes nothing."""
    store.conn.execute(
        "INSERT INTO digest_runs (frequency, period_start, period_end, created_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(frequency, period_end) DO NOTHING",
        (frequency, period_start, period_end, created_at),
    )
