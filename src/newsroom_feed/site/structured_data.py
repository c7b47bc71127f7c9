"""schema.org JSON-LD of a release page: a ``NewsArticle`` always, and an ``Event`` for a release that
announces one, so search engines and aggregators read the date and place as data.

The JSON goes inside ``<script type="application/ld+json">``: every ``<``, ``>`` and ``&`` is written as
a ``\\u`` escape (still the same JSON), so no text of a release can close the element or open a comment.
Only visible releases have pages, so an ``Event`` is always ``EventScheduled``.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup

from newsroom_feed.models import Event, Release
from newsroom_feed.settings import Settings
from newsroom_feed.site.feeds import entry_updated, release_url, summary

_SCHEMA = "https://schema.org"
#: What to write for each markup character. Replaced one by one: ``str.translate`` with a table looks up
#: every character of the (mostly non-ASCII) text and cost a quarter of a release page's render.
_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"))


def release_json_ld(settings: Settings, release: Release) -> Markup:
    """The page's JSON-LD: a ``NewsArticle``, and the ``Event`` it announces (in a ``@graph``)."""
    zone = settings.zone
    url = release_url(settings, release)
    publisher = {"@type": "Organization", "name": settings.feed.organization, "url": f"{settings.base_url}/"}
    article: dict[str, Any] = {
        "@type": "NewsArticle",
        "headline": release.title,
        "description": summary(release),
        "datePublished": _moment(release.visible_at, zone),
        "dateModified": _moment(entry_updated(release), zone),
        "url": url,
        "mainEntityOfPage": url,
        "inLanguage": release.language,
        "publisher": publisher,
        "author": publisher,
    }
    graph: list[dict[str, Any]] = [article]
    if release.event is not None:
        graph.append(_event(release, release.event, url, publisher, zone))
    document = {"@context": _SCHEMA, "@graph": graph}
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    for character, escape in _ESCAPES:
        text = text.replace(character, escape)
    return Markup(text)  # noqa: S704 - JSON with every markup character escaped


def _event(
    release: Release, event: Event, url: str, organizer: dict[str, Any], zone: ZoneInfo
) -> dict[str, Any]:
    places: list[dict[str, Any]] = []
    if event.location:
        places.append({"@type": "Place", "name": event.location, "address": event.location})
    if event.online_url:
        places.append({"@type": "VirtualLocation", "url": event.online_url})
    if event.location and event.online_url:
        mode = "MixedEventAttendanceMode"
    elif event.online_url:
        mode = "OnlineEventAttendanceMode"
    else:
        mode = "OfflineEventAttendanceMode"
    document: dict[str, Any] = {
        "@type": "Event",
        "name": release.title,
        "description": summary(release),
        "startDate": _when(event.start, zone),
        "eventStatus": f"{_SCHEMA}/EventScheduled",
        "eventAttendanceMode": f"{_SCHEMA}/{mode}",
        "url": url,
        "organizer": organizer,
    }
    if event.end is not None:
        document["endDate"] = _when(event.end, zone)
    if places:
        document["location"] = places[0] if len(places) == 1 else places
    return document


def _when(value: datetime | date, zone: ZoneInfo) -> str:
    """A moment with its offset in the newsroom's zone, or a day (an all-day event)."""
    return _moment(value, zone) if isinstance(value, datetime) else value.isoformat()


def _moment(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).isoformat(timespec="seconds")
