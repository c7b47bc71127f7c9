"""The feeds a feed reader fetches: RSS 2.0, Atom and JSON Feed, checked against golden files, parsed by
feedparser and lxml, for the whole newsroom and per category."""

from __future__ import annotations

import dataclasses
import html
import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from lxml import etree

from newsroom_feed import planner
from newsroom_feed.models import Category, Release, ReleaseInput
from newsroom_feed.settings import Settings, load_settings
from newsroom_feed.site import atom, feeds, jsonfeed, layout, rss
from newsroom_feed.store.database import Store

from ..conftest import NOW, make_settings

GOLDEN = Path(__file__).parents[1] / "golden"
ATOM = "{http://www.w3.org/2005/Atom}"
HUB = "https://pubsubhubbub.appspot.com/"

#: What the tests publish: two visible releases, one under embargo, one scheduled for later.
VISIBLE_TITLE = "Złote Lajki 2026 wręczone"
EMBARGOED_TITLE = "Fuzja gmin Żółkiewka i Łęczna – porozumienie"
SCHEDULED_TITLE = "Zapowiedź konferencji o smogu"


def add_release(store: Store, created: datetime, **document: Any) -> Release:
    """Store a release document as the CLI would, created at ``created``."""
    return store.add_release(ReleaseInput.parse(document, store.zone), created)


