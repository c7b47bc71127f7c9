"""`newsroom-feed run` as a real subprocess on temp directories: what reaches the feed files and the SMTP
server, and when; embargoes across restarts, missed digests, a clean SIGTERM, the single-instance lock."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from newsroom_feed.models import ReleaseInput, iso, utcnow
from newsroom_feed.people.subscriptions import add_subscriber
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store

from .smtp_server import SmtpServer

pytestmark = pytest.mark.slow

STARTUP_SECONDS = 20.0


def wait_until(condition: Callable[[], Any], timeout: float, interval: float = 0.01) -> Any:
    """Poll ``condition`` until it is truthy; returns its value, or fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {getattr(condition, '__name__', condition)}")
        time.sleep(interval)


class Daemon:
    """One `newsroom-feed run` subprocess, its JSON log events collected from stderr."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.cwd = cwd
        self.events: list[dict[str, Any]] = []
        self.lines: list[str] = []
        self.process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> Daemon:
        self.events, self.lines = [], []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "newsroom_feed.cli", "run"],
            env=self.env,
            cwd=self.cwd,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, args=(self.process,), daemon=True)
        self._reader.start()
        self.wait_for("daemon started", STARTUP_SECONDS)
        return self

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        for line in process.stderr:
            self.lines.append(line)
            try:
                self.events.append(json.loads(line))
            except ValueError:
                continue

    def wait_for(self, event: str, timeout: float) -> dict[str, Any]:
        def seen() -> dict[str, Any] | None:
            assert self.process is not None
            if self.process.poll() is not None and not any(e.get("event") == event for e in self.events):
                raise AssertionError(f"daemon exited {self.process.returncode}:\n{''.join(self.lines)}")
            return next((e for e in self.events if e.get("event") == event), None)

        found: dict[str, Any] = wait_until(seen, timeout)
        return found

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self._close()
        return code

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._close()

    def _close(self) -> None:
        if self._reader is not None:
            self._reader.join(10)
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()


@pytest.fixture
def daemon_env(settings: Settings, smtp_server: SmtpServer, tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("NEWSROOM_")}
    env.update(
        NEWSROOM_DATABASE=str(settings.database),
        NEWSROOM_PUBLIC_DIR=str(settings.public_dir),
        NEWSROOM_BASE_URL=settings.base_url,
        NEWSROOM_SECRET_KEY="test-secret-key-not-for-production",
        NEWSROOM_ADMIN_TOKEN="test-admin-token-not-for-production",
        NEWSROOM_SMTP__PORT=str(smtp_server.port),
        NEWSROOM_HTTP__PORT="0",
        NEWSROOM_LOG_FORMAT="json",
        NEWSROOM_WATCH_INTERVAL="0.05",
        # The mail pre-flight at start asks no resolver outside the test (nothing listens there).
        NEWSROOM_DNS__NAMESERVERS="127.0.0.1:9",
    )
    return env


@pytest.fixture
def daemon(daemon_env: dict[str, str], tmp_path: Path, store: Store) -> Iterator[Daemon]:
    """A daemon on the test's store (created and migrated by the `store` fixture), not yet started."""
    process = Daemon(daemon_env, tmp_path)
    yield process
    process.kill()


def cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "newsroom_feed.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def feed_text(settings: Settings) -> str:
    path = settings.public_dir / "feeds" / "rss.xml"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def in_feed(settings: Settings, title: str) -> Callable[[], bool]:
    def check() -> bool:
        return title in feed_text(settings)

    return check


def subscribe(store: Store, email: str, frequency: str = "immediate") -> None:
    add_subscriber(store, {"email": email, "name": "Redakcja", "frequency": frequency}, utcnow())


def embargoed(store: Store, title: str, lift: datetime) -> None:
    """Add a release under embargo from this process (another process than the daemon's)."""
    store.add_release(ReleaseInput.parse({"title": title, "embargo_until": iso(lift)}), utcnow())


def whole_seconds_ahead(seconds: int) -> datetime:
    """A moment ``seconds`` after the next whole second: the store keeps times to the second."""
    now = datetime.now(UTC)
    return datetime.fromtimestamp(math.ceil(now.timestamp()) + seconds, UTC)


def sleep_until(moment: datetime) -> None:
    time.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))


