"""The store commands as an operator uses them: init, release add|update|retract|show|list."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine

from newsroom_feed.cli import main
from newsroom_feed.store.database import MIGRATIONS


class Cli:
    """`newsroom-feed --database DB ...` in process; stdout and stderr kept apart."""

    def __init__(self, database: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
        self.database = database
        self.capsys = capsys
        self.monkeypatch = monkeypatch
        self.out = self.err = ""

    def __call__(self, *args: str, stdin: str | None = None) -> int:
        if stdin is not None:
            stream = io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8")), encoding="utf-8")
            self.monkeypatch.setattr(sys, "stdin", stream)
        code = main(["--database", str(self.database), *args])
        captured = self.capsys.readouterr()
        self.out, self.err = captured.out, captured.err
        return code

    def json(self, *args: str, stdin: str | None = None) -> Any:
        assert self(*args, stdin=stdin) == 0, self.err
        return json.loads(self.out)


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(tmp_path / "store" / "newsroom.db", capsys, monkeypatch)


def test_init_creates_the_store_and_says_where(cli: Cli) -> None:
    assert cli("init") == 0
    assert cli.database.is_file()
    assert str(cli.database) in cli.err
    migrations = len(MIGRATIONS)
    assert f"schema version {migrations}" in cli.err and f"applied {migrations} migration" in cli.err
    assert cli.out == ""
    assert cli("init") == 0
    assert "already up to date" in cli.err


def test_add_with_every_option_prints_the_stored_document(cli: Cli, tmp_path: Path) -> None:
    body = tmp_path / "body.md"
    body.write_text("Zapraszamy na **galę** Złotych Lajków.\n", encoding="utf-8")
    document = cli.json(
        "release", "add",
        "--title", "Gala Złotych Lajków",
        "--summary", "Zaproszenie dla mediów",
        "--body-file", str(body),
        "--category", "zaproszenia", "--category", "wydarzenia",
        "--urgent",
        "--published-at", "2026-11-20T10:00",
        "--embargo-until", "2026-11-20T12:00:00+01:00",
        "--attachment", "https://example.pl/program.pdf",
        "--attachment-title", "Program (PDF)",
        "--attachment-type", "application/pdf",
        "--attachment-length", "183422",
        "--attachment", '{"url": "https://example.pl/logo.png", "mime_type": "image/png", "length": 5}',
        "--contact-name", "Anna Nowak",
        "--contact-email", "prasa@example.pl",
        "--contact-phone", "+48 61 000 00 00",
        "--source-url", "https://example.pl/gala",
        "--json",
    )  # fmt: skip
    assert document["title"] == "Gala Złotych Lajków"
    assert document["number"].endswith("/2026")
    assert document["slug"] == "gala-zlotych-lajkow"
    assert document["uid"].startswith("tag:")
    assert document["body"] == "Zapraszamy na **galę** Złotych Lajków."
    assert document["categories"] == ["zaproszenia", "wydarzenia"]
    assert document["urgent"] is True
    assert document["published_at"] == "2026-11-20T09:00:00Z", "a time without offset is Warsaw time"
    assert document["embargo_until"] == "2026-11-20T11:00:00Z"
    assert document["attachments"] == [
        {"url": "https://example.pl/program.pdf", "title": "Program (PDF)", "mime_type": "application/pdf",
         "length": 183422},
        {"url": "https://example.pl/logo.png", "title": None, "mime_type": "image/png", "length": 5},
    ]  # fmt: skip
    assert document["contact"] == {
        "name": "Anna Nowak",
        "email": "prasa@example.pl",
        "phone": "+48 61 000 00 00",
    }
    assert document["source_url"] == "https://example.pl/gala"
    assert document["status"] == "published"
    assert "Added" in cli.err and document["number"] in cli.err
    assert cli.json("release", "show", document["slug"], "--json") == document


def test_add_without_json_prints_nothing_on_stdout(cli: Cli) -> None:
    assert cli("release", "add", "--title", "Krótki komunikat") == 0
    assert cli.out == ""
    assert "Added 1/" in cli.err


def test_add_reads_a_json_document_from_stdin_and_options_override_it(cli: Cli) -> None:
    source = {
        "title": "Złote Lajki 2026 wręczone",
        "summary": "Rada Programowa nagrodziła miasta.",
        "body": "Markdown **text**",
        "categories": ["informacje-prasowe"],
        "published_at": "2026-11-26T10:30:00+01:00",
        "contact": {"name": "Biuro prasowe", "email": "prasa@example.pl"},
    }
    document = cli.json("release", "add", "-", "--urgent", "--json", stdin=json.dumps(source))
    assert document["title"] == source["title"]
    assert document["published_at"] == "2026-11-26T09:30:00Z"
    assert document["urgent"] is True
    assert document["contact"]["name"] == "Biuro prasowe"


def test_add_reads_a_document_piped_on_stdin_without_a_dash(cli: Cli) -> None:
    source = {"title": "Kongres Miast w Łodzi", "summary": "Zaproszenie dla mediów."}
    document = cli.json("release", "add", "--urgent", "--json", stdin=json.dumps(source, ensure_ascii=False))
    assert (document["title"], document["summary"], document["urgent"]) == (
        "Kongres Miast w Łodzi", "Zaproszenie dla mediów.", True,
    )  # fmt: skip
    retitled = cli.json("release", "add", "--title", "Tytuł z opcji", "--json", stdin=json.dumps(source))
    assert retitled["title"] == "Tytuł z opcji" and retitled["summary"] == source["summary"]


@pytest.mark.slow
def test_the_console_script_reads_a_document_piped_on_stdin(tmp_path: Path) -> None:
    """`echo '{"title": ...}' | newsroom-feed release add` as a shell runs it."""
    script = Path(sys.executable).with_name("newsroom-feed")
    done = subprocess.run(
        [str(script), "--database", str(tmp_path / "newsroom.db"), "release", "add", "--json"],
        input=json.dumps({"title": "Złote Lajki 2026 wręczone"}, ensure_ascii=False),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["title"] == "Złote Lajki 2026 wręczone"


def test_an_empty_stdin_is_no_document_and_the_title_is_still_required(cli: Cli) -> None:
    assert cli("release", "add", stdin="") == 2
    assert "title: is required" in cli.err
    assert cli("release", "add", stdin="  \n") == 2
    assert "title: is required" in cli.err


class _Terminal(io.TextIOWrapper):
    def isatty(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        raise AssertionError("a terminal on stdin must not be read")


def test_a_terminal_on_stdin_is_not_read(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", _Terminal(io.BytesIO(b'{"title": "nie czytaj"}')))
    assert cli("release", "add") == 2
    assert "title: is required" in cli.err
    assert cli("release", "add", "--title", "Z terminala") == 0


def test_an_idle_open_pipe_does_not_hold_up_a_command_its_options_make(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As over ssh or under a supervisor: stdin is a pipe that nobody writes to nor closes."""
    reader, writer = os.pipe()
    stdin = open(reader, encoding="utf-8")  # noqa: SIM115 - closed below, after the command
    monkeypatch.setattr(sys, "stdin", stdin)
    try:
        started = time.monotonic()
        assert cli("release", "add", "--title", "Bez dokumentu") == 0
        assert time.monotonic() - started < 10
    finally:
        os.close(writer)
        stdin.close()
    assert cli.json("release", "show", "1", "--json")["title"] == "Bez dokumentu"


