"""`newsroom-feed bounces fetch` and `bounces list` on a real Maildir and a real store."""

from __future__ import annotations

import json
import mailbox
from datetime import datetime
from pathlib import Path

import pytest

from newsroom_feed.cli import main
from newsroom_feed.mail import outbox
from newsroom_feed.mail.outbox import NewMessage
from newsroom_feed.mail.verp import envelope_sender
from newsroom_feed.people.subscriptions import add_subscriber, remove_subscriber
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store

from .conftest import make_settings
from .mail.test_intake import BOUNCE_ADDRESS, JUNK, dsn
from .mail_helpers import add_release


@pytest.fixture
def maildir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bounce Maildir, configured for the CLI through the environment as an operator would."""
    root = tmp_path / "bounces-maildir"
    mailbox.Maildir(root, create=True).close()
    for name, value in {
        "NEWSROOM_DATABASE": str(tmp_path / "var" / "newsroom.db"),
        "NEWSROOM_PUBLIC_DIR": str(tmp_path / "var" / "public"),
        "NEWSROOM_BASE_URL": "https://prasa.example.pl",
        "NEWSROOM_SECRET_KEY": "test-secret-key-not-for-production",
        "NEWSROOM_BOUNCES__ADDRESS": BOUNCE_ADDRESS,
        "NEWSROOM_BOUNCES__MAILDIR": str(root),
    }.items():
        monkeypatch.setenv(name, value)
    return root


@pytest.fixture
def verp_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, bounces={"address": BOUNCE_ADDRESS})


def alerted(store: Store, settings: Settings, now: datetime, email: str) -> str:
    """Queue an alert for a new subscriber ``email``; the VERP address its bounce comes back to."""
    release = add_release(store, now, "Seminarium o transporcie")
    subscriber = add_subscriber(store, {"email": email}, now)
    outbox.enqueue(store, [NewMessage(subscriber.id, f"alert:{release.uid}", "alert", (release.id,))], now)
    [row] = [row for row in outbox.list_rows(store) if row.email == email]
    return envelope_sender(settings, row.id)


def test_fetch_reads_the_mailbox_and_list_shows_the_subscriber_until_erased(
    maildir: Path, store: Store, verp_settings: Settings, now: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    to = alerted(store, verp_settings, now, "ania@urzad.example.pl")
    mailbox.Maildir(maildir).add(dsn("ania@urzad.example.pl", to=to))

    assert main(["bounces", "fetch"]) == 0
    fetched = capsys.readouterr().out
    assert main(["bounces", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    remove_subscriber(store, "ania@urzad.example.pl")
    assert main(["bounces", "list", "--json"]) == 0
    erased = json.loads(capsys.readouterr().out)

    assert fetched.startswith("Read 1 message from the maildir mailbox: new reports 1 (hard 1)")
    assert [(row["source"], row["kind"], row["status"], row["email"]) for row in listed] == [
        ("maildir", "hard", "5.1.1", "ania@urzad.example.pl")
    ]
    assert set(listed[0]) >= {"at", "source", "kind", "recipient", "status", "diagnostic", "email"}
    assert erased[0]["email"] is None
    assert "ania@urzad.example.pl" not in json.dumps(erased)


def test_list_filters_by_kind_and_limits_newest_first(
    maildir: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    box = mailbox.Maildir(maildir)
    box.add(dsn("ania@urzad.example.pl", "5.1.1"))
    box.add(dsn("jan@gmina.example.pl", "4.2.2"))
    box.add(dsn("ola@gmina.example.pl", "4.4.1"))
    assert main(["bounces", "fetch", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)

    assert main(["bounces", "list", "--kind", "soft", "--json"]) == 0
    soft = json.loads(capsys.readouterr().out)
    assert main(["bounces", "list", "--limit", "2"]) == 0
    limited = capsys.readouterr()

    assert summary == {"source": "maildir", "read": 3, "new": {"hard": 1, "soft": 2}, "already_seen": 0,
                       "set_aside": 0}  # fmt: skip
    assert sorted(row["recipient"] for row in soft) == ["jan@gmina.example.pl", "ola@gmina.example.pl"]
    assert len(limited.out.splitlines()) == 2
    assert limited.err.strip() == "2 reports"


def test_fetch_exits_one_when_a_message_was_set_aside(
    maildir: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    mailbox.Maildir(maildir).add(JUNK)
    assert main(["bounces", "fetch"]) == 1
    assert "set aside 1" in capsys.readouterr().out
    assert len(list((maildir / ".unreadable" / "new").iterdir())) == 1


def test_fetch_without_a_mailbox_names_the_settings_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NEWSROOM_DATABASE", str(tmp_path / "var" / "newsroom.db"))
    assert main(["bounces", "fetch"]) == 2
    error = capsys.readouterr().err
    assert "NEWSROOM_BOUNCES__MAILDIR" in error and "NEWSROOM_BOUNCES__IMAP__HOST" in error


def test_fetch_with_half_the_imap_settings_names_the_missing_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NEWSROOM_DATABASE", str(tmp_path / "var" / "newsroom.db"))
    monkeypatch.setenv("NEWSROOM_BOUNCES__IMAP__HOST", "127.0.0.1")
    assert main(["bounces", "fetch"]) == 2
    assert "NEWSROOM_BOUNCES__IMAP__PASSWORD" in capsys.readouterr().err
