"""Secrets long enough to keep a forger out (`check` says so, `run` refuses), and a key rotated without
breaking the links in mail already sent."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from newsroom_feed import demo
from newsroom_feed.cli import main
from newsroom_feed.errors import NotFound
from newsroom_feed.lock import InstanceLock
from newsroom_feed.models import utcnow
from newsroom_feed.people import subscriptions
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store
from newsroom_feed.web import create_app

from .conftest import make_settings
from .smtp_server import SmtpServer
from .web_helpers import serve

LONG_KEY = "test-secret-key-not-for-production"
KEY_RULE = "must be at least 32 bytes"
TOKEN_RULE = "must be at least 32 characters"


@pytest.fixture
def operator_env(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, store: Store, smtp_server: SmtpServer
) -> None:
    """Everything `check` looks at works (store, SMTP server), so only the secrets can fail it."""
    monkeypatch.setenv("NEWSROOM_DATABASE", str(settings.database))
    monkeypatch.setenv("NEWSROOM_PUBLIC_DIR", str(settings.public_dir))
    monkeypatch.setenv("NEWSROOM_SECRET_KEY", LONG_KEY)
    monkeypatch.setenv("NEWSROOM_SMTP__PORT", str(smtp_server.port))


def failed_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("FAIL")]


# -- check ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("NEWSROOM_SECRET_KEY", "krótki-klucz", f"NEWSROOM_SECRET_KEY: {KEY_RULE}"),
        ("NEWSROOM_SECRET_KEY", "", f"NEWSROOM_SECRET_KEY: {KEY_RULE}"),
        (
            "NEWSROOM_SECRET_KEY",
            "ż" * 15 + "a",
            f"NEWSROOM_SECRET_KEY: {KEY_RULE}",
        ),  # 16 characters, 31 bytes
        ("NEWSROOM_ADMIN_TOKEN", "", f"NEWSROOM_ADMIN_TOKEN: {TOKEN_RULE}"),
        ("NEWSROOM_ADMIN_TOKEN", "t" * 31, f"NEWSROOM_ADMIN_TOKEN: {TOKEN_RULE}"),
    ],
    ids=["short-key", "empty-key", "31-byte-key", "empty-token", "31-character-token"],
)
def test_check_fails_on_a_secret_too_short_naming_the_setting(
    operator_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    problem: str,
) -> None:
    monkeypatch.setenv(name, value)
    assert main(["check"]) == 1
    out, err = capsys.readouterr()
    (failed,) = failed_lines(out)
    assert failed.startswith(f"FAIL  secrets: {problem}")
    assert "secrets.token_urlsafe(32)" in failed, "it says how to make a good one"
    assert "1 problem found" in err


def test_check_accepts_32_bytes_of_key_and_32_characters_of_token_and_says_where_the_key_is(
    operator_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NEWSROOM_SECRET_KEY", "ż" * 16)  # 16 characters, 32 bytes
    monkeypatch.setenv("NEWSROOM_ADMIN_TOKEN", "ł" * 32)  # 32 characters
    assert main(["check"]) == 0
    assert "ok    secrets: links signed with NEWSROOM_SECRET_KEY; admin token set" in capsys.readouterr().out


def test_check_fails_on_a_short_key_in_the_key_file(
    operator_env: None,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("NEWSROOM_SECRET_KEY")
    key_file = settings.database.parent / "secret_key"
    key_file.write_text("krótki\n", encoding="utf-8")
    assert main(["check"]) == 1
    (failed,) = failed_lines(capsys.readouterr().out)
    assert failed.startswith(
        f"FAIL  secrets: NEWSROOM_SECRET_KEY_FILE: {key_file} holds a key shorter than 32"
    )
    assert key_file.read_text(encoding="utf-8") == "krótki\n", "check changes nothing"


def test_check_reports_an_empty_previous_key(
    operator_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A previous key only verifies, but an empty one verifies what anyone signs with it."""
    monkeypatch.setenv("NEWSROOM_PREVIOUS_SECRET_KEYS", '["stary", ""]')
    assert main(["check"]) == 1
    (failed,) = failed_lines(capsys.readouterr().out)
    assert failed.startswith(
        "FAIL  secrets: NEWSROOM_PREVIOUS_SECRET_KEYS: an empty key lets anyone sign links"
    )


