"""Shared fixtures: a temp store and public directory per test, settings built from them, a fixed clock,
and a real aiosmtpd server on 127.0.0.1 that records what it receives and fails on demand."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from newsroom_feed.cli import main
from newsroom_feed.settings import Settings, load_settings
from newsroom_feed.store.database import Store

from .smtp_server import SmtpServer

#: The test zone of the signed-mail tests, and the DKIM selector `dkim_key` writes its key for.
DKIM_DOMAIN = "zmp.example.pl"
DKIM_SELECTOR = "newsroom"

#: The fixed "now" of tests that pass the clock in: 26 November 2026, 10:30 in Warsaw.
NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No NEWSROOM_* from the developer's shell leaks into a test, and no .env is picked up."""
    for name in list(os.environ):
        if name.startswith("NEWSROOM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield


@pytest.fixture
def now() -> datetime:
    return NOW


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """The test settings (store and public directory under ``tmp_path``) with ``overrides`` on top;
    an override of None leaves that setting at its default."""
    given: dict[str, Any] = {
        "database": tmp_path / "var" / "newsroom.db",
        "public_dir": tmp_path / "var" / "public",
        "base_url": "https://prasa.example.pl",
        "secret_key": "test-secret-key-not-for-production",
        "admin_token": "test-admin-token-not-for-production",
    }
    return load_settings(**(given | overrides))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with Store(settings.database, settings.domain, zone=settings.zone) as opened:
        yield opened


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1, port chosen by the OS."""
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def cli_env(settings: Settings, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment a command line on the test store and the test SMTP server would have (set for
    commands run in-process, returned for subprocesses)."""
    env = {
        "NEWSROOM_DATABASE": str(settings.database),
        "NEWSROOM_PUBLIC_DIR": str(settings.public_dir),
        "NEWSROOM_BASE_URL": settings.base_url,
        "NEWSROOM_SECRET_KEY": "test-secret-key-not-for-production",
        "NEWSROOM_SMTP__PORT": str(smtp_server.port),
        "NEWSROOM_SMTP__RATE_PER_SECOND": "10000",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def dkim_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> tuple[Path, str]:
    """A key written by `dkim keygen` (selector `DKIM_SELECTOR`) for the test zone `DKIM_DOMAIN`, and the
    zone line it printed."""
    monkeypatch.setenv("NEWSROOM_DATABASE", str(settings.database))
    monkeypatch.setenv("NEWSROOM_MAIL__FROM_ADDRESS", f"prasa@{DKIM_DOMAIN}")
    key = tmp_path / "dkim.pem"
    assert main(["dkim", "keygen", "--selector", DKIM_SELECTOR, "--out", str(key)]) == 0
    return key, capsys.readouterr().out.splitlines()[0]
