"""Bounce intake with real mailboxes: a Maildir on disk, Debian's Dovecot over IMAP (its own instance on a
loopback port), and the daemon's SMTP bounce receiver spoken to with smtplib."""

from __future__ import annotations

import asyncio
import hashlib
import mailbox
import shutil
import smtplib
import ssl
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from newsroom_feed.cli import main
from newsroom_feed.daemon import Daemon
from newsroom_feed.errors import SettingsError
from newsroom_feed.mail import intake
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store

from ..conftest import make_settings
from ..mail_servers import DOVECOT, Dovecot, free_port, start_dovecot
from ..smtp_server import SmtpServer

BOUNCE_ADDRESS = "bounces@prasa.example.pl"


def dsn(recipient: str, status: str = "5.1.1", *, to: str = "bounces+abc@prasa.example.pl") -> bytes:
    """A delivery status notification as Postfix writes one (RFC 3464), about ``recipient``."""
    action = "failed" if status.startswith("5") else "delayed"
    code = "550" if status.startswith("5") else "451"
    return (
        "Return-Path: <>\r\n"
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
        f"To: {to}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Date: Thu, 26 Nov 2026 10:31:00 +0100\r\n"
        f"Message-Id: <{recipient.replace('@', '.')}.{status}@mx.example.net>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="DSN-B"\r\n'
        "\r\n"
        "--DSN-B\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "This is the mail system at host mx.example.net.\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n"
        "\r\n"
        "--DSN-B\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n"
        "Arrival-Date: Thu, 26 Nov 2026 10:30:58 +0100 (CET)\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Original-Recipient: rfc822;{recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        f"Diagnostic-Code: smtp; {code} {status} <{recipient}>: Recipient address rejected\r\n"
        "\r\n"
        "--DSN-B\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        "From: Biuro prasowe <prasa@prasa.example.pl>\r\n"
        f"To: {recipient}\r\n"
        "Subject: Komunikat\r\n"
        "\r\n"
        "--DSN-B--\r\n"
    ).encode("ascii")


#: Bytes no mail reader can make sense of: not a header in sight, NULs and invalid UTF-8.
JUNK = b"\x00\xff\xfe garbage \x00" * 40


def bounce_rows(store: Store) -> list[dict[str, Any]]:
    """What `process` recorded, oldest first (read straight from the table the migration made)."""
    cursor = store.conn.execute("SELECT source, kind, recipient, status FROM bounces ORDER BY id")
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# -- Maildir ------------------------------------------------------------------------------------------


def maildir_settings(tmp_path: Path) -> tuple[Settings, Path]:
    root = tmp_path / "bounces-maildir"
    mailbox.Maildir(root, create=True).close()
    return make_settings(tmp_path, bounces={"address": BOUNCE_ADDRESS, "maildir": root}), root


def files(root: Path, subdir: str) -> list[str]:
    folder = root / subdir
    return sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []


def test_maildir_messages_are_read_once_then_flagged_seen_in_cur(tmp_path: Path, now: datetime) -> None:
    """New mail and unseen mail in cur are read; mail already flagged S is left alone; a second read
    finds nothing."""
    settings, root = maildir_settings(tmp_path)
    box = mailbox.Maildir(root)
    box.add(dsn("ania@urzad.example.pl"))
    unseen = mailbox.MaildirMessage(dsn("jan@gmina.example.pl"))
    unseen.set_subdir("cur")
    box.add(unseen)
    seen = mailbox.MaildirMessage(dsn("old@gmina.example.pl"))
    seen.set_subdir("cur")
    seen.add_flag("S")
    box.add(seen)
    with Store.for_settings(settings) as store:
        first = intake.fetch(store, settings, now)
        second = intake.fetch(store, settings, now)
        rows = bounce_rows(store)
    assert first.to_json() == {
        "source": "maildir",
        "read": 2,
        "new": {"hard": 2},
        "already_seen": 0,
        "set_aside": 0,
    }
    assert second.read == 0
    assert files(root, "new") == []
    assert all(name.endswith(":2,S") for name in files(root, "cur"))
    assert len(files(root, "cur")) == 3
    assert sorted(row["recipient"] for row in rows) == ["ania@urzad.example.pl", "jan@gmina.example.pl"]
    assert {(row["source"], row["kind"], row["status"]) for row in rows} == {("maildir", "hard", "5.1.1")}


