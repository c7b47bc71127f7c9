"""The planner: given the store and `now`, what outputs to rebuild and which alerts and digests to enqueue.

It runs when the store changes (the watcher, `build`) or when the clock passes a moment that matters (an
embargo lifting, a digest being due). Running it twice produces nothing new.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import itertools
import json
import operator
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from newsroom_feed import __version__, feeds, outbox
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
    #: Releases inserted since the last build: the ids below the lowest of them were given out before.
    inserted: set[int]

    def __bool__(self) -> bool:
        return bool(self.release_ids or self.category_ids)


def build(
    store: Store,
    settings: Settings,
    now: datetime,
    *,
    full: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> BuildReport:
    """Bring the feeds and pages up to date with the store at ``now``, then plan the alerts of releases
    that became visible; what the daemon runs on every change and every embargo lift.

    Only the outputs the new changes touch are rebuilt (the global feeds and index, the categories and
    release pages concerned), unless ``full``, no build was ever made, the settings or templates the
    outputs depend on changed since the last build (see `fingerprint`), or the public directory lost its
    files. The change cursor is saved only once the files are in place, so a crash rebuilds, never skips.
    A full build tells ``on_progress(releases_rendered, releases)`` as it renders (the CLI's progress
    bar); an incremental one is too short to need it.

    Rows an outside writer left incomplete or wrote times into in another form are completed first, and
    the changes that completing appends are read after it, so no build compares a time that is not in the
    store's form with the clock. Releases held back for an unreadable time are reported in
    ``build_state.last_error`` (and so by ``/healthz``) until the operator sets their time.

    :raises PublishError: the public directory cannot be written; the cursor is not moved.
    """
    started = time.perf_counter()
    store.complete_pending(now)  # before `head`: its own changes belong to this build
    state = store.build_state()
    publisher = Publisher(settings.public_dir)
    renderer = _Renderer(store, settings, now)
    head = store.last_change_id()
    made_with = fingerprint(settings, renderer.pages.directory)
    affected: _Affected | None = None
    if (
        not full
        and state.built_at is not None
        and state.fingerprint == made_with
        and all(map(publisher.exists, renderer.core_paths()))
    ):
        affected = _affected(store, state.change_cursor, head, state.built_at, now)
    if affected is None:
        result = publisher.publish(*renderer.everything(publisher, on_progress))
    elif affected:
        result = publisher.publish(*renderer.some(affected, publisher))
    else:
        result = PublishResult()
    store.save_build_state(max(head, state.change_cursor), now, _held_problem(store), fingerprint=made_with)
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


def fingerprint(settings: Settings, templates: Path) -> str:
    """sha256 of what the outputs depend on besides the store: the settings that appear in them (the base
    URL, the zone of the dates, the feed's title, description, organization, author, length and
    language, the WebSub hubs), the page templates and stylesheet, and the program's version. A build
    whose fingerprint differs from the last one's rebuilds everything: a new base URL changes every link.
    """
    digest = hashlib.sha256()
    chosen = {
        "version": __version__,
        "base_url": settings.base_url,
        "timezone": settings.timezone,
        "feed": settings.feed.model_dump(mode="json"),
        "websub_hubs": list(settings.websub.hubs),
    }
    digest.update(json.dumps(chosen, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    for path in sorted(path for path in templates.rglob("*") if path.is_file()):
        digest.update(b"\0" + path.relative_to(templates).as_posix().encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _held_problem(store: Store) -> str | None:
    """What `build_state.last_error` says while releases are held back for an unreadable time."""
    held = store.held_releases()
    if not held:
        return None
    names = ", ".join(number or f"id {release_id}" for release_id, number in held)
    return (
        f"held back, an outside writer stored a time that cannot be read (see the log): {names}; "
        "set it with newsroom-feed release update"
    )


def _affected(store: Store, cursor: int, head: int, built_at: datetime, now: datetime) -> _Affected | None:
    """Releases and categories touched since ``cursor``, plus releases whose embargo or scheduled time
    fell in (built_at, now]; None when only a full build is safe (a deleted release or a renamed
    category, whose old outputs cannot be found from the change alone, or too many changes)."""
    affected = _Affected(set(), set(), set())
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
                if change.table == "releases" and change.op == "insert":
                    affected.inserted.add(change.release_id)
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
    """The outputs of one build: bytes keyed by path, and paths to remove.

    Besides the feeds and pages, each scope (the newsroom, each category) has RFC 5005 archive
    documents: one per complete block of release ids holding a visible release of the scope, each
    linking to the one before (``prev-archive``); the feed links to the newest (see `feeds.ARCHIVE_BLOCK`).
    """

    def __init__(self, store: Store, settings: Settings, now: datetime) -> None:
        self.store = store
        self.settings = settings
        self.now = now
        self.pages = Pages(settings)

    @functools.cached_property
    def counts(self) -> list[tuple[Category, int]]:
        return self.store.visible_category_counts(self.now)

    @functools.cached_property
    def archived(self) -> int:
        """Blocks 1..archived are complete and have archive documents."""
        return feeds.complete_blocks(self.store.last_release_id())

    def core_paths(self) -> list[str]:
        """Files every build leaves in place: if one is missing, the directory was wiped."""
        return [INDEX_PATH, STYLESHEET_PATH, *feeds.feed_paths(None)]

    def _blocks(self, ids: Iterable[int]) -> dict[int, list[int]]:
        """Ids by archived block, keeping their order (newest first)."""
        blocks: dict[int, list[int]] = {}
        for release_id in ids:
            block = feeds.archive_block(release_id)
            if block <= self.archived:
                blocks.setdefault(block, []).append(release_id)
        return blocks

    def _archives(
        self,
        category: Category | None,
        blocks: dict[int, list[int]],
        wanted: Iterable[int],
        releases: dict[int, Release] | None = None,
    ) -> tuple[dict[str, bytes], set[str]]:
        """Archive documents of these blocks of one scope (and of their neighbours, whose
        ``prev-archive``/``next-archive`` may have moved); paths of wanted blocks left empty, to remove."""
        order = sorted(blocks)
        todo: set[int] = set()
        stale: set[str] = set()
        for block in wanted:
            if block in blocks:
                todo.add(block)
            else:
                stale.update(feeds.archive_paths(None if category is None else category.slug, block))
            position = bisect.bisect_left(order, block)
            todo.update(order[max(position - 1, 0) : position + 2])
        outputs: dict[str, bytes] = {}
        for block in sorted(todo):
            position = order.index(block)
            before = order[position - 1] if position else None
            after = order[position + 1] if position + 1 < len(order) else None
            scope = FeedScope(self.settings, category, block, before, after)
            ids = blocks[block]
            found = releases if releases is not None else _by_id(self.store.releases_by_ids(ids))
            outputs.update(feeds.render_archive(scope, [found[release_id] for release_id in ids]))
        return outputs, stale

    def _front(self, prev_archive: int | None) -> dict[str, bytes]:
        newest = self.store.visible_releases(self.now, limit=self.settings.feed.items)
        outputs = feeds.render_feeds(FeedScope(self.settings, None, None, prev_archive), newest)
        outputs[INDEX_PATH] = self.pages.index(newest, self.counts)
        outputs[STYLESHEET_PATH] = self.pages.stylesheet()
        return outputs

    def _category(
        self, category: Category, newest: list[Release], listed: Sequence[Listed], prev_archive: int | None
    ) -> dict[str, bytes]:
        scope = FeedScope(self.settings, category, None, prev_archive)
        outputs = feeds.render_feeds(scope, newest[: self.settings.feed.items])
        outputs[feeds.category_path(category.slug)] = self.pages.category(category, listed)
        return outputs

    def everything(
        self, publisher: Publisher, on_progress: Callable[[int, int], None] | None = None
    ) -> tuple[dict[str, bytes], set[str]]:
        """Every output, and every file the build owns that should no longer exist."""
        visible = self.store.visible_releases(self.now)
        found = _by_id(visible)
        blocks = self._blocks(found)
        outputs = self._front(max(blocks, default=None))
        outputs.update(self._archives(None, blocks, blocks, found)[0])
        by_category: dict[str, list[Release]] = {}
        categories: dict[str, Category] = {}
        for done, release in enumerate(visible):
            if on_progress is not None:
                on_progress(done, len(visible))
            outputs[feeds.release_path(release.slug)] = self.pages.release(release)
            for category in release.categories:
                categories[category.slug] = category
                by_category.setdefault(category.slug, []).append(release)
        for slug, releases in by_category.items():
            blocks = self._blocks(release.id for release in releases)
            outputs.update(self._category(categories[slug], releases, releases, max(blocks, default=None)))
            outputs.update(self._archives(categories[slug], blocks, blocks, found)[0])
        stale = publisher.files_under(*_OUTPUT_FOLDERS) - outputs.keys()
        if on_progress is not None:
            on_progress(len(visible), len(visible))
        return outputs, stale

    def some(self, affected: _Affected, publisher: Publisher) -> tuple[dict[str, bytes], set[str]]:
        """The global feeds and index, the pages and feeds of the affected categories and releases, and
        the archives of the blocks they touch or that just became complete."""
        archived_before = (
            feeds.complete_blocks(min(affected.inserted) - 1) if affected.inserted else self.archived
        )
        completed = range(archived_before + 1, self.archived + 1)
        wanted = {feeds.archive_block(release_id) for release_id in affected.release_ids}
        wanted = {block for block in wanted if block <= self.archived} | set(completed)
        category_ids = set(affected.category_ids)
        if completed:
            # Every scope with a release in a new archive links its feed to it.
            first = (completed[0] - 1) * feeds.ARCHIVE_BLOCK + 1
            ids = range(first, completed[-1] * feeds.ARCHIVE_BLOCK + 1)
            category_ids |= self.store.release_category_ids(ids)

        blocks = self._blocks(self.store.visible_ids(self.now))
        outputs = self._front(max(blocks, default=None))
        archives, stale = self._archives(None, blocks, wanted)
        outputs.update(archives)
        shown = {category.slug: category for category, _ in self.counts}
        for slug in self.store.category_slugs_by_id(category_ids):
            if slug not in shown:
                stale.add(feeds.category_path(slug))
                stale.update(publisher.files_under(feeds.feed_dir(slug)))
                continue
            blocks = self._blocks(self.store.visible_ids(self.now, slug))
            # The feeds need the newest releases whole; the page lists all of them, read light.
            newest = self.store.visible_releases(self.now, category=slug, limit=self.settings.feed.items)
            listed = self.store.visible_lines(self.now, slug)
            outputs.update(self._category(shown[slug], newest, listed, max(blocks, default=None)))
            archives, gone = self._archives(shown[slug], blocks, wanted)
            outputs.update(archives)
            stale |= gone
        for release in self.store.releases_by_ids(sorted(affected.release_ids)):
            if release.is_visible(self.now):
                outputs[feeds.release_path(release.slug)] = self.pages.release(release)
            elif release.slug:
                stale.add(feeds.release_path(release.slug))
        return outputs, stale


def _by_id(releases: Iterable[Release]) -> dict[int, Release]:
    return {release.id: release for release in releases}


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
    oldest = now - news_age(settings)
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
_ALERT_MAX_AGE = timedelta(hours=48)


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


def news_age(settings: Settings) -> timedelta:
    """How old a release may be when the service first sees it and still be news (alerts, digests)."""
    return timedelta(hours=settings.outbox.alert_max_age_hours)


def digest_releases(
    store: Store, start: datetime, end: datetime, *, max_age: timedelta = _ALERT_MAX_AGE
) -> list[Release]:
    """Releases the service published in (start, end], newest first: those its builds announced then.

    Going by the announcement rather than `visible_at` keeps a release that was added after a run with a
    publication time before it (backdated by a few minutes) from falling into a period already sent; a
    release that was stale when first seen (an import of old releases, older than ``max_age``) is no
    news and is left out, as it is from alerts.
    """
    rows = store.conn.execute(
        "SELECT id, visible_at, announced_at FROM releases WHERE retracted_at IS NULL AND uid IS NOT NULL "
        "AND announced_at > ? AND announced_at <= ? AND visible_at <= ? ORDER BY visible_at DESC, id DESC",
        (iso(start), iso(end), iso(end)),
    ).fetchall()
    fresh = [
        release_id
        for release_id, visible_at, announced_at in rows
        if datetime.fromisoformat(visible_at) >= datetime.fromisoformat(announced_at) - max_age
    ]
    return store.releases_by_ids(fresh)


def digest_messages(
    store: Store,
    frequency: str,
    start: datetime,
    end: datetime,
    *,
    subscriber_id: int | None = None,
    max_age: timedelta = _ALERT_MAX_AGE,
) -> Iterator[outbox.NewMessage]:
    """One digest per active subscriber of ``frequency`` with at least one release of theirs published
    in (start, end] (see `digest_releases`), whenever they joined; with ``subscriber_id``, only that
    subscriber's, whatever their frequency (a preview).

    Streams subscribers with their category slugs in one query and matches each distinct category mix
    once (the rule of `Subscriber.wants`: none chosen means everything), so planning 100,000 digests
    holds no list of subscribers.
    """
    releases = digest_releases(store, start, end, max_age=max_age) if end > start else []
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
    with store.transaction() as conn:
        # The watermark is read inside the write transaction, so two runs at once (the daemon's job and
        # a `digest send`) cannot both plan from the same start: the second sees the first's end.
        start, end = digest_period(store, frequency, now)
        if end <= start:
            return DigestPlan(frequency, start, end, 0)
        messages = digest_messages(store, frequency, start, end, max_age=news_age(settings))
        planned = outbox.enqueue(store, messages, now)
        conn.execute(
            "INSERT INTO digest_runs (frequency, period_start, period_end, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(frequency, period_end) DO NOTHING",
            (frequency, iso(start), iso(end), iso(now)),
        )
    return DigestPlan(frequency, start, end, planned)
