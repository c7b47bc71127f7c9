"""Imports: the real listing sample, JSON Lines and CSV; bad rows reported by line, re-imports idempotent."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newsroom_feed.cli import main
from newsroom_feed.errors import InputError
from newsroom_feed.importers import import_releases
from newsroom_feed.store.database import Store

DATA = Path(__file__).parent / "data"
LISTING = DATA / "press-releases-listing.txt"
#: In CI a copy of shared/ sits beside the clone; the fixture in tests/data is a copy of this file.
SHARED_LISTING = Path(__file__).parents[2] / "shared" / "samples" / "press-releases-listing.txt"

LISTING_TITLES = [
    "Local SoMe’24 – wręczyliśmy Złote Lajki",
    "Local SoMe’24 – wręczamy Złote Lajki",
    "Local SoMe’24 – ogłaszamy program i zapraszamy do rejestracji!",
    "Miasta otwarte na migrantów. Zapraszamy na seminarium FRL",
    "Miasta wobec zmian klimatu. Zapraszamy na seminarium FRL",
    "Znamy Liderów Rankingu Zielonych Finansów Samorządowych",
    "Podpisanie porozumienia między ZMP a GZM",
    "Zgromadzenie Ogólne Związku Miast Polskich wybrało nowe władze",
    "Zgromadzenie Ogólne Związku Miast Polskich w Warszawie",
    "Zaproszenie dla mediów na Zgromadzenie Ogólne Związku Miast Polskich w Warszawie",
]


def _counts(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as conn:
        tables = ("releases", "attachments", "categories", "release_categories")
        return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in tables}


def _run(database: Path, *args: str, stdin: bytes | None = None) -> int:
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    return main(["--database", str(database), *args])


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(sys, "stdin", sys.stdin)
    return tmp_path / "newsroom.db"


def test_the_fixture_is_a_copy_of_the_shared_sample() -> None:
    if not SHARED_LISTING.exists():
        pytest.skip("shared/ is not beside this clone")
    assert LISTING.read_bytes() == SHARED_LISTING.read_bytes()


# -- the listing format -----------------------------------------------------------------------------


def test_listing_sample_imports_ten_clean_releases_newest_first(store: Store, now: datetime) -> None:
    report = import_releases(store, LISTING.read_text(encoding="utf-8"), "listing", now)
    assert len(report.imported) == 10 and not report.rejected and not report.skipped
    releases = store.list_releases(now=now)
    assert [release.title for release in releases] == LISTING_TITLES
    for position, release in enumerate(releases):
        assert "Pobierz" not in release.title
        assert release.summary and len(release.summary) > 100 and "\n" not in release.summary
        assert [category.slug for category in release.categories] == ["informacje-prasowe"]
        assert release.published_at == now - position * timedelta(minutes=1)
        assert release.status(now) == "published"
    assert releases[0].summary.startswith("Rada Programowa Local SoMe’24 wraz z ZMP")  # type: ignore[union-attr]
    assert releases[-1].summary.endswith("wyborami nowego prezesa i Zarządu Związku.")  # type: ignore[union-attr]
    assert [(c.slug, c.name) for c in store.categories()] == [("informacje-prasowe", "Informacje prasowe")]


def test_listing_import_again_creates_nothing_new(store: Store, now: datetime) -> None:
    text = LISTING.read_text(encoding="utf-8")
    import_releases(store, text, "listing", now)
    again = import_releases(store, text, "listing", now + timedelta(days=1))
    assert again.imported == [] and len(again.skipped) == 10 and again.rejected == []
    assert len(store.list_releases(now=now + timedelta(days=1))) == 10


def test_listing_base_time_sets_the_newest_entry(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _run(database, "import", str(LISTING), "--base-time", "2024-11-27T12:00", "--json")
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["imported"]) == 10 and report["rejected"] == []
    assert _run(database, "release", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["published_at"] == "2024-11-27T11:00:00Z", "12:00 Warsaw time"
    assert listed[9]["published_at"] == "2024-11-27T10:51:00Z"


def test_cli_listing_import_is_idempotent(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(database, "import", str(LISTING), "--format", "listing") == 0
    assert "Imported 10, skipped 0" in capsys.readouterr().err
    before = _counts(database)
    assert _run(database, "import", str(LISTING)) == 0
    assert "Imported 0, skipped 10" in capsys.readouterr().err
    assert _counts(database) == before


BROKEN_LISTING = """Informacje prasowe

Pobierz Dobry pierwszy

Pierwsze streszczenie,
w dwóch liniach.

informacje prasowe

Pobierz

Blok bez tytułu.

informacje prasowe

Pobierz Bez kategorii

To streszczenie jest długie i nie ma po nim linii z kategorią, więc nie wiadomo, gdzie ten blok
się kończy naprawdę, a to już koniec bloku.

Pobierz Tylko kategoria

informacje prasowe

Pobierz Dobry ostatni

Ostatnie streszczenie.