def test_the_same_report_delivered_twice_counts_once(tmp_path: Path, now: datetime) -> None:
    settings, root = maildir_settings(tmp_path)
    box = mailbox.Maildir(root)
    box.add(dsn("ania@urzad.example.pl"))
    box.add(dsn("ania@urzad.example.pl"))
    with Store.for_settings(settings) as store:
        summary = intake.fetch(store, settings, now)
        rows = bounce_rows(store)
    assert (summary.read, summary.new["hard"], summary.already_seen) == (2, 1, 1)
    assert len(rows) == 1
    assert files(root, "new") == []


def test_a_maildir_message_that_cannot_be_read_is_set_aside_and_the_rest_go_on(
    tmp_path: Path, now: datetime
) -> None:
    """A file that cannot be opened (here a link that points at itself) goes to the ``.unreadable``
    Maildir++ folder; the good report beside it is read."""
    settings, root = maildir_settings(tmp_path)
    (root / "new" / "1700000000.loop.host").symlink_to("1700000000.loop.host")
    mailbox.Maildir(root).add(dsn("ania@urzad.example.pl"))
    with Store.for_settings(settings) as store:
        summary = intake.fetch(store, settings, now)
        rows = bounce_rows(store)
    assert (summary.read, summary.set_aside, summary.new["hard"]) == (2, 1, 1)
    assert files(root, ".unreadable/new") == ["1700000000.loop.host"]
    assert (root / ".unreadable" / "maildirfolder").exists()
    assert [row["recipient"] for row in rows] == ["ania@urzad.example.pl"]
    assert files(root, "new") == []


def test_junk_in_the_maildir_is_recorded_as_unreadable_and_set_aside(tmp_path: Path, now: datetime) -> None:
    settings, root = maildir_settings(tmp_path)
    box = mailbox.Maildir(root)
    box.add(JUNK)
    box.add(dsn("ania@urzad.example.pl"))
    with Store.for_settings(settings) as store:
        summary = intake.fetch(store, settings, now)
        again = intake.fetch(store, settings, now)
        kinds = sorted(row["kind"] for row in bounce_rows(store))
    assert kinds == ["hard", "unreadable"]
    assert (summary.read, summary.set_aside, again.read) == (2, 1, 0)
    assert len(files(root, ".unreadable/new")) == 1
    assert (root / ".unreadable" / "new" / files(root, ".unreadable/new")[0]).read_bytes() == JUNK


def test_a_store_that_cannot_be_written_leaves_every_message_waiting(tmp_path: Path, now: datetime) -> None:
    """Setting every report aside because the database is read-only (or locked) would hide them all: the
    read stops instead, and the next one finds them where they were."""
    settings, root = maildir_settings(tmp_path)
    box = mailbox.Maildir(root)
    box.add(dsn("ania@urzad.example.pl"))
    box.add(dsn("jan@gmina.example.pl"))
    with Store.for_settings(settings) as store:
        store.conn.execute("PRAGMA query_only = ON")
        with pytest.raises(intake.IntakeError, match="could not record"):
            intake.fetch(store, settings, now)
        store.conn.execute("PRAGMA query_only = OFF")
        assert len(files(root, "new")) == 2
        assert files(root, ".unreadable/new") == []
        assert intake.fetch(store, settings, now).new["hard"] == 2


def test_a_path_that_is_no_maildir_is_named_in_the_error(tmp_path: Path, now: datetime) -> None:
    settings = make_settings(tmp_path, bounces={"maildir": tmp_path / "nowhere"})
    with (
        Store.for_settings(settings) as store,
        pytest.raises(SettingsError, match="NEWSROOM_BOUNCES__MAILDIR"),
    ):
        intake.fetch(store, settings, now)


# -- IMAP: Debian's Dovecot, an instance of our own --------------------------------------------------


@pytest.fixture
def dovecot_home() -> Iterator[Path]:
    """A directory Dovecot's mail user can reach (pytest's tmp_path sits under a 0700 directory of the
    user running the tests, which ``nobody`` cannot enter)."""
    if not DOVECOT.exists():
        pytest.skip("needs Debian's Dovecot: apt-get install dovecot-imapd")
    home = Path(tempfile.mkdtemp(prefix="newsroom-dovecot-"))
    home.chmod(0o755)
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def dovecot(dovecot_home: Path) -> Iterator[Dovecot]:
    process, server = start_dovecot(dovecot_home)
    try:
        yield server
    finally:
        process.terminate()
        process.wait(15)


