"""The public outputs of a store at a moment: every file's bytes by path, for all or for what changed."""

from __future__ import annotations

import bisect
import functools
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from newsroom_feed.models import Category, Release
from newsroom_feed.settings import Settings
from newsroom_feed.site import formats, layout
from newsroom_feed.site.calendar import (
    CalendarEvents,
    calendar_releases,
    in_category,
    render_calendar,
    render_release_calendar,
    upcoming_events,
)
from newsroom_feed.site.feeds import Entries, FeedScope
from newsroom_feed.site.layout import INDEX_PATH, STYLESHEET_PATH
from newsroom_feed.site.pages import Listed, Pages
from newsroom_feed.site.publisher import Publisher
from newsroom_feed.store.database import ReleaseLine


@dataclass(slots=True)
class Affected:
    """What a set of changes touches: the global feeds and index always, these categories and releases."""

    release_ids: set[int]
    category_ids: set[int]
    #: Releases inserted since the last build: the ids below the lowest of them were given out before.
    inserted: set[int]
    #: Categories where a release already listed may have moved or gone (an edit, a retraction, a link
    #: changed): all their pages are made again. Elsewhere the changes only add releases to the lists.
    unsettled: set[int] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.release_ids or self.category_ids)


class PublishableStore(Protocol):
    """What the build may ask of the store: reads of what the public may see, nothing that writes.

    The build makes bytes from these answers and the plan (`Affected`); saving what it counted and
    where it got to is the planner's business (`Store.save_build_state`), after the files are in place.
    `store.database.Store` is one; a test or a second backend can be another.
    """

    def visible_category_counts(self, now: datetime) -> list[tuple[Category, int]]: ...
    def visible_pairs(
        self, now: datetime, release_ids: Iterable[int] | None = None
    ) -> list[tuple[int, int]]: ...
    def kept_category_counts(self) -> dict[int, int]: ...
    def counted_pairs(self, release_ids: Iterable[int]) -> list[tuple[int, int]]: ...
    def listed_categories(self, counts: dict[int, int]) -> list[tuple[Category, int]]: ...
    def last_release_id(self) -> int: ...
    def releases_by_ids(self, ids: list[int], *, held: bool = False) -> list[Release]: ...
    def visible_releases(
        self, now: datetime, *, category: str | None = None, limit: int | None = None
    ) -> list[Release]: ...
    def visible_lines(
        self, now: datetime, category: str, *, limit: int | None = None, offset: int = 0
    ) -> list[ReleaseLine]: ...
    def release_category_ids(self, release_ids: Iterable[int]) -> set[int]: ...
    def category_slugs_by_id(self, ids: Iterable[int]) -> list[str]: ...
    def page_slugs(self, release_ids: Iterable[int]) -> list[str]: ...
    def visible_ids(
        self, now: datetime, category: str | None = None, *, limit: int | None = None
    ) -> list[int]: ...
    def last_visible_id(self, now: datetime, category: str | None, at_most: int) -> int | None: ...
    def visible_newer(self, now: datetime, category: str, release_id: int) -> int | None: ...
    def withdrawn_releases(self, release_ids: Iterable[int] | None = None) -> list[Release]: ...
    def event_releases(self, now: datetime) -> list[Release]: ...
    def upcoming_event_releases(self, now: datetime) -> list[Release]: ...


#: Above this many added releases, finding the place of each costs more than making every page again.
_PLACES_LOOKED_UP = 100


