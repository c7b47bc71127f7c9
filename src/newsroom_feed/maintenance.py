"""Operator maintenance: `newsroom-feed check` (can `run` work here?), `backup` (SQLite online backup) and
`prune` (retention of personal data and logs)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

from jinja2 import TemplateError

from newsroom_feed.errors import InputError, LockedError, NewsroomError, StoreError
from newsroom_feed.lock import InstanceLock
from newsroom_feed.mail.smtp import probe
from newsroom_feed.mail.templates import make_environment
from newsroom_feed.models import iso, utcnow
from newsroom_feed.people import subscriptions
from newsroom_feed.private_files import make_private_dirs, private_temporary, sync_directory
from newsroom_feed.settings import MIN_SECRET_BYTES, Settings
from newsroom_feed.store import outbox as outbox_rows
from newsroom_feed.store import upkeep
from newsroom_feed.store.database import Store
from newsroom_feed.store.schema import MIGRATIONS

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
    findings.append(_check_secrets(settings))
    findings.append(_check_store(settings.database))
    findings.extend(_check_outside_rows(settings.database))
    findings.append(_check_public_dir(settings.public_dir))
    findings.append(_check_templates(settings))
    findings.append(_check_smtp(settings))
    findings.append(_check_daemon(settings.database))
    return findings


def _settings_summary(settings: Settings) -> str:
    source = f"from {settings.config}" if settings.config else "environment and defaults"
    return f"{source}; base URL {settings.base_url}, time zone {settings.timezone}"


def _check_secrets(settings: Settings) -> Finding:
    """The rule `run` enforces at start (`Settings.weak_secrets`), told before it refuses; where the key
    comes from, since a restore without it breaks every link in mail already sent."""
    problems = settings.weak_secrets()
    if problems:
        return Finding("secrets", False, "; ".join(map(str, problems)))
    if settings.secret_key is not None:
        parts = ["links signed with NEWSROOM_SECRET_KEY"]
    elif settings.key_file.exists():
        parts = [f"links signed with the key in {settings.key_file} (back it up with the store)"]
    else:
        parts = [f"a key is made in {settings.key_file} on first use (back it up with the store)"]
    previous = [key.get_secret_value() for key in settings.previous_secret_keys]
    if previous:
        short = sum(len(key.encode()) < MIN_SECRET_BYTES for key in previous)
        note = f", {short} shorter than {MIN_SECRET_BYTES} bytes: drop it once its mail is old" * bool(short)
        parts.append(f"previous keys still verifying: {len(previous)}{note}")
    closed = "admin API off (no NEWSROOM_ADMIN_TOKEN)"
    token = "admin token set" if settings.admin_token is not None else closed
    return Finding("secrets", True, "; ".join([*parts, token]))


def _check_store(database: Path) -> Finding:
    """Look into the store without changing it (`upkeep.survey`), as `Store` would create and migrate it."""
    if not database.is_file():
        return Finding("store", False, f"{database} is missing (create it with `newsroom-feed init`)")
    try:
        found = upkeep.survey(database, len(MIGRATIONS))
    except sqlite3.Error as error:
        return Finding("store", False, f"{database}: {error}")
    return _store_finding(found, database)


def _store_finding(found: upkeep.Survey, database: Path) -> Finding:
    """What `check` says of the integrity, schema version and counts of the store."""
    if found.integrity != "ok":
        return Finding("store", False, f"{database}: integrity check says {found.integrity}")
    if found.version is None:
        return Finding("store", False, f"{database} is not a newsroom-feed store (run `newsroom-feed init`)")
    version, latest = found.version, len(MIGRATIONS)
    if version > latest:
        problem = f"schema version {version}, newer than this program ({latest}); upgrade newsroom-feed"
        return Finding("store", False, f"{database} has {problem}")
    if version < latest:
        return Finding("store", True, f"{database} (schema version {version}; `run` or `init` migrates it)")
    counts = f"{found.releases} releases, {found.waiting} messages waiting"
    return Finding("store", True, f"{database} (schema version {version}, {counts})")


#: Rows `check` names one by one; the rest are counted.
_FLAWS_LISTED = 100


def _check_outside_rows(database: Path) -> list[Finding]:
    """One failed line per value another program stored that no writer may (`flaws.py`): the build
    leaves it out or holds its release back, and someone has to fix the row. Read only, like
    `_check_store`; nothing when the store cannot be read or is of another schema (its line says so).
    """
    if not database.is_file():
        return []
    try:
        flaws = upkeep.flaws_at(database, len(MIGRATIONS))
    except sqlite3.Error:
        return []
    if flaws is None:
        return []
    if not flaws:
        return [Finding("releases", True, "every stored value meets the rules of release input")]
    effects = {True: "held back from every output", False: "left out of every output"}
    findings = [
        Finding(flaw.row, False, f"{flaw.field}: {flaw.problem} ({effects[flaw.held]})")
        for flaw in flaws[:_FLAWS_LISTED]
    ]
    if len(flaws) > _FLAWS_LISTED:
        findings.append(Finding("releases", False, f"{len(flaws) - _FLAWS_LISTED} more values like these"))
    return findings


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

    The live store is read, never migrated: a store of an older or newer schema version (the nightly
    timer between a package upgrade and the daemon's restart) is copied as it is, since the copy must be
    what the store is, and changing it is `init`'s or `run`'s decision. The copy is written
    to a hidden temporary file beside ``target`` (mode 0600), checked with ``PRAGMA integrity_check``,
    synced, and only then renamed into place: a half-made or damaged copy never takes the final name
    (nor replaces an earlier good backup there) and is removed. A directory as ``target`` gets a
    time-stamped file inside it.

    :raises InputError: the target is the live database.
    :raises StoreError: the store is missing, not a newsroom-feed store, or its copy fails the
        integrity check.
    """
    if target.is_dir():
        target = target / f"{settings.database.stem}-{utcnow():%Y%m%dT%H%M%SZ}.db"
    if target.resolve() == settings.database.resolve():
        raise InputError("PATH", "is the live database; give another file or a directory")
    if not settings.database.is_file():
        raise StoreError(f"the store {settings.database} is missing; nothing to back up")
    with Store.for_settings(settings, migrate=False) as store:
        _require_newsroom_store(store)
        make_private_dirs(target.parent)
        partial = private_temporary(target.parent, target.name)
        try:
            _copy(store, partial, progress)
            partial.replace(target)
        except BaseException:
            partial.unlink(missing_ok=True)
            Path(f"{partial}-journal").unlink(missing_ok=True)
            raise
    sync_directory(target.parent)
    return target


