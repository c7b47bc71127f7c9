"""Bounce intake: bringing what comes back to the envelope sender (a Maildir, an IMAP mailbox, or an SMTP
receiver inside the daemon) to `bounces.process`, each message once.

Every source follows the same ledger: read a waiting message, hand its exact bytes to `bounces.process`
(which records it, or says the same bytes were processed before), then mark it done where it lies, so it
is never read twice. A crash between the two only means the next read finds the message again and
`process` answers "seen before" (it keys reports by the SHA-256 of their bytes). A message that makes
anything fail (its file cannot be read, `process` raised) is set aside for a person and the rest go on;
only a store that cannot be written stops a read, leaving the messages where they are for the next one,
since setting every message aside for a locked database would hide them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import mailbox
import os
import sqlite3
import ssl
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session
from imap_tools import BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted
from imap_tools.errors import ImapToolsError

from newsroom_feed.errors import NewsroomError, SettingsError, StoreError
from newsroom_feed.mail import bounces
from newsroom_feed.models import utcnow
from newsroom_feed.settings import ImapSettings, Settings
from newsroom_feed.store.database import Store

log = structlog.get_logger(__name__)

#: Failures of our own store, not of the message: the read stops and leaves the messages waiting.
STORE_FAILURES: tuple[type[Exception], ...] = (StoreError, sqlite3.OperationalError)
#: The SMTP receiver refuses bigger messages (552). A DSN or an ARF report quotes at most the message it
#: is about, and ours are well under 1 MB; this bounds memory against a stream of junk.
MAX_MESSAGE_BYTES = 10 * 1024 * 1024
#: Seconds to wait for the IMAP server to connect or answer before the read gives up (retried at the
#: next poll).
IMAP_TIMEOUT = 60.0

Stop = Callable[[], bool]


class IntakeError(NewsroomError):
    """The mailbox could not be read at all (unreachable, login refused, store not writable); nothing was
    lost: the messages wait for the next read."""


@dataclass(slots=True)
class Summary:
    """What one read of the mailbox did."""

    source: str
    read: int = 0
    #: Reports recorded by this read, by kind (hard, soft, complaint, ...).
    new: Counter[str] = field(default_factory=Counter)
    #: Messages whose bytes were processed before (a read interrupted before it marked them done).
    already_seen: int = 0
    #: Messages set aside (the unreadable folder) because reading or processing them failed.
    set_aside: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "read": self.read,
            "new": dict(sorted(self.new.items())),
            "already_seen": self.already_seen,
            "set_aside": self.set_aside,
        }

    def text(self) -> str:
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(self.new.items())) or "none"
        return (
            f"Read {self.read} message{'s' if self.read != 1 else ''} from the {self.source} mailbox: "
            f"new reports {sum(self.new.values())} ({kinds}), already seen {self.already_seen}, "
            f"set aside {self.set_aside}."
        )


def _take(store: Store, settings: Settings, raw: bytes, summary: Summary, now: datetime) -> bool:
    """Hand one message to `bounces.process`; False when it must be set aside: processing failed, or
    the message was recorded as ``unreadable`` (a person should look at it).

    :raises IntakeError: the store could not record it (the message stays waiting).
    """
    summary.read += 1
    try:
        report = bounces.process(store, settings, raw, summary.source, now)
    except STORE_FAILURES as error:
        summary.read -= 1
        raise IntakeError(f"the store could not record a bounce report: {error}") from error
    except Exception:
        log.exception("bounce report could not be processed; set aside", source=summary.source)
        summary.set_aside += 1
        return False
    if report is None:
        summary.already_seen += 1
        return True
    summary.new[report.kind] += 1
    if report.kind == "unreadable":
        summary.set_aside += 1
        return False
    return True


# -- Maildir ------------------------------------------------------------------------------------------

#: The Maildir++ sub-folder that takes messages that could not be read.
UNREADABLE_MAILDIR_FOLDER = "unreadable"


def _waiting(root: Path) -> Iterator[tuple[Path, str, str]]:
    """Messages not yet done: everything in ``new``, and what in ``cur`` lacks the Seen (S) flag, as
    (path, unique name, flags)."""
    for subdir in ("new", "cur"):
        try:
            entries = sorted(os.scandir(root / subdir), key=lambda entry: entry.name)
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.name.startswith(".") or entry.is_dir(follow_symlinks=False):
                continue
            unique, _, info = entry.name.partition(":")
            flags = info[2:] if info.startswith("2,") else ""
            if subdir == "cur" and "S" in flags:
                continue
            yield Path(entry.path), unique, flags


def read_maildir(
    store: Store, settings: Settings, root: Path, now: datetime, *, stop: Stop | None = None
) -> Summary:
    """Read every waiting message of the Maildir at ``root``: done ones go to ``cur`` with the S flag,
    unreadable ones to the ``.unreadable`` Maildir++ folder (in its ``new``, so a mail client shows them).

    Flags are set by renaming the file, as the Maildir spec has it: Python 3.11's `mailbox.Maildir` can
    only change them by writing the message again (``__setitem__``), which would not keep its bytes.
    A message another reader moved meanwhile is skipped.

    :raises SettingsError: ``root`` is not a Maildir.
    :raises IntakeError: the store could not record a report.
    """
    if not (root / "new").is_dir() or not (root / "cur").is_dir():
        raise SettingsError("NEWSROOM_BOUNCES__MAILDIR", f"{root} is not a Maildir (no new/ and cur/ in it)")
    summary = Summary("maildir")
    for path, unique, flags in _waiting(root):
        if stop is not None and stop():
            break
        raw: bytes | None = None
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            if not path.is_symlink():
                continue  # taken by another reader meanwhile; a broken link is set aside
        except OSError as error:
            log.warning("bounce message could not be read; set aside", path=str(path), error=str(error))
        if raw is None:
            summary.read += 1
            summary.set_aside += 1
            _set_aside_in_maildir(root, path, unique)
        elif _take(store, settings, raw, summary, now):
            done = "".join(sorted(set(flags) | {"S"}))
            with contextlib.suppress(FileNotFoundError):
                path.replace(root / "cur" / f"{unique}:2,{done}")
        else:
            _set_aside_in_maildir(root, path, unique)
    return summary


def _set_aside_in_maildir(root: Path, path: Path, unique: str) -> None:
    """Move a message into ``.unreadable/new`` (Maildir++: `mailbox.Maildir.add_folder` makes the folder
    with its ``maildirfolder`` marker, as Dovecot and Courier expect)."""
    try:
        mailbox.Maildir(root, factory=None, create=False).add_folder(UNREADABLE_MAILDIR_FOLDER)
        path.replace(root / f".{UNREADABLE_MAILDIR_FOLDER}" / "new" / unique)
    except OSError:
        log.exception("could not set the message aside", path=str(path))


# -- IMAP ---------------------------------------------------------------------------------------------


def open_imap(imap: ImapSettings, ssl_context: ssl.SSLContext | None = None) -> BaseMailBox:
    """A logged-in connection to the bounce mailbox, with its folder selected.

    The server certificate is verified against the system's CAs unless ``ssl_context`` says otherwise.

    :raises SettingsError: the host, the user name or the password is missing.
    :raises IntakeError: the server cannot be reached, or refuses the login or the folder.
    """
    if imap.host is None:
        raise SettingsError("NEWSROOM_BOUNCES__IMAP__HOST", "not set")
    if imap.username is None or imap.password is None:
        raise SettingsError(
            "NEWSROOM_BOUNCES__IMAP__USERNAME",
            "the bounce mailbox needs NEWSROOM_BOUNCES__IMAP__USERNAME and NEWSROOM_BOUNCES__IMAP__PASSWORD",
        )
    context = ssl_context or ssl.create_default_context()
    box: BaseMailBox
    where = f"{imap.host}:{imap.port}"
    try:
        if imap.security == "tls":
            box = MailBox(imap.host, imap.port, timeout=IMAP_TIMEOUT, ssl_context=context)
        elif imap.security == "starttls":
            box = MailBoxStartTls(imap.host, imap.port, timeout=IMAP_TIMEOUT, ssl_context=context)
        else:
            box = MailBoxUnencrypted(imap.host, imap.port, timeout=IMAP_TIMEOUT)
    except (OSError, ssl.SSLError) as error:
        raise IntakeError(
            f"cannot reach the IMAP server {where} (NEWSROOM_BOUNCES__IMAP__*): {error}"
        ) from error
    try:
        box.login(imap.username, imap.password.get_secret_value(), initial_folder=imap.folder)
    except Exception as error:
        with contextlib.suppress(Exception):
            box.logout()
        raise IntakeError(
            f"the IMAP server {where} refused {imap.username} or the folder {imap.folder!r}: {error}"
        ) from error
    return box


def _raw_message(box: BaseMailBox, uid: str) -> bytes | None:
    """The message's exact bytes (``BODY.PEEK[]``, leaving it unseen), None when it is gone.

    imap-tools' `MailMessage` keeps only the parsed `email.message.Message`; serialising that again may
    refold headers and change the bytes the report digest is taken over, so the raw literal is read here.
    """
    status, data = box.client.uid("FETCH", uid, "(BODY.PEEK[])")
    if status != "OK":
        raise IntakeError(f"FETCH of message {uid} failed: {data!r}")
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    return None


def read_imap(
    store: Store,
    settings: Settings,
    now: datetime,
    *,
    ssl_context: ssl.SSLContext | None = None,
    stop: Stop | None = None,
) -> Summary:
    """Read every message of the bounce folder: done ones are moved to ``processed_folder``, unreadable
    ones to ``unreadable_folder`` (both created when missing).

    :raises SettingsError: the IMAP settings are incomplete.
    :raises IntakeError: the server could not be reached or used, or the store could not record.
    """
    imap = settings.bounces.imap
    summary = Summary("imap")
    box = open_imap(imap, ssl_context)
    try:
        for folder in (imap.processed_folder, imap.unreadable_folder):
            if not box.folder.exists(folder):
                box.folder.create(folder)
        for uid in box.uids("ALL"):
            if stop is not None and stop():
                break
            try:
                raw = _raw_message(box, uid)
            except IntakeError:
                log.exception("bounce message could not be fetched; set aside", uid=uid)
                summary.read += 1
                summary.set_aside += 1
                box.move(uid, imap.unreadable_folder)
                continue
            if raw is None:
                continue  # expunged by another client meanwhile
            done = _take(store, settings, raw, summary, now)
            box.move(uid, imap.processed_folder if done else imap.unreadable_folder)
    except (OSError, imaplib.IMAP4.error, ImapToolsError) as error:
        raise IntakeError(
            f"the IMAP server {imap.host}:{imap.port} failed during the read: {error}"
        ) from error
    finally:
        with contextlib.suppress(Exception):
            box.logout()
    return summary


# -- one read of the configured mailbox ---------------------------------------------------------------


def mailbox_configured(settings: Settings) -> bool:
    """Whether there is a mailbox to poll (a Maildir, or an IMAP host)."""
    return settings.bounces.maildir is not None or settings.bounces.imap.host is not None


def fetch(
    store: Store,
    settings: Settings,
    now: datetime,
    *,
    ssl_context: ssl.SSLContext | None = None,
    stop: Stop | None = None,
) -> Summary:
    """Read the configured bounce mailbox once: the Maildir when it is set, else the IMAP mailbox.

    :raises SettingsError: no mailbox is configured, or its settings are incomplete.
    :raises IntakeError: the mailbox or the store could not be used; nothing was lost.
    """
    if settings.bounces.maildir is not None:
        return read_maildir(store, settings, settings.bounces.maildir, now, stop=stop)
    if settings.bounces.imap.host is not None:
        return read_imap(store, settings, now, ssl_context=ssl_context, stop=stop)
    raise SettingsError(
        "NEWSROOM_BOUNCES__MAILDIR",
        "no bounce mailbox is configured: set NEWSROOM_BOUNCES__MAILDIR (a local Maildir) or "
        "NEWSROOM_BOUNCES__IMAP__HOST with __USERNAME and __PASSWORD",
    )


# -- the SMTP receiver --------------------------------------------------------------------------------


def accepts(bounce_address: str, recipient: str) -> bool:
    """Whether ``recipient`` is the bounce address or a VERP form of it (``local+token@domain``).

    The domain is compared without case (RFC 5321); the local part too, since Postfix and most relays
    fold it and an address that differs only in case still names us.
    """
    local, _, domain = bounce_address.rpartition("@")
    got_local, at, got_domain = recipient.rpartition("@")
    if not at or got_domain.casefold() != domain.casefold():
        return False
    base = got_local.casefold()
    return base == local.casefold() or base.startswith(local.casefold() + "+")


class _Handler:
    """aiosmtpd's hooks: recipients checked at RCPT, the report recorded at DATA before the 250."""

    def __init__(self, receiver: BounceReceiver) -> None:
        self.receiver = receiver

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if not accepts(self.receiver.address, address):
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        raw = content.encode("utf-8") if isinstance(content, str) else content
        try:
            await self.receiver.record(raw, tuple(envelope.rcpt_tos))
        except Exception:
            log.exception("bounce report could not be recorded; the sender will retry")
            return "451 4.3.0 cannot record the report now; try again later"
        return "250 2.0.0 OK recorded"


