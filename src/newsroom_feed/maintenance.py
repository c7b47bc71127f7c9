"""Operator maintenance: `newsroom-feed check` (can `run` work here?) and `backup` (SQLite online backup)."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from jinja2 import TemplateError

from newsroom_feed import outbox
from newsroom_feed.compose import make_environment
from newsroom_feed.daemon import InstanceLock
from newsroom_feed.errors import InputError, LockedError, NewsroomError
from newsroom_feed.mailer import probe
from newsroom_feed.models import utcnow
from newsroom_feed.settings import Settings
from newsroom_feed.store import Store

# -- check --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of `newsroom-feed check`: what was checked, whether it is fine, and the details."""

    name: str
    ok: bool
    detail: str


def check(settings: Settings) -> list[Finding]:
    """Everything `run` needs, tried without side effects beyond migrating the store.

    Never raises for a problem found: each becomes a failed `Finding`, so one run lists them all.
    """
    findings = [Finding("settings", True, _settings_summary(settings))]
    findings.append(_check_store(settings))
    findings.append(_check_public_dir(settings.public_dir))
    findings.append(_check_templates(settings))
    findings.append(_check_smtp(settings))
    holder = InstanceLock(settings.database)
    running = _lock_is_held(holder)
    findings.append(
        Finding("daemon", True, f"running as process {holder.holder()}" if running else "not running")
    )
    return findings


def _settings_summary(settings: Settings) -> str:
    source = f"from {settings.config}" if settings.config else "environment and defaults"
    return f"{source}; base URL {settings.base_url}, time zone {settings.timezone}"


def _check_store(settings: Settings) -> Finding:
    try:
        with Store(settings.database, settings.domain, zone=settings.zone) as store:
            version = store.schema_version
            releases = store.conn.execute("SELECT count(*) FROM releases").fetchone()[0]
            waiting = outbox.waiting(store)
            integrity = store.conn.execute("PRAGMA quick_check").fetchone()[0]
    except (NewsroomError, sqlite3.Error) as error:
        return Finding("store", False, f"{settings.database}: {error}")
    if integrity != "ok":
        return Finding("store", False, f"{settings.database}: integrity check says {integrity}")
    return Finding(
        "store",
        True,
        f"{settings.database} (schema version {version}, {releases} releases, {waiting} messages waiting)",
    )


def _check_public_dir(public_dir: Path) -> Finding:
    try:
        public_dir.mkdir(parents=True, exist_ok=True)
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


def _lock_is_held(lock: InstanceLock) -> bool:
    try:
        lock.acquire()
    except LockedError:
        return True
    lock.release()
    return False


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
    with Store(settings.database, settings.domain, zone=settings.zone) as store:
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
