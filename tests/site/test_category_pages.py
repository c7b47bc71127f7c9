"""A category's list in pages: one new release rewrites its first page only, every release stays
reachable by following the links, and what a build made bit by bit equals what a full build makes."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from newsroom_feed import planner
from newsroom_feed.models import Release
from newsroom_feed.settings import Settings
from newsroom_feed.site import layout
from newsroom_feed.store.database import Store

from ..conftest import NOW
from .test_feeds import add_release

SLUG = "transport"
FRONT = layout.category_path(SLUG)


def _add(store: Store, n: int, hours_ago: float) -> Release:
    moment = NOW - timedelta(hours=hours_ago)
    return add_release(
        store, moment, title=f"Komunikat numer {n}", categories=[SLUG], published_at=moment.isoformat()
    )


def _fill(store: Store, count: int) -> None:
    for n in range(count):
        _add(store, n, hours_ago=count - n + 10)


def _category_files(written: tuple[str, ...]) -> set[str]:
    return {path for path in written if path.startswith(f"categories/{SLUG}/")}


def _path_of(settings: Settings, url: str) -> Path:
    relative = url.removeprefix(settings.base_url + "/")
    return settings.public_dir / relative / layout.DIRECTORY_INDEX


def _reachable(settings: Settings) -> list[str]:
    """Release URLs on the category's page and every page its "older" links lead to, in order."""
    found: list[str] = []
    page: Path | None = settings.public_dir / FRONT
    seen: set[Path] = set()
    while page is not None:
        assert page not in seen, "the older links go round in a circle"
        seen.add(page)
        text = page.read_text("utf-8")
        found += re.findall(r'<h2><a href="([^"]+)">', text)
        older = re.search(r'<a href="([^"]+)" rel="prev">', text)
        page = None if older is None else _path_of(settings, older.group(1))
    return found


def _release_urls(store: Store, settings: Settings) -> set[str]:
    return {
        layout.release_url(settings.base_url, release.slug)
        for release in store.visible_releases(NOW, category=SLUG)
    }


def test_a_new_release_rewrites_only_the_first_category_page(store: Store, settings: Settings) -> None:
    _fill(store, 2 * layout.CATEGORY_PAGE + 7)
    first = planner.build(store, settings, NOW)
    assert _category_files(first.written) == {
        FRONT,
        layout.category_page_path(SLUG, 1),
        layout.category_page_path(SLUG, 2),
    }
    _add(store, 999, hours_ago=0)
    report = planner.build(store, settings, NOW)
    assert _category_files(report.written) == {FRONT}


def test_a_release_that_completes_a_page_writes_it_and_relinks_the_one_before(
    store: Store, settings: Settings
) -> None:
    _fill(store, 2 * layout.CATEGORY_PAGE - 1)
    planner.build(store, settings, NOW)
    _add(store, 999, hours_ago=0)
    report = planner.build(store, settings, NOW)
    assert _category_files(report.written) == {
        FRONT,
        layout.category_page_path(SLUG, 1),
        layout.category_page_path(SLUG, 2),
    }


def test_every_release_of_a_category_is_reachable_through_its_pages(store: Store, settings: Settings) -> None:
    _fill(store, 3 * layout.CATEGORY_PAGE + 12)
    planner.build(store, settings, NOW)
    for n in range(3):
        _add(store, 1000 + n, hours_ago=0.1 * (3 - n))
        planner.build(store, settings, NOW)
    assert set(_reachable(settings)) == _release_urls(store, settings)
    assert f"Komunikatów w tej kategorii: {3 * layout.CATEGORY_PAGE + 15}." in (
        settings.public_dir / FRONT
    ).read_text("utf-8")


@pytest.mark.parametrize("change", ["added", "completing", "backdated", "retracted", "moved"])
def test_pages_made_after_a_change_equal_those_of_a_full_build(
    store: Store, settings: Settings, change: str
) -> None:
    """New releases on top leave the older pages alone; one added among older ones, or one taken
    out, moves the pages after it: either way the pages end as a full build makes them."""
    _fill(store, 3 * layout.CATEGORY_PAGE + 3)
    planner.build(store, settings, NOW)
    oldest = store.visible_releases(NOW, category=SLUG)[-1]
    if change == "added":
        _add(store, 999, hours_ago=0)
    elif change == "completing":
        for n in range(layout.CATEGORY_PAGE - 3):
            _add(store, 1000 + n, hours_ago=1 - n / 100)
    elif change == "backdated":
        _add(store, 999, hours_ago=10_000)
    elif change == "retracted":
        store.retract_release(oldest.id, NOW)
    else:
        store.update_release(oldest.id, {"categories": ["inne"]}, NOW)
    planner.build(store, settings, NOW)
    pages_dir = settings.public_dir / "categories" / SLUG
    made = {path: path.read_bytes() for path in sorted(pages_dir.rglob("*")) if path.is_file()}
    planner.build(store, settings, NOW, full=True)
    again = {path: path.read_bytes() for path in sorted(pages_dir.rglob("*")) if path.is_file()}
    assert made == again
    assert set(_reachable(settings)) == _release_urls(store, settings)


def test_a_category_left_without_visible_releases_loses_its_older_pages(
    store: Store, settings: Settings
) -> None:
    _fill(store, layout.CATEGORY_PAGE + 1)
    planner.build(store, settings, NOW)
    assert (settings.public_dir / layout.category_page_path(SLUG, 1)).is_file()
    for release in store.visible_releases(NOW, category=SLUG):
        store.retract_release(release.id, NOW)
    report = planner.build(store, settings, NOW)
    assert layout.category_page_path(SLUG, 1) in report.removed
    assert not (settings.public_dir / "categories" / SLUG).exists() or not any(
        path.is_file() for path in (settings.public_dir / "categories" / SLUG).rglob("*")
    )
