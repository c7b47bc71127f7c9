"""The operator's looks into a store file and copies of it: `check`'s read-only survey, `backup`'s copy.

The survey opens a plain sqlite3 connection rather than a `Store`, which would create and migrate the
file: ``mode=rw`` never creates a file, ``query_only`` refuses every write; unlike ``mode=ro`` it lets the
last connection remove the ``-wal`` and ``-shm`` files it opened. sqlite-utils answers which tables exist.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from newsroom_feed.store.database import Store, outside_flaws
from newsroom_feed.store.flaws import Flaw


@dataclass(frozen=True, slots=True)
class Survey:
    """What a read-only look at a store file found.

    ``version`` is None for a file with no schema of this program's; ``releases`` and ``waiting`` (rows
    as `outbox.waiting` counts them) are read only at the ``latest`` schema version.
    """

    integrity: str
    version: int | None = None
    releases: int | None = None
    waiting: int | None = None


@contextmanager
def _read_only(database: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"{database.resolve().as_uri()}?mode=rw", uri=True, timeout=5.0)
    try:
        conn.execute("PRAGMA query_only = ON")
        yield conn
    finally:
        conn.close()


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] or 0)


def survey(database: Path, latest: int) -> Survey:
    """Integrity, schema version and counts of an existing store file, changing nothing.

    :raises sqlite3.Error: the file is not a readable SQLite database.
    """
    with _read_only(database) as conn:
        integrity = conn.execute("PRAGMA quick_check").fetchone()[0]
        if integrity != "ok":
            return Survey(integrity)
        if not sqlite_utils.Database(conn)["schema_migrations"].exists():
            return Survey(integrity)
        version = _version(conn)
        if version != latest:
            return Survey(integrity, version)
        releases = int(conn.execute("SELECT count(*) FROM releases").fetchone()[0])
        waiting = conn.execute(
            "SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')"
        ).fetchone()
        return Survey(integrity, version, releases, int(waiting[0]))


def flaws_at(database: Path, latest: int) -> list[Flaw] | None:
    """Every flaw of what outside writers stored (`Store.flaws`), changing nothing; None for a store of
    another schema version.

    :raises sqlite3.Error: the file is not a readable store.
    """
    with _read_only(database) as conn:
        if _version(conn) != latest:
            return None
        return outside_flaws(conn)


def copy_into(store: Store, partial: Path, progress: Callable[[int, int, int], object]) -> list[str]:
    """Copy the store into the empty file ``partial`` with SQLite's online backup; returns what
    ``PRAGMA integrity_check`` says of the copy (``["ok"]`` when sound)."""
    destination = sqlite3.connect(str(partial))
    try:
        # Small steps let writers in between; each step copies 1,024 pages (4 MiB by default).
        store.conn.backup(destination, pages=1024, progress=progress)
        # One self-contained file: a copy in WAL mode would need its -wal beside it once opened.
        destination.execute("PRAGMA journal_mode=DELETE")
        return [row[0] for row in destination.execute("PRAGMA integrity_check")]
    finally:
        destination.close()
