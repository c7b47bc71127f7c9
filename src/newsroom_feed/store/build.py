"""Named queries on build_state and changes beyond the `Store` methods, and the watcher's probe.

The watcher's probe keeps a connection of its own: ``PRAGMA data_version`` changes only when *another*
connection commits, so the store's own connection, which the daemon writes through, could not see it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from newsroom_feed.store.database import Store


def note_error(store: Store, problem: str) -> None:
    """Set the last build's problem alone, keeping its cursor and time; joins the caller's transaction."""
    store.conn.execute("UPDATE build_state SET last_error = ? WHERE id = 1", (problem,))


class ChangeProbe:
    """A connection of its own to an existing store, asking only whether others committed and whether
    the change log runs past the build cursor. Never writes, never migrates. Autocommit and no open
    cursors: ``data_version`` stays frozen while a read transaction is held."""

    def __init__(self, database: Path) -> None:
        self._conn = sqlite3.connect(str(database), isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout=5000")

    def close(self) -> None:
        self._conn.close()

    def data_version(self) -> int:
        """A number that changes when another connection commits."""
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def behind(self) -> bool:
        """Whether `changes` holds rows after the build cursor, i.e. outputs are out of date."""
        row = self._conn.execute(
            "SELECT (SELECT coalesce(max(id), 0) FROM changes) > "
            "(SELECT coalesce(max(change_cursor), 0) FROM build_state)"
        ).fetchone()
        return bool(row[0])
