"""Rows another program writes with plain SQL meet the rules of the CLI's input: a link that is not http(s)
never reaches a page, a feed, a mail or the API; a row that breaks a bound or cannot be read is held back
and reported (``build_state``, ``/healthz``, ``check``) while every other release is published."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from lxml import etree

from newsroom_feed import planner
from newsroom_feed.cli import main
from newsroom_feed.errors import InputError
from newsroom_feed.models import ReleaseInput
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store
from newsroom_feed.web import create_app

from ..conftest import NOW
from ..site.test_feeds import VISIBLE_TITLE, entry_titles, sample_newsroom
from ..smtp_server import SmtpServer
from ..web_helpers import serve

#: Links no writer may publish, each as an outside writer might store it.
DANGEROUS = {
    "javascript": "javascript:alert(1)",
    "mixed case behind spaces": "  JaVaScRiPt:alert(document.domain)",
    "behind a control character": "\x01javascript:alert(1)",
    "behind a tab": "\tjavascript:alert(1)",
    "split by a line break": "java\nscript:alert(1)",
    "decimal reference": "&#106;avascript:alert(1)",
    "hex reference": "&#x6A;avascript:alert(1)",
    "vbscript": "VBScript:MsgBox(1)",
    "data": "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "data behind a space": " DATA:text/html,<script>alert(1)</script>",
    "quote that ends an attribute": 'https://example.pl/"onmouseover="alert(1)',
}
#: What none of those may leave in any output, matched without regard to case.
NEEDLES = ("javascript:", "avascript:", "vbscript:", "data:text", "onmouseover", "alert(")
GOOD_ATTACHMENT = "https://example.pl/pliki/dobry.pdf"


def _outside(settings: Settings, sql: str, *params: object) -> int:
    """One statement by another program, on its own connection; returns the last row id."""
    outside = sqlite3.connect(settings.database)
    with outside:
        row_id = int(outside.execute(sql, params).lastrowid or 0)
    outside.close()
    return row_id


def _public_text(public: Path) -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted(public.rglob("*")) if path.is_file())


def _last_error(store: Store) -> str:
    return str(store.conn.execute("SELECT last_error FROM build_state WHERE id = 1").fetchone()[0] or "")


@pytest.fixture
def dangerous(settings: Settings, store: Store) -> dict[str, int]:
    """One release per dangerous link, stored as a CMS would: the link as `source_url` and as the first
    attachment, a good attachment after it, and a contact address that is not one."""
    ids = {}
    for name, link in DANGEROUS.items():
        release_id = _outside(
            settings,
            "INSERT INTO releases (title, source_url, contact_email) VALUES (?, ?, 'prasa(at)example.pl')",
            f"Komunikat z CMS: {name}",
            link,
        )
        _outside(
            settings,
            "INSERT INTO attachments (release_id, position, url, title, mime_type, length) VALUES "
            "(?, 0, ?, 'Zły', 'application/pdf', 10), (?, 1, ?, 'Dobry', 'application/pdf', 2048)",
            release_id,
            link,
            release_id,
            GOOD_ATTACHMENT,
        )
        ids[name] = release_id
    return ids


def _refused_by_the_cli(link: str) -> bool:
    """Whether `release add` refuses ``link`` as a source and as an attachment, naming the field."""
    fields = []
    for document in ({"source_url": link}, {"attachments": [{"url": link}]}):
        with pytest.raises(InputError) as caught:
            ReleaseInput.parse({"title": "t", **document})
        fields.append(caught.value.field)
    return fields == ["source_url", "attachments.0.url"]


def test_links_an_outside_writer_stores_are_left_out_of_every_file_and_reported(
    dangerous: dict[str, int],
    settings: Settings,
    store: Store,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    smtp_server: SmtpServer,
) -> None:
    monkeypatch.setenv("NEWSROOM_SMTP__PORT", str(smtp_server.port))
    options = ["--database", str(settings.database), "--public-dir", str(settings.public_dir)]
    assert main([*options, "build"]) == 0
    public = settings.public_dir
    text = _public_text(public).lower()
    assert [needle for needle in NEEDLES if needle in text] == []
    assert "prasa(at)example.pl" not in text
    for name, release_id in dangerous.items():
        assert _refused_by_the_cli(DANGEROUS[name])  # the check the stored links met is the CLI's
        release = store.get_release(release_id)
        page = (public / "releases" / release.slug / "index.html").read_text(encoding="utf-8")
        assert f'href="{GOOD_ATTACHMENT}"' in page  # published, without what was wrong
        assert (release.source_url, [a.url for a in release.attachments]) == (None, [GOOD_ATTACHMENT])
    rss = etree.parse(str(public / "feeds" / "rss.xml"))
    assert set(rss.xpath("//enclosure/@url")) == {GOOD_ATTACHMENT}
    atom = etree.parse(str(public / "feeds" / "atom.xml"))
    assert set(atom.xpath("//*[local-name()='link'][@rel='enclosure']/@href")) == {GOOD_ATTACHMENT}

    number = store.get_release(dangerous["javascript"]).number
    report = _last_error(store)
    for field in ("source_url", "attachments.0.url", "contact.email"):
        assert f"release {number}: {field}: " in report
    capsys.readouterr()
    main([*options, "check"])
    out = capsys.readouterr().out
    assert f"FAIL  release {number}: source_url: must be an absolute http:// or https:// URL" in out
    assert f"FAIL  release {number}: attachments.0.url: must be an absolute http:// or https:// URL" in out
    assert f"FAIL  release {number}: contact.email: " in out


def _texts(message: EmailMessage) -> str:
    parts = [message.get_body(("plain",)), message.get_body(("html",))]
    return "\n".join(part.get_content() for part in parts if part is not None)


def test_mail_and_the_admin_api_leave_the_links_out_too(
    dangerous: dict[str, int],
    settings: Settings,
    store: Store,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("NEWSROOM_SMTP__PORT", str(smtp_server.port))
    options = ["--database", str(settings.database), "--public-dir", str(settings.public_dir)]
    assert main([*options, "subscriber", "add", "ania@gazeta.example.pl"]) == 0
    assert main([*options, "build"]) == 0
    assert main([*options, "outbox", "send"]) == 0
    messages = smtp_server.messages()
    assert len(messages) == len(DANGEROUS)
    for message in messages:
        body = _texts(message).lower()
        assert [needle for needle in NEEDLES if needle in body] == []
        assert GOOD_ATTACHMENT in body

    with serve(create_app(settings)) as running:
        answer = httpx.get(
            f"{running.url}/api/releases/{dangerous['data']}",
            headers={"authorization": f"Bearer {settings.admin_token.get_secret_value()}"},  # type: ignore[union-attr]
        )
    assert answer.status_code == 200
    document = answer.json()
    assert document["source_url"] is None
    assert [attachment["url"] for attachment in document["attachments"]] == [GOOD_ATTACHMENT]
    assert document["contact"]["email"] is None


# -- one bad row never stops a build ------------------------------------------------------------------


@pytest.fixture
def broken(settings: Settings, store: Store) -> dict[str, int]:
    """The sample newsroom plus rows no writer may store, each by another program with plain SQL."""
    sample_newsroom(store)
    rows = {
        "long slug": _outside(
            settings, "INSERT INTO releases (title, slug) VALUES ('Długi adres', ?)", "a" * 300
        ),
        "path in the slug": _outside(
            settings, "INSERT INTO releases (title, slug) VALUES ('Wyjście z katalogu', '../../../poza')"
        ),
        "long title": _outside(settings, "INSERT INTO releases (title) VALUES (?)", "Tytuł " * 80),
        "title not text": _outside(settings, "INSERT INTO releases (title) VALUES (X'00ff00')"),
        "not UTF-8": _outside(
            settings,
            "INSERT INTO releases (uid, number, slug, title, body_html, published_at, created_at, "
            "updated_at) VALUES ('tag:cms.example.pl,2026:1', '900/2026', 'z-cms', "
            "CAST(X'4b6f6dff' AS TEXT), '', '2026-11-26T08:00:00Z', '2026-11-26T08:00:00Z', "
            "'2026-11-26T08:00:00Z')",
        ),
        "attachment size not a number": _outside(
            settings, "INSERT INTO releases (title) VALUES ('Z załącznikiem bez rozmiaru')"
        ),
        "in a long category": _outside(
            settings, "INSERT INTO releases (title) VALUES ('W długiej kategorii')"
        ),
        "good": _outside(settings, "INSERT INTO releases (title) VALUES ('Dobry komunikat z CMS')"),
    }
    _outside(
        settings,
        "INSERT INTO attachments (release_id, url, title, mime_type, length) "
        "VALUES (?, 'https://example.pl/a.pdf', 'A', 'application/pdf', 'duży')",
        rows["attachment size not a number"],
    )
    rows["category with a long slug"] = category = _outside(
        settings, "INSERT INTO categories (slug, name) VALUES (?, 'Długa')", "k" * 300
    )
    rows["category with a bad slug"] = bad_category = _outside(
        settings, "INSERT INTO categories (slug, name) VALUES ('Zła/Kategoria', 'Zła')"
    )
    for category_id in (category, bad_category):
        _outside(
            settings,
            "INSERT INTO release_categories (release_id, category_id) VALUES (?, ?)",
            rows["in a long category"],
            category_id,
        )
    return rows


HELD = ("long slug", "path in the slug", "long title", "title not text", "not UTF-8")
PUBLISHED = {
    "attachment size not a number": "Z załącznikiem bez rozmiaru",
    "in a long category": "W długiej kategorii",
    "good": "Dobry komunikat z CMS",
}


def test_one_bad_row_never_stops_a_build_and_every_other_release_is_published(
    broken: dict[str, int],
    settings: Settings,
    store: Store,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    smtp_server: SmtpServer,
) -> None:
    report = planner.build(store, settings, NOW)
    public = settings.public_dir
    for name in ("rss.xml", "atom.xml", "feed.json"):
        titles = entry_titles(public / "feeds" / name)
        assert set(titles) == {VISIBLE_TITLE, "Nowy rozkład jazdy tramwajów w Łodzi", *PUBLISHED.values()}
    assert set(report.newly_visible).isdisjoint(broken[name] for name in HELD)
    # Nothing was written outside the public directory, nor under a name made of the bad slugs.
    assert not (tmp_path / "poza").exists() and not (settings.public_dir.parent / "poza").exists()
    assert sorted(path.name for path in (public / "releases").iterdir()) == sorted(
        ["zlote-lajki-2026-wreczone", "nowy-rozklad-jazdy-tramwajow-w-lodzi", "z-zalacznikiem-bez-rozmiaru",
         "w-dlugiej-kategorii", "dobry-komunikat-z-cms"]
    )  # fmt: skip
    assert not any("kkkk" in str(path) or "Zła" in str(path) for path in public.rglob("*"))
    page = (public / "releases" / "w-dlugiej-kategorii" / "index.html").read_text(encoding="utf-8")
    assert "Długa" not in page and "Zła" not in page
    page = (public / "releases" / "z-zalacznikiem-bez-rozmiaru" / "index.html").read_text(encoding="utf-8")
    assert "a.pdf" not in page

    numbers = {name: store.get_release(broken[name]).number for name in HELD if name != "not UTF-8"}
    numbers["not UTF-8"] = "900/2026"
    expected = [
        f"release {numbers['long slug']}: slug: must be at most 80 characters, got 300 (held back)",
        f"release {numbers['path in the slug']}: slug: must be lowercase letters and digits",
        f"release {numbers['long title']}: title: must be at most 300 characters, got 480 (held back)",
        f"release {numbers['title not text']}: title: is not text (held back)",
        "release 900/2026: title: is not UTF-8 text (held back)",
        "attachments.0.length: must be a whole number of bytes",
        f"category id {broken['category with a long slug']}: slug: must be at most 80 characters, got 300",
        f"category id {broken['category with a bad slug']}: slug: must be lowercase letters and digits",
    ]
    last_error = _last_error(store)
    assert [line for line in expected if line not in last_error] == []
    with serve(create_app(settings)) as running:
        health = httpx.get(f"{running.url}/healthz").json()
    assert health["status"] == "degraded"
    assert [line for line in expected if line not in health["last_error"]] == []

    monkeypatch.setenv("NEWSROOM_SMTP__PORT", str(smtp_server.port))
    assert main(["--database", str(settings.database), "check"]) == 1
    out = capsys.readouterr().out
    for name in HELD:
        assert f"FAIL  release {numbers[name]}: " in out, name
    assert "held back from every output" in out
    # The operator's own views still read every other row, and say which one they cannot.
    assert main(["--database", str(settings.database), "release", "list"]) == 0
    assert main(["--database", str(settings.database), "release", "show", "900/2026"]) == 1
    unreadable = f"release id {broken['not UTF-8']} cannot be read: title: is not UTF-8 text"
    assert unreadable in capsys.readouterr().err

    # The writer fixes a row (a NULL slug is minted anew): the next build publishes it, the report forgets it.
    _outside(settings, "UPDATE releases SET slug = NULL WHERE id = ?", broken["long slug"])
    planner.build(store, settings, NOW + timedelta(minutes=1))
    assert "Długi adres" in entry_titles(public / "feeds" / "atom.xml")
    assert (public / "releases" / "dlugi-adres" / "index.html").exists()
    assert f"release {numbers['long slug']}:" not in _last_error(store)


def test_a_published_release_an_outside_writer_breaks_leaves_every_output_until_it_is_fixed(
    store: Store, settings: Settings
) -> None:
    sample_newsroom(store)
    planner.build(store, settings, NOW)
    release = store.get_release("zlote-lajki-2026-wreczone")
    page = settings.public_dir / "releases" / release.slug / "index.html"
    assert page.exists()
    _outside(settings, "UPDATE releases SET summary = ? WHERE id = ?", "Za długie. " * 300, release.id)
    report = planner.build(store, settings, NOW + timedelta(minutes=1))
    assert not report.full
    assert not page.exists()
    for name in ("rss.xml", "atom.xml", "feed.json"):
        assert VISIBLE_TITLE not in entry_titles(settings.public_dir / "feeds" / name)
    assert f"release {release.number}: summary: must be at most 2000 characters" in _last_error(store)

    store.update_release(release.number, {"summary": "Krótko."}, NOW + timedelta(minutes=2))
    planner.build(store, settings, NOW + timedelta(minutes=2))
    assert page.exists()
    assert VISIBLE_TITLE in entry_titles(settings.public_dir / "feeds" / "atom.xml")
    assert _last_error(store) == ""


@pytest.fixture
def thousand(settings: Settings, store: Store) -> Iterator[Store]:
    """1,000 complete releases written by another program in one transaction."""
    moment = "2026-11-20T09:00:00Z"
    rows = [
        (n, f"tag:cms.example.pl,2026:{n}", f"{n}/2026", f"komunikat-{n}", f"Komunikat {n}", "<p>Treść</p>")
        for n in range(1, 1_001)
    ]
    outside = sqlite3.connect(settings.database)
    with outside:
        outside.executemany(
            "INSERT INTO releases (id, uid, number, slug, title, body_html, published_at, created_at, "
            f"updated_at) VALUES (?, ?, ?, ?, ?, ?, '{moment}', '{moment}', '{moment}')",
            rows,
        )
    outside.close()
    yield store


def test_finding_what_outside_writers_broke_rereads_only_what_changed(
    thousand: Store, settings: Settings
) -> None:
    """Builds ask on every change: after the first scan of a store, one edit costs reading that one
    release again, and no change at all costs one pragma."""
    store = thousand
    assert store.flaws() == []
    _outside(settings, "UPDATE releases SET source_url = 'javascript:alert(1)' WHERE id = 432")
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    try:
        [flaw] = store.flaws()
        after_the_edit = list(statements)
        statements.clear()
        assert store.flaws() == [flaw]
    finally:
        store.conn.set_trace_callback(None)
    assert str(flaw) == "release 432/2026: source_url: must be an absolute http:// or https:// URL (left out)"
    read = [sql for sql in after_the_edit if "FROM releases" in sql or "FROM attachments" in sql]
    assert len(read) == 2 and all(sql.endswith("IN (432) ORDER BY id") or "IN (432)" in sql for sql in read)
    assert statements == ["PRAGMA data_version"]


def test_a_row_that_cannot_be_completed_stays_unpublished_and_the_others_are_completed(
    store: Store, settings: Settings
) -> None:
    """The uid minted for a row is once an outside writer's: that row waits, reported; the build goes on."""
    _outside(
        settings,
        "INSERT INTO releases (id, title, uid) VALUES (1, 'Pierwszy z CMS', ?)",
        f"tag:{settings.domain},2026:release/2",
    )
    _outside(settings, "INSERT INTO releases (id, title) VALUES (2, 'Drugi z CMS')")
    _outside(settings, "INSERT INTO releases (id, title) VALUES (3, 'Trzeci z CMS')")
    planner.build(store, settings, NOW)
    titles = entry_titles(settings.public_dir / "feeds" / "rss.xml")
    assert sorted(titles) == ["Pierwszy z CMS", "Trzeci z CMS"]
    reported = "release id 2: uid: cannot be completed: UNIQUE constraint failed: releases.uid"
    assert reported in _last_error(store)
