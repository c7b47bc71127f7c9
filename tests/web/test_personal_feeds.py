"""A subscriber's personal feed at ``/my/<token>/…``, over real HTTP: what it lists, its headers, 304s,
and replacing its address from the preferences page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import feedparser
import httpx
import pytest
from lxml import etree

from newsroom_feed import planner
from newsroom_feed.models import ReleaseInput, Subscriber, iso
from newsroom_feed.people import subscriptions
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store
from newsroom_feed.web import create_app, personal

from ..web_helpers import ServerThread, serve, submit

ATOM = "{http://www.w3.org/2005/Atom}"


class Clock:
    """The app's "now", moved by the test (an embargo lifts when the test says so)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(now: datetime) -> Clock:
    return Clock(now)


@pytest.fixture
def releases(store: Store, now: datetime) -> dict[str, str]:
    """Uids by title: two kultura releases, a transport one, an embargoed kultura one lifting in an hour."""
    store.set_category("kultura", "Kultura")
    store.set_category("transport", "Transport publiczny")
    uids = {}
    for hours, title, category in ((5, "Noc Muzeów", "kultura"), (4, "Nowe tramwaje", "transport"),
                                   (3, "Festiwal Filmowy", "kultura")):  # fmt: skip
        document = ReleaseInput.parse({"title": title, "categories": [category]})
        uids[title] = store.add_release(document, now - timedelta(hours=hours)).uid or ""
    secret = ReleaseInput.parse(
        {"title": "Tajna premiera", "categories": ["kultura"], "embargo_until": iso(now + timedelta(hours=1))}
    )
    uids["Tajna premiera"] = store.add_release(secret, now - timedelta(hours=1)).uid or ""
    return uids


def subscriber(store: Store, now: datetime, email: str, categories: list[str]) -> Subscriber:
    return subscriptions.add_subscriber(store, {"email": email, "categories": categories}, now)


@pytest.fixture
def server(settings: Settings, releases: dict[str, str], clock: Clock) -> Iterator[ServerThread]:
    with serve(create_app(settings, clock=clock)) as running:
        yield running


@pytest.fixture
def client(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url) as opened:
        yield opened


def feed_path(store: Store, someone: Subscriber, name: str = "atom.xml") -> str:
    return f"/my/{personal.feed_token(store, someone.id)}/{name}"


def titles(response: httpx.Response) -> list[str]:
    """The entry titles of a feed document, in order (feedparser reads no JSON Feed from bytes)."""
    if response.headers["content-type"].startswith("application/feed+json"):
        return [item["title"] for item in response.json()["items"]]
    return [entry.title for entry in feedparser.parse(response.content).entries]


def test_a_kultura_subscriber_gets_only_kultura_and_an_all_categories_one_gets_everything(
    client: httpx.Client, store: Store, now: datetime
) -> None:
    kultura = subscriber(store, now, "ania@gazeta.example.pl", ["kultura"])
    everything = subscriber(store, now, "bartek@radio.example.pl", [])
    for name in ("rss.xml", "atom.xml", "feed.json"):
        assert titles(client.get(feed_path(store, kultura, name))) == ["Festiwal Filmowy", "Noc Muzeów"]
        assert titles(client.get(feed_path(store, everything, name))) == [
            "Festiwal Filmowy", "Nowe tramwaje", "Noc Muzeów"
        ]  # fmt: skip


def test_a_subscriber_of_two_categories_gets_both_newest_first(
    client: httpx.Client, store: Store, now: datetime
) -> None:
    both = subscriber(store, now, "ola@tv.example.pl", ["kultura", "transport"])
    assert titles(client.get(feed_path(store, both))) == ["Festiwal Filmowy", "Nowe tramwaje", "Noc Muzeów"]


def test_an_embargoed_release_is_in_no_personal_feed_before_its_lift_and_is_after_it(
    client: httpx.Client, store: Store, now: datetime, clock: Clock, releases: dict[str, str]
) -> None:
    kultura = subscriber(store, now, "ania@gazeta.example.pl", ["kultura"])
    everything = subscriber(store, now, "bartek@radio.example.pl", [])
    paths = [feed_path(store, someone, name) for someone in (kultura, everything)
             for name in ("rss.xml", "atom.xml", "feed.json")]  # fmt: skip
    for path in paths:
        body = client.get(path).content
        assert b"Tajna premiera" not in body and releases["Tajna premiera"].encode() not in body
    clock.now = now + timedelta(hours=1, seconds=1)
    for path in paths:
        assert titles(client.get(path))[0] == "Tajna premiera"


