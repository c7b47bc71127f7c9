"""Early access in personal feeds, over real HTTP: a release saved with ``early_access`` and an embargo
reaches verified journalists' feeds before its lift, marked, and each fetch of it is recorded; it reaches
nothing else (the public directory and feeds, /healthz, /metrics, the admin API without its token, the
feed of anyone not verified or revoked) until the lift, after which it is public and unmarked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import feedparser
import httpx
import pytest

from newsroom_feed import planner
from newsroom_feed.models import Release, ReleaseInput, Subscriber, iso
from newsroom_feed.people import subscriptions, users
from newsroom_feed.settings import Settings
from newsroom_feed.store import early_access
from newsroom_feed.store import journalists as journalist_rows
from newsroom_feed.store.audit import OPERATOR
from newsroom_feed.store.database import Store
from newsroom_feed.web import create_app, personal

from ..web_helpers import ServerThread, serve
from . import test_personal_feeds
from .desk.conftest import EDITOR, PASSWORD, sign_in
from .desk.test_desk_releases import id_of, send
from .test_personal_feeds import Clock

# The personal feeds' fixtures, shared: the app's clock, moved by the test, and a client of `server`.
clock = test_personal_feeds.clock
client = test_personal_feeds.client

#: 10:00 in Warsaw (CET) on 10 December 2026: the embargo of the early-access release.
LIFT = datetime.fromisoformat("2026-12-10T10:00:00+01:00")
FORMATS = ("rss.xml", "atom.xml", "feed.json")
MARK_PL = "[EMBARGO do 10 grudnia 2026, 10:00] "
MARK_EN = "[EMBARGO until 10 December 2026, 10:00] "


@pytest.fixture
def secret(store: Store, now: datetime) -> Release:
    """An early-access kultura release under embargo until LIFT, beside a public one and an embargoed
    kultura release that is not shared early."""
    store.set_category("kultura", "Kultura")
    store.set_category("transport", "Transport")
    store.add_release(ReleaseInput.parse({"title": "Noc Muzeów", "categories": ["kultura"]}), now)
    store.add_release(
        ReleaseInput.parse(
            {"title": "Zwykłe embargo", "categories": ["kultura"], "embargo_until": iso(LIFT)}
        ),
        now,
    )
    document = {
        "title": "Przełomowe odkrycie w Instytucie",
        "summary": "Zespół opisał nowy gatunek porostu w Puszczy Zielonce.",
        "categories": ["kultura"],
        "embargo_until": iso(LIFT),
        "early_access": True,
    }
    return store.add_release(ReleaseInput.parse(document), now)


def secrets_of(release: Release) -> list[bytes]:
    """Every identifying string of the release: title, uid, slug, summary."""
    return [value.encode() for value in (release.title, release.uid, release.slug, release.summary or "")]


def leaked(body: bytes, release: Release) -> list[bytes]:
    return [value for value in secrets_of(release) if value in body]


@pytest.fixture
def server(settings: Settings, secret: Release, clock: Clock) -> Iterator[ServerThread]:
    with serve(create_app(settings, clock=clock)) as running:
        yield running


def subscriber(
    store: Store, now: datetime, email: str, categories: list[str], language: str = "pl"
) -> Subscriber:
    data = {"email": email, "categories": categories, "kind": "journalist", "language": language}
    return subscriptions.add_subscriber(store, data, now)


def journalist(store: Store, now: datetime, email: str, categories: list[str], language: str = "pl") -> int:
    """A verified journalist, as an admin's verification leaves one."""
    someone = subscriber(store, now, email, categories, language)
    with store.transaction():
        journalist_rows.set_application(store, someone.id, "https://gazeta.example.pl/autorzy/1", None)
        journalist_rows.set_verification(store, someone.id, "verified", iso(now))
        journalist_rows.add_acceptance(store, someone.id, "2026-1", iso(now), "web")
    return someone.id


def revoke(store: Store, subscriber_id: int, now: datetime) -> None:
    with store.transaction():
        journalist_rows.set_verification(store, subscriber_id, "revoked", iso(now))


def feed_path(store: Store, subscriber_id: int, name: str = "atom.xml") -> str:
    return f"/my/{personal.feed_token(store, subscriber_id)}/{name}"


def entries(response: httpx.Response) -> list[tuple[str, str]]:
    """(title, summary) of each entry, in order."""
    assert response.status_code == 200, response.text
    if response.headers["content-type"].startswith("application/feed+json"):
        return [(item["title"], item.get("summary", "")) for item in response.json()["items"]]
    return [(entry.title, entry.get("summary", "")) for entry in feedparser.parse(response.content).entries]


def titles(response: httpx.Response) -> list[str]:
    return [title for title, _ in entries(response)]


