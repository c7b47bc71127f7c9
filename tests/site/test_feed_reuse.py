"""A build serialises each release's RSS item and Atom entry once and reuses the bytes in every feed and
archive that lists it: the documents must be byte for byte what a document built on its own holds."""

from __future__ import annotations

import dataclasses
import html
from datetime import timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest

from newsroom_feed.models import Category, Release, ReleaseInput
from newsroom_feed.settings import Settings
from newsroom_feed.site import atom, feeds, rss
from newsroom_feed.store.database import Store

from ..conftest import NOW, make_settings

HUB = "https://pubsubhubbub.appspot.com/"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, admin_token=None, websub={"hubs": [HUB]})


def _add(store: Store, hours: int, **document: Any) -> Release:
    moment = NOW - timedelta(hours=hours)
    document.setdefault("published_at", moment.isoformat())
    return store.add_release(ReleaseInput.parse(document, store.zone), moment)


def _tricky(store: Store) -> list[Release]:
    """Releases whose items the feeds rewrite: markup in titles and summaries, ``&`` in category names,
    attachments, no body, a character XML cannot hold; newest first."""
    releases = [
        _add(store, 1, title="Zwykły komunikat", body="Treść **pogrubiona**.", categories=["miasta"]),
        _add(
            store,
            2,
            title="Tytuł z <b>znacznikiem</b> & ampersandem",
            summary="Opis <i>z</i> &amp; encją",
            categories=["miasta", "kultura"],
            attachments=[
                {
                    "url": "https://example.pl/a.pdf",
                    "title": "PDF & co",
                    "mime_type": "application/pdf",
                    "length": 10,
                },
                {"url": "https://example.pl/b.jpg", "mime_type": "image/jpeg", "length": 20},
            ],
        ),
        _add(store, 3, title="Bez treści", categories=["kultura"]),
    ]
    dirty = dataclasses.replace(
        releases[2],
        title="Ko\x00mu\x0bnikat",
        categories=(Category("kultura", "Kultura & sztuka <3", ""),),
    )
    return [releases[0], releases[1], dirty]


def _scopes(settings: Settings) -> list[feeds.FeedScope]:
    category = Category("kultura", "Kultura & <b>sztuka</b>", "")
    return [
        feeds.FeedScope(settings),
        feeds.FeedScope(settings, category, prev_archive=3),
        feeds.FeedScope(settings, None, archive=2, prev_archive=1, next_archive=3),
        feeds.FeedScope(settings, category, archive=1),
    ]


def test_shared_entries_give_the_same_bytes_as_a_document_built_alone(
    store: Store, settings: Settings
) -> None:
    releases = _tricky(store)
    entries = feeds.Entries(settings)
    for scope in _scopes(settings):
        for listed in (releases, releases[1:], releases[::-1], []):
            for writer in (rss.render, atom.render):
                assert writer(scope, listed, entries) == writer(scope, listed), (writer, scope)


def test_a_release_listed_in_many_documents_is_serialised_once(store: Store, settings: Settings) -> None:
    releases = _tricky(store)
    entries = feeds.Entries(settings)
    first = rss.render(feeds.FeedScope(settings), releases, entries)
    cached = entries.serialised(rss.NAME, releases[1].id)
    rss.render(feeds.FeedScope(settings, archive=1), releases[1:], entries)
    assert entries.serialised(rss.NAME, releases[1].id) is cached
    assert cached is not None and cached in first
    parsed = feedparser.parse(first)
    assert not parsed.bozo
    # Escaped for readers that take a title for HTML: shown as written once unescaped.
    assert html.unescape(parsed.entries[1].title) == "Tytuł z <b>znacznikiem</b> & ampersandem"


def test_a_release_changed_during_a_build_is_not_served_stale(store: Store, settings: Settings) -> None:
    release = _add(store, 1, title="Pierwsza wersja", categories=["miasta"])
    entries = feeds.Entries(settings)
    scope = feeds.FeedScope(settings)
    atom.render(scope, [release], entries)
    corrected = dataclasses.replace(release, title="Poprawiona wersja", updated_at=NOW)
    data = atom.render(scope, [corrected], entries)
    assert data == atom.render(scope, [corrected])
    assert b"Poprawiona wersja" in data
    assert b"Pierwsza wersja" not in data