komunikaty
"""


def test_unparseable_listing_blocks_are_reported_by_line_and_good_ones_imported(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "listing.txt"
    path.write_text(BROKEN_LISTING, encoding="utf-8")
    assert _run(database, "import", str(path)) == 1
    err = capsys.readouterr().err
    rejected = [line for line in err.splitlines() if line.startswith("rejected: ")]
    assert rejected == [
        "rejected: line 10: title: the 'Pobierz' line has no title after it",
        "rejected: line 16: categories: the block does not end with a category line",
        "rejected: line 21: summary: no summary paragraph between title and category",
    ]
    assert "Imported 2, skipped 0 already in the store, rejected 3." in err
    assert _run(database, "release", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(item["title"], item["summary"], item["categories"]) for item in listed] == [
        ("Dobry pierwszy", "Pierwsze streszczenie, w dwóch liniach.", ["informacje-prasowe"]),
        ("Dobry ostatni", "Ostatnie streszczenie.", ["komunikaty"]),
    ]


def test_a_file_that_is_not_a_listing_exits_2(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("Zwykła notatka\nbez bloków\n", encoding="utf-8")
    assert _run(database, "import", str(path)) == 2
    assert "not the listing format" in capsys.readouterr().err


# -- JSON Lines -------------------------------------------------------------------------------------


def _jsonl(*rows: object) -> str:
    return (
        "\n".join(row if isinstance(row, str) else json.dumps(row, ensure_ascii=False) for row in rows) + "\n"
    )


def test_jsonl_imports_good_rows_and_reports_bad_ones_by_line(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "releases.jsonl"
    path.write_text(
        _jsonl(
            {
                "title": "Pierwszy",
                "categories": ["a"],
                "published_at": "2026-11-01T10:00:00+01:00",
                "attachments": [
                    {"url": "https://example.pl/a.pdf", "mime_type": "application/pdf", "length": 10}
                ],
            },
            '{"title": "urwany',
            "",
            {
                "title": "Zły załącznik",
                "attachments": [{"url": "https://example.pl/x.pdf"}, {"url": "ftp://x"}],
            },
            {"title": "Drugi", "published_at": "2026-11-02T10:00"},
            ["not", "an", "object"],
            {"title": "Pierwszy", "published_at": "2026-11-01T09:00:00Z"},
        ),
        encoding="utf-8",
    )
    assert _run(database, "import", str(path), "--json") == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert [item["title"] for item in report["imported"]] == ["Pierwszy", "Drugi"]
    assert report["rejected"] == [
        {"line": 2, "field": "", "problem": "not valid JSON: Unterminated string starting at (column 11)"},
        {"line": 4, "field": "attachments.1.url", "problem": "must be an absolute http:// or https:// URL"},
        {"line": 6, "field": "", "problem": "a release document must be a JSON object"},
        {"line": 7, "field": "title", "problem": "repeats the release on line 1"},
    ]
    assert "rejected: line 4: attachments.1.url: must be an absolute http:// or https:// URL" in captured.err
    assert _counts(database) == {"releases": 2, "attachments": 1, "categories": 1, "release_categories": 1}


def test_jsonl_reimport_skips_what_is_already_there(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "releases.jsonl"
    path.write_text(_jsonl({"title": "Jeden"}, {"title": "Dwa", "published_at": "2026-01-01T00:00Z"}))
    assert _run(database, "import", str(path)) == 0
    assert _run(database, "import", str(path)) == 0
    assert "Imported 0, skipped 2" in capsys.readouterr().err
    assert _counts(database)["releases"] == 2


def test_exported_releases_import_into_another_store_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "first.db", tmp_path / "second.db"
    _run(first, "release", "add", "--title", "Ranking", "--category", "rankingi", "--summary", "Lead",
         "--attachment", "https://example.pl/r.pdf", "--contact-email", "prasa@example.pl")  # fmt: skip
    _run(first, "release", "add", "--title", "Gala", "--published-at", "2026-01-01T10:00", "--urgent")
    capsys.readouterr()
    assert _run(first, "release", "list", "--json") == 0
    exported = json.loads(capsys.readouterr().out)
    path = tmp_path / "export.jsonl"
    path.write_text(_jsonl(*exported), encoding="utf-8")
    assert _run(second, "import", str(path)) == 0
    capsys.readouterr()
    assert _run(second, "release", "list", "--json") == 0
    imported = json.loads(capsys.readouterr().out)
    volatile = {"id", "uid", "created_at", "updated_at"}
    assert [{k: v for k, v in item.items() if k not in volatile} for item in imported] == [
        {k: v for k, v in item.items() if k not in volatile} for item in exported
    ]


def test_jsonl_from_stdin_needs_a_format(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(database, "import", "-", stdin=b'{"title": "x"}\n') == 2
    assert "give --format" in capsys.readouterr().err
    assert _run(database, "import", "-", "--format", "jsonl", stdin='{"title": "Żółw"}\n'.encode()) == 0
    assert _counts(database)["releases"] == 1


# -- CSV --------------------------------------------------------------------------------------------

CSV_HEADER = (
    "title,summary,body,categories,urgent,language,published_at,embargo_until,contact_name,"
    "contact_email,contact_phone,source_url,attachment_url,attachment_title,attachment_mime_type,"
    "attachment_length"
)


def test_csv_imports_every_column_and_reports_rows_by_their_first_line(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "releases.csv"
    path.write_text(
        CSV_HEADER + "\n"
        'Gala,Lead,"Akapit **pierwszy**.\n\nAkapit drugi.",nagrody;wydarzenia,tak,pl,2026-11-20T10:00,'
        ",Anna Nowak,prasa@example.pl,+48 61 000 00 00,https://example.pl/gala,"
        "https://example.pl/p.pdf,Program,application/pdf,1234\n"
        "Zły,,,,może,,,,,,,,,,,\n"
        "\n"
        "Krótki,,,,,,,,,,,,,,,\n"
        "Za krótki wiersz,x\n"
        "Bez adresu,,,,,,,,,,,,,Tytuł załącznika,,\n",
        encoding="utf-8",
    )
    assert _run(database, "import", str(path)) == 1
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("rejected")] == [
        "rejected: line 5: urgent: must be true or false (also 1/0, yes/no, tak/nie)",
        "rejected: line 8: has 2 cells, the header has 16",
        "rejected: line 9: attachment_url: is required when other attachment cells are filled",
    ]
    assert _run(database, "release", "show", "gala", "--json") == 0
    gala = json.loads(capsys.readouterr().out)
    assert gala["body"] == "Akapit **pierwszy**.\n\nAkapit drugi."
    assert gala["categories"] == ["nagrody", "wydarzenia"]
    assert gala["urgent"] is True
    assert gala["published_at"] == "2026-11-20T09:00:00Z"
    assert gala["contact"] == {"name": "Anna Nowak", "email": "prasa@example.pl", "phone": "+48 61 000 00 00"}
    assert gala["attachments"] == [
        {
            "url": "https://example.pl/p.pdf",
            "title": "Program",
            "mime_type": "application/pdf",
            "length": 1234,
        }
    ]
    assert _counts(database)["releases"] == 2


def test_csv_with_semicolons_and_only_some_columns(database: Path, tmp_path: Path) -> None:
    path = tmp_path / "arkusz.csv"
    path.write_bytes("\ufefftitle;categories;published_at\nRanking;rankingi;2026-03-01T12:00\n".encode())
    assert _run(database, "import", str(path)) == 0
    assert _counts(database) == {"releases": 1, "attachments": 0, "categories": 1, "release_categories": 1}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("summary,body\nx,y\n", "must name a title column"),
        ("title,author\nx,y\n", "unknown CSV column 'author'"),
        ("title,title\nx,y\n", "appears twice"),
        ("", "must name a title column"),
    ],
)
def test_unusable_csv_exits_2_and_imports_nothing(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, problem: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    assert _run(database, "import", str(path)) == 2
    assert problem in capsys.readouterr().err
    assert _counts(database)["releases"] == 0


# -- unusable files ---------------------------------------------------------------------------------


def test_missing_unreadable_or_unknown_files_exit_2(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(database, "import", str(tmp_path / "nope.jsonl")) == 2
    assert "error: file: cannot read" in capsys.readouterr().err
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Pobierz Zażółć".encode("iso-8859-2"))
    assert _run(database, "import", str(latin)) == 2
    assert "not UTF-8" in capsys.readouterr().err
    odd = tmp_path / "releases.xml"
    odd.write_text("<x/>")
    assert _run(database, "import", str(odd)) == 2
    assert "give --format" in capsys.readouterr().err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    assert _run(database, "import", str(empty)) == 2
    assert "contains no releases" in capsys.readouterr().err
    assert _run(database, "import", str(empty), "--format", "xml") == 2


def test_import_releases_raises_for_a_file_with_no_rows(store: Store, now: datetime) -> None:
    with pytest.raises(InputError, match="contains no releases"):
        import_releases(store, "", "jsonl", now)
    assert store.list_releases(now=now) == []


def test_import_times_are_utc_in_the_store(store: Store) -> None:
    moment = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    import_releases(store, _jsonl({"title": "A", "published_at": "2026-11-26T10:30"}), "jsonl", moment)
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT published_at FROM releases").fetchone()[0] == "2026-11-26T09:30:00Z"


def test_base_time_is_only_for_the_listing_format(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "releases.jsonl"
    path.write_text('{"title": "x"}\n', encoding="utf-8")
    assert _run(database, "import", str(path), "--base-time", "2026-01-01T00:00") == 2
    assert "listing format only" in capsys.readouterr().err
    assert _run(database, "import", str(LISTING), "--base-time", "wczoraj") == 2
    assert "error: base_time: must be an RFC 3339 date-time" in capsys.readouterr().err


@pytest.mark.slow
def test_two_imports_of_the_same_file_at_once_create_each_release_once(database: Path) -> None:
    """Two operators (or a cron job and an operator) importing the same listing at the same moment."""
    assert _run(database, "init") == 0
    command = [sys.executable, "-m", "newsroom_feed.cli", "--database", str(database), "import", str(LISTING)]
    runs = [
        subprocess.Popen([*command, "--format", "listing"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outcomes = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outcomes
    assert _counts(database)["releases"] == 10
