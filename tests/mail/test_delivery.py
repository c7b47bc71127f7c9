"""The sending loop against a real aiosmtpd server: retries, permanent failures, bounces, stop, crash."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from newsroom_feed.cli import main
from newsroom_feed.errors import SettingsError
from newsroom_feed.lock import InstanceLock
from newsroom_feed.mail import outbox
from newsroom_feed.mail.compose import Composer
from newsroom_feed.mail.delivery import deliver
from newsroom_feed.mail.outbox import NewMessage
from newsroom_feed.models import OutboxItem, OutgoingMessage, iso, utcnow
from newsroom_feed.planner import announce
from newsroom_feed.settings import Settings, load_settings
from newsroom_feed.store.database import Store

from ..mail_helpers import PlainRenderer, add_release, add_subscriber, smtp_settings
from ..smtp_server import SmtpServer


def _rows(store: Store) -> list[tuple[str, str, int]]:
    return [
        tuple(row)
        for row in store.conn.execute("SELECT key, status, attempts FROM outbox ORDER BY id").fetchall()
    ]


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait, polling, for what the test needs to see; fails instead of hanging if it never comes."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s"
        await asyncio.sleep(0.01)


def _plan(store: Store, now: datetime, *emails: str) -> list[int]:
    ids = [add_subscriber(store, email) for email in emails]
    outbox.enqueue(store, [NewMessage(sid, "alert:tag:x,2026:release/1", "alert", (1,)) for sid in ids], now)
    return ids


async def test_451_then_250_ends_sent_after_a_retry(
    store: Store, settings: Settings, smtp_server: SmtpServer, now: datetime
) -> None:
    _plan(store, now, "anna@example.pl")
    smtp_server.fail_next(451, "greylisted")
    report = await deliver(
        store, smtp_settings(settings, smtp_server.port, backoff_seconds=0.001), renderer=PlainRenderer(store)
    )
    assert (report.sent, report.failed, report.waiting) == (1, 0, 0)
    assert _rows(store) == [("alert:tag:x,2026:release/1", "sent", 2)]
    attempts = store.conn.execute("SELECT attempt, code, outcome FROM deliveries ORDER BY id").fetchall()
    assert [tuple(a) for a in attempts] == [(1, 451, "transient"), (2, 250, "sent")]
    assert len(smtp_server.received) == 1


async def test_a_retry_not_yet_due_is_left_waiting(
    store: Store, settings: Settings, smtp_server: SmtpServer, now: datetime
) -> None:
    _plan(store, now, "anna@example.pl")
    smtp_server.fail_next(421, "busy")
    report = await deliver(store, smtp_settings(settings, smtp_server.port), renderer=PlainRenderer(store))
    assert (report.sent, report.failed, report.waiting) == (0, 0, 1)
    row = outbox.list_rows(store)[0]
    assert (row.status, row.last_error) == ("pending", "421 busy")


async def test_550_fails_at_once_and_three_bounce_the_subscriber(
    store: Store, settings: Settings, smtp_server: SmtpServer, now: datetime
) -> None:
    anna = add_subscriber(store, "anna@example.pl")
    outbox.enqueue(store, [NewMessage(anna, f"alert:{n}", "alert", ()) for n in range(4)], now)
    smtp_server.fail_next(550, "no such user", times=3)
    configured = smtp_settings(settings, smtp_server.port).model_copy(
        update={"smtp": smtp_settings(settings, smtp_server.port).smtp.model_copy(update={"connections": 1})}
    )
    report = await deliver(store, configured, renderer=PlainRenderer(store))
    assert (report.sent, report.failed, report.withdrawn) == (0, 3, 1)
    assert "550 no such user" in report.errors[0]
    assert smtp_server.received == []
    status = store.conn.execute("SELECT status FROM subscribers WHERE id = ?", (anna,)).fetchone()[0]
    assert status == "bounced"
    assert [row[1] for row in _rows(store)] == ["failed"] * 3 + ["withdrawn"]


async def test_a_connection_dropped_during_data_is_retried(
    store: Store, settings: Settings, smtp_server: SmtpServer, now: datetime
) -> None:
    _plan(store, now, "anna@example.pl", "jan@example.pl")
    smtp_server.drop_next()
    report = await deliver(
        store, smtp_settings(settings, smtp_server.port, backoff_seconds=0.001), renderer=PlainRenderer(store)
    )
    assert (report.sent, report.failed) == (2, 0)
    assert sorted(r.recipients[0] for r in smtp_server.received) == ["anna@example.pl", "jan@example.pl"]
    assert sum(row[2] for row in _rows(store)) == 3


async def test_a_message_that_cannot_be_composed_fails_alone(
    store: Store, settings: Settings, smtp_server: SmtpServer, now: datetime
) -> None:
    _plan(store, now, "anna@example.pl", "jan@example.pl")

    class Picky(PlainRenderer):
        def render(self, item: OutboxItem) -> OutgoingMessage:
            if item.id == 1:
                raise LookupError("release 1 is gone")
            return super().render(item)

    report = await deliver(store, smtp_settings(settings, smtp_server.port), renderer=Picky(store))
    assert (report.sent, report.failed) == (1, 1)
    assert (
        outbox.list_rows(store, statuses=["failed"])[0].last_error
        == "no reply cannot compose: release 1 is gone"
    )
    assert store.conn.execute("SELECT status FROM subscribers WHERE id = 1").fetchone()[0] == "active"


async def test_stopping_finishes_in_flight_messages_and_returns_the_rest(
    store: Store, settings: Settings, smtp_server: SmtpServer, now: datetime
) -> None:
    emails = [f"r{n}@example.pl" for n in range(200)]
    _plan(store, now, *emails)
    stop = asyncio.Event()
    configured = smtp_settings(settings, smtp_server.port)
    slow = configured.model_copy(
        update={"smtp": configured.smtp.model_copy(update={"rate_per_second": 200.0})}
    )
    task = asyncio.create_task(deliver(store, slow, stop=stop, renderer=PlainRenderer(store)))
    await _until(lambda: len(smtp_server.received) >= 20)
    stop.set()
    report = await task
    assert report.stopped
    counts = dict(store.conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())
    assert counts.get("sending", 0) == 0
    assert counts["sent"] == report.sent == len(smtp_server.received)
    assert counts["pending"] == report.waiting == 200 - report.sent


async def test_a_daemon_sender_waits_for_new_rows_until_stopped(
    store: Store, settings: Settings, smtp_server: SmtpServer, now: datetime
) -> None:
    stop, wake = asyncio.Event(), asyncio.Event()
    configured = smtp_settings(settings, smtp_server.port)
    task = asyncio.create_task(
        deliver(store, configured, stop=stop, wake=wake, until_idle=False, renderer=PlainRenderer(store))
    )
    await asyncio.sleep(0.05)
    assert not task.done(), "an empty outbox does not end a daemon's sender"
    _plan(store, now, "anna@example.pl")
    wake.set()
    await _until(lambda: bool(smtp_server.received))
    assert not task.done()
    stop.set()
    report = await task
    assert report.sent == 1
    assert smtp_server.received[0].recipients == ["anna@example.pl"]


# -- the commands: outbox send|list|retry, with the real composer ----------------------------------


def _alerts_for(store: Store, settings: Settings, now: datetime, *emails: str) -> None:
    for email in emails:
        add_subscriber(store, email, name="Zażółć Gęślą")
    add_release(store, now, "Złote Lajki 2026 wręczone", categories=["kultura"])
    announce(store, settings, now)


def test_outbox_send_delivers_composed_alerts_and_says_what_it_did(
    store: Store,
    settings: Settings,
    smtp_server: SmtpServer,
    cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _alerts_for(store, settings, utcnow(), "anna@example.pl", "jan@example.pl")
    assert main(["outbox", "send"]) == 0
    assert "sent 2, waiting 0, failed 0" in capsys.readouterr().out
    received = smtp_server.messages()
    assert sorted(str(m["To"]) for m in received) == [
        "Zażółć Gęślą <anna@example.pl>",
        "Zażółć Gęślą <jan@example.pl>",
    ]
    assert {m["X-Newsroom-Kind"] for m in received} == {"alert"}
    assert "Złote Lajki" in str(received[0]["Subject"])
    assert main(["outbox", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert set(rows[0]) == {
        "id", "key", "kind", "email", "status", "attempts", "next_attempt_at", "last_error",
        "message_id", "sent_at",
    }  # fmt: skip
    assert {(row["status"], row["kind"]) for row in rows} == {("sent", "alert")}
    assert {row["message_id"] for row in rows} == {str(m["Message-ID"]) for m in received}


def test_outbox_send_exits_1_when_a_message_failed_and_retry_failed_sends_it(
    store: Store,
    settings: Settings,
    smtp_server: SmtpServer,
    cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _alerts_for(store, settings, utcnow(), "anna@example.pl")
    smtp_server.fail_next(550, "mailbox unavailable")
    assert main(["outbox", "send"]) == 1
    captured = capsys.readouterr()
    assert "sent 0, waiting 0, failed 1" in captured.out
    assert "550 mailbox unavailable" in captured.err
    assert main(["outbox", "retry"]) == 0
    assert "sent 0" in capsys.readouterr().out
    assert main(["outbox", "retry", "--failed"]) == 0
    assert "sent 1, waiting 0, failed 0" in capsys.readouterr().out
    assert len(smtp_server.received) == 1


def test_while_the_daemon_holds_the_lock_sending_commands_only_enqueue(
    store: Store,
    settings: Settings,
    smtp_server: SmtpServer,
    cli_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _alerts_for(store, settings, utcnow(), "anna@example.pl")
    with InstanceLock(settings.database):
        assert main(["outbox", "send"]) == 0
    assert "daemon is running and will deliver (1 messages queued)" in capsys.readouterr().out
    assert smtp_server.received == []
    assert outbox.list_rows(store)[0].status == "pending"


@pytest.mark.slow
def test_a_sender_killed_mid_run_and_restarted_loses_nothing_and_repeats_at_most_n(
    store: Store, settings: Settings, smtp_server: SmtpServer, cli_env: dict[str, str]
) -> None:
    """SIGKILL in the middle of 2,000 recipients, then a restart: everyone gets the alert, and at most
    NEWSROOM_SMTP__CONNECTIONS messages (those in flight) arrive twice."""
    connections = 4
    now = utcnow()
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO subscribers (email, kind, frequency, status, token, created_at) "
            "VALUES (?, 'journalist', 'immediate', 'active', ?, ?)",
            [(f"r{n:04d}@example.pl", f"token-{n}", iso(now)) for n in range(2000)],
        )
    _alerts_for(store, settings, now)
    env = {**os.environ, **cli_env, "NEWSROOM_SMTP__CONNECTIONS": str(connections)}
    env["NEWSROOM_SMTP__RATE_PER_SECOND"] = "1000"
    command = [sys.executable, "-m", "newsroom_feed.cli", "outbox", "send"]
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(smtp_server.received) < 800 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert 0 < len(smtp_server.received) < 2000, "the kill must land in the middle of the run"
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    per_recipient = Counter(r.recipients[0] for r in smtp_server.received)
    assert len(per_recipient) == 2000
    assert sum(per_recipient.values()) - 2000 <= connections
    assert dict(store.conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall()) == {
        "sent": 2000
    }


@pytest.mark.slow
def test_sigterm_stops_a_batch_send_cleanly_and_exits_1_saying_what_remains(
    store: Store, settings: Settings, smtp_server: SmtpServer, cli_env: dict[str, str]
) -> None:
    now = utcnow()
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO subscribers (email, kind, frequency, status, token, created_at) "
            "VALUES (?, 'journalist', 'immediate', 'active', ?, ?)",
            [(f"r{n:03d}@example.pl", f"token-{n}", iso(now)) for n in range(300)],
        )
    _alerts_for(store, settings, now)
    env = {**os.environ, **cli_env, "NEWSROOM_SMTP__RATE_PER_SECOND": "100"}
    command = [sys.executable, "-m", "newsroom_feed.cli", "outbox", "send"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while len(smtp_server.received) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 1
    counts = dict(store.conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())
    assert "sending" not in counts
    assert 0 < counts["sent"] < 300, "the signal must land in the middle of the batch"
    assert counts["sent"] == len(smtp_server.received)
    assert f"stopped: {counts['pending']} messages remain queued" in err
    assert f"sent {counts['sent']}, waiting {counts['pending']}, failed 0" in out


async def test_an_alert_whose_release_went_back_under_embargo_waits_for_the_new_lift(
    store: Store, settings: Settings, smtp_server: SmtpServer, now: datetime
) -> None:
    """Queued at the lift, then the embargo is moved a day later: nothing goes early, nothing is lost."""
    add_subscriber(store, "anna@example.pl")
    release = add_release(store, now, "Ranking miast 2026", categories=["rankingi"])
    announce(store, settings, now)
    later = now + timedelta(days=1)
    store.update_release(release.id, {"embargo_until": later.isoformat()}, now)
    mail = smtp_settings(settings, smtp_server.port)

    early = await deliver(store, mail, renderer=Composer(mail, store, clock=lambda: now), clock=lambda: now)
    assert smtp_server.received == []
    assert (early.sent, early.failed) == (0, 0)
    row = store.conn.execute("SELECT status, attempts, next_attempt_at FROM outbox").fetchone()
    assert tuple(row) == ("pending", 0, iso(later))

    after = later + timedelta(seconds=1)
    done = await deliver(
        store, mail, renderer=Composer(mail, store, clock=lambda: after), clock=lambda: after
    )
    assert done.sent == 1
    assert "Ranking miast 2026" in str(smtp_server.messages()[0]["Subject"])


# -- leases: a transaction slower than its lease -----------------------------------------------------


class _SlowFor:
    """An SMTP sink (aiosmtpd) that takes ``seconds`` to answer DATA for one recipient: a tarpit."""

    def __init__(self, slow: str, seconds: float) -> None:
        self.slow, self.seconds = slow, seconds
        self.copies: Counter[str] = Counter()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        recipients = [str(rcpt) for rcpt in envelope.rcpt_tos]
        if self.slow in recipients:
            await asyncio.sleep(self.seconds)
        self.copies.update(recipients)
        return "250 sent"


@pytest.mark.slow
async def test_a_transaction_that_outlives_its_lease_is_sent_once(store: Store, settings: Settings) -> None:
    """Lease 2 s, one recipient's DATA answered after 5 s, 31 fast ones, two connections, and the sender
    woken often (as the daemon's watcher does after every commit): nobody gets two copies."""
    slow = "powolny@example.pl"
    emails = [slow, *(f"r{n:02d}@example.pl" for n in range(31))]
    row_ids = _plan(store, utcnow(), *emails)
    sink = _SlowFor(slow, 5.0)
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(sink, hostname="tarpit.test.example"), "127.0.0.1", 0
    )
    try:
        port = int(server.sockets[0].getsockname()[1])
        configured = smtp_settings(settings, port, lease_seconds=2.0)
        configured = configured.model_copy(
            update={"smtp": configured.smtp.model_copy(update={"connections": 2})}
        )
        stop, wake = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(
            deliver(store, configured, stop=stop, wake=wake, until_idle=False, renderer=PlainRenderer(store))
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and sink.copies[slow] == 0:
            wake.set()
            await asyncio.sleep(0.1)
        for _ in range(10):  # a second copy, if one were in flight, would need more time to arrive
            wake.set()
            await asyncio.sleep(0.1)
        stop.set()
        report = await asyncio.wait_for(task, 20)
    finally:
        server.close()
        await server.wait_closed()
    assert sink.copies == Counter(emails)
    assert report.sent == len(emails)
    assert len(row_ids) == len(emails)
    sent_rows = store.conn.execute(
        "SELECT outbox_id, attempt FROM deliveries WHERE outcome = 'sent' ORDER BY outbox_id"
    ).fetchall()
    assert [tuple(row) for row in sent_rows] == [(n, 1) for n in range(1, len(emails) + 1)]
    assert dict(store.conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall()) == {
        "sent": len(emails)
    }


def test_a_lease_shorter_than_two_smtp_timeouts_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWSROOM_OUTBOX__LEASE_SECONDS", "4")
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert "NEWSROOM_OUTBOX__LEASE_SECONDS" in str(refused.value)
    assert "NEWSROOM_SMTP__TIMEOUT" in str(refused.value)
    monkeypatch.setenv("NEWSROOM_SMTP__TIMEOUT", "2")
    assert load_settings().outbox.lease_seconds == 4.0
