"""Event releases as iCalendar (RFC 5545): the newsroom's and each category's calendar, and one file per
event release (its "add to calendar" link), made with the icalendar library.

One ``VEVENT`` per release: ``UID`` the release uid, ``SEQUENCE`` the number of its corrections,
``DTSTART``/``DTEND`` with ``TZID`` = the newsroom's zone and its ``VTIMEZONE`` (so an event at 10:00
stays at 10:00 across a change of clock), or ``VALUE=DATE`` for an all-day event (``DTEND`` the day after
the last, exclusive), ``URL`` the release page. A release retracted after it was public stays in the
calendars as ``STATUS:CANCELLED`` until its event is over, so that subscribed calendars drop it; one
retracted before it was public, or still under embargo or scheduled, is in none (the store never hands
it over, and `calendar_releases` checks again).

Deterministic: nothing reads a clock but the caller's ``now`` (which events are still worth cancelling);
``DTSTAMP`` is when the release last changed, so the same store gives the same bytes and the same ETag.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Timezone, TimezoneDaylight, TimezoneStandard
from icalendar import Event as CalendarEvent

from newsroom_feed import event_dates
from newsroom_feed.models import Category, Event, Release
from newsroom_feed.settings import Settings
from newsroom_feed.site import layout
from newsroom_feed.site.feeds import entry_updated, release_url, summary

MEDIA_TYPE = "text/calendar"
PRODID = "-//newsroom-feed//newsroom-feed//PL"
#: An iCalendar object needs one component at least: a calendar without events holds the zone of
#: this fixed year, so that its bytes do not move with the clock.
_EMPTY_YEAR = 2026
#: How often a subscribed calendar should look again (RFC 7986 and the older Apple/Microsoft name).
_REFRESH = timedelta(hours=1)  # "PT1H" in X-PUBLISHED-TTL below


def calendar_releases(releases: Iterable[Release], now: datetime, zone: ZoneInfo) -> list[Release]:
    """What a calendar shows at ``now``: releases with an event that are visible, and those retracted
    after they became visible whose event is not over yet (shown cancelled; after the event there is
    nothing left to take out of anyone's calendar)."""
    shown = []
    for release in releases:
        if release.event is None:
            continue
        over = event_dates.ends_at(release.event, zone) <= now
        if release.is_visible(now) or (_cancelled(release) and not over):
            shown.append(release)
    return shown


def _cancelled(release: Release) -> bool:
    """Retracted once the public had seen it: never true of a release withdrawn under embargo."""
    return release.retracted_at is not None and release.retracted_at >= release.visible_at


def upcoming_events(releases: Iterable[Release], now: datetime, zone: ZoneInfo) -> list[Release]:
    """Visible releases whose event is not over at ``now``, the soonest first: the events page."""
    upcoming = [
        (event_dates.starts_at(release.event, zone), release.id, release)
        for release in releases
        if release.event is not None
        and release.is_visible(now)
        and event_dates.ends_at(release.event, zone) > now
    ]
    return [release for _, _, release in sorted(upcoming, key=lambda item: item[:2])]


def in_category(releases: Iterable[Release], slug: str) -> list[Release]:
    return [release for release in releases if any(c.slug == slug for c in release.categories)]


class CalendarEvents:
    """Each release's ``VEVENT``, serialised once per build for every calendar that shows it (the
    newsroom's, its categories', its own file), as `feeds.Entries` does for feed entries: the library
    costs about 0.5 ms per event, so a release in three calendars was three times that.

    Across builds the bytes are kept by what they are made of (`_EventFacts`), so a build that
    rewrites the calendars after one event changed serialises that one, not every event the newsroom
    ever announced (measured, 1,000 past events: 0.55 s a rewrite before)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._serialised: dict[int, bytes] = {}

    def of(self, release: Release) -> bytes:
        done = self._serialised.get(release.id)
        if done is None and release.event is not None:
            done = _serialised(_EventFacts.of(self.settings, release, release.event))
            self._serialised[release.id] = done
        return done or b""


@dataclass(frozen=True, slots=True)
class _EventFacts:
    """Everything a ``VEVENT`` says, read from the release and the settings: `_event` reads nothing
    else, so equal facts give equal bytes and they can key the serialised events kept between builds."""

    zone: str
    uid: str
    changed: datetime
    created: datetime
    sequence: int
    cancelled: bool
    title: str
    event: Event
    page: str
    summary: str
    categories: tuple[str, ...]

    @classmethod
    def of(cls, settings: Settings, release: Release, event: Event) -> _EventFacts:
        changed = entry_updated(release)
        if release.retracted_at is not None:
            changed = max(changed, release.retracted_at)
        return cls(
            settings.timezone,
            release.uid,
            changed,
            release.visible_at,
            len(release.corrections),
            release.retracted_at is not None,
            release.title,
            event,
            release_url(settings, release),
            summary(release),
            tuple(category.name for category in release.categories),
        )


@functools.lru_cache(maxsize=5_000)
def _serialised(facts: _EventFacts) -> bytes:
    """An event's ``VEVENT`` as the library writes it, kept between builds (a few hundred bytes each)."""
    return bytes(_event(facts).to_ical())


def render_calendar(
    settings: Settings,
    releases: Sequence[Release],
    category: Category | None = None,
    events: CalendarEvents | None = None,
) -> bytes:
    """The calendar of a scope: ``releases`` as `calendar_releases` chose them, in the order given;
    ``events``, if given, shares the serialised events with the build's other calendars."""
    calendar = _calendar(settings, calendar_name(settings, category))
    calendar.add("url", layout.public_url(settings, layout.EVENTS_PATH))
    calendar.add("refresh-interval", _REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")
    return _finish(settings, calendar, releases, events or CalendarEvents(settings))


def calendar_name(settings: Settings, category: Category | None) -> str:
    """The name a calendar client shows for a scope's calendar, and its page link's title."""
    name = settings.feed.title if category is None else f"{settings.feed.title}: {category.name}"
    return f"{name} (wydarzenia)"


def render_release_calendar(
    settings: Settings, release: Release, events: CalendarEvents | None = None
) -> bytes:
    """The one event of a visible release: the file a reader opens to add it to their calendar."""
    calendar = _calendar(settings, release.title)
    return _finish(settings, calendar, [release], events or CalendarEvents(settings))


def _calendar(settings: Settings, name: str) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("name", name)
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", settings.timezone)
    return calendar


def _finish(
    settings: Settings, calendar: Calendar, releases: Sequence[Release], events: CalendarEvents
) -> bytes:
    """The calendar's properties and zone as the library writes them, then each event's ``VEVENT`` as
    the library wrote it (`CalendarEvents`), before the closing line."""
    zone = settings.zone
    timed = [r.event for r in releases if r.event is not None and isinstance(r.event.start, datetime)]
    if timed or not releases:
        years = [event_dates.first_day(e, zone).year for e in timed] or [_EMPTY_YEAR]
        last = [event_dates.last_day(e, zone).year for e in timed] or [_EMPTY_YEAR]
        calendar.add_component(_timezone(settings.timezone, min(years), max(last)))
    head = bytes(calendar.to_ical())
    end = b"END:VCALENDAR\r\n"
    if not head.endswith(end):
        raise ValueError("icalendar wrote a calendar that does not end with END:VCALENDAR")
    return head.removesuffix(end) + b"".join(map(events.of, releases)) + end


@functools.cache
def _timezone(name: str, first_year: int, last_year: int) -> Timezone:
    """The ``VTIMEZONE`` of the zone over the years the events span, a year before and after so no
    client has to guess at either end.

    Written here from zoneinfo's transitions rather than by ``Timezone.from_tzinfo``: that steps
    through wall-clock time, so it gives the spring change's onset as 03:00, the first local time
    after it, where RFC 5545 (3.6.5) wants the local time before it, read with ``TZOFFSETFROM``
    (02:00 in Warsaw); a client reading the library's zone moves the change an hour late.
    """
    zone = ZoneInfo(name)
    opening = datetime(first_year - 1, 1, 1, tzinfo=zone).astimezone(UTC)
    offset = _offset(zone, opening)
    # The offset in force when the window opens, as an observance that changes nothing.
    onsets: dict[tuple[timedelta, timedelta, str, bool], list[datetime]] = {
        _observance(zone, opening, offset): [(opening + offset).replace(tzinfo=None)]
    }
    for moment in _transitions(zone, opening, datetime(last_year + 2, 1, 1, tzinfo=zone)):
        key = _observance(zone, moment, offset)
        onsets.setdefault(key, []).append((moment + offset).replace(tzinfo=None))
        offset = key[1]
    timezone = Timezone()
    timezone.add("tzid", name)
    for (offset_from, offset_to, tzname, daylight), starts in onsets.items():
        observance = TimezoneDaylight() if daylight else TimezoneStandard()
        observance.add("dtstart", starts[0])
        if starts[1:]:
            observance.add("rdate", starts[1:])
        observance.add("tzname", tzname)
        observance.add("tzoffsetfrom", offset_from)
        observance.add("tzoffsetto", offset_to)
        timezone.add_component(observance)
    return timezone


def _offset(zone: ZoneInfo, moment: datetime) -> timedelta:
    return moment.astimezone(zone).utcoffset() or timedelta()


def _observance(
    zone: ZoneInfo, moment: datetime, offset_from: timedelta
) -> tuple[timedelta, timedelta, str, bool]:
    local = moment.astimezone(zone)
    return offset_from, _offset(zone, moment), local.tzname() or "", bool(local.dst())


def _transitions(zone: ZoneInfo, first: datetime, last: datetime) -> Iterator[datetime]:
    """The instants at which the zone's offset changes, to the minute: a day's step finds the day,
    halving finds the minute (no zone changes twice in one day)."""
    moment = first
    while moment < last:
        before = _offset(zone, moment)
        if before != _offset(zone, moment + timedelta(days=1)):
            low, high = 0, 24 * 60  # minutes after `moment`: still `before` at low, changed at high
            while high - low > 1:
                middle = (low + high) // 2
                if _offset(zone, moment + timedelta(minutes=middle)) == before:
                    low = middle
                else:
                    high = middle
            yield moment + timedelta(minutes=high)
        moment += timedelta(days=1)


def _event(facts: _EventFacts) -> CalendarEvent:
    zone = ZoneInfo(facts.zone)
    event = facts.event
    item = CalendarEvent()
    item.add("uid", facts.uid)
    item.add("dtstamp", facts.changed.astimezone(UTC))
    item.add("last-modified", facts.changed.astimezone(UTC))
    item.add("created", facts.created.astimezone(UTC))
    item.add("sequence", facts.sequence)
    item.add("status", "CANCELLED" if facts.cancelled else "CONFIRMED")
    item.add("summary", facts.title)
    if isinstance(event.start, datetime):
        item.add("dtstart", event.start.astimezone(zone))
        if isinstance(event.end, datetime) and event.end > event.start:
            item.add("dtend", event.end.astimezone(zone))
    else:
        item.add("dtstart", event.start)
        item.add("dtend", event_dates.last_day(event, zone) + timedelta(days=1))
    lines = [facts.summary]
    if event.online_url:
        lines.append(f"Online: {event.online_url}")
    lines.append(facts.page)
    item.add("description", "\n\n".join(lines))
    if event.location or event.online_url:
        item.add("location", event.location or event.online_url)
    if event.online_url:
        item.add("conference", event.online_url, parameters={"VALUE": "URI", "FEATURE": "VIDEO"})
    item.add("url", facts.page)
    if facts.categories:
        item.add("categories", list(facts.categories))
    return item