def test_readers_of_the_same_categories_see_a_lift_and_a_change_whoever_asked_first(
    client: httpx.Client, store: Store, now: datetime, clock: Clock
) -> None:
    """The public part of the feeds is read once per change for all readers of the same categories:
    what one reader's request found must not outlive an embargo lift or a store change for another."""
    first, second, third = (
        subscriber(store, now, f"{name}@gazeta.example.pl", ["kultura"]) for name in ("ania", "ola", "ewa")
    )
    assert titles(client.get(feed_path(store, first))) == ["Festiwal Filmowy", "Noc Muzeów"]
    clock.now = now + timedelta(hours=1, seconds=1)
    assert titles(client.get(feed_path(store, second)))[0] == "Tajna premiera"
    assert titles(client.get(feed_path(store, first)))[0] == "Tajna premiera"
    store.add_release(ReleaseInput.parse({"title": "Koncert w parku", "categories": ["kultura"]}), clock.now)
    assert titles(client.get(feed_path(store, third)))[0] == "Koncert w parku"
    assert titles(client.get(feed_path(store, second)))[0] == "Koncert w parku"


def test_feeds_are_valid_with_the_personal_self_link_uids_and_dates(
    client: httpx.Client, store: Store, now: datetime, settings: Settings, releases: dict[str, str]
) -> None:
    ania = subscriber(store, now, "ania@gazeta.example.pl", ["kultura"])
    token = personal.feed_token(store, ania.id)
    atom = etree.fromstring(client.get(f"/my/{token}/atom.xml").content)
    assert atom.find(f"{ATOM}link[@rel='self']").get("href") == f"{settings.base_url}/my/{token}/atom.xml"
    assert atom.findtext(f"{ATOM}title").endswith("– ania@gazeta.example.pl")
    feed_id = atom.findtext(f"{ATOM}id")
    assert feed_id.startswith("urn:uuid:")
    assert [entry.findtext(f"{ATOM}id") for entry in atom.iter(f"{ATOM}entry")] == [
        releases["Festiwal Filmowy"], releases["Noc Muzeów"]
    ]  # fmt: skip
    assert etree.fromstring(client.get(f"/my/{token}/atom.xml").content).findtext(f"{ATOM}id") == feed_id
    rss = feedparser.parse(client.get(f"/my/{token}/rss.xml").content)
    assert not rss.bozo
    self_links = [link.href for link in rss.feed.links if link.rel == "self"]
    assert self_links == [f"{settings.base_url}/my/{token}/rss.xml"]
    assert [entry.id for entry in rss.entries] == [releases["Festiwal Filmowy"], releases["Noc Muzeów"]]
    assert rss.entries[0].published_parsed[:5] == (now - timedelta(hours=3)).utctimetuple()[:5]
    document = client.get(f"/my/{token}/feed.json").json()
    assert document["feed_url"] == f"{settings.base_url}/my/{token}/feed.json"
    assert "hubs" not in document
    assert [item["id"] for item in document["items"]] == [
        releases["Festiwal Filmowy"],
        releases["Noc Muzeów"],
    ]


def test_personal_feeds_are_private_noindex_typed_and_answer_304(
    client: httpx.Client, store: Store, now: datetime
) -> None:
    ania = subscriber(store, now, "ania@gazeta.example.pl", ["kultura"])
    for name, media_type in (("rss.xml", "application/rss+xml"), ("atom.xml", "application/atom+xml"),
                             ("feed.json", "application/feed+json")):  # fmt: skip
        path = feed_path(store, ania, name)
        first = client.get(path)
        assert first.status_code == 200
        assert first.headers["content-type"] == f"{media_type}; charset=utf-8"
        assert first.headers["cache-control"] == "private, max-age=60"
        assert first.headers["x-robots-tag"] == "noindex"
        assert re.fullmatch(r'"[0-9a-f]{64}"', first.headers["etag"])
        assert client.get(path).headers["etag"] == first.headers["etag"]
        assert client.get(path, headers={"If-None-Match": first.headers["etag"]}).status_code == 304
        since = client.get(path, headers={"If-Modified-Since": first.headers["last-modified"]})
        assert since.status_code == 304
        assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
        assert client.head(path).headers["content-length"] == str(len(first.content))