def sample_newsroom(store: Store) -> dict[str, Release]:
    """The fixed newsroom of these tests, as seen at NOW (26 November 2026, 10:30 in Warsaw)."""
    created = NOW - timedelta(days=2)
    return {
        "lajki": add_release(
            store,
            created,
            title=VISIBLE_TITLE,
            summary="Rada Programowa nagrodziła gminy za komunikację – gęślą jaźń, żółć.",
            body="Nagrody wręczono w **Poznaniu**.\n\n[Regulamin](https://example.pl/regulamin?a=1&b=2)",
            categories=["informacje-prasowe", "nagrody"],
            attachments=[
                {
                    "url": "https://example.pl/files/komunikat.pdf",
                    "title": "Komunikat (PDF)",
                    "mime_type": "application/pdf",
                    "length": 183422,
                },
                {
                    "url": "https://example.pl/files/gala.jpg",
                    "title": "Zdjęcie z gali",
                    "mime_type": "image/jpeg",
                    "length": 52011,
                },
            ],
            published_at="2026-11-26T10:30:00+01:00",
            contact={"name": "Biuro prasowe", "email": "prasa@example.pl", "phone": "+48 61 000 00 00"},
            source_url="https://example.pl/informacje-prasowe/zlote-lajki",
        ),
        "tramwaje": add_release(
            store,
            created,
            title="Nowy rozkład jazdy tramwajów w Łodzi",
            summary="Od grudnia tramwaje pojadą częściej.",
            body="Szczegóły w załączniku.",
            categories=["transport"],
            published_at="2026-11-25T14:00:00+01:00",
        ),
        "fuzja": add_release(
            store,
            created,
            title=EMBARGOED_TITLE,
            summary="Embargo do piątku.",
            categories=["informacje-prasowe", "fuzje"],
            published_at="2026-11-24T09:00:00+01:00",
            embargo_until="2026-11-27T08:00:00+01:00",
        ),
        "smog": add_release(
            store,
            created,
            title=SCHEDULED_TITLE,
            categories=["transport"],
            published_at="2026-12-01T12:00:00+01:00",
        ),
    }


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The conftest settings plus one WebSub hub, so hub links are part of the golden files."""
    return make_settings(tmp_path, admin_token=None, websub={"hubs": [HUB]})


@pytest.fixture
def public(store: Store, settings: Settings) -> Path:
    """The public directory after a build of the sample newsroom at NOW."""
    sample_newsroom(store)
    planner.build(store, settings, NOW)
    return settings.public_dir


def _compare_golden(name: str, data: bytes) -> None:
    golden = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(data)
    assert golden.exists(), f"no golden file {golden}; run with UPDATE_GOLDEN=1 to create it"
    assert data.decode("utf-8") == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["rss.xml", "atom.xml", "feed.json", "nagrody/atom.xml"])
def test_feeds_match_their_golden_files(public: Path, name: str) -> None:
    """Regenerate with UPDATE_GOLDEN=1 after a deliberate change, and review the diff."""
    _compare_golden(f"feeds/{name}", (public / "feeds" / name).read_bytes())


def _feed_files(public: Path) -> list[Path]:
    """The feed documents (the calendars beside them are `site.calendar`'s, tested in test_calendar.py)."""
    return sorted(path for path in (public / "feeds").rglob("*") if path.is_file() and path.suffix != ".ics")


def entry_titles(path: Path) -> list[str]:
    """Titles as a reader sees them: feedparser for XML (it has no JSON Feed support), json otherwise."""
    if path.suffix == ".json":
        document = json.loads(path.read_text(encoding="utf-8"))
        assert document["version"] == "https://jsonfeed.org/version/1.1"
        return [item["title"] for item in document["items"]]
    parsed = feedparser.parse(path.read_bytes())
    assert not parsed.bozo, (path, parsed.get("bozo_exception"))
    assert parsed.feed.language == "pl"
    return [entry.title for entry in parsed.entries]


def test_every_feed_parses_cleanly_with_polish_text_intact(public: Path) -> None:
    files = _feed_files(public)
    assert len(files) == 3 * 4  # the newsroom and three categories with a visible release
    for path in files:
        titles = entry_titles(path)
        assert titles, path
        assert all("�" not in title for title in titles)
    everything = feedparser.parse((public / "feeds" / "atom.xml").read_bytes())
    assert [entry.title for entry in everything.entries] == [
        VISIBLE_TITLE,
        "Nowy rozkład jazdy tramwajów w Łodzi",
    ]
    assert "gęślą jaźń, żółć" in everything.entries[0].summary


def test_rss_items_carry_guid_dates_body_enclosure_and_categories(public: Path, store: Store) -> None:
    release = store.get_release("zlote-lajki-2026-wreczone")
    channel = etree.parse(str(public / "feeds" / "rss.xml")).getroot().find("channel")
    assert channel is not None
    links = {link.get("rel"): link.get("href") for link in channel.findall(f"{ATOM}link")}
    assert links == {"self": "https://prasa.example.pl/feeds/rss.xml", "hub": HUB}
    assert channel.findtext("language") == "pl"
    assert channel.findtext("lastBuildDate") == "Thu, 26 Nov 2026 09:30:00 +0000"
    item = channel.find("item")
    assert item is not None
    guid = item.find("guid")
    assert guid is not None and guid.text == release.uid and guid.get("isPermaLink") == "false"
    assert item.findtext("link") == "https://prasa.example.pl/releases/zlote-lajki-2026-wreczone/"
    assert item.findtext("pubDate") == "Thu, 26 Nov 2026 09:30:00 +0000"
    body = item.findtext("{http://purl.org/rss/1.0/modules/content/}encoded")
    assert body is not None and "<strong>Poznaniu</strong>" in body
    enclosures = item.findall("enclosure")
    assert [(e.get("url"), e.get("length"), e.get("type")) for e in enclosures] == [
        ("https://example.pl/files/komunikat.pdf", "183422", "application/pdf")
    ]
    assert [category.text for category in item.findall("category")] == ["informacje-prasowe", "nagrody"]


def test_atom_entries_keep_enclosure_links_with_length_and_type(public: Path, store: Store) -> None:
    """feedgen drops the attributes of entry links (issues #135, #143); ours must survive."""
    root = etree.parse(str(public / "feeds" / "atom.xml")).getroot()
    assert root.findtext(f"{ATOM}id") == "https://prasa.example.pl/"
    assert root.findtext(f"{ATOM}author/{ATOM}name")
    feed_links = {link.get("rel"): link.get("href") for link in root.findall(f"{ATOM}link")}
    assert feed_links["self"] == "https://prasa.example.pl/feeds/atom.xml"
    assert feed_links["hub"] == HUB
    entry = root.find(f"{ATOM}entry")
    assert entry is not None
    assert entry.findtext(f"{ATOM}id") == store.get_release("zlote-lajki-2026-wreczone").uid
    assert entry.findtext(f"{ATOM}published") == "2026-11-26T09:30:00+00:00"
    assert entry.find(f"{ATOM}content").get("type") == "html"  # type: ignore[union-attr]
    links = [dict(link.attrib) for link in entry.findall(f"{ATOM}link")]
    assert links == [
        {
            "href": "https://prasa.example.pl/releases/zlote-lajki-2026-wreczone/",
            "rel": "alternate",
            "type": "text/html",
        },
        {
            "href": "https://example.pl/files/komunikat.pdf",
            "rel": "enclosure",
            "type": "application/pdf",
            "length": "183422",
            "title": "Komunikat (PDF)",
        },
        {
            "href": "https://example.pl/files/gala.jpg",
            "rel": "enclosure",
            "type": "image/jpeg",
            "length": "52011",
            "title": "Zdjęcie z gali",
        },
    ]
    parsed = feedparser.parse((public / "feeds" / "atom.xml").read_bytes())
    assert parsed.entries[0].enclosures[0]["length"] == "183422"


def test_json_feed_lists_attachments_and_hubs(public: Path) -> None:
    document = json.loads((public / "feeds" / "feed.json").read_text(encoding="utf-8"))
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert document["feed_url"] == "https://prasa.example.pl/feeds/feed.json"
    assert document["hubs"] == [{"type": "WebSub", "url": HUB}]
    first = document["items"][0]
    assert first["title"] == VISIBLE_TITLE
    assert first["date_published"] == "2026-11-26T09:30:00Z"
    assert first["attachments"][0] == {
        "url": "https://example.pl/files/komunikat.pdf",
        "mime_type": "application/pdf",
        "title": "Komunikat (PDF)",
        "size_in_bytes": 183422,
    }


def test_category_feeds_hold_only_their_category(public: Path) -> None:
    expected = {
        "informacje-prasowe": [VISIBLE_TITLE],
        "nagrody": [VISIBLE_TITLE],
        "transport": ["Nowy rozkład jazdy tramwajów w Łodzi"],
    }
    assert sorted(path.name for path in (public / "feeds").iterdir() if path.is_dir()) == sorted(expected)
    for slug, titles in expected.items():
        for name in ("rss.xml", "atom.xml", "feed.json"):
            assert entry_titles(public / "feeds" / slug / name) == titles, (slug, name)


def test_feed_holds_only_the_newest_items_setting(store: Store, tmp_path: Path) -> None:
    settings = load_settings(
        database=store.path,
        public_dir=tmp_path / "public",
        base_url="https://prasa.example.pl",
        feed={"items": 2},
    )
    for day in range(1, 6):
        add_release(store, NOW, title=f"Komunikat {day}", published_at=f"2026-11-0{day}T12:00:00+01:00")
    planner.build(store, settings, NOW)
    parsed = feedparser.parse((settings.public_dir / "feeds" / "rss.xml").read_bytes())
    assert [entry.title for entry in parsed.entries] == ["Komunikat 5", "Komunikat 4"]


def test_empty_newsroom_gives_valid_stable_feeds(store: Store, settings: Settings) -> None:
    planner.build(store, settings, NOW)
    first = {path: path.read_bytes() for path in _feed_files(settings.public_dir)}
    planner.build(store, settings, NOW + timedelta(days=3), full=True)
    assert {path: path.read_bytes() for path in _feed_files(settings.public_dir)} == first
    assert len(first) == 3
    for path in first:
        assert entry_titles(path) == []


def test_titles_that_look_like_markup_reach_readers_as_written(store: Store, settings: Settings) -> None:
    """RSS never said whether a title is HTML; readers guess. Escaped, it shows as typed in both formats."""
    title = 'Wyniki <b>konkursu</b> & "nagrody" – Tom &amp; Jerry'
    summary = "Streszczenie: a < b, <script>alert(1)</script>"
    add_release(store, NOW, title=title, summary=summary, categories=["a-b"], published_at=NOW.isoformat())
    store.set_category("a-b", "Miasta & <gminy>")
    planner.build(store, settings, NOW)
    for name in ("rss.xml", "atom.xml"):
        parsed = feedparser.parse((settings.public_dir / "feeds" / name).read_bytes())
        assert not parsed.bozo
        entry = parsed.entries[0]
        assert html.unescape(entry.title) == title, name
        assert html.unescape(entry.summary) == summary, name
        assert "<script" not in entry.summary
    rss = (settings.public_dir / "feeds" / "rss.xml").read_text(encoding="utf-8")
    assert "&#x26;" in rss and ">Miasta &#x26;amp; &#x26;lt;gminy&#x26;gt;</category>" in rss


def test_feed_writers_drop_characters_xml_cannot_hold_instead_of_failing(
    store: Store, settings: Settings
) -> None:
    """Whatever the store hands over, one bad character must not stop every feed (lxml refuses it)."""
    release = add_release(store, NOW, title="Komunikat", categories=["a"], published_at=NOW.isoformat())
    category = Category("a", "Mia\x00sta", "Opis\ufffe")
    dirty = dataclasses.replace(
        release,
        title="Ko\x00mu\x0bni\ud800kat",
        summary="Krót\x1fko",
        body_html="<p>Tre\x01ść</p>",
        categories=(category,),
    )
    scope = feeds.FeedScope(settings, category)
    for writer in (rss.render, atom.render):
        parsed = feedparser.parse(writer(scope, [dirty]))
        assert not parsed.bozo, writer
        assert parsed.entries[0].title == "Komunikat", writer
        assert parsed.entries[0].summary == "Krótko", writer
        assert parsed.feed.title.endswith(": Miasta"), writer
    assert "Treść" in atom.render(scope, [dirty]).decode()
    document = json.loads(jsonfeed.render(scope, [dirty]))
    assert document["items"][0]["title"] == "Ko\x00mu\x0bnikat"  # written as \u0000 and \u000b


HISTORY = "{http://purl.org/syndication/history/1.0}"


@pytest.fixture
def long_newsroom(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Twelve releases, feeds of three items and archive blocks of five ids: archives 1 and 2 exist."""
    monkeypatch.setattr(layout, "ARCHIVE_BLOCK", 5)
    settings = load_settings(
        database=store.path,
        public_dir=tmp_path / "public",
        base_url="https://prasa.example.pl",
        feed={"items": 3},
    )
    for number in range(1, 13):
        add_release(
            store,
            NOW,
            title=f"Komunikat {number}",
            categories=["parzyste"] if number % 2 == 0 else [],
            published_at=(NOW - timedelta(hours=20 - number)).isoformat(),
        )
    planner.build(store, settings, NOW)
    return settings


def _links(path: Path) -> dict[str | None, str | None]:
    root = etree.parse(str(path)).getroot()
    return {link.get("rel"): link.get("href") for link in root.iter(f"{ATOM}link", "link")}


def _uids(path: Path) -> list[str]:
    parsed = feedparser.parse(path.read_bytes())
    assert not parsed.bozo, (path, parsed.get("bozo_exception"))
    return [entry.id for entry in parsed.entries]


def test_long_feeds_link_to_rfc5005_archives_that_hold_every_release(long_newsroom: Settings) -> None:
    feeds_dir = long_newsroom.public_dir / "feeds"
    base = "https://prasa.example.pl/feeds"
    for name in ("atom.xml", "rss.xml"):
        assert _links(feeds_dir / name)["prev-archive"] == f"{base}/archive/2/{name}"
        newest = _links(feeds_dir / "archive" / "2" / name)
        assert newest["current"] == f"{base}/{name}" and newest["self"] == f"{base}/archive/2/{name}"
        assert newest["prev-archive"] == f"{base}/archive/1/{name}"
        assert "next-archive" not in newest
        oldest = _links(feeds_dir / "archive" / "1" / name)
        assert "prev-archive" not in oldest and oldest["next-archive"] == f"{base}/archive/2/{name}"
        for number in (1, 2):
            root = etree.parse(str(feeds_dir / "archive" / str(number) / name)).getroot()
            assert len(list(root.iter(f"{HISTORY}archive"))) == 1
        everything = set(_uids(feeds_dir / name))
        for number in (1, 2):
            everything |= set(_uids(feeds_dir / "archive" / str(number) / name))
        assert len(everything) == 12, name
    assert not (feeds_dir / "archive" / "3").exists()
    assert not (feeds_dir / "archive" / "1" / "feed.json").exists()
    category = sorted(p.relative_to(feeds_dir).as_posix() for p in (feeds_dir / "parzyste").rglob("*.xml"))
    assert category == [
        "parzyste/archive/1/atom.xml",
        "parzyste/archive/1/rss.xml",
        "parzyste/archive/2/atom.xml",
        "parzyste/archive/2/rss.xml",
        "parzyste/atom.xml",
        "parzyste/rss.xml",
    ]
    assert _uids(feeds_dir / "parzyste" / "archive" / "1" / "atom.xml") == [
        "tag:prasa.example.pl,2026:release/4",
        "tag:prasa.example.pl,2026:release/2",
    ]


def test_archives_stay_put_until_a_block_of_ids_is_complete(long_newsroom: Settings, store: Store) -> None:
    later = NOW + timedelta(minutes=1)
    for number in (13, 14):
        add_release(store, later, title=f"Komunikat {number}", published_at=later.isoformat())
        report = planner.build(store, long_newsroom, later)
        assert not [path for path in report.written if "/archive/" in path]
    add_release(store, later, title="Komunikat 15", published_at=later.isoformat())
    report = planner.build(store, long_newsroom, later)
    # The new archive 3, and archive 2 whose next-archive link now points to it; in the category too,
    # since release 12 is in block 3 (ids 11 to 15).
    assert {path for path in report.written if "/archive/" in path} == {
        f"feeds/{scope}archive/{block}/{name}"
        for scope in ("", "parzyste/")
        for block in (2, 3)
        for name in ("atom.xml", "rss.xml")
    }
    current = _links(long_newsroom.public_dir / "feeds" / "atom.xml")
    assert current["prev-archive"] == "https://prasa.example.pl/feeds/archive/3/atom.xml"


def test_retraction_rewrites_the_archive_that_held_the_release(long_newsroom: Settings, store: Store) -> None:
    later = NOW + timedelta(minutes=1)
    for number in (6, 7, 8, 9, 10):
        store.retract_release(f"komunikat-{number}", later)
    report = planner.build(store, long_newsroom, later)
    assert {"feeds/archive/2/atom.xml", "feeds/parzyste/archive/2/rss.xml"} <= set(report.removed)
    assert not (long_newsroom.public_dir / "feeds" / "archive" / "2").exists()
    for name in ("atom.xml", "rss.xml"):
        current = _links(long_newsroom.public_dir / "feeds" / name)
        assert current["prev-archive"] == f"https://prasa.example.pl/feeds/archive/1/{name}"