def test_check_allows_a_short_previous_key_so_an_old_short_key_can_be_rotated_out(
    operator_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NEWSROOM_PREVIOUS_SECRET_KEYS", '["some-long-secret"]')
    assert main(["check"]) == 0
    assert "previous keys still verifying: 1, 1 shorter than 32 bytes" in capsys.readouterr().out


# -- run -----------------------------------------------------------------------------------------------


def test_run_refuses_a_short_admin_token_before_it_takes_the_lock(
    operator_env: None,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("NEWSROOM_ADMIN_TOKEN", "krótki-token")
    # Held here, the lock would stop a `run` that got as far as taking it with exit 1 (never a hang).
    with InstanceLock(settings.database):
        assert main(["run"]) == 2
    assert f"error: NEWSROOM_ADMIN_TOKEN: {TOKEN_RULE}" in capsys.readouterr().err


def test_run_names_every_weak_secret_at_once(
    operator_env: None,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("NEWSROOM_SECRET_KEY", "tajne")
    monkeypatch.setenv("NEWSROOM_ADMIN_TOKEN", "")
    with InstanceLock(settings.database):
        assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert f"error: NEWSROOM_SECRET_KEY: {KEY_RULE}" in err
    assert f"NEWSROOM_ADMIN_TOKEN: {TOKEN_RULE}" in err


def test_the_demo_refuses_a_short_admin_token_before_seeding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`NEWSROOM_ADMIN_TOKEN=... make run` holds the demo to the rule of `run`."""
    monkeypatch.setenv("NEWSROOM_ADMIN_TOKEN", "some-long-secret")
    with InstanceLock(tmp_path / "var" / "newsroom.db"):
        assert demo.main([]) == 2
    assert f"error: NEWSROOM_ADMIN_TOKEN: {TOKEN_RULE}" in capsys.readouterr().err
    assert not (tmp_path / "var" / "newsroom.db").exists(), "nothing seeded"


@pytest.mark.slow
def test_a_refused_run_starts_nothing(settings: Settings, store: Store, tmp_path: Path) -> None:
    """As systemd starts it: exit 2 at once, no lock or PID file, nothing listening."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = {key: value for key, value in os.environ.items() if not key.startswith("NEWSROOM_")}
    env |= {
        "NEWSROOM_DATABASE": str(settings.database),
        "NEWSROOM_PUBLIC_DIR": str(settings.public_dir),
        "NEWSROOM_SECRET_KEY": LONG_KEY,
        "NEWSROOM_ADMIN_TOKEN": "",
        "NEWSROOM_HTTP__PORT": str(port),
    }
    done = subprocess.run(
        [sys.executable, "-m", "newsroom_feed.cli", "run"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert f"NEWSROOM_ADMIN_TOKEN: {TOKEN_RULE}" in done.stderr
    lock = InstanceLock(settings.database)
    assert not lock.path.exists() and not lock.pid_path.exists()
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))  # free: nothing listened there


# -- key rotation --------------------------------------------------------------------------------------

OLD_KEY = "the-key-before-the-rotation-0123456789"
NEW_KEY = "the-key-after-the-rotation-9876543210"
OTHER_KEY = "a-key-this-service-never-had-abcdefghij"


def _one_click(base_url: str, link: str) -> int:
    response = httpx.post(
        f"{base_url}/unsubscribe/{link}",
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    return response.status_code


def test_links_in_mail_sent_before_a_key_rotation_keep_working(store: Store, tmp_path: Path) -> None:
    before = make_settings(tmp_path, secret_key=OLD_KEY)
    stranger = make_settings(tmp_path, secret_key=OTHER_KEY)
    rotated = make_settings(tmp_path, secret_key=NEW_KEY, previous_secret_keys=[OLD_KEY])
    anna = subscriptions.add_subscriber(store, {"email": "anna.nowak@gazeta.example.pl"}, utcnow())
    sent = {
        purpose: subscriptions.link_token(before, anna, purpose) for purpose in ("unsubscribe", "preferences")
    }
    forged = {
        purpose: subscriptions.link_token(stranger, anna, purpose)
        for purpose in ("unsubscribe", "preferences")
    }
    with serve(create_app(rotated)) as server:
        assert httpx.get(f"{server.url}/preferences/{forged['preferences']}").status_code == 404
        assert _one_click(server.url, forged["unsubscribe"]) == 200  # the same answer for every link
        assert subscriptions.get_subscriber(store, anna.email).status == "active", (
            "a foreign key changes nothing"
        )
        preferences = httpx.get(f"{server.url}/preferences/{sent['preferences']}")
        assert preferences.status_code == 200 and anna.email in preferences.text
        assert _one_click(server.url, sent["unsubscribe"]) == 200
    assert subscriptions.get_subscriber(store, anna.email).status == "unsubscribed"


def test_after_a_rotation_new_links_are_signed_with_the_new_key_only(store: Store, tmp_path: Path) -> None:
    rotated = make_settings(tmp_path, secret_key=NEW_KEY, previous_secret_keys=[OLD_KEY])
    only_new = make_settings(tmp_path, secret_key=NEW_KEY)
    only_old = make_settings(tmp_path, secret_key=OLD_KEY)
    anna = subscriptions.add_subscriber(store, {"email": "anna.nowak@gazeta.example.pl"}, utcnow())
    link = subscriptions.link_token(rotated, anna, "preferences")
    assert subscriptions.resolve(store, only_new, link, "preferences").email == anna.email
    with pytest.raises(NotFound):
        subscriptions.resolve(store, only_old, link, "preferences")


def test_a_link_of_a_key_dropped_from_the_previous_keys_stops_working(store: Store, tmp_path: Path) -> None:
    before = make_settings(tmp_path, secret_key=OLD_KEY)
    dropped = make_settings(tmp_path, secret_key=NEW_KEY)
    anna = subscriptions.add_subscriber(store, {"email": "anna.nowak@gazeta.example.pl"}, utcnow())
    link = subscriptions.link_token(before, anna, "unsubscribe")
    with pytest.raises(NotFound):
        subscriptions.resolve(store, dropped, link, "unsubscribe")