def start_with_embargo(daemon: Daemon, store: Store, email: str, title: str) -> datetime:
    """Start the daemon with the subscriber ``email``, then add ``title`` under an embargo lifting in
    about two seconds; returns the lift moment once the daemon has set its clock for it."""
    subscribe(store, email)
    daemon.start()
    lift = whole_seconds_ahead(2)
    embargoed(store, title, lift)
    daemon.wait_for("embargo clock", 1.0)
    return lift


def messages_to(smtp_server: SmtpServer, email: str) -> list[Any]:
    return [m for m in smtp_server.messages() if email in str(m["To"])]


def test_release_added_by_the_cli_appears_in_the_feed_within_a_second(
    daemon: Daemon, daemon_env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    daemon.start()
    title = "Rada Miasta przyjęła budżet na 2027 rok"
    added = cli(daemon_env, tmp_path, "release", "add", "--title", title)
    assert added.returncode == 0, added.stderr
    committed = time.monotonic()
    wait_until(in_feed(settings, title), 1.0)
    assert time.monotonic() - committed < 1.0
    assert daemon.stop() == 0


def test_raw_sql_insert_from_another_process_appears_in_the_feed_within_a_second(
    daemon: Daemon, settings: Settings
) -> None:
    daemon.start()
    title = "Komunikat wpisany prosto do bazy przez CMS"
    with sqlite3.connect(settings.database) as outside:
        outside.execute("INSERT INTO releases (title) VALUES (?)", (title,))
    wait_until(in_feed(settings, title), 1.0)
    with Store(settings.database, settings.domain) as store:
        release = store.list_releases(now=utcnow())[0]
    assert release.title == title
    assert release.uid and release.slug and release.number
    assert (settings.public_dir / "releases" / release.slug / "index.html").exists()
    assert daemon.stop() == 0


def test_embargo_lifts_on_time_with_its_alerts(
    daemon: Daemon, daemon_env: dict[str, str], settings: Settings, store: Store, smtp_server: SmtpServer
) -> None:
    title = "Wyniki konkursu pod embargo"
    lift = start_with_embargo(daemon, store, "dziennikarka@example.pl", title)
    time.sleep(0.2)
    assert title not in feed_text(settings)
    assert datetime.now(UTC) < lift, "the embargo must still hold when checked"
    sleep_until(lift)
    wait_until(in_feed(settings, title), 1.0)
    alerts = wait_until(lambda: messages_to(smtp_server, "dziennikarka@example.pl"), 5.0)
    assert alerts[0]["Subject"] == title
    assert daemon.stop() == 0
    assert len(messages_to(smtp_server, "dziennikarka@example.pl")) == 1


def test_embargo_that_lifts_while_the_daemon_is_down_is_published_at_start(
    daemon: Daemon, daemon_env: dict[str, str], settings: Settings, store: Store, smtp_server: SmtpServer
) -> None:
    title = "Komunikat, który odsłoni się po restarcie"
    lift = start_with_embargo(daemon, store, "redakcja@example.pl", title)
    assert daemon.stop() == 0
    sleep_until(lift + timedelta(milliseconds=300))
    assert title not in feed_text(settings)
    daemon.start()
    assert title in feed_text(settings), "published before the daemon says it started"
    wait_until(lambda: messages_to(smtp_server, "redakcja@example.pl"), 5.0)
    assert daemon.stop() == 0
    assert len(messages_to(smtp_server, "redakcja@example.pl")) == 1


def healthz(daemon: Daemon) -> dict[str, Any]:
    web = daemon.wait_for("daemon started", 1.0)["web"]
    with urllib.request.urlopen(f"{web}healthz", timeout=5) as answer:
        report: dict[str, Any] = json.loads(answer.read())
    return report


def test_a_lift_whose_build_fails_is_retried_until_the_release_is_out(
    daemon: Daemon, settings: Settings, store: Store, smtp_server: SmtpServer
) -> None:
    """The public directory cannot take the release page when the embargo lifts: /healthz says why
    meanwhile, and once the obstruction is gone the release and its alert go out, without any other
    write to wake the daemon."""
    title = "Komunikat, którego strona nie mogła powstać"
    lift = start_with_embargo(daemon, store, "redakcja@example.pl", title)
    releases = settings.public_dir / "releases"
    if releases.is_dir():
        shutil.rmtree(releases)
    releases.write_text("a file where a directory belongs", encoding="utf-8")
    sleep_until(lift)
    daemon.wait_for("lift failed; the build will be retried", 5.0)
    report = wait_until(lambda: (h := healthz(daemon))["last_error"] and h, 5.0)
    assert report["status"] == "degraded"
    assert "lift" in report["last_error"] and "public directory" in report["last_error"]
    assert smtp_server.received == []
    releases.unlink()
    page = wait_until(lambda: list(releases.glob("*/index.html")), 5.0)
    assert title in page[0].read_text(encoding="utf-8")
    wait_until(lambda: messages_to(smtp_server, "redakcja@example.pl"), 5.0)
    assert healthz(daemon)["last_error"] is None
    assert daemon.stop() == 0
    assert len(messages_to(smtp_server, "redakcja@example.pl")) == 1


def _daily_digest_missed_while_down(store: Store, settings: Settings, title: str) -> None:
    """A daily subscriber, a release of three hours ago, and a last daily run that ended two days ago:
    at least one 08:00 passed with no daemon running."""
    now = utcnow()
    subscribe(store, "codziennie@example.pl", frequency="daily")
    store.add_release(ReleaseInput.parse({"title": title}, settings.zone), now - timedelta(hours=3))
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO digest_runs (frequency, period_start, period_end, created_at) VALUES (?, ?, ?, ?)",
            (
                "daily",
                iso(now - timedelta(days=3)),
                iso(now - timedelta(days=2)),
                iso(now - timedelta(days=2)),
            ),
        )