def test_a_verified_journalist_sees_the_early_release_marked_with_its_embargo_in_every_format(
    client: httpx.Client, store: Store, now: datetime, secret: Release
) -> None:
    ania = journalist(store, now, "ania@gazeta.example.pl", ["kultura"])
    for name in FORMATS:
        found = entries(client.get(feed_path(store, ania, name)))
        assert found[0][0] == MARK_PL + secret.title
        assert "Embargo do 10 grudnia 2026, 10:00" in found[0][1]
        assert "Zwykłe embargo" not in [title for title, _ in found]
        assert [title for title, _ in found][1:] == ["Noc Muzeów"]


def test_an_english_journalist_gets_the_mark_in_english(
    client: httpx.Client, store: Store, now: datetime, secret: Release
) -> None:
    john = journalist(store, now, "john@wire.example.com", [], language="en")
    found = entries(client.get(feed_path(store, john)))
    assert found[0][0] == MARK_EN + secret.title
    assert "Embargo until 10 December 2026, 10:00" in found[0][1]


def test_a_journalist_of_other_categories_does_not_get_it(
    client: httpx.Client, store: Store, now: datetime, secret: Release
) -> None:
    tomek = journalist(store, now, "tomek@radio.example.pl", ["transport"])
    assert not leaked(client.get(feed_path(store, tomek)).content, secret)


def test_each_fetch_that_hands_it_out_is_logged_and_a_304_is_not(
    client: httpx.Client, store: Store, now: datetime, clock: Clock, secret: Release
) -> None:
    ania = journalist(store, now, "ania@gazeta.example.pl", ["kultura"])
    clock.now = now + timedelta(minutes=5)
    first = client.get(feed_path(store, ania))
    client.get(feed_path(store, ania, "feed.json"))
    assert (
        client.get(feed_path(store, ania), headers={"If-None-Match": first.headers["etag"]}).status_code
        == 304
    )
    reads = early_access.reads_of(store, secret.id)
    assert [(read.email, read.channel, read.at) for read in reads] == [
        ("ania@gazeta.example.pl", "feed", clock.now),
        ("ania@gazeta.example.pl", "feed", clock.now),
    ]


def test_a_subscriber_who_is_not_verified_never_gets_it(
    client: httpx.Client, store: Store, now: datetime, secret: Release
) -> None:
    bartek = subscriber(store, now, "bartek@tv.example.pl", ["kultura"])
    applicant = subscriber(store, now, "ola@portal.example.pl", [])
    with store.transaction():
        journalist_rows.set_application(store, applicant.id, "https://portal.example.pl/ola", None)
    for someone in (bartek.id, applicant.id):
        for name in FORMATS:
            body = client.get(feed_path(store, someone, name)).content
            assert b"Noc Muz" in body or "Noc Muzeów".encode() in body
            assert not leaked(body, secret)
    assert early_access.reads_of(store, secret.id) == []


def test_a_revoked_journalist_sees_only_what_is_public_at_the_next_request(
    client: httpx.Client, store: Store, now: datetime, secret: Release
) -> None:
    ania = journalist(store, now, "ania@gazeta.example.pl", ["kultura"])
    assert titles(client.get(feed_path(store, ania)))[0] == MARK_PL + secret.title
    revoke(store, ania, now)
    for name in FORMATS:
        response = client.get(feed_path(store, ania, name))
        assert titles(response) == ["Noc Muzeów"]
        assert not leaked(response.content, secret)
    assert len(early_access.reads_of(store, secret.id)) == 1


def test_nothing_public_holds_it_before_the_lift(
    client: httpx.Client, store: Store, now: datetime, settings: Settings, secret: Release
) -> None:
    ania = journalist(store, now, "ania@gazeta.example.pl", ["kultura"])
    assert client.get(feed_path(store, ania)).status_code == 200  # it went out early, to her only
    planner.build(store, settings, now, full=True, plan_alerts=False)
    files = [path for path in settings.public_dir.rglob("*") if path.is_file()]
    assert (settings.public_dir / "feeds" / "rss.xml") in files
    assert [
        (path, leaked(path.read_bytes(), secret)) for path in files if leaked(path.read_bytes(), secret)
    ] == []
    assert not [path for path in files if secret.slug in str(path) or secret.uid in str(path)]
    served = ["/", "/feeds/rss.xml", "/feeds/atom.xml", "/feeds/feed.json", "/feeds/kultura/rss.xml",
              "/feeds/kultura/atom.xml", "/feeds/kultura/feed.json", "/healthz", "/metrics",
              "/api/releases", f"/api/releases/{secret.id}", f"/api/releases/{secret.uid}",
              f"/releases/{secret.slug}/"]  # fmt: skip
    for path in served:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            response = client.get(path, headers=headers)
            assert not leaked(response.content, secret), (path, response.status_code)
            if path.startswith("/api"):
                assert response.status_code == 401


