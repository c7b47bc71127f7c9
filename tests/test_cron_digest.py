"""An operator who scripts the service from cron, with no daemon and no `build` in between: `release add`,
then `digest send` or `outbox send`, must see the release go out (issue 8)."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import time_machine

from newsroom_feed.cli import main
from newsroom_feed.lock import InstanceLock
from newsroom_feed.settings import Settings

from .smtp_server import SmtpServer

TITLE = "Złote Lajki 2026 wręczone"


class Cron:
    """`newsroom-feed ...` run in process with the environment a cron job would have."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        self.capsys = capsys
        self.monkeypatch = monkeypatch
        self.out = self.err = ""

    def __call__(self, *args: str, stdin: str | None = None) -> int:
        if stdin is not None:
            stream = io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8")), encoding="utf-8")
            self.monkeypatch.setattr(sys, "stdin", stream)
        code = main(list(args))
        captured = self.capsys.readouterr()
        self.out, self.err = captured.out, captured.err
        return code

    def add_release(self, title: str = TITLE, **fields: Any) -> dict[str, Any]:
        document = json.dumps({"title": title, "categories": ["kultura"], **fields}, ensure_ascii=False)
        assert self("release", "add", "-", "--json", stdin=document) == 0, self.err
        added: dict[str, Any] = json.loads(self.out)
        return added


