"""Every kind of bad release input names the field; through the CLI it exits 2 and writes nothing."""

from __future__ import annotations

import io
import json
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lxml.html
import pytest

from newsroom_feed.cli import main
from newsroom_feed.errors import InputError
from newsroom_feed.models import ReleaseInput
from newsroom_feed.store.database import Store

GOOD: dict[str, Any] = {
    "title": "Złote Lajki 2026 wręczone",
    "categories": ["informacje-prasowe"],
    "attachments": [
        {"url": "https://example.pl/komunikat.pdf", "mime_type": "application/pdf", "length": 1834}
    ],
    "contact": {"name": "Biuro prasowe", "email": "prasa@example.pl"},
}

ATTACHMENT = GOOD["attachments"][0]
#: A field left out of the document.
MISSING = object()

BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"title": ""}, "title", "must not be empty"),
    ({"title": "   "}, "title", "must not be empty"),
    ({"title": MISSING}, "title", "is required"),
    ({"title": "x" * 301}, "title", "at most 300 characters"),
    ({"title": "Dwie\nlinie"}, "title", "control characters"),
    ({"title": "Zero\u200bwidth"}, "title", "control characters"),
    ({"attachments": [{**ATTACHMENT, "url": "ftp://example.pl/a.pdf"}]}, "attachments.0.url", "http"),
    ({"attachments": [{**ATTACHMENT, "url": "javascript:alert(1)"}]}, "attachments.0.url", "http"),
    ({"attachments": [{**ATTACHMENT, "mime_type": "pdf"}]}, "attachments.0.mime_type", "MIME type"),
    ({"attachments": [{**ATTACHMENT, "length": -1}]}, "attachments.0.length", "greater than or equal"),
    ({"attachments": [{**ATTACHMENT, "length": "duży"}]}, "attachments.0.length", "integer"),
    ({"attachments": [{"title": "bez adresu"}]}, "attachments.0.url", "is required"),
    ({"published_at": "26.11.2026 10:30"}, "published_at", "RFC 3339"),
    ({"published_at": "jutro"}, "published_at", "RFC 3339"),
    ({"embargo_until": "2026-13-01T10:00:00Z"}, "embargo_until", "month"),
    # The ends of datetime cannot be moved between zones, and the store's hold-back embargo is in 9999.
    ({"embargo_until": "0001-01-01T00:00:00+01:00"}, "embargo_until", "between the years 1900 and 2999"),
    ({"published_at": "0001-01-01T00:00:00"}, "published_at", "between the years 1900 and 2999"),
    ({"published_at": "9999-12-31T23:59:59Z"}, "published_at", "between the years 1900 and 2999"),
    ({"embargo_until": "2999-12-31T23:59:59-05:00"}, "embargo_until", "between the years 1900 and 2999"),
    ({"author": "Jan Kowalski"}, "author", "is not a field of this document"),
    ({"categories": ["Informacje Prasowe"]}, "categories", "not a category slug"),
    ({"categories": ["informacje_prasowe"]}, "categories", "not a category slug"),
    # A slug is a path segment (/categories/<slug>/, /feeds/<slug>/): bounded below any file name limit.
    ({"categories": ["kategoria-" + "a" * 71]}, "categories", "at most 80 characters, got 81"),
    ({"attachments": [{**ATTACHMENT, "url": 'https://e.pl/"onclick="x'}]}, "attachments.0.url", "percent"),
    ({"attachments": [{**ATTACHMENT, "mime_type": "a/" + "x" * 254}]}, "attachments.0.mime_type", "MIME"),
    ({"contact": {"email": "prasa@"}}, "contact.email", "email address"),
    ({"contact": {"fax": "22 000 00 00"}}, "contact.fax", "is not a field"),
    ({"source_url": "javascript:alert(1)"}, "source_url", "http"),
    ({"language": "polski"}, "language", "two-letter"),
    ({"urgent": "bardzo"}, "urgent", "boolean"),
    ({"body": "Pionowy\x0btabulator"}, "body", "control characters"),
    ({"summary": "Dzwonek\x07"}, "summary", "control characters"),
]