def _require_newsroom_store(store: Store) -> None:
    """:raises StoreError: the file has no schema of this program's (not a newsroom-feed store)."""
    if store.schema_version == 0:
        raise StoreError(f"{store.path} is not a newsroom-feed store; nothing backed up")


def _copy(store: Store, partial: Path, progress: Callable[[int, int], None] | None) -> None:
    """Copy the store into the empty file ``partial``, check the copy and sync it.

    :raises StoreError: the copy fails ``PRAGMA integrity_check`` (the live store is damaged).
    """

    def report(status: int, remaining: int, total: int) -> None:
        if progress is not None:
            progress(total - remaining, total)

    verdict = upkeep.copy_into(store, partial, report)
    if verdict != ["ok"]:
        found = "; ".join(verdict[:3]) + ("; ..." if len(verdict) > 3 else "")
        raise StoreError(
            f"the copy of {store.path} fails its integrity check ({found}); no backup written. "
            "`newsroom-feed check` looks at the live store"
        )
    with partial.open("rb") as handle:
        os.fsync(handle.fileno())


# -- prune --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What `prune` removed, by kind."""

    #: Subscribers who never confirmed, erased (`privacy.unconfirmed_days`).
    unconfirmed: int = 0
    #: Unsubscribed addresses that asked again and did not confirm, unsubscribed again (history kept).
    lapsed: int = 0
    #: Rows of the change log (`privacy.changes_days`).
    changes: int = 0
    #: SMTP attempts with their replies (`privacy.replies_days`).
    replies: int = 0

    def to_json(self) -> dict[str, int]:
        return asdict(self)


def prune(store: Store, settings: Settings, now: datetime) -> PruneReport:
    """Remove what is kept no longer than the `privacy` settings say; the daemon runs it at start and
    daily, `newsroom-feed prune` on demand (from cron when there is no daemon). Running it twice in a row
    removes nothing more.

    Each kind is pruned in its own transactions, so a web request or the sender waits at most for one
    of them, never for the whole run.
    """
    privacy = settings.privacy
    pruned = subscriptions.prune_unconfirmed(store, now - timedelta(days=privacy.unconfirmed_days))
    changes = store.prune_changes(now - timedelta(days=privacy.changes_days))
    with store.transaction():
        # The delivery ledger's replies quote addresses ("550 <ania@...>: no such user"). The outbox
        # rows keep their status, attempts and time sent: the counts stay, the replies go.
        replies = outbox_rows.delete_deliveries_before(store, iso(now - timedelta(days=privacy.replies_days)))
    return PruneReport(pruned.removed, pruned.lapsed, changes, replies)