@pytest.fixture
def cron(
    settings: Settings,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Cron:
    for name, value in {
        "NEWSROOM_DATABASE": str(settings.database),
        "NEWSROOM_PUBLIC_DIR": str(settings.public_dir),
        "NEWSROOM_BASE_URL": settings.base_url,
        "NEWSROOM_SECRET_KEY": "test-secret-key-not-for-production",
        "NEWSROOM_ADMIN_TOKEN": "test-admin-token-that-is-long-enough-000",
        "NEWSROOM_SMTP__PORT": str(smtp_server.port),
        "NEWSROOM_SMTP__RATE_PER_SECOND": "10000",
    }.items():
        monkeypatch.setenv(name, value)
    run = Cron(capsys, monkeypatch)
    assert run("subscriber", "add", "dzienny@example.pl", "--frequency", "daily", "--name", "Anna Żółć") == 0
    assert run("subscriber", "add", "od-razu@example.pl", "--name", "Jan Gęślą") == 0
    return run


def _html(message: EmailMessage) -> str:
    body = message.get_body(("html",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def _counts(settings: Settings) -> dict[str, int]:
    """What a command that "changes nothing" must leave as it was."""
    queries = {
        "outbox": "SELECT count(*) FROM outbox",
        "digest_runs": "SELECT count(*) FROM digest_runs",
        "noticed": "SELECT count(*) FROM releases WHERE noticed_at IS NOT NULL",
        "announced": "SELECT count(*) FROM releases WHERE announced_at IS NOT NULL",
    }
    with contextlib.closing(sqlite3.connect(settings.database)) as conn:
        return {name: conn.execute(sql).fetchone()[0] for name, sql in queries.items()}


def test_release_add_then_digest_send_delivers_a_digest_naming_the_release(
    cron: Cron, smtp_server: SmtpServer, settings: Settings
) -> None:
    release = cron.add_release()
    assert cron("digest", "send", "--frequency", "daily") == 0, cron.err
    assert "Planned 1 daily digests" in cron.out and "sent 1, waiting 0, failed 0" in cron.out
    [message] = smtp_server.messages()
    assert message["X-Newsroom-Kind"] == "digest" and "dzienny@example.pl" in str(message["To"])
    html = _html(message)
    link = f"{settings.base_url}/releases/{release['slug']}/"
    assert TITLE in html and link in html
    # The link opens: the build that `digest send` ran first wrote the page.
    assert (settings.public_dir / "releases" / release["slug"] / "index.html").is_file()


def test_digest_send_plans_no_alerts_and_the_next_outbox_send_delivers_them(
    cron: Cron, smtp_server: SmtpServer
) -> None:
    cron.add_release()
    assert cron("digest", "send", "--frequency", "daily") == 0, cron.err
    assert [m["X-Newsroom-Kind"] for m in smtp_server.messages()] == ["digest"]
    assert cron("outbox", "send") == 0, cron.err
    kinds = sorted((str(m["X-Newsroom-Kind"]), str(m["To"])) for m in smtp_server.messages())
    assert kinds == [
        ("alert", "Jan Gęślą <od-razu@example.pl>"),
        ("digest", "Anna Żółć <dzienny@example.pl>"),
    ]


def test_release_add_then_outbox_send_delivers_the_alert_and_its_page_exists(
    cron: Cron, smtp_server: SmtpServer, settings: Settings
) -> None:
    release = cron.add_release()
    assert cron("outbox", "send") == 0, cron.err
    assert "sent 1, waiting 0, failed 0" in cron.out
    [message] = smtp_server.messages()
    assert message["X-Newsroom-Kind"] == "alert"
    assert str(message["To"]) == "Jan Gęślą <od-razu@example.pl>"
    assert TITLE in str(message["Subject"])
    assert f"{settings.base_url}/releases/{release['slug']}/" in _html(message)
    assert (settings.public_dir / "releases" / release["slug"] / "index.html").is_file()
    assert cron("outbox", "send") == 0
    assert "sent 0, waiting 0, failed 0" in cron.out
    assert len(smtp_server.messages()) == 1


def test_digest_preview_shows_a_release_no_build_saw_and_changes_nothing(
    cron: Cron, smtp_server: SmtpServer, settings: Settings, tmp_path: Path
) -> None:
    cron.add_release()
    before = _counts(settings)
    out = tmp_path / "preview"
    assert cron("digest", "preview", "--frequency", "daily", "--out", str(out)) == 0, cron.err
    assert sorted(path.name for path in out.iterdir()) == [
        "001-dzienny@example.pl.eml",
        "001-dzienny@example.pl.html",
    ]
    assert TITLE in (out / "001-dzienny@example.pl.html").read_text(encoding="utf-8")
    assert cron("digest", "send", "--frequency", "daily", "--dry-run") == 0
    assert "Would plan 1 daily digests" in cron.out
    assert _counts(settings) == before == {"outbox": 0, "digest_runs": 0, "noticed": 0, "announced": 0}
    assert smtp_server.received == []


def test_a_second_digest_send_sends_nothing_new(cron: Cron, smtp_server: SmtpServer) -> None:
    # Cron runs minutes apart; the clock is moved so that each step has a second of its own.
    start = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=True):
        cron.add_release()
        assert cron("digest", "send", "--frequency", "daily") == 0
    with time_machine.travel(start + timedelta(minutes=1), tick=True):
        assert cron("digest", "send", "--frequency", "daily") == 0, cron.err
    assert "Planned 0 daily digests" in cron.out and "sent 0, waiting 0, failed 0" in cron.out
    assert len(smtp_server.messages()) == 1
    # A release added after that goes into the next run, and only it.
    with time_machine.travel(start + timedelta(minutes=2), tick=True):
        cron.add_release("Nowy przystanek")
    with time_machine.travel(start + timedelta(minutes=3), tick=True):
        assert cron("digest", "send", "--frequency", "daily") == 0
    assert "Planned 1 daily digests" in cron.out
    last = _html(smtp_server.messages()[-1])
    assert "Nowy przystanek" in last and TITLE not in last


def test_while_the_daemon_holds_the_lock_outbox_send_leaves_the_build_to_it(
    cron: Cron, smtp_server: SmtpServer, settings: Settings
) -> None:
    release = cron.add_release()
    with InstanceLock(settings.database):
        assert cron("outbox", "send") == 0
    assert "daemon is running and will deliver (0 messages queued)" in cron.out
    assert not (settings.public_dir / "releases" / release["slug"]).exists()
    assert smtp_server.received == []
