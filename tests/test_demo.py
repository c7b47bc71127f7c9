"""The demo newsroom of `make run`: its sample releases, idempotent seeding, and the served output."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from icalendar import Calendar

from newsroom_feed import demo
from newsroom_feed.mail import outbox
from newsroom_feed.mail.kinds import ALERT
from newsroom_feed.people import subscriptions, users
from newsroom_feed.planner import build
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store


def test_seed_adds_a_dozen_polish_releases_in_named_categories(store: Store, now: datetime) -> None:
    added = demo.seed(store, now)
    assert len(added) == 12
    assert all(release.language == "pl" for release in added)
    assert any("ł" in release.title or "ż" in release.title for release in added)
    names = {category.slug: category.name for category in store.categories()}
    assert len(names) >= 5
    assert names["nagrody"] == "Nagrody i gale"
    assert all(name != slug for slug, name in names.items()), "every demo category has a real name"
    assert sum(1 for release in added if release.attachments) >= 3
    assert all(release.contact.email == "prasa@newsroom.example.pl" for release in added)
    assert all(release.summary for release in added)


def test_exactly_one_demo_release_is_under_an_embargo_that_lifts_in_two_hours(
    store: Store, now: datetime
) -> None:
    added = demo.seed(store, now)
    embargoed = [release for release in added if release.status(now) == "embargoed"]
    assert len(embargoed) == 1
    assert embargoed[0].embargo_until == now + timedelta(hours=2)
    later = now + timedelta(hours=2, minutes=1)
    assert embargoed[0].status(later) == "published"
    assert len(store.visible_releases(now)) == 11
    assert len(store.visible_releases(later)) == 12


def test_seeding_twice_adds_nothing(store: Store, now: datetime) -> None:
    demo.seed(store, now)
    assert demo.seed(store, now + timedelta(days=1)) == []
    assert len(store.list_releases(now=now)) == 12
    assert len(subscriptions.list_subscribers(store)) == 3


def test_seed_adds_three_active_demo_subscribers_one_per_kind_of_reader(store: Store, now: datetime) -> None:
    demo.seed(store, now)
    found = {s.email: s for s in subscriptions.list_subscribers(store)}
    assert set(found) == {"anna.nowak@example.pl", "biuro.prasowe@example.pl", "john.smith@example.com"}
    assert all(s.status == "active" and s.consent_source == "operator" for s in found.values())
    anna = found["anna.nowak@example.pl"]
    assert (anna.kind, anna.frequency, anna.categories) == ("journalist", "immediate", ())
    office = found["biuro.prasowe@example.pl"]
    assert (office.kind, office.frequency) == ("city", "daily")
    john = found["john.smith@example.com"]
    assert (john.language, john.frequency) == ("en", "weekly")


def test_the_demo_journalist_gets_an_alert_when_a_release_goes_out(
    store: Store, settings: Settings, now: datetime
) -> None:
    (embargoed,) = (release for release in demo.seed(store, now) if release.status(now) == "embargoed")
    build(store, settings, now)
    alerts = [row for row in outbox.list_rows(store) if row.kind == "alert"]
    assert alerts and {row.email for row in alerts} == {"anna.nowak@example.pl"}
    build(store, settings, now + timedelta(hours=2, minutes=1))
    lifted = [row for row in outbox.list_rows(store) if row.key == ALERT.key(embargoed.uid)]
    assert {row.email for row in lifted} == {
        "anna.nowak@example.pl", "biuro.prasowe@example.pl", "john.smith@example.com",
    }, "the embargoed ranking is urgent: every demo subscriber gets its alert"  # fmt: skip


def test_the_demo_newsroom_announces_two_coming_events_in_its_calendar_and_events_page(
    store: Store, settings: Settings, now: datetime
) -> None:
    demo.seed(store, now)
    build(store, settings, now)
    calendar = Calendar.from_ical((settings.public_dir / "feeds" / "events.ics").read_bytes())
    events = {str(event["SUMMARY"]): event for event in calendar.walk("VEVENT")}
    assert set(events) == {
        "Zapraszamy na Kongres Miast (demo) 2026 w Poznaniu",
        "Miasta wobec upałów. Seminarium o adaptacji do zmian klimatu",
    }
    congress = events["Zapraszamy na Kongres Miast (demo) 2026 w Poznaniu"]
    start, end = congress.decoded("DTSTART"), congress.decoded("DTEND")
    assert (start.hour, start.minute, end.hour, (end.date() - start.date()).days) == (10, 0, 16, 1)
    assert start > now and "Poznań" in str(congress["LOCATION"])
    page = (settings.public_dir / "events" / "index.html").read_text(encoding="utf-8")
    assert page.index("Seminarium o adaptacji") < page.index("Kongres Miast (demo) 2026 w Poznaniu")


def test_demo_main_seeds_and_builds_in_var(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["--no-serve"]) == 0
    assert "Seeded the demo newsroom with 12 releases and 3 subscribers" in capsys.readouterr().err
    public = tmp_path / "var" / "public"
    assert (public / "index.html").is_file()
    rss = (public / "feeds" / "rss.xml").read_text(encoding="utf-8")
    assert "Złote Lajki 2026 wręczone" in rss
    assert "Ranking Miast Przyjaznych Rowerom" not in rss, "the embargoed release stays out"
    assert demo.main(["--no-serve"]) == 0
    assert "Seeded" not in capsys.readouterr().err, "a store with releases is not seeded again"


def test_the_demo_prints_a_desk_account_a_newcomer_can_sign_in_with(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert demo.main(["--no-serve"]) == 0
    first = capsys.readouterr().err
    found = re.search(r"sign in as (\S+) with the password (\S+) \(or set one: (\S+)\)", first)
    assert found, first
    email, password, link = found.groups()
    with Store(tmp_path / "var" / "newsroom.db") as store:
        assert users.check_password(store, email, password) is not None
        assert users.get(store, email).is_admin
    assert "/desk/setup/" in link
    assert demo.main(["--no-serve"]) == 0
    again = capsys.readouterr().err
    assert "with the password" not in again, "the password is shown only when it is made"
    assert f"sign in as {email}; a new password can be set once" in again


@pytest.mark.slow
def test_make_run_serves_the_feeds_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    """`python -m newsroom_feed.demo` as `make run` starts it: URLs printed, feeds served, Ctrl-C exits 0."""
    env = {**os.environ, "NEWSROOM_HTTP__PORT": "0", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "newsroom_feed.demo"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.search(r"on (http://127\.0\.0\.1:\d+) ", first)
        assert match, first
        root = match.group(1)
        urls = [process.stdout.readline().strip() for _ in range(4)]
        assert urls == [
            f"{root}/",
            f"{root}/feeds/rss.xml",
            f"{root}/feeds/atom.xml",
            f"{root}/feeds/feed.json",
        ]
        rss = httpx.get(f"{root}/feeds/rss.xml", timeout=10)
        assert rss.status_code == 200
        assert rss.headers["content-type"] == "application/rss+xml; charset=utf-8"
        assert "Złote Lajki" in rss.text
        feed = httpx.get(f"{root}/feeds/feed.json", timeout=10)
        assert feed.headers["content-type"].startswith("application/feed+json")
        assert httpx.get(f"{root}/", timeout=10).status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