class BounceReceiver:
    """The daemon's SMTP bounce receiver: mail to the bounce address (and its VERP forms) on
    ``smtp_host:smtp_port``, each message recorded before it is acknowledged.

    Recording runs on a worker thread of its own with a store of its own, never on the event loop. A
    store that cannot be written answers 451, so the sending relay keeps the report and tries again.
    """

    def __init__(self, settings: Settings) -> None:
        if settings.bounces.address is None:
            raise SettingsError(
                "NEWSROOM_BOUNCES__ADDRESS",
                "the bounce receiver (NEWSROOM_BOUNCES__SMTP_PORT) needs the address it receives for",
            )
        self.settings = settings
        self.address = str(settings.bounces.address)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsroom-bounces")
        self._store: Store | None = None
        self._server: asyncio.base_events.Server | None = None
        self.summary = Summary("smtp")

    def _record(self, raw: bytes, recipients: tuple[str, ...]) -> None:
        if self._store is None:
            self._store = Store.for_settings(self.settings, migrate=False)
        report = bounces.process(self._store, self.settings, raw, "smtp", utcnow(), delivered_to=recipients)
        log.info(
            "bounce received",
            kind=report.kind if report else None,
            seen_before=report is None,
            recipient=report.recipient if report else None,
            status=report.status if report else None,
        )

    async def record(self, raw: bytes, recipients: tuple[str, ...]) -> None:
        """Process one received message on the worker thread; ``recipients`` (the envelope's, each ours)
        name the outbox row by their VERP token even when the report's body names nothing.

        :raises Exception: whatever `bounces.process` raised (the store could not record it).
        """
        await asyncio.get_running_loop().run_in_executor(self._executor, self._record, raw, recipients)

    async def start(self) -> None:
        """Listen; needs the running loop.

        :raises NewsroomError: the port cannot be bound.
        """
        bounces_settings = self.settings.bounces
        handler = _Handler(self)
        hostname = self.address.rpartition("@")[2]
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                lambda: SMTP(
                    handler, data_size_limit=MAX_MESSAGE_BYTES, enable_SMTPUTF8=True, hostname=hostname
                ),
                bounces_settings.smtp_host,
                bounces_settings.smtp_port,
            )
        except OSError as error:
            where = f"{bounces_settings.smtp_host}:{bounces_settings.smtp_port}"
            raise NewsroomError(
                f"the bounce receiver could not listen on {where} (NEWSROOM_BOUNCES__SMTP_PORT): {error}"
            ) from error
        log.info("bounce receiver listening", address=self.where())

    def where(self) -> str | None:
        """host:port the receiver listens on (the real port when the setting is 0)."""
        if self._server is None or not self._server.sockets:
            return None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"{host}:{port}"

    async def stop(self) -> None:
        """Stop listening, let a report being recorded finish, close the store."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown, True)
        if self._store is not None:
            self._store.close()
            self._store = None


def poll(settings: Settings, stop: threading.Event) -> Summary:
    """One daemon poll of the mailbox, on a worker thread with a store of its own.

    :raises SettingsError, IntakeError: as `fetch` (the daemon logs them and polls again later).
    """
    with Store.for_settings(settings, migrate=False) as store:
        return fetch(store, settings, utcnow(), stop=stop.is_set)
