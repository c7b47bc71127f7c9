"""Events in the mail, through the CLI and the SMTP sink: an alert says when and where with the calendar
link, a digest does so per release and lists the events of the coming two weeks in a section of its own."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, time, timedelta
from email.message import EmailMessage

import pytest
from lxml import html

from newsroom_feed.cli import main
from newsroom_feed.event_dates import event_when
from newsroom_feed.models import Event, Release, utcnow
from newsroom_feed.planner import announce
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store

from ..mail_helpers import add_release, add_subscriber
from ..smtp_server import SmtpServer

PLACE = "Poznań, ul. Głogowska 14 – sala „Źródło”"
SECTION = "Wydarzenia w najbliższych dwóch tygodniach"


def at_ten(store: Store, days: int) -> datetime:
    """10:00 in Warsaw ``days`` from today."""
    day = utcnow().astimezone(store.zone).date() + timedelta(days=days)
    return datetime.combine(day, time(10), store.zone)


def event_release(
    store: Store, published: datetime, title: str, starts: datetime, **fields: object
) -> Release:
    event = {"start": starts.isoformat(), "end": (starts + timedelta(hours=2)).isoformat(), "location": PLACE}
    return add_release(store, published, title, published_at=published.isoformat(), event=event, **fields)


def received(smtp_server: SmtpServer, recipient: str) -> list[tuple[EmailMessage, str, str]]:
    """Each message to ``recipient`` with its text and HTML parts."""
    found = []
    for envelope in smtp_server.received:
        if recipient not in envelope.recipients:
            continue
        message = email.message_from_bytes(envelope.data, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        text, page = message.get_body(("plain",)), message.get_body(("html",))
        assert text is not None and page is not None
        found.append((message, text.get_content().replace("\r\n", "\n"), page.get_content()))
    return found


def links(page: str) -> dict[str, str]:
    """The links of an HTML part by address, with the text a reader clicks."""
    return {a.get("href", ""): a.text_content() for a in html.fromstring(page).iter("a")}


def test_an_alert_says_when_and_where_the_event_is_with_its_calendar_link(
    store: Store, settings: Settings, cli_env: None, smtp_server: SmtpServer
) -> None:
    add_subscriber(store, "anna@example.pl")
    add_subscriber(store, "john@example.pl", language="en")
    starts = at_ten(store, 3)
    release = event_release(store, utcnow() - timedelta(minutes=5), "Konferencja o smogu", starts)
    assert main(["build"]) == 0
    assert main(["outbox", "send"]) == 0
    calendar_url = f"https://prasa.example.pl/releases/{release.slug}/event.ics"
    event = Event(starts, starts + timedelta(hours=2))
    [(_, text, page)] = received(smtp_server, "anna@example.pl")
    assert f"Wydarzenie: {event_when(event, store.zone)}, {PLACE}\n" in text
    assert f"Dodaj do kalendarza: {calendar_url}\n" in text
    assert links(page)[calendar_url] == "Dodaj do kalendarza" and PLACE in page
    [(_, english, english_page)] = received(smtp_server, "john@example.pl")
    assert f"Event: {event_when(event, store.zone, 'en')}, {PLACE}\n" in english
    assert links(english_page)[calendar_url] == "Add to calendar"


def test_a_digest_lists_the_events_of_the_coming_two_weeks_in_their_own_section(
    store: Store, settings: Settings, cli_env: None, smtp_server: SmtpServer
) -> None:
    now = utcnow()
    add_subscriber(store, "anna@example.pl", frequency="daily", categories=["kultura"])
    earlier = now - timedelta(days=3)
    soon = event_release(store, earlier, "Festiwal światła", at_ten(store, 5), categories=["kultura"])
    far = event_release(store, earlier, "Gala za miesiąc", at_ten(store, 30), categories=["kultura"])
    elsewhere = event_release(store, earlier, "Mecz charytatywny", at_ten(store, 4), categories=["sport"])
    secret = event_release(
        store, earlier, "Tajna premiera", at_ten(store, 6), categories=["kultura"],
        embargo_until=(now + timedelta(days=2)).isoformat(),
    )  # fmt: skip
    announce(store, settings, earlier)  # seen three days ago: before this digest's period
    new = add_release(store, now - timedelta(hours=2), "Nowa wystawa w muzeum", categories=["kultura"])
    assert main(["digest", "send", "--frequency", "daily"]) == 0
    [(message, text, page)] = received(smtp_server, "anna@example.pl")
    assert message["Subject"].endswith(": 1 komunikat")  # the new release; the event is no news
    news, _, coming = text.partition(SECTION)
    assert new.title in news and soon.title not in news
    starts = at_ten(store, 5)
    when = event_when(Event(starts, starts + timedelta(hours=2)), store.zone)
    assert f"- {when}: {soon.title}\n   {PLACE}\n" in coming
    assert f"Dodaj do kalendarza: https://prasa.example.pl/releases/{soon.slug}/event.ics" in coming
    headings = [heading.text_content() for heading in html.fromstring(page).iter("h2")]
    assert SECTION in headings and soon.title in page
    for left_out in (far, elsewhere, secret):
        assert left_out.title not in text and left_out.title not in page


def test_the_coming_events_alone_make_no_digest(
    store: Store,
    settings: Settings,
    cli_env: None,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    add_subscriber(store, "anna@example.pl", frequency="daily")
    earlier = utcnow() - timedelta(days=3)
    event_release(store, earlier, "Festiwal światła", at_ten(store, 5))
    announce(store, settings, earlier)
    assert main(["digest", "send", "--frequency", "daily"]) == 0
    assert "Planned 0 daily digests" in capsys.readouterr().out
    assert smtp_server.received == []


def test_a_digest_shows_the_event_line_of_a_new_release(
    store: Store, settings: Settings, cli_env: None, smtp_server: SmtpServer
) -> None:
    add_subscriber(store, "anna@example.pl", frequency="daily")
    starts = at_ten(store, 20)  # beyond the two weeks: in the list, not in the section
    release = event_release(store, utcnow() - timedelta(hours=1), "Kongres za trzy tygodnie", starts)
    assert main(["digest", "send", "--frequency", "daily"]) == 0
    [(_, text, page)] = received(smtp_server, "anna@example.pl")
    when = event_when(Event(starts, starts + timedelta(hours=2)), store.zone)
    assert f"   Wydarzenie: {when}, {PLACE}\n" in text and SECTION not in text
    assert f"https://prasa.example.pl/releases/{release.slug}/event.ics" in page