def test_digest_missed_during_downtime_is_sent_once_at_start(
    daemon: Daemon, settings: Settings, store: Store, smtp_server: SmtpServer
) -> None:
    _daily_digest_missed_while_down(store, settings, "Podsumowanie sesji rady")
    daemon.start()
    digests = wait_until(lambda: messages_to(smtp_server, "codziennie@example.pl"), 5.0)
    assert digests[0]["X-Newsroom-Kind"] == "digest"
    assert daemon.stop() == 0
    daemon.start()
    time.sleep(1.0)
    assert daemon.stop() == 0
    assert len(messages_to(smtp_server, "codziennie@example.pl")) == 1
    runs = store.conn.execute("SELECT count(*) FROM digest_runs WHERE frequency = 'daily'").fetchone()[0]
    assert runs == 2


def test_a_digest_run_that_fails_is_retried_until_it_goes_out_once(
    daemon: Daemon, settings: Settings, store: Store, smtp_server: SmtpServer
) -> None:
    """The store refuses the digest's watermark for a while (a full disk, say): the run is not lost."""
    _daily_digest_missed_while_down(store, settings, "Sesja rady miasta")
    with store.transaction() as conn:
        conn.execute(
            "CREATE TRIGGER refuse_digests BEFORE INSERT ON digest_runs "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    daemon.start()
    time.sleep(2.0)
    assert messages_to(smtp_server, "codziennie@example.pl") == []
    with store.transaction() as conn:
        conn.execute("DROP TRIGGER refuse_digests")
    digests = wait_until(lambda: messages_to(smtp_server, "codziennie@example.pl"), 10.0)
    assert digests[0]["X-Newsroom-Kind"] == "digest"
    assert daemon.stop() == 0
    assert len(messages_to(smtp_server, "codziennie@example.pl")) == 1
    runs = store.conn.execute("SELECT count(*) FROM digest_runs WHERE frequency = 'daily'").fetchone()[0]
    assert runs == 2


def test_sigterm_during_a_large_send_exits_zero_losing_and_repeating_nothing(
    daemon: Daemon, daemon_env: dict[str, str], settings: Settings, store: Store, smtp_server: SmtpServer
) -> None:
    with store.transaction():
        for number in range(2000):
            subscribe(store, f"odbiorca{number:04d}@example.pl")
    daemon.env = {**daemon_env, "NEWSROOM_SMTP__RATE_PER_SECOND": "300"}
    daemon.start()
    store.add_release(ReleaseInput.parse({"title": "Pilne: zmiana organizacji ruchu"}), utcnow())
    wait_until(lambda: len(smtp_server.received) >= 200, 20.0)
    assert daemon.stop() == 0
    received = len(smtp_server.received)
    assert received < 2000, "the send should still have been under way"
    counts = dict(store.conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())
    assert counts.get("sending", 0) == 0
    assert counts.get("sent", 0) == received
    assert counts.get("pending", 0) == 2000 - received

    fast = {**daemon_env, "NEWSROOM_SMTP__RATE_PER_SECOND": "5000"}
    finished = cli(fast, daemon.cwd, "outbox", "send")
    assert finished.returncode == 0, finished.stderr
    recipients = [rcpt for item in smtp_server.received for rcpt in item.recipients]
    assert len(recipients) == 2000
    assert len(set(recipients)) == 2000


def test_sigkill_during_a_send_loses_nothing_and_repeats_at_most_the_messages_in_flight(
    daemon: Daemon, daemon_env: dict[str, str], store: Store, smtp_server: SmtpServer
) -> None:
    with store.transaction():
        for number in range(600):
            subscribe(store, f"czytelnik{number:03d}@example.pl")
    daemon.env = {**daemon_env, "NEWSROOM_SMTP__RATE_PER_SECOND": "300"}
    daemon.start()
    store.add_release(ReleaseInput.parse({"title": "Komunikat przerwany w pół wysyłki"}), utcnow())
    wait_until(lambda: len(smtp_server.received) >= 100, 20.0)
    daemon.kill()
    assert len(smtp_server.received) < 600, "the send should still have been under way"

    daemon.start()  # takes the lock, so the rows the dead sender held are due again at once

    def unique() -> set[str]:
        return {rcpt for item in smtp_server.received for rcpt in item.recipients}

    wait_until(lambda: len(unique()) == 600, 20.0)
    assert daemon.stop() == 0
    repeated = len(smtp_server.received) - len(unique())
    assert repeated <= 4, f"{repeated} messages repeated; at most NEWSROOM_SMTP__CONNECTIONS (4) may be"


def test_a_second_run_refuses_to_start_and_names_the_running_process(
    daemon: Daemon, daemon_env: dict[str, str], tmp_path: Path
) -> None:
    daemon.start()
    second = cli(daemon_env, tmp_path, "run")
    assert second.returncode == 1
    assert f"process {daemon.pid}" in second.stderr
    assert daemon.stop() == 0


def test_run_exits_one_naming_the_address_when_the_web_port_is_taken(
    daemon_env: dict[str, str], store: Store, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli({**daemon_env, "NEWSROOM_HTTP__PORT": str(port)}, tmp_path, "run")
    assert result.returncode == 1
    assert f"could not listen on 127.0.0.1:{port}" in result.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_make_run_delivers_mail_into_the_sink_and_stops_both_on_ctrl_c(tmp_path: Path) -> None:
    """`make run` (python -m newsroom_feed.demo): daemon and mail sink together; alerts land in var/mail."""
    web_port, smtp_port = free_port(), free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("NEWSROOM_")}
    env.update(NEWSROOM_HTTP__PORT=str(web_port), NEWSROOM_SMTP__PORT=str(smtp_port), PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "newsroom_feed.demo"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline() for _ in range(7)]
        assert f"http://127.0.0.1:{web_port}" in banner[0]
        assert f"127.0.0.1:{smtp_port}" in banner[6] and "var/mail/new" in banner[6]
        added = cli(env, tmp_path, "subscriber", "add", "redakcja@example.pl", "--name", "Redakcja")
        assert added.returncode == 0, added.stderr
        added = cli(env, tmp_path, "release", "add", "--title", "Komunikat z dema")
        assert added.returncode == 0, added.stderr
        inbox = tmp_path / "var" / "mail" / "new"

        def to_redakcja() -> list[Path]:
            """The demo's own subscribers get mail too: pick the new subscriber's alert."""
            found = list(inbox.iterdir()) if inbox.exists() else []
            return [path for path in found if "To: Redakcja <redakcja@example.pl>" in path.read_text("utf-8")]

        (message,) = wait_until(to_redakcja, 10.0)
        assert "X-Newsroom-Kind: alert" in message.read_text(encoding="utf-8")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