def imap_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: Dovecot) -> None:
    for name, value in {
        "NEWSROOM_DATABASE": str(tmp_path / "var" / "newsroom.db"),
        "NEWSROOM_PUBLIC_DIR": str(tmp_path / "var" / "public"),
        "NEWSROOM_BASE_URL": "https://prasa.example.pl",
        "NEWSROOM_SECRET_KEY": "test-secret-key-not-for-production",
        "NEWSROOM_BOUNCES__ADDRESS": BOUNCE_ADDRESS,
        "NEWSROOM_BOUNCES__IMAP__HOST": "127.0.0.1",
        "NEWSROOM_BOUNCES__IMAP__PORT": str(server.port),
        "NEWSROOM_BOUNCES__IMAP__USERNAME": server.username,
        "NEWSROOM_BOUNCES__IMAP__PASSWORD": server.password,
        "NEWSROOM_BOUNCES__IMAP__SECURITY": "none",
    }.items():
        monkeypatch.setenv(name, value)


def imap_settings(tmp_path: Path, server: Dovecot, security: str) -> Settings:
    imap = {
        "host": "127.0.0.1",
        "port": server.port,
        "username": server.username,
        "password": server.password,
        "security": security,
    }
    return make_settings(tmp_path, bounces={"address": BOUNCE_ADDRESS, "imap": imap})


