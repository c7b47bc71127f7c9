"""Releases into the static HTML pages: the index, one page per release, one per category, and their CSS.

Pages are in Polish (``<html lang="pl">``), dates in the newsroom's zone written by Babel
("26 listopada 2026, 10:30"), every page carries feed and calendar autodiscovery links, and there is
no script at all (a release page's schema.org JSON-LD is data, `site.structured_data`).
Jinja2 autoescapes everything except a release's ``body_html``, which the store has already sanitised.

What each page lists (its URL is `site.layout`'s): ``/`` lists the newest ``feed.items`` releases and every
category with a visible release; ``/categories/<slug>/`` lists the newest visible releases of the
category beside its feeds at ``/feeds/<slug>/`` and links to its older pages (`layout.CATEGORY_PAGE`
releases each, counted from the oldest); ``/releases/<slug>/`` is the release, the ``link`` of its feed
entries. A page depends only on what it shows, so that one new release rewrites the index, the first page
of each of its categories and its own page, and nothing else.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context

from newsroom_feed.bundled import bundled_templates
from newsroom_feed.event_dates import event_when, month_names
from newsroom_feed.labels import attachment_label
from newsroom_feed.models import Attachment, Category, Release, iso
from newsroom_feed.settings import Settings
from newsroom_feed.site import layout
from newsroom_feed.site.calendar import calendar_name
from newsroom_feed.site.feeds import FeedScope, entry_updated, release_url, summary
from newsroom_feed.site.formats import FORMATS
from newsroom_feed.site.layout import INDEX_PATH, STYLESHEET_PATH, category_path, public_url, release_path
from newsroom_feed.site.structured_data import release_json_ld

_LOCALE = Locale.parse("pl")
#: Polish month names in the genitive ("26 listopada"), as dates are written, by month number.
_MONTHS = month_names("pl")


@functools.cache
def _environment(directory: Path) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(directory),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["isotime"] = iso
    environment.filters["label"] = _label
    environment.filters["tel"] = lambda phone: re.sub(r"[^\d+]", "", phone)
    environment.filters["date"] = _date
    return environment


@pass_context
def _date(context: Context, moment: datetime) -> str:
    """``26 listopada 2026, 10:30``: the month in the genitive, as Polish writes a date."""
    return local_date(moment, context["zone"])


def local_date(moment: datetime, zone: ZoneInfo) -> str:
    """Babel's ``d MMMM y, HH:mm`` in Polish, with its month names but without its pattern engine.

    `babel.dates.format_datetime` costs about 75 µs a call, a tenth of a whole release page; this gives
    the same text (a test pins the equality) from the month names Babel holds for Polish.
    """
    local = moment.astimezone(zone)
    return f"{local.day} {_MONTHS[local.month]} {local.year}, {local.hour:02d}:{local.minute:02d}"


def babel_date(moment: datetime, zone: ZoneInfo) -> str:
    """The reference `local_date` must equal."""
    return str(format_datetime(moment, "d MMMM y, HH:mm", tzinfo=zone, locale=_LOCALE))


def _label(attachment: Attachment) -> str:
    """``DOCX, 179,1 KB``: what the mail says of the same file (`labels.attachment_label`)."""
    return attachment_label(attachment.mime_type, attachment.length, "pl")


class Listed(Protocol):
    """What a list line needs: a `Release`, or a `ReleaseLine` read without the body."""

    @property
    def slug(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def number(self) -> str: ...
    @property
    def visible_at(self) -> datetime: ...
    @property
    def urgent(self) -> bool: ...
    @property
    def summary(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class ListItem:
    """One line of a list of releases, computed in Python: cheaper than filters in a 500-row loop."""

    url: str
    title: str
    iso: str
    date: str
    number: str
    urgent: bool
    summary: str | None


@dataclass(frozen=True, slots=True)
class EventBox:
    """What a page says of a release's event: when (in Polish words), where, the online link, and the
    iCalendar file of it ("Dodaj do kalendarza")."""

    url: str
    title: str
    when: str
    start: str
    location: str | None
    online_url: str | None
    calendar_url: str


@dataclass(frozen=True, slots=True)
class _CalendarLink:
    url: str
    title: str


@dataclass(frozen=True, slots=True)
class _FeedLink:
    url: str
    type: str
    title: str
    label: str


class Pages:
    """Renders the pages of one newsroom; create once per build, it holds the compiled templates."""

    def __init__(self, settings: Settings, directory: Path | None = None) -> None:
        self.settings = settings
        self.directory = directory or bundled_templates("pages")
        self.zone: ZoneInfo = settings.zone
        environment = _environment(self.directory)
        self._index = environment.get_template("index.html")
        self._release = environment.get_template("release.html")
        self._category = environment.get_template("category.html")
        self._events = environment.get_template("events.html")
        self._gone = environment.get_template("gone.html")
        self._site = {
            "title": settings.feed.title,
            "description": settings.feed.description,
            "organization": settings.feed.organization,
            "email": str(settings.feed.author_email),
            "base_url": settings.base_url,
            "stylesheet_url": public_url(settings, STYLESHEET_PATH),
        }
        self._feed_links: dict[Category | None, list[_FeedLink]] = {}
        self._globals = {
            "site": self._site,
            "release_url": functools.partial(release_url, settings),
            "category_url": self.category_url,
            "zone": self.zone,
            "events_url": public_url(settings, layout.EVENTS_PATH),
        }

    def category_url(self, category: Category) -> str:
        return public_url(self.settings, category_path(category.slug))

    def _feeds(self, category: Category | None) -> list[_FeedLink]:
        """The autodiscovery links of a scope, made once per build: every release page has the same."""
        links = self._feed_links.get(category)
        if links is None:
            scope = FeedScope(self.settings, category)
            links = [
                _FeedLink(
                    scope.url(output.name), output.media_type, f"{scope.title} ({output.label})", output.label
                )
                for output in FORMATS
            ]
            self._feed_links[category] = links
        return links

    def _calendar(self, category: Category | None) -> _CalendarLink:
        """The scope's calendar of events (`site.calendar`), for autodiscovery beside its feeds."""
        slug = None if category is None else category.slug
        url = public_url(self.settings, layout.calendar_path(slug))
        return _CalendarLink(url, calendar_name(self.settings, category))

    def event_box(self, release: Release) -> EventBox | None:
        event = release.event
        if event is None:
            return None
        start = event.start
        return EventBox(
            url=layout.release_url(self.settings.base_url, release.slug),
            title=release.title,
            when=event_when(event, self.zone),
            start=iso(start) if isinstance(start, datetime) else start.isoformat(),
            location=event.location,
            online_url=event.online_url,
            calendar_url=layout.release_calendar_url(self.settings.base_url, release.slug),
        )

    def _render(self, template: Any, path: str, feeds_of: Category | None, **values: Any) -> bytes:
        values.setdefault("calendar", self._calendar(feeds_of))
        values.setdefault("json_ld", None)
        text: str = template.render(
            **self._globals,
            canonical=public_url(self.settings, path),
            feeds=self._feeds(feeds_of),
            **values,
        )
        return text.encode("utf-8")

    def _items(self, releases: Sequence[Listed]) -> list[ListItem]:
        base_url = self.settings.base_url
        return [
            ListItem(
                url=layout.release_url(base_url, release.slug),
                title=release.title,
                iso=iso(release.visible_at),
                date=local_date(release.visible_at, self.zone),
                number=release.number,
                urgent=release.urgent,
                summary=release.summary,
            )
            for release in releases
        ]

    def index(self, releases: Sequence[Release], categories: Sequence[tuple[Category, int]]) -> bytes:
        """The front page: newest releases first and each category with its count of visible releases."""
        return self._render(self._index, INDEX_PATH, None, items=self._items(releases), categories=categories)

    def release(self, release: Release) -> bytes:
        updated = entry_updated(release)
        return self._render(
            self._release,
            release_path(release.slug),
            None,
            release=release,
            summary=summary(release),
            updated=updated,
            corrected=updated > release.visible_at,
            event=self.event_box(release),
            json_ld=release_json_ld(self.settings, release),
        )

    def events(self, releases: Sequence[Release]) -> bytes:
        """The page of upcoming events, soonest first (`calendar.upcoming_events` chose them)."""
        boxes = [box for box in map(self.event_box, releases) if box is not None]
        return self._render(self._events, layout.EVENTS_PATH, None, events=boxes)

    def category(
        self, category: Category, releases: Sequence[Listed], count: int, page: int | None = None
    ) -> bytes:
        """One page of the category's list, newest first: its own page (``page`` None) shows the newest
        `layout.CATEGORY_PAGE` releases, page n those at n's place counted from the oldest; each links to
        the older page and the newer one, so every release is reachable. ``count``: all it holds."""
        last = layout.complete_pages(count)
        newest = last if page is None else page - 1
        older = layout.category_page_path(category.slug, newest) if newest >= 1 else None
        newer = None
        if page is not None:
            newer = layout.category_page_path(category.slug, page + 1 if page < last else None)
        return self._render(
            self._category,
            layout.category_page_path(category.slug, page),
            category,
            category=category,
            items=self._items(releases),
            count=count,
            page=page,
            older_url=None if older is None else public_url(self.settings, older),
            newer_url=None if newer is None else public_url(self.settings, newer),
        )

    def gone(self, release: Release) -> bytes:
        """The short notice answered with 410 at the URL of a release withdrawn after it was public: its
        number and the date of withdrawal, nothing of its text (`layout.gone_path`). Its canonical page
        is the front page, where the newsroom's current releases are."""
        return self._render(self._gone, INDEX_PATH, None, release=release)

    def stylesheet(self) -> bytes:
        return (self.directory / STYLESHEET_PATH).read_bytes()