def test_update_reads_the_changes_piped_on_stdin(cli: Cli) -> None:
    created = cli.json("release", "add", "--title", "Ranking", "--json")
    after = cli.json("release", "update", str(created["id"]), "--json", stdin='{"summary": "Nowy lead"}')
    assert (after["title"], after["summary"], after["uid"]) == ("Ranking", "Nowy lead", created["uid"])


def test_exported_document_can_be_added_again_as_a_new_release(cli: Cli) -> None:
    first = cli.json("release", "add", "--title", "Komunikat", "--json")
    second = cli.json("release", "add", "-", "--json", stdin=json.dumps(first))
    assert second["uid"] != first["uid"] and second["id"] != first["id"]
    assert second["slug"] == "komunikat-2"


def test_help_says_times_without_offset_are_warsaw_time(cli: Cli) -> None:
    for command in ("add", "update"):
        assert cli("release", command, "--help") == 0
        help_text = " ".join(cli.out.split())
        assert "without an offset is Europe/Warsaw time" in help_text
        assert "--published-at" in help_text and "--embargo-until" in help_text


def test_update_changes_only_given_fields_keeps_uid_and_bumps_updated(cli: Cli) -> None:
    with time_machine.travel(datetime(2026, 11, 26, 9, 0, tzinfo=UTC), tick=False):
        before = cli.json(
            "release", "add", "--title", "Seminarium FRL", "--summary", "Zapraszamy",
            "--category", "seminaria", "--contact-name", "Anna Nowak", "--contact-email", "a@example.pl",
            "--json",
        )  # fmt: skip
    with time_machine.travel(datetime(2026, 11, 26, 10, 0, tzinfo=UTC), tick=False):
        after = cli.json(
            "release", "update", before["number"], "--title", "Seminarium FRL (nowy termin)",
            "--contact-phone", "+48 600 000 000", "--json",
        )  # fmt: skip
    assert after["uid"] == before["uid"] and after["slug"] == before["slug"]
    assert after["number"] == before["number"]
    assert after["title"] == "Seminarium FRL (nowy termin)"
    assert after["summary"] == "Zapraszamy"
    assert after["categories"] == ["seminaria"]
    assert after["contact"] == {"name": "Anna Nowak", "email": "a@example.pl", "phone": "+48 600 000 000"}
    assert after["published_at"] == before["published_at"]
    assert before["updated_at"] == "2026-11-26T09:00:00Z"
    assert after["updated_at"] == "2026-11-26T10:00:00Z"
    assert "Updated" in cli.err