@pytest.mark.slow
def test_bounces_fetch_reads_the_imap_mailbox_once_and_sets_junk_aside(
    dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Reports appended to Dovecot's INBOX are read by `bounces fetch`, moved to the processed folder
    (created by the first read), junk to the unreadable one; the next fetch reads nothing."""
    with dovecot.client() as box:
        box.append(dsn("ania@urzad.example.pl"), "INBOX")
        box.append(JUNK, "INBOX")
        box.append(dsn("jan@gmina.example.pl", "4.2.2"), "INBOX")
    imap_env(monkeypatch, tmp_path, dovecot)

    assert main(["bounces", "fetch", "--json"]) == 1  # one message set aside
    first = capsys.readouterr().out
    assert main(["bounces", "fetch"]) == 0
    second = capsys.readouterr().out

    assert '"read": 3' in first and '"set_aside": 1' in first
    assert "Read 0 messages from the imap mailbox" in second
    assert dovecot.folder_sizes("INBOX", "newsroom-processed", "newsroom-unreadable") == {
        "INBOX": 0,
        "newsroom-processed": 2,
        "newsroom-unreadable": 1,
    }
    with Store(tmp_path / "var" / "newsroom.db") as store:
        rows = bounce_rows(store)
    assert [(row["source"], row["kind"], row["recipient"]) for row in rows] == [
        ("imap", "hard", "ania@urzad.example.pl"),
        ("imap", "unreadable", None),
        ("imap", "soft", "jan@gmina.example.pl"),
    ]


@pytest.mark.slow
def test_imap_bytes_reach_the_reader_unchanged(dovecot: Dovecot, tmp_path: Path, now: datetime) -> None:
    """The report digest (SHA-256 of the message) is taken over exactly the bytes appended: a message
    parsed and serialised again would refold its headers, and the same report read twice from two
    sources could count twice."""
    raw = dsn("ania@urzad.example.pl").replace(
        b"Subject: Undelivered Mail Returned to Sender\r\n",
        b"Subject: Undelivered Mail\r\n  Returned   to Sender \r\n",
    )
    with dovecot.client() as box:
        box.append(raw, "INBOX")
    configured = imap_settings(tmp_path, dovecot, "none")
    with Store.for_settings(configured) as store:
        assert intake.fetch(store, configured, now).read == 1
        digests = [row[0] for row in store.conn.execute("SELECT digest FROM bounces")]
    assert digests == [hashlib.sha256(raw).hexdigest()]


@pytest.mark.slow
def test_imap_over_tls_verifies_the_server_certificate(
    dovecot_home: Path, tmp_path: Path, now: datetime
) -> None:
    """A self-signed certificate is refused by default (the system's CAs); trusted explicitly, it reads."""
    process, server = start_dovecot(dovecot_home, tls=True)
    try:
        configured = imap_settings(tmp_path, server, "tls")
        with Store.for_settings(configured) as store:
            with pytest.raises(intake.IntakeError, match="CERTIFICATE_VERIFY_FAILED"):
                intake.fetch(store, configured, now)
            trusting = ssl.create_default_context(cafile=str(server.certificate))
            assert intake.fetch(store, configured, now, ssl_context=trusting).read == 0
    finally:
        process.terminate()
        process.wait(15)


# -- the daemon: polling, and the SMTP bounce receiver ------------------------------------------------


async def _serving(daemon: Daemon) -> asyncio.Future[int]:
    serving = asyncio.ensure_future(daemon.serve(signals=False))
    await asyncio.wait_for(daemon.started.wait(), 20)
    return serving


async def _until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_the_daemon_polls_the_maildir(tmp_path: Path, smtp_server: SmtpServer) -> None:
    root = tmp_path / "bounces-maildir"
    mailbox.Maildir(root, create=True).add(dsn("ania@urzad.example.pl"))
    settings = make_settings(
        tmp_path,
        http={"port": 0},
        smtp={"port": smtp_server.port},
        bounces={"address": BOUNCE_ADDRESS, "maildir": root, "poll_seconds": 0.2},
    )
    daemon = Daemon(settings)
    serving = await _serving(daemon)
    try:
        await _until(lambda: files(root, "new") == [])
        mailbox.Maildir(root).add(dsn("jan@gmina.example.pl"))
        await _until(lambda: files(root, "new") == [])
    finally:
        daemon.request_stop()
        assert await asyncio.wait_for(serving, 20) == 0
    with Store.for_settings(settings) as store:
        assert [row["recipient"] for row in bounce_rows(store)] == [
            "ania@urzad.example.pl",
            "jan@gmina.example.pl",
        ]


def _send(port: int, recipients: list[str], raw: bytes) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        return client.sendmail("", recipients, raw)


@pytest.mark.slow
async def test_the_bounce_receiver_records_a_report_sent_to_the_verp_address(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    port = free_port()
    settings = make_settings(
        tmp_path,
        http={"port": 0},
        smtp={"port": smtp_server.port},
        bounces={"address": BOUNCE_ADDRESS, "smtp_port": port},
    )
    daemon = Daemon(settings)
    serving = await _serving(daemon)
    try:
        refused = await asyncio.to_thread(
            _send, port, ["Bounces+x1.y2@Prasa.Example.PL", "someone@elsewhere.example"], dsn("a@b.example")
        )
        with pytest.raises(smtplib.SMTPRecipientsRefused) as outside:
            await asyncio.to_thread(_send, port, ["bounces@elsewhere.example"], dsn("c@d.example"))
    finally:
        daemon.request_stop()
        assert await asyncio.wait_for(serving, 20) == 0
    assert list(refused) == ["someone@elsewhere.example"]
    assert refused["someone@elsewhere.example"][0] == 550
    assert outside.value.recipients["bounces@elsewhere.example"][0] == 550
    with Store.for_settings(settings) as store:
        rows = bounce_rows(store)
    assert [(row["source"], row["kind"], row["recipient"]) for row in rows] == [
        ("smtp", "hard", "a@b.example")
    ]


async def test_the_bounce_receiver_answers_451_while_the_store_cannot_record(tmp_path: Path) -> None:
    """The relay keeps a report it could not hand over and tries again later: nothing is lost."""
    (tmp_path / "not-a-database").mkdir()
    settings = make_settings(
        tmp_path,
        database=tmp_path / "not-a-database",
        bounces={"address": BOUNCE_ADDRESS, "smtp_port": 0},
    )
    receiver = intake.BounceReceiver(settings)
    await receiver.start()
    try:
        where = receiver.where()
        assert where is not None
        port = int(where.rpartition(":")[2])
        with pytest.raises(smtplib.SMTPDataError) as refused:
            await asyncio.to_thread(_send, port, [BOUNCE_ADDRESS], dsn("ania@urzad.example.pl"))
    finally:
        await receiver.stop()
    assert refused.value.smtp_code == 451


@pytest.mark.slow
async def test_the_bounce_receiver_needs_the_bounce_address(tmp_path: Path, smtp_server: SmtpServer) -> None:
    settings = make_settings(
        tmp_path, http={"port": 0}, smtp={"port": smtp_server.port}, bounces={"smtp_port": free_port()}
    )
    with pytest.raises(SettingsError, match="NEWSROOM_BOUNCES__ADDRESS"):
        await Daemon(settings).serve(signals=False)


def test_only_the_bounce_address_and_its_verp_forms_are_ours() -> None:
    assert intake.accepts(BOUNCE_ADDRESS, "bounces@prasa.example.pl")
    assert intake.accepts(BOUNCE_ADDRESS, "BOUNCES+a1.b2@PRASA.example.pl")
    assert not intake.accepts(BOUNCE_ADDRESS, "bouncesx@prasa.example.pl")
    assert not intake.accepts(BOUNCE_ADDRESS, "bounces@example.pl")
    assert not intake.accepts(BOUNCE_ADDRESS, "postmaster")
