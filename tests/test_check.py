"""`newsroom-feed check`, `backup`, the log formats and the progress helper, as an operator meets them."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from newsroom_feed.cli import main
from newsroom_feed.errors import LockedError
from newsroom_feed.lock import InstanceLock
from newsroom_feed.logs import configure_logging, progress
from newsroom_feed.models import ReleaseInput, utcnow
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store

from .smtp_server import SmtpServer


@pytest.fixture
def operator_env(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, store: Store, smtp_server: SmtpServer
) -> None:
    """The environment an operator would set, pointing at the test's (created) store and SMTP server."""
    monkeypatch.setenv("NEWSROOM_DATABASE", str(settings.database))
    monkeypatch.setenv("NEWSROOM_PUBLIC_DIR", str(settings.public_dir))
    monkeypatch.setenv("NEWSROOM_SECRET_KEY", "test-secret-key-not-for-production")
    monkeypatch.setenv("NEWSROOM_SMTP__PORT", str(smtp_server.port))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_check_says_ok_when_store_templates_and_smtp_work(
    operator_env: None, capsys: pytest.CaptureFixture[str], smtp_server: SmtpServer
) -> None:
    assert main(["check"]) == 0
    out, err = capsys.readouterr()
    assert "FAIL" not in out
    for name in ("settings", "secrets", "store", "public dir", "templates", "smtp", "daemon: not running"):
        assert f"ok    {name}" in out
    assert f"127.0.0.1:{smtp_server.port}" in out
    assert err.strip() == "OK"
    assert smtp_server.received == [], "check sends no mail"


def test_check_on_an_empty_directory_reports_the_missing_store_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "pusty"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("NEWSROOM_SMTP__PORT", str(closed_port()))
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  store: var/newsroom.db is missing (create it with `newsroom-feed init`)" in out
    assert "ok    public dir: var/public is missing" in out
    assert "ok    daemon: not running" in out
    assert "ok    secrets: a key is made in var/secret_key on first use" in out
    assert list(folder.iterdir()) == [], "no database, key, lock file or public directory made"


def test_check_reads_the_store_without_changing_it(
    operator_env: None, settings: Settings, store: Store
) -> None:
    store.add_release(ReleaseInput.parse({"title": "Komunikat"}), utcnow())
    store.close()
    before = sorted(path.name for path in settings.database.parent.iterdir())
    assert main(["check"]) == 0
    assert sorted(path.name for path in settings.database.parent.iterdir()) == before