def test_update_from_json_on_stdin_and_clearing_fields(cli: Cli) -> None:
    created = cli.json(
        "release", "add", "--title", "Ranking", "--summary", "Stary lead",
        "--embargo-until", "2099-01-01T00:00:00Z", "--json",
    )  # fmt: skip
    assert created["status"] == "embargoed"
    edited = {**created, "summary": "Nowy lead", "attachments": [{"url": "https://example.pl/r.pdf"}]}
    after = cli.json("release", "update", str(created["id"]), "-", "--embargo-until", "", "--json",
                     stdin=json.dumps(edited))  # fmt: skip
    assert after["summary"] == "Nowy lead"
    assert after["embargo_until"] is None
    assert after["status"] == "published"
    assert after["attachments"][0]["url"] == "https://example.pl/r.pdf"
    assert after["uid"] == created["uid"]


def test_update_with_nothing_to_change_is_a_usage_error(cli: Cli) -> None:
    cli("release", "add", "--title", "Komunikat")
    assert cli("release", "update", "1") == 2
    assert "nothing to change" in cli.err


def test_unknown_release_is_reported_with_exit_1(cli: Cli) -> None:
    cli("init")
    for args in (("show", "99/2026"), ("update", "nope", "--title", "x"), ("retract", "nope")):
        assert cli("release", *args) == 1
        assert "no release" in cli.err


def test_retract_keeps_the_release_but_marks_it_retracted(cli: Cli) -> None:
    created = cli.json("release", "add", "--title", "Pomyłka", "--json")
    assert cli("release", "retract", created["slug"]) == 0
    assert "Retracted" in cli.err
    shown = cli.json("release", "show", created["number"], "--json")
    assert shown["status"] == "retracted"
    assert shown["retracted_at"] is not None
    assert shown["uid"] == created["uid"]
    assert [item["id"] for item in cli.json("release", "list", "--status", "retracted", "--json")] == [1]
    assert cli.json("release", "list", "--status", "published", "--json") == []


def test_show_prints_a_readable_release_in_warsaw_time(cli: Cli) -> None:
    cli(
        "release", "add", "--title", "Zgromadzenie Ogólne", "--published-at", "2026-06-18T09:00",
        "--summary", "Zapraszamy media.", "--category", "wydarzenia",
        "--attachment", "https://example.pl/a.pdf", "--contact-email", "prasa@example.pl",
    )  # fmt: skip
    assert cli("release", "show", "zgromadzenie-ogolne") == 0
    assert cli.out.startswith("Zgromadzenie Ogólne\n")
    assert "published: 2026-06-18 09:00 Europe/Warsaw" in cli.out
    assert "categories: wydarzenia" in cli.out
    assert "attachment: https://example.pl/a.pdf" in cli.out
    assert "contact: prasa@example.pl" in cli.out
    assert "Zapraszamy media." in cli.out


