"""The build for a large newsroom: 10,000 releases in 20 categories, against a plain-lxml baseline.

Times a full build from scratch, a build with nothing changed and a build after one new release, and
prints each against a baseline measured in the same run: the same newest 50 items of each of the 21
feeds (everything and 20 categories), read from the store and serialised with plain lxml (RSS, Atom)
and json (JSON Feed). Aims: one new release under 100 ms, nothing changed under 20 ms, the feeds of a
full build within 2x the baseline. A full build also writes the 10,000 release pages, the category
pages and the RFC 5005 feed archives (about 4,200 documents holding every release), so its own line is
far above the baseline: the lines below it time each part of it alone, the feeds being the like-for-like
comparison. Each line shows the best run and its CPU time, which stays meaningful when the machine is
busy. Last, the build after one new release over stores of 10,000 and 100,000 releases (BENCH_SCALING,
comma-separated sizes; empty to skip), each filled and built in full first: within 1.3x of each other.
Then the build after one new event release over 1,000 past events, which rewrites two calendars, against
every event serialised once with plain icalendar: below it.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from icalendar import Calendar
from icalendar import Event as CalendarEvent
from lxml import etree

from newsroom_feed import planner
from newsroom_feed.markup import render_markdown
from newsroom_feed.models import Category, Release, ReleaseInput, iso
from newsroom_feed.settings import Settings, load_settings
from newsroom_feed.site import feeds, formats, jsonfeed, layout
from newsroom_feed.site.layout import INDEX_PATH
from newsroom_feed.site.outputs import Renderer
from newsroom_feed.site.publisher import Publisher
from newsroom_feed.store.database import Store

RELEASES = 10_000
CATEGORIES = 20
NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
ATOM = "http://www.w3.org/2005/Atom"


def _timed(action: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall-clock and CPU seconds of one call: the CPU time stays meaningful on a busy machine."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def _fill(store: Store, releases: int = RELEASES) -> None:
    """``releases`` complete releases written in one transaction, as an importer of old releases would;
    no two bodies alike, as no cache of cleaned bodies may count on."""
    body = render_markdown(
        "Rada Programowa **Związku Miast** ogłosiła wyniki konkursu. " * 8
        + "\n\nSzczegóły w załączniku i na stronie [związku](https://example.pl/).\n\n- punkt\n- punkt"
    )
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO categories (id, slug, name, description) VALUES (?, ?, ?, '')",
            [(n + 1, f"kategoria-{n + 1}", f"Kategoria {n + 1} – miasta") for n in range(CATEGORIES)],
        )
        rows = []
        for n in range(1, releases + 1):
            moment = iso(NOW - timedelta(hours=releases - n + 1))
            rows.append(
                (n, f"tag:prasa.example.pl,2026:release/{n}", f"{n}/2026", f"komunikat-{n}",
                 f"Komunikat nr {n}: gęślą jaźń w mieście", "Streszczenie komunikatu – żółć.",
                 f"<p>Komunikat nr {n}.</p>\n{body}", moment, moment, moment, moment)
            )  # fmt: skip
        conn.executemany(
            "INSERT INTO releases (id, uid, number, slug, title, summary, body_html, published_at, "
            "created_at, updated_at, announced_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.executemany(
            "INSERT INTO release_categories (release_id, category_id, position) VALUES (?, ?, ?)",
            [(n, n % CATEGORIES + 1, 0) for n in range(1, releases + 1)]
            + [(n, (n + 7) % CATEGORIES + 1, 1) for n in range(1, releases + 1, 3)],
        )
        conn.executemany(
            "INSERT INTO attachments (release_id, position, url, title, mime_type, length) "
            "VALUES (?, 0, ?, 'Komunikat (PDF)', 'application/pdf', 183422)",
            [(n, f"https://example.pl/files/{n}.pdf") for n in range(1, releases + 1, 2)],
        )


def _baseline_rss(scope: feeds.FeedScope, releases: list[Release]) -> bytes:
    settings = scope.settings
    root = etree.Element("rss", version="2.0", nsmap={"atom": ATOM})
    channel = etree.SubElement(root, "channel")
    etree.SubElement(channel, "title").text = scope.title
    etree.SubElement(channel, "link").text = scope.home_url
    etree.SubElement(channel, "description").text = scope.description
    etree.SubElement(channel, f"{{{ATOM}}}link", href=scope.url("rss.xml"), rel="self")
    for release in releases:
        item = etree.SubElement(channel, "item")
        etree.SubElement(item, "title").text = release.title
        etree.SubElement(item, "link").text = feeds.release_url(settings, release)
        etree.SubElement(item, "description").text = release.summary
        etree.SubElement(item, "guid", isPermaLink="false").text = release.uid
        etree.SubElement(item, "pubDate").text = release.visible_at.strftime("%a, %d %b %Y %H:%M:%S +0000")
        for category in release.categories:
            etree.SubElement(item, "category").text = category.name
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True)


def _baseline_atom(scope: feeds.FeedScope, releases: list[Release]) -> bytes:
    settings = scope.settings
    root = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM})
    etree.SubElement(root, f"{{{ATOM}}}id").text = scope.home_url
    etree.SubElement(root, f"{{{ATOM}}}title").text = scope.title
    etree.SubElement(root, f"{{{ATOM}}}updated").text = feeds.feed_updated(releases).isoformat()
    for release in releases:
        entry = etree.SubElement(root, f"{{{ATOM}}}entry")
        etree.SubElement(entry, f"{{{ATOM}}}id").text = release.uid
        etree.SubElement(entry, f"{{{ATOM}}}title").text = release.title
        etree.SubElement(entry, f"{{{ATOM}}}updated").text = release.updated_at.isoformat()
        etree.SubElement(entry, f"{{{ATOM}}}content", type="html").text = release.body_html
        etree.SubElement(entry, f"{{{ATOM}}}link", href=feeds.release_url(settings, release))
        for attachment in release.attachments:
            etree.SubElement(
                entry, f"{{{ATOM}}}link", rel="enclosure", href=attachment.url,
                type=attachment.mime_type, length=str(attachment.length),
            )  # fmt: skip
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True)


def _baseline_json(scope: feeds.FeedScope, releases: list[Release]) -> bytes:
    items = [
        {
            "id": r.uid,
            "url": feeds.release_url(scope.settings, r),
            "title": r.title,
            "content_html": r.body_html,
        }
        for r in releases
    ]
    document = {"version": jsonfeed.VERSION, "title": scope.title, "items": items}
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")


def _scopes(store: Store, settings: Settings) -> list[feeds.FeedScope]:
    categories = [category for category, _ in store.visible_category_counts(NOW)]
    return [feeds.FeedScope(settings), *(feeds.FeedScope(settings, category) for category in categories)]


def _newest(store: Store, scope: feeds.FeedScope) -> list[Release]:
    slug = None if scope.category is None else scope.category.slug
    return store.visible_releases(NOW, category=slug, limit=scope.settings.feed.items)


def baseline(store: Store, settings: Settings) -> int:
    """The newest 50 of every feed, from the store, serialised with plain lxml and json: total bytes."""
    total = 0
    for scope in _scopes(store, settings):
        releases = _newest(store, scope)
        total += len(_baseline_rss(scope, releases) + _baseline_atom(scope, releases))
        total += len(_baseline_json(scope, releases))
    return total


def feeds_only(store: Store, settings: Settings) -> int:
    """What the build does for the feeds alone: the same reads, rendered by `formats.render_feeds`."""
    total = 0
    for scope in _scopes(store, settings):
        total += sum(map(len, formats.render_feeds(scope, _newest(store, scope)).values()))
    return total


def _parts(store: Store, settings: Settings) -> dict[str, tuple[float, float, Any]]:
    """The full build cut into what it is made of, each part timed alone: reading every visible
    release, the 21 x 3 feeds (like for like with the baseline), the RFC 5005 archives, the pages,
    and writing every file into a new directory (atomic, fsync'd in one batch)."""
    renderer = Renderer(store, settings, NOW)
    parts: dict[str, tuple[float, float, Any]] = {}
    parts["read"] = _timed(lambda: store.visible_releases(NOW))
    visible: list[Release] = parts["read"][2]
    found = {release.id: release for release in visible}
    by_category: dict[str, list[Release]] = {}
    categories: dict[str, Category] = {}
    for release in visible:
        for category in release.categories:
            categories[category.slug] = category
            by_category.setdefault(category.slug, []).append(release)
    scopes: list[tuple[Category | None, list[Release]]] = [(None, visible)]
    scopes += [(categories[slug], releases) for slug, releases in by_category.items()]
    items = settings.feed.items

    def render_feeds() -> dict[str, bytes]:
        outputs: dict[str, bytes] = {}
        for category, releases in scopes:
            outputs.update(formats.render_feeds(feeds.FeedScope(settings, category), releases[:items]))
        return outputs

    def render_archives() -> dict[str, bytes]:
        outputs: dict[str, bytes] = {}
        for category, releases in scopes:
            blocks = renderer._blocks(release.id for release in releases)
            outputs.update(renderer._archives(category, blocks, blocks, found)[0])
        return outputs

    def render_pages() -> dict[str, bytes]:
        outputs = {layout.release_path(release.slug): renderer.pages.release(release) for release in visible}
        outputs[INDEX_PATH] = renderer.pages.index(visible[:items], renderer.counts)
        for category, releases in scopes[1:]:
            assert category is not None
            outputs[layout.category_path(category.slug)] = renderer.pages.category(
                category, releases[: layout.CATEGORY_PAGE], len(releases)
            )
        return outputs

    parts["feeds"] = _timed(render_feeds)
    parts["archives"] = _timed(render_archives)
    parts["pages"] = _timed(render_pages)
    outputs = {**parts["feeds"][2], **parts["archives"][2], **parts["pages"][2]}
    with tempfile.TemporaryDirectory(prefix="bench-write-") as scratch:
        parts["write"] = _timed(lambda: Publisher(Path(scratch) / "public").publish(outputs))
    return parts


def _line(label: str, runs: list[tuple[float, float, Any]], base: float, note: str = "") -> None:
    """The best of the runs (as timeit reports), its ratio to the baseline, and the CPU time."""
    wall = min(run[0] for run in runs)
    cpu = min(run[1] for run in runs)
    print(
        f"{label:<42} {wall * 1000:9.1f} ms {wall / base:6.2f}x baseline (cpu {cpu * 1000:7.1f} ms)  {note}",
        flush=True,
    )


def bench_settings(root: Path) -> Settings:
    """Settings of a scratch newsroom under ``root``: what every build and daemon bench runs with."""
    return load_settings(
        database=root / "newsroom.db",
        public_dir=root / "public",
        base_url="https://prasa.example.pl",
        secret_key="bench",
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-build-") as scratch:
        root = Path(scratch)
        settings = bench_settings(root)
        store = Store.for_settings(settings)
        seconds, _, _ = _timed(lambda: _fill(store))
        print(f"store: {RELEASES} releases in {CATEGORIES} categories, filled in {seconds:.1f} s")

        runs = [_timed(lambda: baseline(store, settings)) for _ in range(3)]
        base = min(run[0] for run in runs)
        _line("baseline: 21 feeds x 3 formats, plain lxml", runs, base)
        runs = [_timed(lambda: feeds_only(store, settings)) for _ in range(3)]
        _line("the same feeds rendered by site.formats", runs, base, "aim: < 2x")

        full = _timed(lambda: planner.build(store, settings, NOW))
        _line("full build from scratch", [full], base, f"{len(full[2].written)} files, 10,000 pages included")
        parts = _parts(store, settings)
        notes = {
            "read": ("  reading every visible release", f"{len(parts['read'][2])} releases"),
            "feeds": ("  the 21 x 3 feeds (like for like)", "aim: < 2x"),
            "archives": ("  RFC 5005 archives", f"{len(parts['archives'][2])} files"),
            "pages": ("  HTML pages", f"{len(parts['pages'][2])} files"),
            "write": ("  writing every file, atomic, synced", f"{len(parts['write'][2].written)} files"),
        }
        for key, (label, note) in notes.items():
            _line(label, [parts[key]], base, note)
        unchanged = [_timed(lambda: planner.build(store, settings, NOW)) for _ in range(5)]
        written = sum(len(run[2].written) for run in unchanged)
        _line("build with nothing changed", unchanged, base, f"aim: < 20 ms; {written} files written")

        runs = []
        for n in range(1, 6):
            later = NOW + timedelta(minutes=n)
            document = ReleaseInput.parse(
                {"title": f"Nowy komunikat {n}: Łódź i Gdańsk", "body": "Treść **nowego** komunikatu.",
                 "categories": [f"kategoria-{n}"], "published_at": later.isoformat()}
            )  # fmt: skip
            store.add_release(document, later)
            runs.append(_timed(lambda later=later: planner.build(store, settings, later)))  # type: ignore[misc]
        counts = "/".join(str(len(run[2].written)) for run in runs)
        _line("build after one new release (best of 5)", runs, base, f"aim: < 100 ms; {counts} files")
        forced = _timed(lambda: planner.build(store, settings, later, full=True))
        _line("--full over an unchanged directory", [forced], base, f"{len(forced[2].written)} written")
        _synchronous_cost(store, settings, later)
        store.close()
    _scaling()
    _events()


#: Store sizes the one-change build is timed at, to show it costs what changed, not what the store holds.
SCALING = tuple(int(n) for n in os.environ.get("BENCH_SCALING", "10000,100000").split(",") if n)


def _one_change(releases: int) -> float:
    """Best of 5 builds after one new release, over a store of ``releases`` built in full first."""
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch:
        root = Path(scratch)
        settings = bench_settings(root)
        with Store.for_settings(settings) as store:
            _fill(store, releases)
            planner.build(store, settings, NOW)
            runs = []
            for n in range(1, 6):
                later = NOW + timedelta(minutes=n)
                document = ReleaseInput.parse(
                    {"title": f"Nowy komunikat {n}", "categories": [f"kategoria-{n}"],
                     "published_at": later.isoformat()}
                )  # fmt: skip
                store.add_release(document, later)
                runs.append(_timed(lambda later=later: planner.build(store, settings, later))[0])  # type: ignore[misc]
    return min(runs)


def _scaling() -> None:
    """The one-change build at each of `SCALING`'s sizes, against the smallest (aim: within 1.3x)."""
    if not SCALING:
        return
    times = {releases: _one_change(releases) for releases in SCALING}
    smallest = times[min(times)]
    for releases, seconds in times.items():
        print(
            f"build after one new release at {releases:>7,} releases {seconds * 1000:9.1f} ms "
            f"{seconds / smallest:6.2f}x the {min(times):,}-release store  (aim: < 1.3x)",
            flush=True,
        )


def _synchronous_cost(store: Store, settings: Settings, start: datetime, rounds: int = 10) -> None:
    """What the store's synchronous=FULL costs against NORMAL (before issue 8): a release added (one
    commit, what `release add` acknowledges) and the build after it, the two modes taken in turns."""
    times: dict[str, tuple[list[float], list[float]]] = {"NORMAL": ([], []), "FULL": ([], [])}
    for n in range(rounds):
        for mode, (adds, builds) in times.items():
            store.conn.execute(f"PRAGMA synchronous={mode}")
            later = start + timedelta(minutes=2 * n + (mode == "FULL") + 1)
            document = ReleaseInput.parse(
                {
                    "title": f"Komunikat {mode} {n}",
                    "categories": ["kategoria-1"],
                    "published_at": later.isoformat(),
                }
            )
            wall = time.perf_counter()
            store.add_release(document, later)
            adds.append(time.perf_counter() - wall)
            planner.build(store, settings, later)
            builds.append(time.perf_counter() - wall - adds[-1])
    store.conn.execute("PRAGMA synchronous=FULL")
    for mode, (adds, builds) in times.items():
        print(
            f"synchronous={mode:<6} release add (one commit) {statistics.median(adds) * 1000:7.2f} ms, "
            f"build after it {statistics.median(builds) * 1000:7.1f} ms  (medians of {rounds})",
            flush=True,
        )


#: Event releases of the calendar line: years of a newsroom's seminars, congresses and galas.
EVENTS = 1_000


def _event_store(store: Store) -> None:
    """``EVENTS`` past event releases, a day apart, in 5 categories, each with a place."""
    for n in range(EVENTS):
        when = NOW - timedelta(days=EVENTS - n)
        document = ReleaseInput.parse(
            {"title": f"Seminarium nr {n}: gęślą jaźń", "categories": [f"kategoria-{n % 5 + 1}"],
             "published_at": (when - timedelta(days=7)).isoformat(), "body": f"Zapraszamy na seminarium {n}.",
             "event": {"start": when.isoformat(), "end": (when + timedelta(hours=2)).isoformat(),
                       "location": "Poznań, ul. Głogowska 14"}}
        )  # fmt: skip
        store.add_release(document, when - timedelta(days=8))


def _baseline_events(releases: list[Release]) -> bytes:
    """Every event once, with plain icalendar: what each rewrite of the calendars cost before events
    were kept serialised between builds."""
    calendar = Calendar()
    for release in releases:
        assert release.event is not None
        item = CalendarEvent()
        item.add("uid", release.uid)
        item.add("dtstamp", release.updated_at)
        item.add("summary", release.title)
        item.add("dtstart", release.event.start)
        item.add("dtend", release.event.end or release.event.start)
        item.add("location", release.event.location or "")
        item.add("description", feeds.summary(release))
        item.add("url", f"https://prasa.example.pl/releases/{release.slug}/")
        calendar.add_component(item)
    return bytes(calendar.to_ical())


def _events() -> None:
    """The build after one new event release, which rewrites the newsroom's calendar and its
    category's, over ``EVENTS`` past events: against every event serialised once (aim: below it)."""
    with tempfile.TemporaryDirectory(prefix="bench-events-") as scratch:
        settings = bench_settings(Path(scratch))
        with Store.for_settings(settings) as store:
            _event_store(store)
            planner.build(store, settings, NOW, full=True)
            base = min(_timed(lambda: _baseline_events(store.event_releases(NOW)))[0] for _ in range(3))
            runs = []
            for n in range(1, 4):
                later = NOW + timedelta(minutes=n)
                document = ReleaseInput.parse(
                    {"title": f"Nowe seminarium {n}", "categories": ["kategoria-1"],
                     "published_at": later.isoformat(),
                     "event": {"start": (later + timedelta(days=10)).isoformat(), "location": "Kraków"}}
                )  # fmt: skip
                store.add_release(document, later)
                runs.append(_timed(lambda later=later: planner.build(store, settings, later)))  # type: ignore[misc]
        print(f"calendars over {EVENTS:,} past events: baseline, each event serialised once "
              f"{base * 1000:.1f} ms")  # fmt: skip
        _line("build after one new event release", runs, base, "aim: < 1x (the calendars rewritten)")


if __name__ == "__main__":
    main()
