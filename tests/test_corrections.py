"""Corrections ("korekta") as readers and operators see them: `release correct`, the admin API, the
release page's correction box, feed entries that keep their id and open with the note, one WebSub ping."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import httpx
import lxml.html
import pytest
import time_machine
from lxml import etree

from newsroom_feed import planner
from newsroom_feed.daemon import Daemon
from newsroom_feed.models import Release, ReleaseInput, utcnow
from newsroom_feed.settings import Settings
from newsroom_feed.store import history
from newsroom_feed.store.database import Store
from newsroom_feed.web import create_app

from .conftest import make_settings
from .test_cli_release import Cli
from .web.test_web_websub import Hub
from .web_helpers import serve

TOKEN = "test-admin-token-not-for-production"
ADDED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
#: 3 December 2026, 10:12 in Warsaw.
CORRECTED = datetime(2026, 12, 3, 9, 12, tzinfo=UTC)
NOTE = "Poprawiono datę seminarium: 10 grudnia, nie 9."
LEAD = f"Korekta (3 grudnia 2026, 10:12): {NOTE}"


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(tmp_path / "var" / "newsroom.db", capsys, monkeypatch)


def build(cli: Cli, public: Path) -> None:
    assert cli("--public-dir", str(public), "build") == 0, cli.err


def published(cli: Cli, public: Path) -> dict[str, Any]:
    """A release added and built on 1 December, as an operator does it."""
    with time_machine.travel(ADDED, tick=False):
        created = cli.json(
            "release", "add", "--title", "Seminarium o smogu", "--summary", "Zapraszamy 9 grudnia.",
            "--body", "Seminarium odbędzie się **9 grudnia** w Poznaniu.", "--json",
        )  # fmt: skip
        build(cli, public)
    return dict(created)


# -- the command ------------------------------------------------------------------------------------


def test_a_correction_keeps_the_uid_records_the_note_and_the_feed_entry_opens_with_it(
    cli: Cli, tmp_path: Path
) -> None:
    public = tmp_path / "public"
    before = published(cli, public)
    rss_before = feedparser.parse((public / "feeds" / "rss.xml").read_bytes()).entries[0]
    with time_machine.travel(CORRECTED, tick=False):
        after = cli.json(
            "release", "correct", before["number"], "--note", NOTE,
            "--summary", "Zapraszamy 10 grudnia.", "--body", "Seminarium odbędzie się **10 grudnia**.",
            "--json",
        )  # fmt: skip
        assert "Corrected" in cli.err
        build(cli, public)
    assert cli("release", "show", before["number"]) == 0
    assert f"correction: 2026-12-03 10:12 Europe/Warsaw: {NOTE}" in cli.out
    assert (after["uid"], after["number"], after["slug"]) == (before["uid"], before["number"], before["slug"])
    assert after["summary"] == "Zapraszamy 10 grudnia."
    assert after["corrections"] == [{"at": "2026-12-03T09:12:00Z", "note": NOTE}]
    assert after["updated_at"] == "2026-12-03T09:12:00Z" > before["updated_at"]

    rss = feedparser.parse((public / "feeds" / "rss.xml").read_bytes())
    atom = feedparser.parse((public / "feeds" / "atom.xml").read_bytes())
    for parsed in (rss, atom):
        assert not parsed.bozo, parsed.get("bozo_exception")
        [entry] = parsed.entries
        assert entry.id == before["uid"]
        assert lxml.html.fromstring(entry.content[0].value).text_content().startswith(LEAD)
        assert "10 grudnia" in entry.content[0].value
        assert entry.summary.startswith(LEAD) or html_text(entry.summary).startswith(LEAD)
    assert rss.entries[0].published == rss_before.published  # a correction is not a new release
    assert atom.entries[0].updated == "2026-12-03T09:12:00+00:00"
    channel = etree.parse(str(public / "feeds" / "rss.xml")).getroot().find("channel")
    assert channel.findtext("lastBuildDate") == "Thu, 03 Dec 2026 09:12:00 +0000"

    [item] = json.loads((public / "feeds" / "feed.json").read_text(encoding="utf-8"))["items"]
    assert item["id"] == before["uid"] and item["date_modified"] == "2026-12-03T09:12:00Z"
    assert html_text(item["content_html"]).startswith(LEAD)
    assert item["summary"].startswith(LEAD)

    page = lxml.html.fromstring((public / "releases" / before["slug"] / "index.html").read_bytes())
    [box] = page.xpath("//section[@class='correction']")
    assert box.findtext("h2") == "Korekta"
    assert [" ".join(li.text_content().split()) for li in box.iter("li")] == [
        f"3 grudnia 2026, 10:12: {NOTE}"
    ]


def test_an_english_release_opens_its_feed_entries_with_the_correction_in_english(
    cli: Cli, tmp_path: Path
) -> None:
    public = tmp_path / "public"
    with time_machine.travel(ADDED, tick=False):
        added = cli.json("release", "add", "--title", "Smog seminar", "--language", "en", "--json")
        build(cli, public)
    with time_machine.travel(CORRECTED, tick=False):
        assert cli("release", "correct", added["number"], "--note", "The seminar is on 10 December.") == 0
        build(cli, public)
    [entry] = feedparser.parse((public / "feeds" / "atom.xml").read_bytes()).entries
    assert html_text(entry.content[0].value).startswith(
        "Correction (3 December 2026, 10:12): The seminar is on 10 December."
    )


def html_text(markup: str) -> str:
    return str(lxml.html.fromstring(markup).text_content())


@pytest.mark.parametrize(
    ("note", "problem"),
    [
        ("   ", "is required"),
        ("x" * 2001, "at most 2000"),
        ("Poprawka\x1b[31m", "control characters"),
        ("Popr\udcffawka", "UTF-8"),  # how Python hands over a byte that is not UTF-8 in argv
    ],
)
def test_a_bad_note_exits_2_naming_the_note_and_nothing_changes(
    cli: Cli, tmp_path: Path, note: str, problem: str
) -> None:
    before = published(cli, tmp_path / "public")
    assert cli("release", "correct", str(before["id"]), "--note", note, "--title", "Nowy tytuł") == 2
    assert "note" in cli.err and problem in cli.err
    assert cli.json("release", "show", str(before["id"]), "--json") == {**before, "status": "published"}


def test_correct_needs_a_note_and_an_existing_release_and_rejects_bad_options(
    cli: Cli, tmp_path: Path
) -> None:
    before = published(cli, tmp_path / "public")
    assert cli("release", "correct", str(before["id"]), "--title", "Bez notki") == 2
    assert "--note" in cli.err
    assert cli("release", "correct", "99/2026", "--note", NOTE) == 1
    assert "no release" in cli.err
    assert cli("release", "correct", str(before["id"]), "--note", NOTE, "--contact-email", "prasa(at)x") == 2
    assert "contact.email" in cli.err
    assert cli("release", "correct", str(before["id"]), "--note", NOTE, "--urgent", "tak") == 2
    assert cli.json("release", "show", str(before["id"]), "--json")["corrections"] == []


def test_a_retracted_release_is_not_corrected(cli: Cli, tmp_path: Path) -> None:
    before = published(cli, tmp_path / "public")
    assert cli("release", "retract", str(before["id"])) == 0
    assert cli("release", "correct", str(before["id"]), "--note", NOTE) == 2
    assert "retracted" in cli.err


# -- the page ---------------------------------------------------------------------------------------


def test_the_page_lists_every_correction_oldest_first_under_korekty(store: Store, settings: Settings) -> None:
    release = store.add_release(ReleaseInput.parse({"title": "Ranking gmin"}), ADDED)
    store.correct_release(release.id, "Poprawiono miejsce Łodzi.", {}, CORRECTED)
    store.correct_release(
        release.id, "Dodano <b>tabelę</b>\nz wynikami.", {}, CORRECTED + timedelta(hours=26)
    )
    planner.build(store, settings, CORRECTED + timedelta(days=2))
    text = (settings.public_dir / "releases" / release.slug / "index.html").read_text(encoding="utf-8")
    page = lxml.html.fromstring(text)
    [box] = page.xpath("//article//section[@class='correction']")
    assert box.findtext("h2") == "Korekty"
    assert [" ".join(li.text_content().split()) for li in box.iter("li")] == [
        "3 grudnia 2026, 10:12: Poprawiono miejsce Łodzi.",
        "4 grudnia 2026, 12:12: Dodano <b>tabelę</b> z wynikami.",
    ]
    assert "&lt;b&gt;tabelę&lt;/b&gt;" in text  # a note is text, never markup
    assert text.index('class="correction"') < text.index('class="body"')


# -- the admin API ----------------------------------------------------------------------------------


@pytest.fixture
def api(settings: Settings, store: Store) -> Iterator[httpx.Client]:
    with (
        serve(create_app(settings)) as running,
        httpx.Client(base_url=f"{running.url}/api", headers={"authorization": f"Bearer {TOKEN}"}) as client,
    ):
        yield client


def test_the_api_records_a_correction_with_201_and_names_the_field_of_a_bad_one(
    api: httpx.Client, store: Store
) -> None:
    release = store.add_release(ReleaseInput.parse({"title": "Seminarium"}), utcnow() - timedelta(hours=1))
    answer = api.post(
        f"/releases/{release.slug}/corrections", json={"note": NOTE, "changes": {"summary": "Nowy lead"}}
    )
    assert answer.status_code == 201, answer.text
    document = answer.json()
    assert document["uid"] == release.uid and document["summary"] == "Nowy lead"
    assert [correction["note"] for correction in document["corrections"]] == [NOTE]
    assert answer.headers["location"] == f"/api/releases/{release.id}"
    for body, field in [
        ({"note": "  "}, "note"),
        ({"changes": {"title": "x"}}, "note"),
        ({"note": NOTE, "changes": {"colour": "red"}}, "changes.colour"),
        ({"note": NOTE, "changes": {"contact": {"email": "zly"}}}, "changes.contact.email"),
        ({"note": NOTE, "reason": "x"}, "reason"),
        ({"note": NOTE, "changes": []}, "changes"),
        ({"note": NOTE, "changes": ""}, "changes"),
        ({"note": NOTE, "changes": {"corrections": []}}, "changes.corrections"),  # read-only
    ]:
        refused = api.post(f"/releases/{release.id}/corrections", json=body)
        assert refused.status_code == 422, body
        assert refused.json()["error"]["field"] == field, refused.text
    lone = api.post(  # a JSON escape that is no character: SQLite cannot store it
        f"/releases/{release.id}/corrections",
        content=b'{"note": "Popr\\ud800awka"}',
        headers={"content-type": "application/json"},
    )
    assert (lone.status_code, lone.json()["error"]["field"]) == (422, "note")
    schemas = api.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["Correction"]["required"] == ["note"]
    missing = api.post("/releases/99/corrections", json={"note": NOTE})
    assert missing.status_code == 404
    assert len(store.get_release(release.id).corrections) == 1


# -- WebSub -----------------------------------------------------------------------------------------


def test_a_correction_pings_the_hub_once_for_each_feed_it_changed(tmp_path: Path) -> None:
    with Hub() as hub:
        settings = make_settings(tmp_path, websub={"hubs": [hub.url]}, watch_interval=0.05, http={"port": 0})
        with Store.for_settings(settings) as store:
            pings = asyncio.run(_pings_after_a_correction(settings, store, hub))
    feed_urls = [ping["hub.url"][0] for ping in pings]
    assert sorted(feed_urls) == sorted(set(feed_urls))  # each feed once
    assert "https://prasa.example.pl/feeds/rss.xml" in feed_urls


async def _pings_after_a_correction(settings: Settings, store: Store, hub: Hub) -> list[dict[str, list[str]]]:
    """The hub's pings that follow a correction, once the daemon announced the release itself."""
    daemon = Daemon(settings, web=False)
    running = asyncio.ensure_future(daemon.serve(signals=False))
    try:
        await asyncio.wait_for(daemon.started.wait(), 20)
        release = store.add_release(ReleaseInput.parse({"title": "Seminarium", "body": "Tekst."}), utcnow())
        await _until(lambda: history.pings_about(store, release.id), "no ping about the new release")
        before = len(hub.pings)
        corrected: Release = store.correct_release(release.id, NOTE, {"body": "Poprawiony tekst."}, utcnow())
        assert corrected.corrections
        await _until(lambda: len(hub.pings) > before, "no ping after the correction")
        await asyncio.sleep(1.0)  # a second build, if one came, would ping again by now
        return hub.pings[before:]
    finally:
        daemon.request_stop()
        assert await running == 0


