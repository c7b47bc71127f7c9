"""Events as a journalist meets them outside the mail: the iCalendar files (RFC 5545) a calendar
subscribes to or imports, the event box and JSON-LD of a release page, and the upcoming-events page."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from icalendar import Calendar
from lxml import html

from newsroom_feed import planner
from newsroom_feed.event_dates import event_when
from newsroom_feed.models import DEFAULT_ZONE, Event, Release, ReleaseInput
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store
from newsroom_feed.web import create_app

from ..conftest import NOW
from ..web_helpers import serve

WARSAW = DEFAULT_ZONE
#: A place with every Polish letter and the commas and semicolon iCalendar must escape.
PLACE = "Wrocław, Stadion Miejski; al. Śląska 1 (sala „Żółta”)"
#: Long enough to be folded many times, with multi-byte letters to cut between.
LONG_SUMMARY = (
    "Zapraszamy dziennikarzy na Kongres Miast Polskich: źródła finansowania, łączność, gęślą jaźń. " * 12
).strip()
TITLE = "Kongres Miast Polskich 2026 – zaproszenie dla mediów"
SECRET = "Tajne spotkanie burmistrzów – embargo"
LATER = "Zapowiedź seminarium o smogu (zaplanowana)"


def add(store: Store, created: datetime = NOW - timedelta(days=1), **document: Any) -> Release:
    """A release document as `release add -` reads it from stdin."""
    return store.add_release(ReleaseInput.parse(document, store.zone), created)


def event_newsroom(store: Store) -> dict[str, Release]:
    """At NOW (26 November 2026, 10:30 in Warsaw): a timed congress in December, an all-day online
    seminar running today and tomorrow, two past events on the days the clocks changed in 2026, a release
    without an event, and two event releases the public may not see yet."""
    return {
        "congress": add(
            store,
            title=TITLE,
            summary=LONG_SUMMARY,
            categories=["wydarzenia"],
            published_at="2026-11-25T10:00:00+01:00",
            event={
                "start": "2026-12-10T10:00:00+01:00",
                "end": "2026-12-10T16:00:00+01:00",
                "location": PLACE,
            },
        ),
        "seminar": add(
            store,
            title="Seminarium online o komunikacji kryzysowej",
            categories=["szkolenia"],
            published_at="2026-11-20T10:00:00+01:00",
            event={
                "all_day": True,
                "start": "2026-11-26",
                "end": "2026-11-27",
                "online_url": "https://meet.example.pl/seminarium",
            },
        ),
        "spring": add(
            store,
            NOW - timedelta(days=300),
            title="Dzień otwarty ratusza (zmiana czasu na letni)",
            categories=["wydarzenia"],
            published_at="2026-03-01T10:00:00+01:00",
            event={
                "start": "2026-03-29T10:00:00+02:00",
                "end": "2026-03-29T12:00:00+02:00",
                "location": "Łódź",
            },
        ),
        "autumn": add(
            store,
            NOW - timedelta(days=100),
            title="Sesja rady (zmiana czasu na zimowy)",
            categories=["wydarzenia"],
            published_at="2026-10-01T10:00:00+02:00",
            event={"start": "2026-10-25T10:00:00+01:00", "location": "Gdańsk"},
        ),
        "plain": add(
            store,
            title="Komunikat bez wydarzenia",
            categories=["wydarzenia"],
            published_at="2026-11-24T09:00:00+01:00",
        ),
        "embargoed": add(
            store,
            title=SECRET,
            categories=["wydarzenia"],
            published_at="2026-11-25T10:00:00+01:00",
            embargo_until="2026-12-01T10:00:00+01:00",
            event={"start": "2026-12-08T10:00:00+01:00", "location": "Kraków"},
        ),
        "scheduled": add(
            store,
            title=LATER,
            categories=["wydarzenia"],
            published_at="2026-12-05T10:00:00+01:00",
            event={"all_day": True, "start": "2026-12-12"},
        ),
    }


@pytest.fixture
def newsroom(store: Store, settings: Settings) -> dict[str, Release]:
    releases = event_newsroom(store)
    planner.build(store, settings, NOW)
    return releases


def calendars(public: Path) -> list[Path]:
    return sorted(public.rglob("*.ics"))


def events_of(path: Path) -> dict[str, Any]:
    """The VEVENTs of a calendar file by UID, parsed back with the icalendar library."""
    calendar = Calendar.from_ical(path.read_bytes())
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


def unfolded(path: Path) -> str:
    """The content lines of a calendar with RFC 5545 folding undone (CRLF and one space or tab)."""
    return re.sub(r"\r\n[ \t]", "", path.read_bytes().decode("utf-8"))


def test_every_calendar_parses_back_and_is_folded_within_75_octets(
    newsroom: dict[str, Release], settings: Settings
) -> None:
    public = settings.public_dir
    assert [path.relative_to(public).as_posix() for path in calendars(public)] == sorted(
        [
            "feeds/events.ics",
            "feeds/szkolenia/events.ics",
            "feeds/wydarzenia/events.ics",
            f"releases/{newsroom['autumn'].slug}/event.ics",
            f"releases/{newsroom['congress'].slug}/event.ics",
            f"releases/{newsroom['seminar'].slug}/event.ics",
            f"releases/{newsroom['spring'].slug}/event.ics",
        ]
    )
    for path in calendars(public):
        data = path.read_bytes()
        assert data.startswith(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:"), path
        assert data.endswith(b"END:VCALENDAR\r\n"), path
        assert all(len(line) <= 75 for line in data.split(b"\r\n")), path
        calendar = Calendar.from_ical(data)
        assert calendar.errors == [] and all(event.errors == [] for event in calendar.walk("VEVENT")), path
    everything = events_of(public / "feeds" / "events.ics")
    wanted = ("autumn", "congress", "seminar", "spring")
    assert set(everything) == {newsroom[name].uid for name in wanted}
    assert set(events_of(public / "feeds" / "szkolenia" / "events.ics")) == {newsroom["seminar"].uid}


def test_a_timed_event_keeps_warsaw_wall_time_with_its_vtimezone(
    newsroom: dict[str, Release], settings: Settings
) -> None:
    public = settings.public_dir
    text = unfolded(public / "feeds" / "events.ics")
    assert "DTSTART;TZID=Europe/Warsaw:20261210T100000" in text
    assert "DTEND;TZID=Europe/Warsaw:20261210T160000" in text
    # Both sides of both changes of clock in 2026 stay at 10:00 local time.
    assert "DTSTART;TZID=Europe/Warsaw:20260329T100000" in text
    assert "DTSTART;TZID=Europe/Warsaw:20261025T100000" in text
    calendar = Calendar.from_ical((public / "feeds" / "events.ics").read_bytes())
    assert [str(zone["TZID"]) for zone in calendar.walk("VTIMEZONE")] == ["Europe/Warsaw"]
    starts = {str(e["UID"]): e.decoded("DTSTART") for e in calendar.walk("VEVENT")}
    spring, autumn = starts[newsroom["spring"].uid], starts[newsroom["autumn"].uid]
    assert (spring.hour, spring.utcoffset()) == (10, timedelta(hours=2))
    assert (autumn.hour, autumn.utcoffset()) == (10, timedelta(hours=1))
    assert spring.astimezone(UTC) == datetime(2026, 3, 29, 8, tzinfo=UTC)


def test_the_vtimezone_changes_the_clock_when_warsaw_does(
    newsroom: dict[str, Release], settings: Settings
) -> None:
    """RFC 5545 3.6.5: an observance's DTSTART and RDATEs are local times read with TZOFFSETFROM, the
    wall time before the change: 02:00 in spring, 03:00 in autumn. A client reading 03:00 in spring
    moves the change an hour late."""
    calendar = Calendar.from_ical((settings.public_dir / "feeds" / "events.ics").read_bytes())
    (zone,) = calendar.walk("VTIMEZONE")
    changes = []
    for observance in zone.walk("STANDARD") + zone.walk("DAYLIGHT"):
        before, after = observance["TZOFFSETFROM"].td, observance["TZOFFSETTO"].td
        onsets = [observance.decoded("DTSTART")]
        if "RDATE" in observance:
            onsets += [period.dt for period in observance["RDATE"].dts]
        for onset in onsets:
            instant = (onset - before).replace(tzinfo=UTC)
            assert instant.astimezone(WARSAW).utcoffset() == after, onset
            if before != after:
                assert (instant - timedelta(seconds=1)).astimezone(WARSAW).utcoffset() == before, onset
                changes.append(instant)
    spring = [datetime(year, 3, day, 1, tzinfo=UTC) for year, day in [(2025, 30), (2026, 29), (2027, 28)]]
    autumn = [datetime(year, 10, day, 1, tzinfo=UTC) for year, day in [(2025, 26), (2026, 25), (2027, 31)]]
    assert sorted(changes) == sorted(spring + autumn)


def test_an_all_day_event_is_given_in_days_with_the_end_exclusive(
    newsroom: dict[str, Release], settings: Settings
) -> None:
    path = settings.public_dir / "releases" / newsroom["seminar"].slug / "event.ics"
    text = unfolded(path)
    assert "DTSTART;VALUE=DATE:20261126" in text and "DTEND;VALUE=DATE:20261128" in text
    assert "VTIMEZONE" not in text  # no time of day: nothing to say about the zone
    event = events_of(path)[newsroom["seminar"].uid]
    assert (event.decoded("DTSTART"), event.decoded("DTEND")) == (date(2026, 11, 26), date(2026, 11, 28))
    assert str(event["CONFERENCE"]) == "https://meet.example.pl/seminarium"
    assert "https://meet.example.pl/seminarium" in str(event["DESCRIPTION"])


def test_an_event_says_what_where_and_links_its_release(
    newsroom: dict[str, Release], settings: Settings
) -> None:
    release = newsroom["congress"]
    event = events_of(settings.public_dir / "feeds" / "wydarzenia" / "events.ics")[release.uid]
    assert str(event["SUMMARY"]) == TITLE
    assert str(event["LOCATION"]) == PLACE  # Polish letters, commas and a semicolon survive
    description = str(event["DESCRIPTION"])
    assert description.startswith(LONG_SUMMARY)  # folded over many lines, cut nowhere
    url = f"https://prasa.example.pl/releases/{release.slug}/"
    assert str(event["URL"]) == url and description.endswith(url)
    assert int(event["SEQUENCE"]) == 0 and str(event["STATUS"]) == "CONFIRMED"
    assert event.decoded("DTSTAMP") == release.visible_at  # when it last changed, not the clock


def test_embargoed_and_scheduled_event_releases_are_in_no_calendar_and_not_on_the_events_page(
    newsroom: dict[str, Release], settings: Settings
) -> None:
    public = settings.public_dir
    hidden = [newsroom["embargoed"], newsroom["scheduled"]]
    for path in [*calendars(public), public / "events" / "index.html"]:
        text = unfolded(path) if path.suffix == ".ics" else path.read_text(encoding="utf-8")
        for release in hidden:
            assert release.uid not in text and release.slug not in text and release.title not in text, path
        assert "Kraków" not in text, path
    assert not any((public / "releases" / release.slug).exists() for release in hidden)


def test_same_store_gives_the_same_calendar_bytes(
    newsroom: dict[str, Release], store: Store, settings: Settings
) -> None:
    first = {path: path.read_bytes() for path in calendars(settings.public_dir)}
    report = planner.build(store, settings, NOW + timedelta(minutes=5), full=True)
    assert not [path for path in report.written if path.endswith(".ics")]
    assert {path: path.read_bytes() for path in calendars(settings.public_dir)} == first


def test_a_correction_raises_the_sequence_and_rewrites_the_calendars(
    newsroom: dict[str, Release], store: Store, settings: Settings
) -> None:
    release = newsroom["congress"]
    moved = {"start": "2026-12-11T10:00:00+01:00", "end": "2026-12-11T15:00:00+01:00", "location": PLACE}
    later = NOW + timedelta(hours=1)
    store.correct_release(release.id, "Przesunięto kongres o jeden dzień.", {"event": moved}, later)
    report = planner.build(store, settings, later)
    assert {
        "feeds/events.ics",
        "feeds/wydarzenia/events.ics",
        f"releases/{release.slug}/event.ics",
    } <= set(report.written)
    assert "feeds/szkolenia/events.ics" not in report.written
    for path in ("feeds/events.ics", f"releases/{release.slug}/event.ics"):
        event = events_of(settings.public_dir / path)[release.uid]
        assert int(event["SEQUENCE"]) == 1, path
        assert event.decoded("DTSTART") == datetime(2026, 12, 11, 10, tzinfo=WARSAW)
        assert event.decoded("DTSTAMP") == later


def test_a_renamed_category_and_a_new_address_reach_every_event_at_the_next_build(
    newsroom: dict[str, Release], store: Store, settings: Settings
) -> None:
    """What an event says may change without its release changing (events are kept serialised
    between builds, by what they say): a category's name, the newsroom's address."""
    release = newsroom["congress"]
    store.set_category("wydarzenia", "Wydarzenia i kongresy")
    later = NOW + timedelta(hours=1)
    planner.build(store, settings, later)
    event = events_of(settings.public_dir / "feeds" / "events.ics")[release.uid]
    assert [str(name) for name in event["CATEGORIES"].cats] == ["Wydarzenia i kongresy"]
    moved = settings.model_copy(update={"base_url": "https://media.example.pl"})
    planner.build(store, moved, later + timedelta(minutes=1), full=True)
    for path in ("feeds/events.ics", f"releases/{release.slug}/event.ics"):
        event = events_of(settings.public_dir / path)[release.uid]
        assert str(event["URL"]) == f"https://media.example.pl/releases/{release.slug}/", path
        assert f"https://media.example.pl/releases/{release.slug}/" in str(event["DESCRIPTION"])


def test_a_retracted_event_stays_cancelled_in_the_calendars_until_it_is_over(
    newsroom: dict[str, Release], store: Store, settings: Settings
) -> None:
    public = settings.public_dir
    release = newsroom["congress"]
    later = NOW + timedelta(hours=1)
    store.retract_release(release.id, later)
    planner.build(store, settings, later)
    for path in (public / "feeds" / "events.ics", public / "feeds" / "wydarzenia" / "events.ics"):
        event = events_of(path)[release.uid]
        assert str(event["STATUS"]) == "CANCELLED", path
        assert event.decoded("DTSTAMP") == later
    assert not (public / "releases" / release.slug / "event.ics").exists()
    assert release.slug not in (public / "events" / "index.html").read_text(encoding="utf-8")
    # Once the congress is over there is nothing to take out of anyone's calendar any more.
    planner.build(store, settings, datetime(2026, 12, 10, 16, 0, 1, tzinfo=WARSAW), full=True)
    assert release.uid not in unfolded(public / "feeds" / "events.ics")


def test_a_release_retracted_under_embargo_is_never_in_a_calendar_even_cancelled(
    newsroom: dict[str, Release], store: Store, settings: Settings
) -> None:
    embargoed = newsroom["embargoed"]
    store.retract_release(embargoed.id, NOW + timedelta(hours=1))
    planner.build(store, settings, datetime(2026, 12, 2, tzinfo=UTC), full=True)
    for path in calendars(settings.public_dir):
        assert embargoed.uid not in unfolded(path), path


def test_the_release_page_shows_the_event_with_an_add_to_calendar_link(
    newsroom: dict[str, Release], settings: Settings
) -> None:
    release = newsroom["congress"]
    page = html.parse(str(settings.public_dir / "releases" / release.slug / "index.html")).getroot()
    box = page.find(".//section[@class='event']")
    assert box is not None
    text = " ".join(box.text_content().split())
    assert "10 grudnia 2026, 10:00–16:00" in text and f"Miejsce: {PLACE}" in text
    link = [a for a in box.iter("a") if a.text_content() == "Dodaj do kalendarza"]
    assert [a.get("href") for a in link] == [f"https://prasa.example.pl/releases/{release.slug}/event.ics"]
    assert box.find(".//time").get("datetime") == "2026-12-10T09:00:00Z"
    seminar = html.parse(str(settings.public_dir / "releases" / newsroom["seminar"].slug / "index.html"))
    seminar_box = seminar.getroot().find(".//section[@class='event']")
    assert seminar_box is not None
    assert "26–27 listopada 2026" in seminar_box.text_content()
    assert seminar_box.find(".//a[@href='https://meet.example.pl/seminarium']") is not None
    plain = html.parse(str(settings.public_dir / "releases" / newsroom["plain"].slug / "index.html"))
    assert plain.getroot().find(".//section[@class='event']") is None


def json_ld(path: Path) -> dict[str, Any]:
    scripts = html.parse(str(path)).getroot().findall(".//script[@type='application/ld+json']")
    assert len(scripts) == 1
    document: dict[str, Any] = json.loads(scripts[0].text)
    return document


def test_release_pages_carry_news_article_and_event_json_ld(
    newsroom: dict[str, Release], settings: Settings
) -> None:
    public = settings.public_dir
    congress = json_ld(public / "releases" / newsroom["congress"].slug / "index.html")
    assert congress["@context"] == "https://schema.org"
    article, event = congress["@graph"]
    url = f"https://prasa.example.pl/releases/{newsroom['congress'].slug}/"
    assert article["@type"] == "NewsArticle" and article["headline"] == TITLE and article["url"] == url
    assert article["datePublished"] == "2026-11-25T10:00:00+01:00"
    assert article["publisher"]["@type"] == "Organization"
    assert event["@type"] == "Event" and event["name"] == TITLE
    assert (event["startDate"], event["endDate"]) == (
        "2026-12-10T10:00:00+01:00",
        "2026-12-10T16:00:00+01:00",
    )
    assert event["location"] == {"@type": "Place", "name": PLACE, "address": PLACE}
    assert event["eventAttendanceMode"] == "https://schema.org/OfflineEventAttendanceMode"
    assert event["eventStatus"] == "https://schema.org/EventScheduled"
    online = json_ld(public / "releases" / newsroom["seminar"].slug / "index.html")["@graph"][1]
    assert (online["startDate"], online["endDate"]) == ("2026-11-26", "2026-11-27")
    assert online["location"] == {"@type": "VirtualLocation", "url": "https://meet.example.pl/seminarium"}
    plain = json_ld(public / "releases" / newsroom["plain"].slug / "index.html")
    assert [item["@type"] for item in plain["@graph"]] == ["NewsArticle"]


def test_json_ld_cannot_close_its_script_element(store: Store, settings: Settings) -> None:
    title = "Uwaga </script><script>alert(1)</script> <!-- & koniec"
    release = add(
        store,
        title=title,
        published_at="2026-11-25T10:00:00+01:00",
        event={"start": "2026-12-01T10:00:00+01:00", "location": "</script>"},
    )
    planner.build(store, settings, NOW)
    path = settings.public_dir / "releases" / release.slug / "index.html"
    text = path.read_text(encoding="utf-8")
    assert text.count("</script>") == 1 and "<!--" not in text
    graph = json_ld(path)["@graph"]
    assert graph[0]["headline"] == title and graph[1]["location"]["name"] == "</script>"


def test_the_events_page_lists_upcoming_events_soonest_first(
    newsroom: dict[str, Release], settings: Settings
) -> None:
    page = html.parse(str(settings.public_dir / "events" / "index.html")).getroot()
    assert page.findtext(".//h1") == "Nadchodzące wydarzenia"
    titles = [a.text_content() for a in page.findall(".//ol[@class='releases events']//h2/a")]
    # The seminar runs today: still on; the two events of spring and autumn are over.
    assert titles == [newsroom["seminar"].title, TITLE]
    index = html.parse(str(settings.public_dir / "index.html")).getroot()
    assert index.find(".//footer//a[@href='https://prasa.example.pl/events/']") is not None


def test_an_event_that_is_over_leaves_the_events_page_though_nothing_else_changed(
    newsroom: dict[str, Release], store: Store, settings: Settings
) -> None:
    """The seminar runs on 26 and 27 November: the first build of the 28th takes it off the page, with
    nothing new in the store and nothing else rewritten."""
    report = planner.build(store, settings, datetime(2026, 11, 28, 0, 0, 1, tzinfo=WARSAW))
    assert report.written == ("events/index.html",) and not report.full
    page = html.parse(str(settings.public_dir / "events" / "index.html")).getroot()
    assert [a.text_content() for a in page.findall(".//ol[@class='releases events']//h2/a")] == [TITLE]
    assert planner.build(store, settings, datetime(2026, 11, 28, 0, 1, tzinfo=WARSAW)).written == ()


def test_the_events_page_keeps_a_long_event_still_running_and_drops_one_just_over(
    store: Store, settings: Settings
) -> None:
    """The page reads only the events near ``now`` from the store: one that began weeks ago and runs
    on is still near enough, one that ended a minute ago is not on the page."""
    fair = add(
        store,
        title="Wystawa „Miasta przyszłości” (cały miesiąc)",
        published_at="2026-10-20T10:00:00+02:00",
        event={"all_day": True, "start": "2026-11-01", "end": "2026-11-30"},
    )
    add(
        store,
        title="Briefing poranny",
        published_at="2026-11-20T10:00:00+01:00",
        event={"start": "2026-11-26T09:00:00+01:00", "end": "2026-11-26T10:29:00+01:00"},
    )
    planner.build(store, settings, NOW)
    page = html.parse(str(settings.public_dir / "events" / "index.html")).getroot()
    assert [a.text_content() for a in page.findall(".//ol[@class='releases events']//h2/a")] == [fair.title]


def test_the_events_page_says_so_when_nothing_is_coming(store: Store, settings: Settings) -> None:
    add(store, title="Komunikat", published_at="2026-11-24T09:00:00+01:00")
    planner.build(store, settings, NOW)
    page = (settings.public_dir / "events" / "index.html").read_text(encoding="utf-8")
    assert "Nie zapowiedziano żadnych nadchodzących wydarzeń." in page
    calendar = Calendar.from_ical((settings.public_dir / "feeds" / "events.ics").read_bytes())
    assert calendar.walk("VEVENT") == [] and len(calendar.walk("VTIMEZONE")) == 1


@pytest.mark.parametrize(
    ("event", "words"),
    [
        (
            Event(datetime(2026, 12, 10, 9, tzinfo=UTC), datetime(2026, 12, 10, 15, tzinfo=UTC)),
            "10 grudnia 2026, 10:00–16:00",
        ),
        (Event(datetime(2026, 12, 10, 9, tzinfo=UTC)), "10 grudnia 2026, 10:00"),
        (
            Event(datetime(2026, 12, 10, 9, tzinfo=UTC), datetime(2026, 12, 11, 15, tzinfo=UTC)),
            "10 grudnia 2026, 10:00 – 11 grudnia 2026, 16:00",
        ),
        (Event(date(2026, 11, 26), date(2026, 11, 27), all_day=True), "26–27 listopada 2026"),
        (Event(date(2026, 11, 26), None, all_day=True), "26 listopada 2026"),
        (Event(date(2026, 11, 30), date(2026, 12, 1), all_day=True), "30 listopada – 1 grudnia 2026"),
        (Event(date(2026, 12, 31), date(2027, 1, 2), all_day=True), "31 grudnia 2026 – 2 stycznia 2027"),
        (Event(datetime(2026, 3, 29, 8, tzinfo=UTC)), "29 marca 2026, 10:00"),
    ],
)
def test_event_dates_read_as_polish_writes_them(event: Event, words: str) -> None:
    assert event_when(event, WARSAW) == words


def test_event_dates_in_english() -> None:
    event = Event(date(2026, 11, 26), date(2026, 11, 27), all_day=True)
    assert event_when(event, WARSAW, "en") == "26–27 November 2026"


@pytest.fixture
def served(newsroom: dict[str, Release], settings: Settings) -> Iterator[httpx.Client]:
    with serve(create_app(settings)) as server, httpx.Client(base_url=server.url) as client:
        yield client


def test_calendars_are_served_as_utf8_text_calendar_with_etag_and_304(
    newsroom: dict[str, Release], served: httpx.Client
) -> None:
    for path in (
        "/feeds/events.ics",
        "/feeds/wydarzenia/events.ics",
        f"/releases/{newsroom['congress'].slug}/event.ics",
    ):
        first = served.get(path, headers={"accept-encoding": "identity"})
        assert first.status_code == 200, path
        assert first.headers["content-type"] == "text/calendar; charset=utf-8"
        events = Calendar.from_ical(first.content).walk("VEVENT")
        assert newsroom["congress"].uid in [str(event["UID"]) for event in events], path
        again = served.get(
            path, headers={"if-none-match": first.headers["etag"], "accept-encoding": "identity"}
        )
        assert again.status_code == 304 and again.content == b""


CHROMIUM = Path("/usr/bin/chromium")
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]},
    "resultTypes": ["violations"],
}


@pytest.mark.slow
@pytest.mark.browser
def test_the_event_pages_pass_axe_at_phone_and_desktop_width(
    newsroom: dict[str, Release], settings: Settings
) -> None:
    """WCAG 2.2 AA as axe-core checks it: nothing serious or critical on the events page and an event
    release page, and neither is wider than a phone's screen."""
    chromium = CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import sync_playwright

    with serve(create_app(settings)) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        try:
            page = browser.new_page()

            # The browser asks for the public base URL (pages and their stylesheet); this server answers.
            def local(route: Any) -> None:
                answer = httpx.get(
                    route.request.url.replace(settings.base_url, server.url),
                    headers={"accept-encoding": "identity"},
                )
                route.fulfill(status=answer.status_code, headers=dict(answer.headers), body=answer.content)

            page.route(f"{settings.base_url}/**", local)
            for path in (
                "/events/",
                f"/releases/{newsroom['congress'].slug}/",
                f"/releases/{newsroom['seminar'].slug}/",
            ):
                assert page.goto(settings.base_url + path).status == 200  # type: ignore[union-attr]
                for size in ({"width": 375, "height": 740}, {"width": 1280, "height": 900}):
                    page.set_viewport_size(size)
                    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                    assert width[0] <= width[1] + 1, (path, size)
                    violations = Axe().run(page, options=AXE_OPTIONS).response["violations"]
                    grave = [
                        (v["id"], [n["target"] for n in v["nodes"]])
                        for v in violations
                        if v["impact"] in ("serious", "critical")
                    ]
                    assert grave == [], (path, size)
        finally:
            browser.close()


def test_a_release_without_an_event_rewrites_no_calendar(
    newsroom: dict[str, Release], store: Store, settings: Settings
) -> None:
    later = NOW + timedelta(minutes=1)
    add(store, later, title="Komunikat o remoncie", categories=["wydarzenia"], published_at=later.isoformat())
    report = planner.build(store, settings, later)
    assert "categories/wydarzenia/index.html" in report.written
    assert [path for path in report.written if path.endswith(".ics")] == []


def test_an_event_taken_out_of_a_release_leaves_every_calendar(
    newsroom: dict[str, Release], store: Store, settings: Settings
) -> None:
    release = newsroom["congress"]
    later = NOW + timedelta(hours=1)
    store.update_release(release.id, {"event": None}, later)
    report = planner.build(store, settings, later)
    assert f"releases/{release.slug}/event.ics" in report.removed
    for path in calendars(settings.public_dir):
        assert release.uid not in unfolded(path), path
    events_page = (settings.public_dir / "events" / "index.html").read_text(encoding="utf-8")
    assert release.slug not in events_page
