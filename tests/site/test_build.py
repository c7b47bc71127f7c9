"""The build: only what changed is rewritten, embargoes and retractions hold in every file, and a second
build with nothing new writes nothing."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from newsroom_feed import cli, planner
from newsroom_feed.models import ReleaseInput
from newsroom_feed.settings import Settings
from newsroom_feed.site.publisher import Publisher, PublishError
from newsroom_feed.store import database as store_module
from newsroom_feed.store.database import Store

from ..conftest import NOW
from .test_feeds import EMBARGOED_TITLE, SCHEDULED_TITLE, add_release, entry_titles, sample_newsroom

#: When the sample embargo lifts: 27 November 2026, 08:00 in Warsaw.
EMBARGO_LIFTS = NOW.replace(day=27, hour=7, minute=0)


def _snapshot(public: Path) -> dict[str, tuple[int, bytes]]:
    """Every file of the public directory with its mtime in nanoseconds and its bytes."""
    return {
        path.relative_to(public).as_posix(): (path.stat().st_mtime_ns, path.read_bytes())
        for path in sorted(public.rglob("*"))
        if path.is_file()
    }


def _mentions(public: Path, *needles: str) -> list[str]:
    """Files of the public directory that mention any needle, as text or JSON-escaped."""
    found = []
    for path, (_, data) in _snapshot(public).items():
        text = data.decode("utf-8")
        if any(needle in text or json.dumps(needle)[1:-1] in text for needle in needles):
            found.append(path)
    return found


@pytest.fixture
def built(store: Store, settings: Settings) -> planner.BuildReport:
    sample_newsroom(store)
    return planner.build(store, settings, NOW)


def test_first_build_writes_every_output_and_announces_visible_releases(
    built: planner.BuildReport, store: Store
) -> None:
    assert built.full
    assert set(built.written) >= {
        "index.html",
        "assets/style.css",
        "feeds/rss.xml",
        "feeds/atom.xml",
        "feeds/feed.json",
        "feeds/transport/rss.xml",
        "categories/transport/index.html",
        "releases/zlote-lajki-2026-wreczone/index.html",
        "releases/nowy-rozklad-jazdy-tramwajow-w-lodzi/index.html",
    }
    assert "https://prasa.example.pl/feeds/atom.xml" in built.changed_feeds
    visible = {
        store.get_release(slug).id
        for slug in ("zlote-lajki-2026-wreczone", "nowy-rozklad-jazdy-tramwajow-w-lodzi")
    }
    assert set(built.newly_visible) == visible


def test_second_build_with_nothing_new_rewrites_nothing(
    built: planner.BuildReport, store: Store, settings: Settings
) -> None:
    before = _snapshot(settings.public_dir)
    again = planner.build(store, settings, NOW + timedelta(minutes=5))
    assert (again.written, again.removed, again.changed_feeds, again.newly_visible) == ((), (), (), ())
    assert not again.full
    forced = planner.build(store, settings, NOW + timedelta(minutes=6), full=True)
    assert forced.full and forced.written == () and forced.removed == ()
    assert _snapshot(settings.public_dir) == before


def test_embargoed_and_scheduled_releases_are_absent_from_every_output(
    built: planner.BuildReport, settings: Settings
) -> None:
    assert (
        _mentions(settings.public_dir, EMBARGOED_TITLE, "fuzja-gmin", "fuzje", SCHEDULED_TITLE, "smog") == []
    )
    index = (settings.public_dir / "index.html").read_text(encoding="utf-8")
    assert 'informacje-prasowe</a> <span class="count">(1)</span>' in index


def test_embargoed_release_appears_everywhere_once_the_embargo_lifts(
    built: planner.BuildReport, store: Store, settings: Settings
) -> None:
    before = planner.build(store, settings, EMBARGO_LIFTS - timedelta(seconds=1))
    assert before.written == () and before.newly_visible == ()
    lifted = planner.build(store, settings, EMBARGO_LIFTS)
    release = store.get_release("fuzja-gmin-zolkiewka-i-leczna-porozumienie")
    assert lifted.newly_visible == (release.id,)
    assert set(lifted.written) == {
        "index.html",
        "releases/fuzja-gmin-zolkiewka-i-leczna-porozumienie/index.html",
        "categories/fuzje/index.html",
        "categories/informacje-prasowe/index.html",
        *(f"feeds/{name}" for name in ("rss.xml", "atom.xml", "feed.json")),
        *(f"feeds/fuzje/{name}" for name in ("rss.xml", "atom.xml", "feed.json")),
        *(f"feeds/informacje-prasowe/{name}" for name in ("rss.xml", "atom.xml", "feed.json")),
        "feeds/fuzje/events.ics",  # the new category's calendar, empty: no release of it announces an event
    }
    assert "https://prasa.example.pl/feeds/fuzje/rss.xml" in lifted.changed_feeds
    public = settings.public_dir
    assert entry_titles(public / "feeds" / "atom.xml")[0] == EMBARGOED_TITLE
    assert entry_titles(public / "feeds" / "fuzje" / "feed.json") == [EMBARGOED_TITLE]
    assert SCHEDULED_TITLE not in (public / "index.html").read_text(encoding="utf-8")


def test_retraction_removes_a_release_from_every_output(
    built: planner.BuildReport, store: Store, settings: Settings
) -> None:
    store.retract_release("nowy-rozklad-jazdy-tramwajow-w-lodzi", NOW + timedelta(hours=1))
    report = planner.build(store, settings, NOW + timedelta(hours=1))
    assert set(report.removed) == {
        "releases/nowy-rozklad-jazdy-tramwajow-w-lodzi/index.html",
        "categories/transport/index.html",
        "feeds/transport/rss.xml",
        "feeds/transport/atom.xml",
        "feeds/transport/feed.json",
        "feeds/transport/events.ics",
    }
    assert "https://prasa.example.pl/feeds/transport/rss.xml" in report.changed_feeds
    assert _mentions(settings.public_dir, "Nowy rozkład jazdy", "nowy-rozklad", "transport") == []
    assert not (settings.public_dir / "releases" / "nowy-rozklad-jazdy-tramwajow-w-lodzi").exists()


def test_one_new_release_rewrites_only_what_shows_it(
    built: planner.BuildReport, store: Store, settings: Settings
) -> None:
    before = _snapshot(settings.public_dir)
    later = NOW + timedelta(hours=2)
    add_release(store, later, title="Dzień Samorządu w Gnieźnie", categories=["nagrody"])
    report = planner.build(store, settings, later)
    expected = {
        "index.html",
        "releases/dzien-samorzadu-w-gnieznie/index.html",
        "categories/nagrody/index.html",
        *(f"feeds/{name}" for name in ("rss.xml", "atom.xml", "feed.json")),
        *(f"feeds/nagrody/{name}" for name in ("rss.xml", "atom.xml", "feed.json")),
    }
    assert not report.full
    assert set(report.written) == expected and report.removed == ()
    after = _snapshot(settings.public_dir)
    untouched = {path for path in before if before[path] == after[path]}
    assert untouched == set(before) - expected


def test_corrected_release_keeps_its_id_and_bumps_updated(
    built: planner.BuildReport, store: Store, settings: Settings
) -> None:
    later = NOW + timedelta(hours=3)
    release = store.update_release(
        "zlote-lajki-2026-wreczone", {"title": "Złote Lajki 2026 – laureaci"}, later
    )
    report = planner.build(store, settings, later)
    assert "releases/zlote-lajki-2026-wreczone/index.html" in report.written
    atom = (settings.public_dir / "feeds" / "atom.xml").read_text(encoding="utf-8")
    assert atom.count(release.uid) == 1
    assert "<updated>2026-11-26T12:30:00+00:00</updated>" in atom
    assert "<published>2026-11-26T09:30:00+00:00</published>" in atom
    page = (settings.public_dir / "releases/zlote-lajki-2026-wreczone/index.html").read_text(encoding="utf-8")
    assert "zaktualizowano" in page


def test_release_written_by_another_process_with_plain_sql_is_published(
    built: planner.BuildReport, store: Store, settings: Settings
) -> None:
    outside = sqlite3.connect(settings.database)
    with outside:
        outside.execute("INSERT INTO releases (title) VALUES ('Komunikat z systemu CMS')")
    outside.close()
    report = planner.build(store, settings, NOW + timedelta(minutes=1))
    assert "feeds/rss.xml" in report.written
    assert any(path.startswith("releases/komunikat-z-systemu-cms") for path in report.written)
    assert entry_titles(settings.public_dir / "feeds" / "rss.xml")[0] == "Komunikat z systemu CMS"


def test_a_wiped_public_directory_is_rebuilt_in_full(
    built: planner.BuildReport, store: Store, settings: Settings
) -> None:
    feed = settings.public_dir / "feeds" / "rss.xml"
    before = feed.read_bytes()
    feed.unlink()
    report = planner.build(store, settings, NOW + timedelta(minutes=1))
    assert report.full and report.written == ("feeds/rss.xml",)
    assert feed.read_bytes() == before, "the same store gives back the same feed bytes"


def test_full_build_removes_files_no_release_explains(
    built: planner.BuildReport, store: Store, settings: Settings
) -> None:
    stray = settings.public_dir / "releases" / "usuniety" / "index.html"
    stray.parent.mkdir(parents=True)
    stray.write_text("stary", encoding="utf-8")
    keep = settings.public_dir / "robots.txt"
    keep.write_text("User-agent: *\n", encoding="utf-8")
    report = planner.build(store, settings, NOW, full=True)
    assert report.removed == ("releases/usuniety/index.html",)
    assert not stray.parent.exists() and keep.exists()


def test_build_command_prints_what_changed(
    store: Store, settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sample_newsroom(store)
    monkeypatch.setenv("NEWSROOM_BASE_URL", settings.base_url)
    options = ["--database", str(settings.database), "--public-dir", str(settings.public_dir)]
    assert cli.main([*options, "build", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["full"] is True and "feeds/atom.xml" in report["written"]
    assert cli.main([*options, "build"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "0 written, 0 removed" in captured.err


def test_moving_a_release_to_another_category_updates_both(
    built: planner.BuildReport, store: Store, settings: Settings
) -> None:
    later = NOW + timedelta(hours=1)
    store.update_release("nowy-rozklad-jazdy-tramwajow-w-lodzi", {"categories": ["nagrody"]}, later)
    report = planner.build(store, settings, later)
    assert "categories/transport/index.html" in report.removed
    assert "feeds/nagrody/atom.xml" in report.written
    assert entry_titles(settings.public_dir / "feeds" / "nagrody" / "rss.xml") == [
        "Złote Lajki 2026 wręczone",
        "Nowy rozkład jazdy tramwajów w Łodzi",
    ]


def test_publisher_refuses_paths_outside_the_public_directory(tmp_path: Path) -> None:
    publisher = Publisher(tmp_path / "public")
    for path in ("../escape.html", "/etc/passwd", "feeds/../../x", ""):
        with pytest.raises(PublishError):
            publisher.publish({path: b"x"})
    assert list(tmp_path.iterdir()) == []


def test_a_store_at_schema_1_migrates_on_open_and_keeps_its_releases(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:1])
    with Store(settings.database, settings.domain, zone=settings.zone) as old:
        assert old.schema_version == 1
        # Written as the program of schema 1 wrote them: its columns only.
        for number in (1, 2):
            old.conn.execute(
                "INSERT INTO releases (id, uid, number, slug, title, body_markdown, body_html, published_at,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, '', '', ?, ?, ?)",
                (number, f"tag:t,2026:release/{number}", f"{number}/2026", f"r-{number}",
                 f"Komunikat {number}", *["2026-11-20T10:00:00Z"] * 3),
            )  # fmt: skip
        old.conn.execute(
            "INSERT INTO attachments (release_id, url, title, mime_type, length) "
            "VALUES (2, 'https://example.pl/a.pdf', 'Komunikat (PDF)', 'application/pdf', 1234)"
        )
    monkeypatch.undo()
    with Store(settings.database, settings.domain, zone=settings.zone) as current:
        assert current.schema_version == len(store_module.MIGRATIONS) > 1
        assert sorted(release.uid for release in current.list_releases(now=NOW)) == [
            "tag:t,2026:release/1",
            "tag:t,2026:release/2",
        ]
        assert current.get_release(2).attachments[0].to_document() == {
            "url": "https://example.pl/a.pdf",
            "title": "Komunikat (PDF)",
            "mime_type": "application/pdf",
            "length": 1234,
        }
        report = planner.build(current, settings, NOW)
    assert report.full and "feeds/rss.xml" in report.written


def test_the_checks_of_a_build_with_nothing_changed_read_only_their_partial_indexes(store: Store) -> None:
    """Finding rows to complete and releases to announce must not scan 10,000 releases every build."""
    plans = {
        "releases_incomplete": "SELECT id, title, body_markdown, published_at, embargo_until, created_at "
        f"FROM releases WHERE {store_module._INCOMPLETE}",
        "releases_unannounced": "SELECT id FROM releases WHERE announced_at IS NULL AND retracted_at IS NULL "
        "AND uid IS NOT NULL AND visible_at <= '2026-11-26T09:30:00Z' "
        f"AND {store_module._readable_times('')} ORDER BY visible_at, id",
        "releases_visible": "SELECT id, number FROM releases WHERE retracted_at IS NULL "
        "AND visible_at >= '9999-01-01T00:00:00Z' ORDER BY visible_at DESC, id DESC",
    }
    for index, sql in plans.items():
        plan = " ".join(row[3] for row in store.conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
        assert f"USING INDEX {index}" in plan, plan


def _outside_write(settings: Settings, sql: str, *params: object) -> None:
    """A write by another process with plain SQL, as a CMS would make it."""
    outside = sqlite3.connect(settings.database)
    with outside:
        outside.execute(sql, params)
    outside.close()


#: Times an outside writer may store in another form than the store's, and the moment each one means
#: (a time without an offset is UTC, as every time in the store): (column, title, text, moment).
OUTSIDE_TIMES = {
    "space-separated embargo": ("embargo_until", EMBARGOED_TITLE, "2026-11-26 23:59:00", "2026-11-26T23:59Z"),
    "embargo with offset": ("embargo_until", EMBARGOED_TITLE, "2026-11-27T00:59+01:00", "2026-11-26T23:59Z"),
    "embargo behind UTC": ("embargo_until", EMBARGOED_TITLE, "2026-11-26T18:59-05:00", "2026-11-26T23:59Z"),
    "date-only embargo": ("embargo_until", EMBARGOED_TITLE, "2026-11-27", "2026-11-27T00:00Z"),
    "space-separated publication": ("published_at", SCHEDULED_TITLE, "2026-11-26 23:59", "2026-11-26T23:59Z"),
}


@pytest.mark.parametrize(("column", "title", "text", "moment"), OUTSIDE_TIMES.values(), ids=OUTSIDE_TIMES)
def test_a_time_an_outside_writer_stores_in_another_form_never_shows_a_release_early(
    built: planner.BuildReport,
    store: Store,
    settings: Settings,
    column: str,
    title: str,
    text: str,
    moment: str,
) -> None:
    """Text order is time order only in the store's form: ``2026-11-26 23:59:00`` sorts before any
    ``2026-11-26T…`` and would lift the embargo at once."""
    release = next(release for release in store.list_releases(now=NOW) if release.title == title)
    _outside_write(settings, f"UPDATE releases SET {column} = ? WHERE id = ?", text, release.id)
    lifts = datetime.fromisoformat(moment)
    for before in (NOW + timedelta(minutes=1), lifts - timedelta(hours=5), lifts - timedelta(seconds=1)):
        report = planner.build(store, settings, before)
        assert _mentions(settings.public_dir, title) == [], before
        assert release.id not in report.newly_visible
    assert getattr(store.get_release(release.id), column) == lifts
    lifted = planner.build(store, settings, lifts)
    assert lifted.newly_visible == (release.id,)
    for name in ("rss.xml", "atom.xml", "feed.json"):
        assert title in entry_titles(settings.public_dir / "feeds" / name)
    assert (settings.public_dir / "releases" / release.slug / "index.html").exists()
    again = planner.build(store, settings, lifts)
    assert (again.written, again.removed) == ((), ())


def _last_error(store: Store) -> str | None:
    row = store.conn.execute("SELECT last_error FROM build_state WHERE id = 1").fetchone()
    return None if row[0] is None else str(row[0])


def test_an_unreadable_embargo_holds_the_release_back_until_the_operator_sets_one(
    built: planner.BuildReport, store: Store, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """``1 grudnia`` sorts before every publication time: as text it would lift the embargo at once."""
    release = store.get_release("fuzja-gmin-zolkiewka-i-leczna-porozumienie")
    _outside_write(settings, "UPDATE releases SET embargo_until = '1 grudnia' WHERE id = ?", release.id)
    for moment in (NOW + timedelta(minutes=1), EMBARGO_LIFTS):
        planner.build(store, settings, moment)
        assert _mentions(settings.public_dir, EMBARGOED_TITLE) == [], moment
    assert release.id not in store.visible_ids(NOW + timedelta(days=3650))
    assert "'1 grudnia' is not a time" in caplog.text
    assert f"{release.number}; set it with newsroom-feed release update" in (_last_error(store) or "")
    held = store.get_release(release.id)
    assert (held.uid, held.number, held.slug) == (release.uid, release.number, release.slug)

    later = EMBARGO_LIFTS + timedelta(hours=1)
    store.update_release(release.id, {"embargo_until": "2026-11-28T10:00:00+01:00"}, later)
    planner.build(store, settings, later)
    assert _mentions(settings.public_dir, EMBARGOED_TITLE) == []
    assert _last_error(store) is None
    planner.build(store, settings, NOW.replace(day=28, hour=9))
    assert entry_titles(settings.public_dir / "feeds" / "atom.xml")[0] == EMBARGOED_TITLE


def test_a_new_row_with_an_unreadable_publication_time_is_completed_but_held_back(
    built: planner.BuildReport, store: Store, settings: Settings
) -> None:
    _outside_write(settings, "INSERT INTO releases (title, published_at) VALUES ('Komunikat z CMS', 'jutro')")
    planner.build(store, settings, NOW + timedelta(minutes=1))
    assert _mentions(settings.public_dir, "Komunikat z CMS", "komunikat-z-cms") == []
    release = store.get_release("komunikat-z-cms")
    assert release.uid is not None and release.number is not None and release.number.endswith("/2026")
    assert release.number in (_last_error(store) or "")


def test_an_unreadable_retraction_time_retracts_the_release(
    built: planner.BuildReport, store: Store, settings: Settings
) -> None:
    later = NOW + timedelta(minutes=1)
    _outside_write(
        settings, "UPDATE releases SET retracted_at = 'tak' WHERE slug = 'zlote-lajki-2026-wreczone'"
    )
    planner.build(store, settings, later)
    assert store.get_release("zlote-lajki-2026-wreczone").retracted_at == later
    assert _mentions(settings.public_dir, "zlote-lajki-2026-wreczone") == []


def test_a_new_base_url_rebuilds_every_output_with_the_new_links(
    built: planner.BuildReport, store: Store, settings: Settings
) -> None:
    moved = settings.model_copy(update={"base_url": "https://media.example.pl"})
    report = planner.build(store, moved, NOW + timedelta(minutes=1))
    assert report.full
    assert _mentions(settings.public_dir, "https://prasa.example.pl") == []
    for feed in (settings.public_dir / "feeds").rglob("atom.xml"):
        self_link = (
            f'href="https://media.example.pl/{feed.relative_to(settings.public_dir).as_posix()}" rel="self"'
        )
        assert self_link in feed.read_text(encoding="utf-8"), feed
    again = planner.build(store, moved, NOW + timedelta(minutes=2))
    assert not again.full and (again.written, again.removed) == ((), ())


def test_a_new_feed_title_or_hub_rebuilds_every_feed(
    built: planner.BuildReport, store: Store, settings: Settings
) -> None:
    retitled = settings.model_copy(
        update={"feed": settings.feed.model_copy(update={"title": "Komunikaty ZMP"})}
    )
    report = planner.build(store, retitled, NOW + timedelta(minutes=1))
    assert report.full and "feeds/transport/atom.xml" in report.written
    hubs = retitled.model_copy(
        update={"websub": retitled.websub.model_copy(update={"hubs": ["https://hub.example.pl/"]})}
    )
    report = planner.build(store, hubs, NOW + timedelta(minutes=2))
    assert report.full and "https://hub.example.pl/" in (
        settings.public_dir / "feeds" / "atom.xml"
    ).read_text("utf-8")


# -- what an outside writer stores never stops publishing nor reaches the outputs uncleaned ---------


def _every_output(public: Path) -> str:
    return "\n".join(data.decode("utf-8") for _, data in _snapshot(public).values())


def test_a_control_character_from_an_outside_writer_is_dropped_and_publishing_goes_on(
    built: planner.BuildReport, store: Store, settings: Settings
) -> None:
    _outside_write(
        settings,
        "INSERT INTO releases (title, summary, body_markdown, contact_name) VALUES "
        "('Komunikat' || char(0) || ' z CMS', 'Krótko' || char(8), 'Treść' || char(27), 'Biuro' || char(1))",
    )
    _outside_write(settings, "INSERT INTO categories (slug, name) VALUES ('cms', 'Z' || char(0) || ' CMS')")
    _outside_write(
        settings,
        "INSERT INTO release_categories (release_id, category_id) "
        "SELECT max(r.id), c.id FROM releases r, categories c WHERE c.slug = 'cms'",
    )
    planner.build(store, settings, NOW + timedelta(minutes=1))
    assert _last_error(store) is None
    for name in ("rss.xml", "atom.xml", "feed.json"):
        assert entry_titles(settings.public_dir / "feeds" / name)[0] == "Komunikat z CMS"
        assert entry_titles(settings.public_dir / "feeds" / "cms" / name) == ["Komunikat z CMS"]
    outputs = _every_output(settings.public_dir)
    assert "Krótko" in outputs and "Z CMS" in outputs
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f]|\\\\u00[01]", outputs)
    # A complete row edited with plain SQL after completion stops nothing either.
    _outside_write(settings, "UPDATE releases SET title = 'Znowu' || char(0) WHERE slug = 'komunikat-z-cms'")
    store.add_release(ReleaseInput.parse({"title": "Następny komunikat"}), NOW + timedelta(minutes=2))
    planner.build(store, settings, NOW + timedelta(minutes=3))
    assert _last_error(store) is None
    assert entry_titles(settings.public_dir / "feeds" / "rss.xml")[:2] == ["Następny komunikat", "Znowu"]


def test_script_an_outside_writer_puts_into_body_html_never_reaches_a_page_or_feed(
    built: planner.BuildReport, store: Store, settings: Settings
) -> None:
    evil = '<p onmouseover="alert(1)">Z CMS<script>alert(2)</script><img src="x" onerror="alert(3)"></p>'
    _outside_write(settings, "INSERT INTO releases (title, body_html) VALUES ('Komunikat HTML', ?)", evil)
    planner.build(store, settings, NOW + timedelta(minutes=1))
    page = (settings.public_dir / "releases/komunikat-html/index.html").read_text(encoding="utf-8")
    assert "<p>Z CMS</p>" in page
    # Then only the HTML of a complete row, which no completion looks at again.
    visible = store.get_release("zlote-lajki-2026-wreczone")
    _outside_write(settings, "UPDATE releases SET body_html = ? WHERE id = ?", evil, visible.id)
    planner.build(store, settings, NOW + timedelta(minutes=2))
    page = (settings.public_dir / "releases/zlote-lajki-2026-wreczone/index.html").read_text(encoding="utf-8")
    assert "<p>Z CMS</p>" in page
    # Every page has one script element: its JSON-LD data (`site.structured_data`), which runs nothing.
    assert _mentions(settings.public_dir, "alert(", "onerror", "onmouseover", "<script>", "&lt;script") == []


def test_markdown_edited_with_plain_sql_shows_in_the_page_and_feeds_after_the_next_build(
    built: planner.BuildReport, store: Store, settings: Settings
) -> None:
    release = store.get_release("zlote-lajki-2026-wreczone")
    _outside_write(
        settings, "UPDATE releases SET body_markdown = 'Poprawiona **treść** z CMS' WHERE id = ?", release.id
    )
    report = planner.build(store, settings, NOW + timedelta(minutes=1))
    assert "releases/zlote-lajki-2026-wreczone/index.html" in report.written
    new_html = "<p>Poprawiona <strong>treść</strong> z CMS</p>"
    page = (settings.public_dir / "releases/zlote-lajki-2026-wreczone/index.html").read_text(encoding="utf-8")
    assert new_html in page
    for name in ("rss.xml", "atom.xml", "feed.json"):
        assert "Poprawiona" in (settings.public_dir / "feeds" / name).read_text(encoding="utf-8")
    assert "Poprawiona" in (settings.public_dir / "feeds" / "feed.json").read_text(encoding="utf-8")
    parsed = json.loads((settings.public_dir / "feeds" / "feed.json").read_text(encoding="utf-8"))
    assert new_html in [item["content_html"] for item in parsed["items"]]
    assert store.get_release(release.id).uid == release.uid


def _index_counts_hold(store: Store, settings: Settings, at: datetime) -> None:
    """The index an incremental build wrote at ``at`` is the one a full build writes, and the counts the
    build kept are every category's visible count."""
    incremental = planner.build(store, settings, at)
    assert not incremental.full
    index = (settings.public_dir / "index.html").read_bytes()
    kept = {category_id: count for category_id, count in store.kept_category_counts().items() if count}
    assert kept == store.count_visible(at)
    assert planner.build(store, settings, at, full=True).full
    assert (settings.public_dir / "index.html").read_bytes() == index