async def _until(done: Any, problem: str) -> None:
    deadline = time.monotonic() + 20
    while not done():
        assert time.monotonic() < deadline, problem
        await asyncio.sleep(0.05)


# -- withdrawal: 410 Gone ---------------------------------------------------------------------------


def test_a_withdrawn_release_answers_410_with_a_notice_and_nothing_of_it_stays_public(
    store: Store, settings: Settings
) -> None:
    body = "Treść, która musi zniknąć ze wszystkich plików."
    release = store.add_release(ReleaseInput.parse({"title": "Pomyłkowy komunikat", "body": body}), ADDED)
    planner.build(store, settings, ADDED + timedelta(minutes=1))
    store.retract_release(release.id, CORRECTED)
    planner.build(store, settings, CORRECTED + timedelta(minutes=1))
    planner.build(store, settings, CORRECTED + timedelta(minutes=2), full=True)  # keeps the notice
    public = settings.public_dir
    everything = "\n".join(path.read_text(errors="replace") for path in public.rglob("*") if path.is_file())
    assert body not in everything and "Pomyłkowy komunikat" not in everything
    with serve(create_app(settings)) as running, httpx.Client(base_url=running.url) as client:
        for path in (f"/releases/{release.slug}/", f"/releases/{release.slug}"):
            answer = client.get(path)
            assert answer.status_code == 410, path
            assert answer.headers["content-type"] == "text/html; charset=utf-8"
            assert_withdrawal_notice(answer.text, release, settings)
        assert client.head(f"/releases/{release.slug}/").status_code == 410
        assert client.get(f"/gone/{release.slug}.html").status_code == 404
        assert client.get("/releases/nigdy-nie-istnial/").status_code == 404


def test_a_release_retracted_before_it_was_public_stays_a_404(store: Store, settings: Settings) -> None:
    document = {"title": "Pod embargiem", "embargo_until": "2026-12-10T10:00:00+01:00"}
    release = store.add_release(ReleaseInput.parse(document), ADDED)
    store.retract_release(release.id, CORRECTED)
    planner.build(store, settings, CORRECTED + timedelta(minutes=1), full=True)
    assert not (settings.public_dir / "gone").exists() or not any((settings.public_dir / "gone").iterdir())
    with serve(create_app(settings)) as running, httpx.Client(base_url=running.url) as client:
        assert client.get(f"/releases/{release.slug}/").status_code == 404


def assert_withdrawal_notice(page: str, release: Release, settings: Settings) -> None:
    """ "Komunikat wycofany", the number, the date in Polish time and the way back to the front page."""
    tree = lxml.html.fromstring(page)
    assert tree.findtext(".//h1") == "Komunikat wycofany"
    text = " ".join(tree.text_content().split())
    assert f"Komunikat nr {release.number} został wycofany 3 grudnia 2026, 10:12." in text
    assert f"{settings.base_url}/" in tree.xpath("//main//a/@href")