class Renderer:
    """The outputs of one build: bytes keyed by path, and paths to remove.

    Besides the feeds and pages, each scope (the newsroom, each category) has RFC 5005 archive
    documents: one per complete block of release ids holding a visible release of the scope, each
    linking to the one before (``prev-archive``); the feed links to the newest (see `layout.ARCHIVE_BLOCK`).
    """

    def __init__(self, view: PublishableStore, settings: Settings, now: datetime) -> None:
        #: Read-only: the build asks it what to publish and never writes through it.
        self.view = view
        self.settings = settings
        self.now = now
        self.pages = Pages(settings)
        #: Each release's RSS item and Atom entry, serialised once for every document that lists it.
        self.entries = Entries(settings)
        #: Each event release's VEVENT, serialised once for every calendar that shows it.
        self.calendar_events = CalendarEvents(settings)
        #: The visible counts by category id this build made (`recount`), for the build to keep, and
        #: whether they are every category's.
        self.recounted: dict[int, int] = {}
        self.every_count = False
        #: The visible (release, category) links the counts were made of, and the releases they are
        #: of: for the build to keep in place of the old ones, so the next build counts by difference.
        self.pairs: list[tuple[int, int]] = []
        self.pairs_of: set[int] = set()

    @functools.cached_property
    def counts(self) -> list[tuple[Category, int]]:
        """The categories the index lists and how many visible releases each has; counted whole unless
        a build recounted (`recount`)."""
        return self.view.visible_category_counts(self.now)

    def recount(self, release_ids: set[int] | None) -> None:
        """Count the visible releases of every category (None), or move the counts the last build kept
        by what these releases changed: their visible links now against those it counted. A change
        costs the releases it touches, not the size of their categories."""
        self.pairs = self.view.visible_pairs(self.now, release_ids)
        self.every_count = release_ids is None
        now_counted = Counter(category_id for _, category_id in self.pairs)
        if release_ids is None:
            self.recounted, kept = dict(now_counted), {}
        else:
            self.pairs_of = set(release_ids)
            kept = self.view.kept_category_counts()
            moved = now_counted.copy()
            moved.subtract(category_id for _, category_id in self.view.counted_pairs(release_ids))
            self.recounted = {c: kept.get(c, 0) + n for c, n in sorted(moved.items()) if n}
        self.counts = self.view.listed_categories({**kept, **self.recounted})

    @functools.cached_property
    def archived(self) -> int:
        """Blocks 1..archived are complete and have archive documents."""
        return layout.complete_blocks(self.view.last_release_id())

    def core_paths(self) -> list[str]:
        """Files every build leaves in place: if one is missing, the directory was wiped."""
        return [
            INDEX_PATH,
            STYLESHEET_PATH,
            *formats.feed_paths(None),
            layout.calendar_path(None),
            layout.EVENTS_PATH,
        ]

    @functools.cached_property
    def calendar(self) -> list[Release]:
        """The event releases the calendars show, by the event's start (`calendar.calendar_releases`):
        read once by a build that rewrites the calendars, so they all agree with the clock of it."""
        return calendar_releases(self.view.event_releases(self.now), self.now, self.settings.zone)

    def _calendars(self, categories: Iterable[Category], newsroom: bool = True) -> dict[str, bytes]:
        """The newsroom's calendar (unless not ``newsroom``) and those of these categories."""
        events = self.calendar_events
        outputs = {}
        if newsroom:
            outputs[layout.calendar_path(None)] = render_calendar(self.settings, self.calendar, None, events)
        for category in categories:
            shown = in_category(self.calendar, category.slug)
            outputs[layout.calendar_path(category.slug)] = render_calendar(
                self.settings, shown, category, events
            )
        return outputs

    def _release(self, release: Release) -> dict[str, bytes]:
        """A visible release's page, and the iCalendar file of its event when it announces one."""
        outputs = {layout.release_path(release.slug): self.pages.release(release)}
        if release.event is not None:
            path = layout.release_calendar_path(release.slug)
            outputs[path] = render_release_calendar(self.settings, release, self.calendar_events)
        return outputs

    def _blocks(self, ids: Iterable[int]) -> dict[int, list[int]]:
        """Ids by archived block, keeping their order (newest first)."""
        blocks: dict[int, list[int]] = {}
        for release_id in ids:
            block = layout.archive_block(release_id)
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
                stale.update(formats.archive_paths(None if category is None else category.slug, block))
            position = bisect.bisect_left(order, block)
            todo.update(order[max(position - 1, 0) : position + 2])
        outputs: dict[str, bytes] = {}
        for block in sorted(todo):
            position = order.index(block)
            before = order[position - 1] if position else None
            after = order[position + 1] if position + 1 < len(order) else None
            scope = FeedScope(self.settings, category, block, before, after)
            ids = blocks[block]
            found = releases if releases is not None else _by_id(self.view.releases_by_ids(ids))
            # One the store held back between its two reads (a writer broke it meanwhile) is left out.
            listed = [found[release_id] for release_id in ids if release_id in found]
            outputs.update(formats.render_archive(scope, listed, self.entries))
        return outputs, stale

    def _front(self, prev_archive: int | None) -> dict[str, bytes]:
        newest = self.view.visible_releases(self.now, limit=self.settings.feed.items)
        outputs = formats.render_feeds(
            FeedScope(self.settings, None, None, prev_archive), newest, self.entries
        )
        outputs[INDEX_PATH] = self.pages.index(newest, self.counts)
        outputs[STYLESHEET_PATH] = self.pages.stylesheet()
        outputs.update(self.events_page())
        return outputs

    def events_page(self) -> dict[str, bytes]:
        """The page of upcoming events. It changes with the clock as well as the store (an event that
        is over leaves it), so every build makes it, even one with nothing changed in the store; it
        reads only the events near or after ``now``, not every calendar's."""
        upcoming = self.view.upcoming_event_releases(self.now)
        events = upcoming_events(upcoming, self.now, self.settings.zone)
        return {layout.EVENTS_PATH: self.pages.events(events)}

    def _category(
        self,
        category: Category,
        newest: list[Release],
        listed: Sequence[Listed],
        count: int,
        prev_archive: int | None,
    ) -> dict[str, bytes]:
        """The category's feeds and its own page; ``listed``: its newest `layout.CATEGORY_PAGE` at least."""
        scope = FeedScope(self.settings, category, None, prev_archive)
        outputs = formats.render_feeds(scope, newest[: self.settings.feed.items], self.entries)
        outputs[layout.category_path(category.slug)] = self.pages.category(
            category, listed[: layout.CATEGORY_PAGE], count
        )
        return outputs

    def _category_pages(
        self, category: Category, count: int, pages: Iterable[int], every: Sequence[Listed] | None = None
    ) -> dict[str, bytes]:
        """Older pages of a category's list; from ``every`` visible release of it (newest first) when
        the caller has them, else read page by page."""
        outputs: dict[str, bytes] = {}
        for page in pages:
            # Page n holds the releases at places (n-1)*size .. n*size-1 counted from the oldest.
            skip = count - page * layout.CATEGORY_PAGE
            if every is not None:
                listed: Sequence[Listed] = every[skip : skip + layout.CATEGORY_PAGE]
            else:
                listed = self.view.visible_lines(
                    self.now, category.slug, limit=layout.CATEGORY_PAGE, offset=skip
                )
            path = layout.category_page_path(category.slug, page)
            outputs[path] = self.pages.category(category, listed, count, page)
        return outputs

    def everything(
        self, publisher: Publisher, on_progress: Callable[[int, int], None] | None = None
    ) -> tuple[dict[str, bytes], set[str]]:
        """Every output, and every file the build owns that should no longer exist."""
        self.recount(None)
        visible = self.view.visible_releases(self.now)
        found = _by_id(visible)
        blocks = self._blocks(found)
        outputs = self._front(max(blocks, default=None))
        outputs.update(self._archives(None, blocks, blocks, found)[0])
        by_category: dict[str, list[Release]] = {}
        categories: dict[str, Category] = {}
        for done, release in enumerate(visible):
            if on_progress is not None:
                on_progress(done, len(visible))
            outputs.update(self._release(release))
            for category in release.categories:
                categories[category.slug] = category
                by_category.setdefault(category.slug, []).append(release)
        for slug, releases in by_category.items():
            blocks = self._blocks(release.id for release in releases)
            count = len(releases)
            outputs.update(
                self._category(categories[slug], releases, releases, count, max(blocks, default=None))
            )
            pages = range(1, layout.complete_pages(count) + 1)
            outputs.update(self._category_pages(categories[slug], count, pages, releases))
            outputs.update(self._archives(categories[slug], blocks, blocks, found)[0])
        outputs.update(self._calendars(categories.values()))
        outputs.update(self._withdrawn(None))
        stale = publisher.files_under(*layout.OUTPUT_FOLDERS) - outputs.keys()
        if on_progress is not None:
            on_progress(len(visible), len(visible))
        return outputs, stale

    def some(self, affected: Affected, publisher: Publisher) -> tuple[dict[str, bytes], set[str]]:
        """The global feeds and index, the pages and feeds of the affected categories and releases, and
        the archives of the blocks they touch or that just became complete."""
        archived_before = (
            layout.complete_blocks(min(affected.inserted) - 1) if affected.inserted else self.archived
        )
        completed = range(archived_before + 1, self.archived + 1)
        wanted = {layout.archive_block(release_id) for release_id in affected.release_ids}
        wanted = {block for block in wanted if block <= self.archived} | set(completed)
        self.recount(affected.release_ids)
        category_ids = set(affected.category_ids)
        if completed:
            # Every scope with a release in a new archive links its feed to it.
            first = (completed[0] - 1) * layout.ARCHIVE_BLOCK + 1
            ids = range(first, completed[-1] * layout.ARCHIVE_BLOCK + 1)
            category_ids |= self.view.release_category_ids(ids)

        blocks, newest_archive = self._scope_blocks(None, wanted)
        outputs = self._front(newest_archive)
        archives, stale = self._archives(None, blocks, wanted)
        outputs.update(archives)
        shown = {category.slug: category for category, _ in self.counts}
        counted = {category.slug: count for category, count in self.counts}
        unsettled = set(self.view.category_slugs_by_id(affected.unsettled))
        scopes: list[Category] = []  # the categories shown whose calendars may have changed
        for slug in self.view.category_slugs_by_id(category_ids):
            if slug not in shown:
                stale.add(layout.category_path(slug))
                stale.update(publisher.files_under(layout.feed_dir(slug), layout.category_pages_dir(slug)))
                continue
            blocks, newest_archive = self._scope_blocks(slug, wanted)
            # The feeds need the newest releases whole; the page lists its newest, read light.
            newest = self.view.visible_releases(self.now, category=slug, limit=self.settings.feed.items)
            listed = self.view.visible_lines(self.now, slug, limit=layout.CATEGORY_PAGE)
            # Recounted above when affected; one here only for a completed block has not changed.
            count = counted[slug]
            outputs.update(self._category(shown[slug], newest, listed, count, newest_archive))
            scopes.append(shown[slug])
            pages = self._moved_pages(shown[slug], count, affected.release_ids, slug in unsettled)
            outputs.update(self._category_pages(shown[slug], count, pages))
            if slug in unsettled:
                kept = {layout.category_page_path(slug, page) for page in pages}
                stale |= publisher.files_under(layout.category_pages_dir(slug)) - kept
            archives, gone = self._archives(shown[slug], blocks, wanted)
            outputs.update(archives)
            stale |= gone
        read = set()
        # Whether a release that announces (or announced: its file is there) an event changed.
        touched = False
        for release in self.view.releases_by_ids(sorted(affected.release_ids)):
            read.add(release.id)
            if release.slug:
                calendar_file = layout.release_calendar_path(release.slug)
                touched = touched or release.event is not None or publisher.exists(calendar_file)
            if release.is_visible(self.now):
                outputs.update(self._release(release))
                if release.event is None:  # an event taken out of the release takes its file along
                    stale.add(layout.release_calendar_path(release.slug))
            elif release.slug:
                stale.update((layout.release_path(release.slug), layout.release_calendar_path(release.slug)))
        # Releases the store holds back now (`Store.flaws`): their pages go, where a page can have been.
        for slug in self.view.page_slugs(affected.release_ids - read):
            stale.update((layout.release_path(slug), layout.release_calendar_path(slug)))
            touched = touched or publisher.exists(layout.release_calendar_path(slug))
        # The calendars are rewritten when an event release changed; otherwise only a category new to
        # the site gets its own (empty) one. A cancelled event left after its end goes at the next change.
        if touched:
            outputs.update(self._calendars(scopes))
        else:
            new = [c for c in scopes if not publisher.exists(layout.calendar_path(c.slug))]
            outputs.update(self._calendars(new, newsroom=False))
        outputs.update(self._withdrawn(affected.release_ids))
        return outputs, stale

    def _withdrawn(self, release_ids: set[int] | None) -> dict[str, bytes]:
        """The 410 notices of releases withdrawn after the public saw them (of ``release_ids``, or all):
        their pages are gone, and a reader who follows an old link learns why (`layout.gone_path`)."""
        return {
            layout.gone_path(release.slug): self.pages.gone(release)
            for release in self.view.withdrawn_releases(release_ids)
            if release.slug
        }

    def _scope_blocks(self, slug: str | None, wanted: set[int]) -> tuple[dict[int, list[int]], int | None]:
        """The archived blocks of a scope by id, and its newest archive (its feed's ``prev-archive``).
        Every visible id is read only when archives are to be made (``wanted``); otherwise, as after a
        new release that completes no block, the newest archive is found without them."""
        if wanted:
            blocks = self._blocks(self.view.visible_ids(self.now, slug))
            return blocks, max(blocks, default=None)
        last = self.view.last_visible_id(self.now, slug, self.archived * layout.ARCHIVE_BLOCK)
        return {}, None if last is None else layout.archive_block(last)

    def _moved_pages(self, category: Category, count: int, added: set[int], unsettled: bool) -> range:
        """The older pages of a category that the changes can have altered. Where releases were only
        added, those from the page of the oldest added one on, and the last page before them, whose
        link to a newer page is new when they complete one; elsewhere all of them."""
        last = layout.complete_pages(count)
        if unsettled or len(added) > _PLACES_LOOKED_UP:
            return range(1, last + 1)
        newer = [self.view.visible_newer(self.now, category.slug, release_id) for release_id in added]
        places = [count - 1 - after for after in newer if after is not None]
        if not places:
            return range(0)
        first = layout.page_of(min(places))
        before = layout.complete_pages(count - len(places))
        if before < last:
            first = min(first, max(before, 1))
        return range(first, last + 1)


def _by_id(releases: Iterable[Release]) -> dict[int, Release]:
    return {release.id: release for release in releases}