def _bad(change: dict[str, Any]) -> dict[str, Any]:
    document = {**GOOD, **change}
    return {key: value for key, value in document.items() if value is not MISSING}


def _ids(case: tuple[dict[str, Any], str, str]) -> str:
    return f"{case[1]}-{case[2][:12]}"


@pytest.mark.parametrize(("change", "field", "problem"), BAD, ids=[_ids(case) for case in BAD])
def test_bad_release_document_names_the_field(change: dict[str, Any], field: str, problem: str) -> None:
    with pytest.raises(InputError) as caught:
        ReleaseInput.parse(_bad(change))
    assert caught.value.field == field
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{field}: ")


def test_a_complete_document_is_accepted_with_its_values() -> None:
    parsed = ReleaseInput.parse(GOOD)
    assert parsed.title == "Złote Lajki 2026 wręczone"
    assert parsed.categories == ("informacje-prasowe",)
    [attachment] = parsed.attachments
    assert (attachment.url, attachment.mime_type, attachment.length) == (
        "https://example.pl/komunikat.pdf",
        "application/pdf",
        1834,
    )
    assert parsed.contact is not None
    assert (parsed.contact.name, parsed.contact.email) == ("Biuro prasowe", "prasa@example.pl")
    # What the document leaves out takes the documented defaults.
    assert (parsed.language, parsed.urgent, parsed.body, parsed.embargo_until) == ("pl", False, "", None)


def test_a_document_must_be_an_object() -> None:
    with pytest.raises(InputError, match="JSON object"):
        ReleaseInput.parse(["title"])


def test_windows_line_ends_in_summary_and_body_are_plain_line_ends() -> None:
    parsed = ReleaseInput.parse({"title": "t", "summary": "a\r\nb", "body": "x\r\n\r\ny\rz"})
    assert parsed.summary == "a\nb"
    assert parsed.body == "x\n\ny\nz"


def test_time_without_offset_is_warsaw_time_in_winter_and_summer() -> None:
    winter = ReleaseInput.parse({"title": "t", "published_at": "2026-11-26T10:30:00"})
    summer = ReleaseInput.parse({"title": "t", "embargo_until": "2026-07-01 10:30"})
    assert winter.published_at == datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    assert summer.embargo_until == datetime(2026, 7, 1, 8, 30, tzinfo=UTC)


def test_time_with_offset_is_kept_as_given() -> None:
    parsed = ReleaseInput.parse({"title": "t", "published_at": "2026-11-26T10:30:00Z"})
    assert parsed.published_at == datetime(2026, 11, 26, 10, 30, tzinfo=UTC)


def test_script_and_javascript_links_are_stripped_from_the_body_html(store: Store, now: datetime) -> None:
    body = (
        "Zaproszenie <script>alert('x')</script>\n\n"
        "[kliknij](javascript:alert(1)) i [program](https://example.pl/program)\n\n"
        '<img src="x" onerror="alert(1)"> <a href="javascript:alert(2)" onclick="x()">link</a>'
    )
    stored = store.add_release(ReleaseInput.parse({"title": "Zaproszenie", "body": body}), now)
    html = stored.body_html
    elements = list(lxml.html.fragment_fromstring(html, create_parent="div").iter())
    assert not [element for element in elements if element.tag in {"script", "img"}]
    assert not [name for element in elements for name in element.attrib if name.startswith("on")]
    links = [element.get("href") for element in elements if element.tag == "a"]
    assert links == ["https://example.pl/program"], "a javascript: link is never a link"
    assert stored.body_markdown == body, "the Markdown source is kept as written"


# -- through the CLI: exit 2, store unchanged -------------------------------------------------------


