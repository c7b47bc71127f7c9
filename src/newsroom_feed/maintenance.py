"""Operator maintenance: `newsroom-feed check` (can `run` work here?) and `backup` (SQLite online backup)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from jinja2 import TemplateError

from newsroom_feed.daemon import InstanceLock
from newsroom_feed.errors import InputError, LockedError, NewsroomError
from newsroom_feed.mailer import probe
from newsroom_feed.models import utcnow
from newsroom_feed.schema import MIGRATIONS
from newsroom_feed.settings import Settings
from newsroom_feed.store import Store
from newsroom_feed.templating import make_environment

# -- check --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of `newsroom-feed check`: what was checked, whether it is fine, and the details."""

    name: str
    ok: bool
    detail: str


def check(settings: Settings) -> list[Finding]:
    """Everything `run` needs, tried without changing anything: no file is created or written.

    The store is opened read-only (a missing one is a failure, not created), the public directory is
    only probed, and the daemon's lock is tried only when its lock file already exists.
    Never raises for a problem found: each becomes a failed `Finding`, so one run lists them all.
    """
    findings = [Finding("settings", True, _settings_summary(settings))]
    findings.append(_check_store(settings.database))
    findings.append(_check_public_dir(settings.public_dir))
    findings.append(_check_templates(settings))
    findings.append(_check_smtp(settings))
    findings.append(_check_daemon(settings.database))
    return findings


def _settings_summary(settings: Settings) -> str:
    source = f"from {settings.config}" if settings.config else "environment and defaults"
    return f"{source}; base URL {settings.base_url}, time zone {settings.timezone}"


def _check_store(database: Path) -> Finding:
    """Look into the store without changing it: a plain sqlite3 connection, as `Store` would create
    and migrate it. ``mode=rw`` never creates a file, ``query_only`` refuses every write; unlike
    ``mode=ro`` it lets the last connection remove the ``-wal`` and ``-shm`` files it opened.
    """
    if not database.is_file():
        return Finding("store", False, f"{database} is missing (create it with `newsroom-feed init`)")
    try:
        conn = sqlite3.connect(f"{database.resolve().as_uri()}?mode=rw", uri=True, timeout=5.0)
        try:
            conn.execute("PRAGMA query_only = ON")
            return _inspect_store(conn, database)
        finally:
            conn.close()
    except sqlite3.Error as error:
        return Finding("store", False, f"{database}: {error}")


def _inspect_store(conn: sqlite3.Connection, database: Path) -> Finding:
    """Integrity, schema version and counts of an open store, read only.

    :raises sqlite3.Error: the file is not a readable SQLite database.
    """
    integrity = conn.execute("PRAGMA quick_check").fetchone()[0]
    if integrity != "ok":
        return Finding("store", False, f"{database}: integrity check says {integrity}")
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "schema_migrations" not in tables:
        return Finding("store", False, f"{database} is not a newsroom-feed store (run `newsroom-feed init`)")
    version = int(conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] or 0)
    latest = len(MIGRATIONS)
    if version > latest:
        problem = f"schema version {version}, newer than this program ({latest}); upgrade newsroom-feed"
        return Finding("store", False, f"{database} has {problem}")
    if version < latest:
        return Finding("store", True, f"{database} (schema version {version}; `run` or `init` migrates it)")
    releases = conn.execute("SELECT count(*) FROM releases").fetchone()[0]
    # As `outbox.waiting` counts them (it needs a `Store`, which this read-only check does not open).
    waiting = conn.execute("SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')").fetchone()
    counts = f"{releases} releases, {waiting[0]} messages waiting"
    return Finding("store", True, f"{database} (schema version {version}, {counts})")


def _check_public_dir(public_dir: Path) -> Finding:
    """Writable, or creatable by `init` and `build`; probed without creating the directory."""
    if not public_dir.exists():
        parent = next((folder for folder in public_dir.parents if folder.exists()), Path())
        if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
            return Finding("public dir", True, f"{public_dir} is missing; `init` or `build` creates it")
        return Finding("public dir", False, f"{public_dir} is missing and {parent} is not writable")
    if not public_dir.is_dir():
        return Finding("public dir", False, f"{public_dir} is not a directory")
    try:
        with tempfile.NamedTemporaryFile(dir=public_dir, prefix=".check-"):
            pass
    except OSError as error:
        return Finding("public dir", False, f"{public_dir} is not writable: {error}")
    return Finding("public dir", True, f"{public_dir} is writable")


def _check_templates(settings: Settings) -> Finding:
    """Compile every mail template (the operator's overrides first) so a syntax error shows now."""
    try:
        environment = make_environment(settings.mail.templates_dir)
        names = [name for name in environment.list_templates() if not name.startswith(".")]
        for name in names:
            environment.get_template(name)
    except TemplateError as error:
        where = getattr(error, "filename", None) or getattr(error, "name", None) or ""
        line = getattr(error, "lineno", None)
        place = f"{where}:{line}: " if where and line else f"{where}: " if where else ""
        return Finding("templates", False, f"{place}{error}")
    except OSError as error:
        return Finding("templates", False, str(error))
    return Finding("templates", True, f"{len(names)} e-mail templates compile")


def _check_smtp(settings: Settings) -> Finding:
    try:
        answer = asyncio.run(asyncio.wait_for(probe(settings.smtp), settings.smtp.timeout))
    except (NewsroomError, TimeoutError) as error:
        where = f"{settings.smtp.host}:{settings.smtp.port}"
        return Finding("smtp", False, f"{where}: {error or 'timed out'} (NEWSROOM_SMTP__*)")
    return Finding("smtp", True, answer)


def _check_daemon(database: Path) -> Finding:
    """Whether `run` holds the lock; no lock file means no daemon ever ran here, and none is made."""
    holder = InstanceLock(database)
    if not holder.path.exists():
        return Finding("daemon", True, "not running")
    try:
        holder.acquire()
    except LockedError:
        return Finding("daemon", True, f"running as process {holder.holder()}")
    except OSError as error:
        return Finding("daemon", False, f"cannot try the lock {holder.path}: {error}")
    holder.release()
    return Finding("daemon", True, "not running")


# -- backup -------------------------------------------------------------------------------------------


def backup(settings: Settings, target: Path, progress: Callable[[int, int], None] | None = None) -> Path:
    """Copy the store with SQLite's online backup API, consistent even while the daemon writes.

    The copy is written next to ``target`` and renamed into place, so a half-made backup never has the
    final name. A directory as ``target`` gets a time-stamped file inside it.

    :raises InputError: the target is the live database.
    """
    if target.is_dir():
        target = target / f"{settings.database.stem}-{utcnow():%Y%m%dT%H%M%SZ}.db"
    if target.resolve() == settings.database.resolve():
        raise InputError("PATH", "is the live database; give another file or a directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    with Store.for_settings(settings) as store:
        destination = sqlite3.connect(str(partial))
        try:

            def report(status: int, remaining: int, total: int) -> None:
                if progress is not None:
                    progress(total - remaining, total)

            # Small steps let writers in between; each step copies 1,024 pages (4 MiB by default).
            store.conn.backup(destination, pages=1024, progress=report)
            destination.execute("PRAGMA journal_mode=DELETE")
        finally:
            destination.close()
    partial.replace(target)
    return target