def test_a_new_release_or_a_change_of_categories_changes_the_etag(
    client: httpx.Client, store: Store, now: datetime
) -> None:
    ania = subscriber(store, now, "ania@gazeta.example.pl", ["kultura"])
    path = feed_path(store, ania)
    before = client.get(path).headers["etag"]
    store.add_release(ReleaseInput.parse({"title": "Koncert", "categories": ["kultura"]}), now)
    after = client.get(path, headers={"If-None-Match": before})
    assert after.status_code == 200 and titles(after)[0] == "Koncert"
    subscriptions.update_preferences(store, ania.token, {"categories": ["transport"]}, now)
    moved = client.get(path, headers={"If-None-Match": after.headers["etag"]})
    assert moved.status_code == 200 and titles(moved) == ["Nowe tramwaje"]


def test_unknown_unsubscribed_and_erased_tokens_answer_404(
    client: httpx.Client, store: Store, now: datetime
) -> None:
    assert client.get("/my/no-such-token/rss.xml").status_code == 404
    ania = subscriber(store, now, "ania@gazeta.example.pl", ["kultura"])
    bartek = subscriber(store, now, "bartek@radio.example.pl", [])
    ania_path, bartek_path = feed_path(store, ania), feed_path(store, bartek)
    assert client.get(ania_path.replace("atom.xml", "other.xml")).status_code == 404
    subscriptions.unsubscribe(store, ania.token, now)
    subscriptions.erase(store, bartek.token)
    for path in (ania_path, bartek_path):
        response = client.get(path)
        assert response.status_code == 404
        assert response.headers["x-robots-tag"] == "noindex"


def test_the_preferences_page_shows_the_feed_and_a_new_address_retires_the_old_one_with_410(
    client: httpx.Client, store: Store, now: datetime, settings: Settings
) -> None:
    ania = subscriber(store, now, "ania@gazeta.example.pl", ["kultura"])
    preferences = f"/preferences/{subscriptions.link_token(settings, ania, 'preferences')}"
    page = client.get(preferences).text
    old = re.findall(rf'href="{re.escape(settings.base_url)}(/my/[^"]+)"', page)
    assert [path.rsplit("/", 1)[1] for path in old] == ["rss.xml", "atom.xml", "feed.json"]
    assert "Nowy adres kanału" in page
    assert client.get(old[0]).status_code == 200
    replaced = submit(client, preferences, {"action": "new_feed_address"})
    assert replaced.status_code == 303
    page = client.get(replaced.headers["location"]).text
    assert "Utworzono nowy adres kanału" in page
    new = re.findall(rf'href="{re.escape(settings.base_url)}(/my/[^"]+)"', page)
    assert new and set(new).isdisjoint(old)
    gone = client.get(old[0])
    assert gone.status_code == 410 and "replaced" in gone.text
    assert client.get(new[0]).status_code == 200
    english = client.get(preferences, params={"lang": "en"}).text
    assert "New feed address" in english


def test_a_new_address_without_the_form_token_is_refused(
    client: httpx.Client, store: Store, now: datetime, settings: Settings
) -> None:
    ania = subscriber(store, now, "ania@gazeta.example.pl", ["kultura"])
    path = feed_path(store, ania)
    preferences = f"/preferences/{subscriptions.link_token(settings, ania, 'preferences')}"
    refused = client.post(preferences, data={"action": "new_feed_address"})
    assert refused.status_code in (400, 403)
    assert client.get(path).status_code == 200


def test_nothing_personal_is_written_into_the_public_directory(
    client: httpx.Client, store: Store, now: datetime, settings: Settings
) -> None:
    ania = subscriber(store, now, "ania@gazeta.example.pl", ["kultura"])
    planner.build(store, settings, now, full=True, plan_alerts=False)
    assert client.get(feed_path(store, ania)).status_code == 200
    assert (settings.public_dir / "feeds" / "rss.xml").exists()
    assert not (settings.public_dir / "my").exists()
    token = personal.feed_token(store, ania.id)
    files = [path for path in settings.public_dir.rglob("*") if path.is_file()]
    assert files and not [path for path in files if token.encode() in path.read_bytes() or token in str(path)]
