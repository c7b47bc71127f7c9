"""The build: only what changed is rewritten, embargoes and retractions hold in every file, and a second
build with nothing new writes nothing."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from newsroom_feed import cli, planner
from newsroom_feed import store as store_module
from newsroom_feed.publisher import Publisher, PublishError
from newsroom_feed.settings import Settings
from newsroom_feed.store import Store

from .conftest import NOW
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
    (settings.public_dir / "feeds" / "rss.xml").unlink()
    report = planner.build(store, settings, NOW + timedelta(minutes=1))
    assert report.full and report.written == ("feeds/rss.xml",)


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
        sample_newsroom(old)
        before = [release.uid for release in old.list_releases(now=NOW)]
    monkeypatch.undo()
    with Store(settings.database, settings.domain, zone=settings.zone) as current:
        assert current.schema_version == len(store_module.MIGRATIONS) > 1
        assert [release.uid for release in current.list_releases(now=NOW)] == before
        report = planner.build(current, settings, NOW)
    assert report.full and "feeds/rss.xml" in report.written


def test_the_checks_of_a_build_with_nothing_changed_read_only_their_partial_indexes(store: Store) -> None:
    """Finding rows to complete and releases to announce must not scan 10,000 releases every build."""
    plans = {
        "releases_incomplete": "SELECT id, title, body_markdown, published_at, embargo_until, created_at "
        f"FROM releases WHERE {store_module._INCOMPLETE}",
        "releases_unannounced": "SELECT id FROM releases WHERE announced_at IS NULL AND retracted_at IS NULL "
        "AND uid IS NOT NULL AND visible_at <= '2026-11-26T09:30:00Z' ORDER BY visible_at, id",
    }
    for index, sql in plans.items():
        plan = " ".join(row[3] for row in store.conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
        assert f"USING INDEX {index}" in plan, plan
