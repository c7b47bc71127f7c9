"""When a release's event takes place: its bounds in the newsroom's zone and its dates written out.

A leaf below `site/` and `mail/`, so that the pages, the calendars and the mails say the same words
("10 grudnia 2026, 10:00–16:00", all-day "26–27 listopada 2026"). Months come from Babel's names for
the language, in the form a date uses (Polish genitive: "listopada").
"""

from __future__ import annotations

import functools
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from babel import Locale

from newsroom_feed.models import Event

#: The dash between the two ends of a range: an en dash, without spaces inside one day or month.
_DASH = "\u2013"


@functools.cache
def month_names(language: str) -> dict[int, str]:
    """Month names by number, in the form a date uses (Polish genitive: "listopada"); Polish for a
    language Babel does not know. The pages' dates use them too."""
    try:
        locale = Locale.parse(language)
    except (ValueError, TypeError):
        locale = Locale.parse("pl")
    return dict(locale.months["format"]["wide"])


def _day(day: date, language: str) -> str:
    return f"{day.day} {month_names(language)[day.month]} {day.year}"


def _clock(moment: datetime) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"


def first_day(event: Event, zone: ZoneInfo) -> date:
    """The day the event starts, in the newsroom's zone."""
    return event.start.astimezone(zone).date() if isinstance(event.start, datetime) else event.start


def last_day(event: Event, zone: ZoneInfo) -> date:
    """The last day of the event (inclusive), in the newsroom's zone."""
    end = event.end if event.end is not None else event.start
    return end.astimezone(zone).date() if isinstance(end, datetime) else end


def starts_at(event: Event, zone: ZoneInfo) -> datetime:
    """The moment the event starts: an all-day event at midnight of its first day in the newsroom's zone."""
    if isinstance(event.start, datetime):
        return event.start
    return datetime.combine(event.start, time(), zone)


def ends_at(event: Event, zone: ZoneInfo) -> datetime:
    """The moment the event is over: its end, its start when it has none, or the midnight after the
    last day of an all-day event (in the newsroom's zone)."""
    end = event.end if event.end is not None else event.start
    if isinstance(end, datetime):
        return end
    return datetime.combine(end + timedelta(days=1), time(), zone)


def event_when(event: Event, zone: ZoneInfo, language: str = "pl") -> str:
    """The dates of an event as a reader says them: "10 grudnia 2026, 10:00–16:00", "10 grudnia 2026,
    10:00 – 11 grudnia 2026, 16:00", all-day "26–27 listopada 2026", "30 listopada – 1 grudnia 2026"."""
    if not isinstance(event.start, datetime):
        return _days(first_day(event, zone), last_day(event, zone), language)
    start = event.start.astimezone(zone)
    text = f"{_day(start.date(), language)}, {_clock(start)}"
    if not isinstance(event.end, datetime) or event.end == event.start:
        return text
    end = event.end.astimezone(zone)
    if end.date() == start.date():
        return f"{text}{_DASH}{_clock(end)}"
    return f"{text} {_DASH} {_day(end.date(), language)}, {_clock(end)}"


def _days(first: date, last: date, language: str) -> str:
    if first == last:
        return _day(first, language)
    months = month_names(language)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}{_DASH}{last.day} {months[last.month]} {last.year}"
    if first.year == last.year:
        return f"{first.day} {months[first.month]} {_DASH} {_day(last, language)}"
    return f"{_day(first, language)} {_DASH} {_day(last, language)}"