def test_check_fails_on_a_file_that_is_not_a_store(
    operator_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "notatki.db"
    other.write_bytes(b"to nie jest baza SQLite" * 100)
    monkeypatch.setenv("NEWSROOM_DATABASE", str(other))
    assert main(["check"]) == 1
    assert f"FAIL  store: {other}: file is not a database" in capsys.readouterr().out
    assert other.read_bytes() == b"to nie jest baza SQLite" * 100


def test_check_names_an_smtp_server_that_does_not_answer(
    operator_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = closed_port()
    monkeypatch.setenv("NEWSROOM_SMTP__PORT", str(port))
    assert main(["check"]) == 1
    out, err = capsys.readouterr()
    failed = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1
    assert failed[0].startswith(f"FAIL  smtp: 127.0.0.1:{port}")
    assert "1 problem found" in err


def test_check_names_a_wrong_setting(
    operator_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NEWSROOM_SMTP__PORT", "siedemdziesiąt")
    assert main(["check"]) == 1
    assert "FAIL  settings: NEWSROOM_SMTP__PORT" in capsys.readouterr().out


def test_check_names_a_broken_template_override(
    operator_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overrides = tmp_path / "branding"
    overrides.mkdir()
    (overrides / "broken.html").write_text("<p>{{ release.title </p>\n", encoding="utf-8")
    monkeypatch.setenv("NEWSROOM_MAIL__TEMPLATES_DIR", str(overrides))
    assert main(["check"]) == 1
    (failed,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL")]
    assert failed.startswith("FAIL  templates: ")
    assert "broken.html:1" in failed


def test_check_tells_that_a_daemon_is_running(
    operator_env: None, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with InstanceLock(settings.database):
        assert main(["check"]) == 0
    assert "daemon: running as process" in capsys.readouterr().out


def test_backup_is_a_consistent_copy_of_the_open_store(
    operator_env: None, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store.add_release(ReleaseInput.parse({"title": "Komunikat do kopii zapasowej"}), utcnow())
    target = tmp_path / "kopie" / "newsroom-backup.db"
    assert main(["backup", str(target)]) == 0
    assert str(target) in capsys.readouterr().out
    with sqlite3.connect(target) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        titles = [row[0] for row in copy.execute("SELECT title FROM releases")]
    assert titles == ["Komunikat do kopii zapasowej"]
    assert [path.name for path in target.parent.iterdir()] == [target.name], "no partial file left"


def test_backup_into_a_directory_gets_a_dated_name(operator_env: None, store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "kopie"
    folder.mkdir()
    assert main(["backup", str(folder)]) == 0
    (made,) = folder.iterdir()
    assert made.name.startswith("newsroom-") and made.suffix == ".db"


def test_backup_refuses_to_overwrite_the_live_store(
    operator_env: None, settings: Settings, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backup", str(settings.database)]) == 2
    assert "PATH" in capsys.readouterr().err


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def test_json_logs_are_one_object_per_line_with_polish_text_kept(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    structlog.get_logger("newsroom_feed.daemon").info("build", reason="change", title="Żółć")
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event"] == "build" and first["title"] == "Żółć" and first["level"] == "info"
    assert first["timestamp"].endswith("Z")
    assert second["event"] == "Started server process [42]"
    assert "Żółć" in stream.getvalue()


def test_human_logs_are_plain_text_without_colour_when_not_a_terminal(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("human", "info", stream=stream)
    structlog.get_logger("newsroom_feed.daemon").info("lift", at="2026-11-26T10:00:00+00:00")
    structlog.get_logger("newsroom_feed.daemon").debug("hidden at info level")
    text = stream.getvalue()
    assert "lift" in text and "at=2026-11-26T10:00:00+00:00" in text
    assert "\x1b[" not in text
    assert "hidden" not in text


def test_progress_stays_quiet_when_piped() -> None:
    stream = io.StringIO()
    with progress("Importowanie", total=3, stream=stream) as bar:
        for _ in range(3):
            bar.advance()
        bar.update(completed=3, total=3)
    assert stream.getvalue() == ""


def test_the_instance_lock_refuses_a_second_holder_and_names_the_first(settings: Settings) -> None:
    refused = pytest.raises(LockedError, match=f"process {os.getpid()} already runs newsroom-feed")
    with InstanceLock(settings.database), refused:
        InstanceLock(settings.database).acquire()
    with InstanceLock(settings.database) as again:
        assert again.holder() == os.getpid()
    assert InstanceLock(settings.database).holder() is None, "the PID file goes with the lock"


# -- stdout for output, stderr for logs and progress ------------------------------------------------

#: What a rich progress bar draws: bar segments, carriage returns, cursor and colour control codes.
BAR_MARKS = ("━", "\r", "\x1b[")


def _releases_file(folder: Path, count: int) -> Path:
    path = folder / "releases.jsonl"
    rows = [json.dumps({"title": f"Komunikat numer {n} z Łodzi"}, ensure_ascii=False) for n in range(count)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_json_output_stays_pure_json_while_logs_go_to_stderr(
    operator_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NEWSROOM_LOG_LEVEL", "debug")
    monkeypatch.setenv("NEWSROOM_LOG_FORMAT", "json")
    handlers = list(logging.getLogger().handlers)
    assert main(["release", "list", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == []
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(event["event"] == "settings" and event["level"] == "debug" for event in events), err
    assert logging.getLogger().handlers == handlers, "the command's logging ends with the command"


@pytest.mark.slow
def test_import_and_build_draw_no_progress_bar_when_piped(tmp_path: Path, settings: Settings) -> None:
    """As cron or a script runs them: stdout is the JSON report alone, stderr plain summary lines."""
    env = {
        **os.environ,
        "NEWSROOM_DATABASE": str(settings.database),
        "NEWSROOM_PUBLIC_DIR": str(settings.public_dir),
    }
    source = _releases_file(tmp_path, 200)
    for argv, key in ((["import", str(source)], "imported"), (["build", "--full"], "written")):
        done = subprocess.run(
            [sys.executable, "-m", "newsroom_feed.cli", *argv, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert len(json.loads(done.stdout)[key]) >= 200
        assert not any(mark in done.stderr for mark in BAR_MARKS), done.stderr
        assert len(done.stderr.splitlines()) <= 1, "at most the summary line"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_import_build_and_send_show_progress_on_a_terminal(
    operator_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpServer
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["subscriber", "add", "redakcja@gazeta.example.pl"]) == 0
    assert main(["import", str(_releases_file(tmp_path, 3))]) == 0
    assert main(["build", "--full"]) == 0
    assert main(["outbox", "send"]) == 0
    drawn = terminal.getvalue()
    for bar in ("Importing releases", "Building (release pages)", "Sending"):
        assert bar in drawn
    assert "━" in drawn
    assert len(smtp_server.received) == 3