def test_list_filters_by_status_and_category_newest_first(cli: Cli) -> None:
    for title, published, category in [
        ("Najstarszy", "2026-01-01T10:00", "a"),
        ("Środkowy", "2026-02-01T10:00", "b"),
        ("Najnowszy", "2026-03-01T10:00", "a"),
    ]:
        cli("release", "add", "--title", title, "--published-at", published, "--category", category)
    cli("release", "add", "--title", "Pod embargiem", "--embargo-until", "2099-01-01T00:00Z")
    listed = cli.json("release", "list", "--json")
    assert [item["title"] for item in listed] == ["Pod embargiem", "Najnowszy", "Środkowy", "Najstarszy"]
    assert {"id", "uid", "number", "slug", "status"} <= set(listed[0])
    assert [item["title"] for item in cli.json("release", "list", "--category", "a", "--json")] == [
        "Najnowszy",
        "Najstarszy",
    ]
    assert [item["title"] for item in cli.json("release", "list", "--status", "embargoed", "--json")] == [
        "Pod embargiem"
    ]
    assert len(cli.json("release", "list", "--limit", "2", "--json")) == 2


def test_list_without_a_terminal_prints_tab_separated_lines(cli: Cli) -> None:
    cli("release", "add", "--title", "Złote Lajki", "--published-at", "2026-11-26T10:30")
    assert cli("release", "list") == 0
    assert cli.out.splitlines() == ["1/2026\tpublished\t2026-11-26 10:30\tzlote-lajki\tZłote Lajki"]
    assert "1 release" in cli.err


def test_bad_list_option_is_a_usage_error(cli: Cli) -> None:
    assert cli("release", "list", "--status", "draft") == 2
    assert cli("release", "list", "--limit", "0") == 2


def test_polish_text_survives_the_store_byte_for_byte(cli: Cli) -> None:
    title = "Zażółć gęślą jaźń — „cudzysłów” i ’apostrof’"
    cli("release", "add", "--title", title)
    with sqlite3.connect(cli.database) as conn:
        assert conn.execute("SELECT title FROM releases").fetchone()[0] == title
    assert cli.json("release", "show", "1", "--json")["title"] == title


def test_stdin_cannot_carry_both_the_document_and_the_body(cli: Cli) -> None:
    assert cli("release", "add", "-", "--body-file", "-", stdin='{"title": "x"}') == 2
    assert "not both" in cli.err


def test_body_and_body_file_together_are_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    body = tmp_path / "body.md"
    body.write_text("tekst", encoding="utf-8")
    assert cli("release", "add", "--title", "x", "--body", "a", "--body-file", str(body)) == 2
    assert "--body or --body-file" in cli.err


def test_more_attachment_types_than_attachments_is_a_usage_error(cli: Cli) -> None:
    assert cli("release", "add", "--title", "x", "--attachment-type", "application/pdf") == 2
    assert "--attachment-type given 1 times, --attachment 0" in cli.err


def test_a_missing_document_file_exits_2(cli: Cli, tmp_path: Path) -> None:
    assert cli("release", "add", str(tmp_path / "brak.json")) == 2
    assert "error: file: cannot read" in cli.err


def test_a_document_file_is_read_as_utf8(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "komunikat.json"
    path.write_text('{"title": "Łódź i Gdańsk", "categories": ["miasta"]}', encoding="utf-8")
    assert cli.json("release", "add", str(path), "--json")["title"] == "Łódź i Gdańsk"


def test_early_access_is_set_by_option_kept_by_other_updates_and_read_from_json_lines(
    cli: Cli, tmp_path: Path
) -> None:
    plain = cli.json("release", "add", "--title", "Bez wcześniejszego dostępu", "--json")
    assert plain["early_access"] is False
    shared = cli.json(
        "release", "add", "--title", "Odkrycie", "--embargo-until", "2031-01-15T10:00",
        "--early-access", "--json",
    )  # fmt: skip
    assert shared["early_access"] is True
    assert cli("release", "show", str(shared["id"])) == 0
    assert "early access" in cli.out
    kept = cli.json("release", "update", str(shared["id"]), "--summary", "Nowy lead", "--json")
    assert kept["early_access"] is True
    withdrawn = cli.json("release", "update", str(shared["id"]), "--no-early-access", "--json")
    assert withdrawn["early_access"] is False
    lines = tmp_path / "releases.jsonl"
    lines.write_text(
        json.dumps({"title": "Z pliku", "embargo_until": "2031-02-01T10:00:00+01:00", "early_access": True})
        + "\n",
        encoding="utf-8",
    )
    assert cli("import", str(lines)) == 0, cli.err
    assert cli.json("release", "show", "z-pliku", "--json")["early_access"] is True