def test_the_index_counts_stay_right_through_incremental_builds(
    built: planner.BuildReport, store: Store, settings: Settings
) -> None:
    """Each incremental build moves only the counts its changes touch: after an addition, a
    retraction, an embargo lifting and a move to another category the index is a full build's."""
    later = NOW + timedelta(hours=1)
    add_release(store, later, title="Dzień Samorządu w Gnieźnie", categories=["nagrody", "transport"])
    _index_counts_hold(store, settings, later)
    later += timedelta(minutes=1)
    store.retract_release("nowy-rozklad-jazdy-tramwajow-w-lodzi", later)
    _index_counts_hold(store, settings, later)
    _index_counts_hold(store, settings, EMBARGO_LIFTS)
    later = EMBARGO_LIFTS + timedelta(minutes=1)
    store.update_release("dzien-samorzadu-w-gnieznie", {"categories": ["fuzje"]}, later)
    _index_counts_hold(store, settings, later)
    index = (settings.public_dir / "index.html").read_text(encoding="utf-8")
    assert "transport" not in index


def test_the_counts_stay_right_when_releases_change_while_a_build_runs(
    built: planner.BuildReport, store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build keeps the visible links it counted, not those in the store when it saves: what another
    process changes in between (a release added, one the build counted retracted) the next build
    counts, once."""
    later = NOW + timedelta(hours=1)
    counted = add_release(store, later, title="Komunikat przed budową", categories=["nagrody"])
    read = store.visible_pairs

    def read_then_add(now: datetime, release_ids: set[int] | None = None) -> list[tuple[int, int]]:
        pairs = read(now, release_ids)
        with Store.for_settings(settings) as other:
            add_release(other, later, title="Komunikat w trakcie budowy", categories=["nagrody", "fuzje"])
            other.retract_release(counted.slug, later)
        return pairs

    monkeypatch.setattr(store, "visible_pairs", read_then_add)
    planner.build(store, settings, later)
    monkeypatch.undo()
    _index_counts_hold(store, settings, later + timedelta(minutes=1))