def _counts(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as conn:
        tables = ("releases", "attachments", "categories", "release_categories", "changes")
        return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in tables}


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode("utf-8")), encoding="utf-8"))


@pytest.fixture
def database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A store that already holds one release, so "unchanged" is not trivially zero rows."""
    path = tmp_path / "newsroom.db"
    assert main(["--database", str(path), "release", "add", "--title", "Pierwszy", "--category", "a"]) == 0
    capsys.readouterr()
    return path


@pytest.mark.parametrize(("change", "field", "problem"), BAD, ids=[_ids(case) for case in BAD])
def test_cli_rejects_bad_document_on_stdin_with_exit_2_and_writes_nothing(
    database: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, Any],
    field: str,
    problem: str,
) -> None:
    before = _counts(database)
    _stdin(monkeypatch, json.dumps(_bad(change)))
    assert main(["--database", str(database), "release", "add", "-"]) == 2
    error = capsys.readouterr().err
    assert f"error: {field}: " in error
    assert problem in error
    assert _counts(database) == before


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (["--title", "Zła data", "--published-at", "wczoraj"], "published_at"),
        (["--title", "Zła data", "--embargo-until", "2026-11-26T25:00"], "embargo_until"),
        (["--title", "Dawno", "--published-at", "0001-01-01T00:00:00"], "published_at"),
        (["--title", "Nigdy", "--embargo-until", "9999-12-31T23:59:59Z"], "embargo_until"),
        (["--title", "Zły adres", "--attachment", "file:///etc/passwd"], "attachments.0.url"),
        (
            ["--title", "Zły typ", "--attachment", "https://e.pl/a", "--attachment-type", "pdf"],
            "attachments.0.mime_type",
        ),
        (["--title", "Zły JSON", "--attachment", "{nope"], "attachments.0"),
        (["--title", "Zła kategoria", "--category", "Ąę"], "categories"),
        (["--title", "Zły e-mail", "--contact-email", "nikt"], "contact.email"),
        (["--title", "Tab\tw tytule"], "title"),
        (["--summary", "bez tytułu"], "title"),
    ],
)
def test_cli_rejects_bad_options_with_exit_2_and_writes_nothing(
    database: Path, capsys: pytest.CaptureFixture[str], options: list[str], field: str
) -> None:
    before = _counts(database)
    assert main(["--database", str(database), "release", "add", *options]) == 2
    assert f"error: {field}: " in capsys.readouterr().err
    assert _counts(database) == before


def test_cli_rejects_invalid_json_on_stdin(
    database: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _counts(database)
    _stdin(monkeypatch, '{"title": "bez końca"')
    assert main(["--database", str(database), "release", "add", "-"]) == 2
    assert "error: document: not valid JSON" in capsys.readouterr().err
    assert _counts(database) == before


def test_bad_update_exits_2_and_leaves_the_release_as_it_was(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _counts(database)
    assert main(["--database", str(database), "release", "update", "1", "--title", "", "--summary", "x"]) == 2
    assert "error: title: " in capsys.readouterr().err
    assert _counts(database) == before
    assert main(["--database", str(database), "release", "show", "1", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["title"] == "Pierwszy"
    assert shown["summary"] is None


def test_release_list_and_show_print_a_time_an_outside_writer_set_at_the_end_of_the_calendar(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """9999-12-31 in UTC is past the end of datetime in Warsaw: printed in UTC instead of a traceback."""
    with sqlite3.connect(database) as outside:
        outside.execute("UPDATE releases SET published_at = '9999-12-31T23:59:59Z' WHERE id = 1")
    outside.close()
    assert main(["--database", str(database), "release", "list"]) == 0
    assert "9999-12-31 23:59 UTC" in capsys.readouterr().out
    assert main(["--database", str(database), "release", "show", "1"]) == 0
    assert "published: 9999-12-31 23:59 UTC" in capsys.readouterr().out
