"""The planner: given the store and `now`, what outputs to rebuild and which alerts and digests to enqueue.

It runs when the store changes (the watcher, `build`) or when the clock passes a moment that matters (an
embargo lifting, a digest being due). Running it twice produces nothing new.
"""

from __future__ import annotations

import functools
import itertools
import operator
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from newsroom_feed import feeds, outbox
from newsroom_feed.errors import InputError
from newsroom_feed.feeds import FeedScope
from newsroom_feed.models import Category, Release, Subscriber, iso
from newsroom_feed.pages import INDEX_PATH, STYLESHEET_PATH, Listed, Pages
from newsroom_feed.publisher import Publisher, PublishResult
from newsroom_feed.settings import Settings
from newsroom_feed.store import Store
from newsroom_feed.subscriptions import list_subscribers

# == outputs: feeds and pages ====================================================================

#: Files of the public directory that the build owns; anything else there is left alone.
_OUTPUT_FOLDERS = ("releases", "categories", "feeds", "assets")
#: With this many changed releases a full build is as cheap as working out what they touch.
_FULL_BUILD_AFTER = 2_000


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What one build really did: paths relative to the public directory, feed URLs for WebSub pings."""

    written: tuple[str, ...]
    removed: tuple[str, ...]
    changed_feeds: tuple[str, ...]
    newly_visible: tuple[int, ...]
    full: bool
    duration: float

    @property
    def changed(self) -> bool:
        return bool(self.written or self.removed or self.newly_visible)

    def to_json(self) -> dict[str, object]:
        return {
            "full": self.full,
            "written": list(self.written),
            "removed": list(self.removed),
            "changed_feeds": list(self.changed_feeds),
            "newly_visible": list(self.newly_visible),
            "duration_ms": round(self.duration * 1000, 1),
        }


@dataclass(slots=True)
class _Affected:
    """What a set of changes touches: the global feeds and index always, these categories and releases."""

    release_ids: set[int]
    category_ids: set[int]

    def __bool__(self) -> bool:
        return bool(self.release_ids or self.category_ids)


def build(store: Store, settings: Settings, now: datetime, *, full: bool = False) -> BuildReport:
    """Bring the feeds and pages up to date with the store at ``now``, then plan the alerts of releases
    that became visible; what the daemon runs on every change and every embargo lift.

    Only the outputs the new changes touch are rebuilt (the global feeds and index, the categories and
    release pages concerned), unless ``full``, no build was ever made, or the public directory lost its
    files. The change cursor is saved only once the files are in place, so a crash rebuilds, never skips.

    :raises PublishError: the public directory cannot be written; the cursor is not moved.
    """
    started = time.perf_counter()
    store.complete_pending(now)
    state = store.build_state()
    publisher = Publisher(settings.public_dir)
    renderer = _Renderer(store, settings, now)
    head = store.last_change_id()
    affected: _Affected | None = None
    if not full and state.built_at is not None and all(map(publisher.exists, renderer.core_paths())):
        affected = _affected(store, state.change_cursor, head, state.built_at, now)
    if affected is None:
        result = publisher.publish(*renderer.everything(publisher))
    elif affected:
        result = publisher.publish(*renderer.some(affected))
    else:
        result = PublishResult()
    store.save_build_state(max(head, state.change_cursor), now)
    newly_visible = announce(store, settings, now)
    feed_files = (feeds.RSS_FILE, feeds.ATOM_FILE, feeds.JSON_FILE)
    changed_feeds = [
        feeds.public_url(settings, path)
        for path in [*result.written, *result.removed]
        if path.startswith("feeds/") and path.endswith(feed_files)
    ]
    return BuildReport(
        written=tuple(result.written),
        removed=tuple(result.removed),
        changed_feeds=tuple(sorted(changed_feeds)),
        newly_visible=tuple(newly_visible),
        full=affected is None,
        duration=time.perf_counter() - started,
    )


def _affected(store: Store, cursor: int, head: int, built_at: datetime, now: datetime) -> _Affected | None:
    """Releases and categories touched since ``cursor``, plus releases whose embargo or scheduled time
    fell in (built_at, now]; None when only a full build is safe (a deleted release or a renamed
    category, whose old outputs cannot be found from the change alone, or too many changes)."""
    affected = _Affected(set(), set())
    while cursor < head:
        changes = store.changes_after(cursor)
        if not changes:
            break
        for change in changes:
            if change.id > head:
                break
            if (change.table == "releases" and change.op == "delete") or change.table == "categories":
                return None
            if change.release_id is not None:
                affected.release_ids.add(change.release_id)
            if change.category_id is not None:
                affected.category_ids.add(change.category_id)
        cursor = changes[-1].id
        if len(affected.release_ids) > _FULL_BUILD_AFTER:
            return None
    if now > built_at:
        affected.release_ids.update(release.id for release in store.visible_between(built_at, now))
    affected.category_ids.update(store.release_category_ids(affected.release_ids))
    return affected


class _Renderer:
    """The outputs of one build: bytes keyed by path, and paths to remove."""

    def __init__(self, store: Store, settings: Settings, now: datetime) -> None:
        self.store = store
        self.settings = settings
        self.now = now
        self.pages = Pages(settings)

    @functools.cached_property
    def counts(self) -> list[tuple[Category, int]]:
        return self.store.visible_category_counts(self.now)

    def core_paths(self) -> list[str]:
        """Files every build leaves in place: if one is missing, the directory was wiped."""
        return [INDEX_PATH, STYLESHEET_PATH, *feeds.feed_paths(None)]

    def _front(self) -> dict[str, bytes]:
        newest = self.store.visible_releases(self.now, limit=self.settings.feed.items)
        outputs = feeds.render_feeds(FeedScope(self.settings), newest)
        outputs[INDEX_PATH] = self.pages.index(newest, self.counts)
        outputs[STYLESHEET_PATH] = self.pages.stylesheet()
        return outputs

    def _category(
        self, category: Category, newest: list[Release], listed: Sequence[Listed]
    ) -> dict[str, bytes]:
        outputs = feeds.render_feeds(FeedScope(self.settings, category), newest[: self.settings.feed.items])
        outputs[feeds.category_path(category.slug)] = self.pages.category(category, listed)
        return outputs

    @staticmethod
    def _category_paths(slug: str) -> list[str]:
        return [feeds.category_path(slug), *feeds.feed_paths(slug)]

    def everything(self, publisher: Publisher) -> tuple[dict[str, bytes], set[str]]:
        """Every output, and every file the build owns that should no longer exist."""
        outputs = self._front()
        visible = self.store.visible_releases(self.now)
        by_category: dict[str, list[Release]] = {}
        categories: dict[str, Category] = {}
        for release in visible:
            outputs[feeds.release_path(release.slug)] = self.pages.release(release)
            for category in release.categories:
                categories[category.slug] = category
                by_category.setdefault(category.slug, []).append(release)
        for slug, releases in by_category.items():
            outputs.update(self._category(categories[slug], releases, releases))
        stale = publisher.files_under(*_OUTPUT_FOLDERS) - outputs.keys()
        return outputs, stale

    def some(self, affected: _Affected) -> tuple[dict[str, bytes], set[str]]:
        """The global feeds and index, and the pages and feeds of the affected categories and releases."""
        outputs = self._front()
        stale: set[str] = set()
        shown = {category.slug: category for category, _ in self.counts}
        for slug in self.store.category_slugs_by_id(affected.category_ids):
            if slug not in shown:
                stale.update(self._category_paths(slug))
                continue
            # The feeds need the newest releases whole; the page lists all of them, read light.
            newest = self.store.visible_releases(self.now, category=slug, limit=self.settings.feed.items)
            outputs.update(self._category(shown[slug], newest, self.store.visible_lines(self.now, slug)))
        for release in self.store.releases_by_ids(sorted(affected.release_ids)):
            if release.is_visible(self.now):
                outputs[feeds.release_path(release.slug)] = self.pages.release(release)
            elif release.slug:
                stale.add(feeds.release_path(release.slug))
        return outputs, stale


# == mail: alerts and digests ====================================================================


def announce(store: Store, settings: Settings, now: datetime) -> list[int]:
    """Releases that became visible since the last run: plan their alerts, once; returns their ids.

    Called at the end of every build, after the outputs are in place, so an alert never points at a
    page that is not there yet. One alert per matching active `immediate` subscriber; an urgent release
    goes to every matching active subscriber whatever their frequency. A release that became visible
    more than ``outbox.alert_max_age_hours`` ago (an import of old releases) is marked without alerts.
    The alerts and the mark are one transaction: a crash plans all of them or none.
    """
    releases = store.unannounced_visible(now)
    if not releases:
        return []
    oldest = now - timedelta(hours=settings.outbox.alert_max_age_hours)
    fresh = [release for release in releases if release.visible_at >= oldest]
    with store.transaction():
        if fresh:
            frequencies = ("immediate", "daily", "weekly") if any(r.urgent for r in fresh) else ("immediate",)
            subscribers = list_subscribers(store, status="active", frequencies=frequencies)
            outbox.enqueue(store, _alerts(fresh, subscribers), now)
        store.mark_announced([release.id for release in releases], now)
    return [release.id for release in releases]


def _alerts(releases: list[Release], subscribers: list[Subscriber]) -> Iterator[outbox.NewMessage]:
    for release in releases:
        for subscriber in subscribers:
            if (release.urgent or subscriber.frequency == "immediate") and subscriber.wants(release):
                yield outbox.NewMessage(subscriber.id, outbox.alert_key(release.uid), "alert", (release.id,))


DIGEST_PERIODS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}


@dataclass(frozen=True, slots=True)
class DigestPlan:
    """A digest run: the period it covers and how many messages it planned."""

    frequency: str
    period_start: datetime
    period_end: datetime
    planned: int


def digest_period(store: Store, frequency: str, now: datetime) -> tuple[datetime, datetime]:
    """The period a run at ``now`` covers: from where the previous run of this frequency ended (the first
    run: one period back) to ``now``.

    :raises InputError: for a frequency other than daily or weekly.
    """
    if frequency not in DIGEST_PERIODS:
        raise InputError("frequency", "must be daily or weekly")
    row = store.conn.execute(
        "SELECT max(period_end) FROM digest_runs WHERE frequency = ?", (frequency,)
    ).fetchone()
    start = datetime.fromisoformat(row[0]) if row[0] else now - DIGEST_PERIODS[frequency]
    return start, now


def digest_messages(
    store: Store, frequency: str, start: datetime, end: datetime, *, subscriber_id: int | None = None
) -> Iterator[outbox.NewMessage]:
    """One digest per active subscriber of ``frequency`` with at least one release of theirs that became
    visible in (start, end], whenever they joined; with ``subscriber_id``, only that subscriber's,
    whatever their frequency (a preview).

    Streams subscribers with their category slugs in one query and matches each distinct category mix
    once (the rule of `Subscriber.wants`: none chosen means everything), so planning 100,000 digests
    holds no list of subscribers.
    """
    releases = store.visible_between(start, end) if end > start else []
    if not releases:
        return
    key = outbox.digest_key(frequency, end)
    release_slugs = [(release.id, {category.slug for category in release.categories}) for release in releases]
    every = tuple(release.id for release in releases)
    by_mix: dict[frozenset[str], tuple[int, ...]] = {}
    sql = (
        "SELECT s.id, c.slug FROM subscribers s "
        "LEFT JOIN subscriber_categories sc ON sc.subscriber_id = s.id "
        "LEFT JOIN categories c ON c.id = sc.category_id WHERE "
    )
    params: list[object]
    if subscriber_id is None:
        sql += "s.status = 'active' AND s.frequency = ?"
        params = [frequency]
    else:
        sql += "s.id = ?"
        params = [subscriber_id]
    rows = store.conn.execute(sql + " ORDER BY s.id", params)
    for sid, group in itertools.groupby(rows, key=operator.itemgetter(0)):
        mix = frozenset(slug for _, slug in group if slug is not None)
        chosen = by_mix.get(mix)
        if chosen is None:
            chosen = every if not mix else tuple(rid for rid, slugs in release_slugs if slugs & mix)
            by_mix[mix] = chosen
        if chosen:
            yield outbox.NewMessage(sid, key, "digest", chosen)


def plan_digest(store: Store, settings: Settings, frequency: str, now: datetime) -> DigestPlan:
    """Plan the digest run of ``frequency`` ending at ``now`` and record its watermark, in one
    transaction: a missed run is caught up by the next one, and nothing is planned twice.

    :raises InputError: for a frequency other than daily or weekly.
    """
    start, end = digest_period(store, frequency, now)
    if end <= start:
        return DigestPlan(frequency, start, end, 0)
    with store.transaction() as conn:
        planned = outbox.enqueue(store, digest_messages(store, frequency, start, end), now)
        conn.execute(
            "INSERT INTO digest_runs (frequency, period_start, period_end, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(frequency, period_end) DO NOTHING",
            (frequency, iso(start), iso(end), iso(now)),
        )
    return DigestPlan(frequency, start, end, planned)