def test_after_the_lift_it_is_public_and_unmarked_and_fetches_are_no_longer_logged(
    client: httpx.Client, store: Store, now: datetime, clock: Clock, settings: Settings, secret: Release
) -> None:
    ania = journalist(store, now, "ania@gazeta.example.pl", ["kultura"])
    before = client.get(feed_path(store, ania))
    assert titles(before)[0] == MARK_PL + secret.title
    clock.now = LIFT + timedelta(seconds=1)
    planner.build(store, settings, clock.now, full=True, plan_alerts=False)
    assert secret.title in titles(client.get("/feeds/atom.xml"))
    for name in FORMATS:
        shown = titles(client.get(feed_path(store, ania, name)))
        assert secret.title in shown and not [title for title in shown if title.startswith("[EMBARGO")]
    assert len(early_access.reads_of(store, secret.id)) == 1


@pytest.fixture
def desk(store: Store, now: datetime, server: ServerThread) -> Iterator[httpx.Client]:
    """A signed-in editor of the newsroom desk."""
    users.add(store, EDITOR, "editor", now, OPERATOR, PASSWORD)
    with httpx.Client(base_url=server.url) as client:
        assert sign_in(client, EDITOR).status_code == 303
        yield client


def test_the_release_history_shows_who_had_it_before_the_lift(
    client: httpx.Client, desk: httpx.Client, store: Store, now: datetime, secret: Release
) -> None:
    history = f"/desk/releases/{secret.id}/history"
    assert "Nikt nie dostał tego komunikatu przed końcem embarga." in desk.get(history).text
    ania = journalist(store, now, "ania@gazeta.example.pl", ["kultura"])
    client.get(feed_path(store, ania, "rss.xml"))
    page = desk.get(history).text
    section = page[page.index('id="hist-early-heading"') :]
    assert "Kto miał go przed końcem embarga" in page
    assert re.search(
        r"ania@gazeta\.example\.pl</th>\s*<td>kanał osobisty</td>\s*<td><time[^>]*>[^<]*10:30", section
    )
    english = desk.get(history, params={"lang": "en"}).text
    assert "Who had it before the lift" in english and "personal feed" in english


def test_the_desk_form_saves_early_access_with_an_embargo(desk: httpx.Client, store: Store) -> None:
    page = desk.get("/desk/releases/new")
    assert "Wcześniejszy dostęp dla zweryfikowanych dziennikarzy" in page.text
    assert "Early access for verified journalists" in desk.get("/desk/releases/new?lang=en").text
    fields = {"title": "Wyniki badań", "embargo_until": "2026-12-10T10:00", "early_access": "yes"}
    answer = send(desk, "/desk/releases/new", fields, action="schedule")
    release = store.get_release(id_of(answer, "releases"))
    assert release.early_access and release.embargo_until == LIFT
    edit = desk.get(answer.headers["location"]).text
    assert re.search(
        r'<input type="checkbox" name="early_access" id="early_access" value="yes" checked', edit
    )


def test_the_admin_api_takes_and_gives_early_access_in_the_document(
    client: httpx.Client, settings: Settings
) -> None:
    token = {"Authorization": f"Bearer {settings.admin_token.get_secret_value()}"}
    document = {"title": "Z API", "embargo_until": "2026-12-10T10:00:00+01:00", "early_access": True}
    created = client.post("/api/releases", json=document, headers=token)
    assert created.status_code == 201, created.text
    assert created.json()["early_access"] is True
    changed = client.patch(
        f"/api/releases/{created.json()['id']}", json={"early_access": False}, headers=token
    )
    assert changed.json()["early_access"] is False
    refused = client.post("/api/releases", json={"title": "Zły", "early_access": "może"}, headers=token)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "early_access"


def test_the_early_entry_carries_no_future_date_so_readers_take_the_public_one_at_the_lift(
    client: httpx.Client, store: Store, now: datetime, clock: Clock, secret: Release
) -> None:
    ania = journalist(store, now, "ania@gazeta.example.pl", ["kultura"])
    before = client.get(feed_path(store, ania))
    early = feedparser.parse(before.content).entries[0]
    assert early.title.startswith(MARK_PL)
    assert datetime.fromisoformat(early.updated) <= now
    clock.now = LIFT + timedelta(seconds=1)
    after = client.get(feed_path(store, ania), headers={"If-Modified-Since": before.headers["last-modified"]})
    assert after.status_code == 200
    public = feedparser.parse(after.content).entries[0]
    assert (public.id, public.title) == (early.id, secret.title)
    assert datetime.fromisoformat(public.updated) == LIFT
