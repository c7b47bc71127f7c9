"""The short lists of a category or a mix of categories (a feed, a personal feed) are found by walking
down the newest releases and stopping at the limit: they must start exactly as the whole list does,
whatever is retracted, embargoed or held back, and whatever lies far below the newest releases."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from newsroom_feed.models import iso
from newsroom_feed.settings import Settings
from newsroom_feed.store.database import Store

from ..conftest import NOW

MIXES = (
    ("kultura",),
    ("sport",),
    ("kultura", "sport"),
    ("sport", "transport", "rzadka"),
    ("rzadka",),
    ("zepsuta",),
    ("transport", "zepsuta"),
    ("sport", "transport"),
)


def _import(settings: Settings, first: int, count: int, category: str, hours_ago: int) -> None:
    """``count`` complete releases in ``category``, an hour apart, the newest ``hours_ago`` hours old,
    written with plain SQL as an importer of old releases would."""
    outside = sqlite3.connect(settings.database)
    with outside:
        (category_id,) = outside.execute("SELECT id FROM categories WHERE slug = ?", (category,)).fetchone()
        rows = []
        for n in range(first, first + count):
            moment = iso(NOW - timedelta(hours=hours_ago + first + count - n))
            rows.append(
                (n, f"tag:prasa.example.pl,2026:release/{n}", f"{n}/2026", f"komunikat-{n}",
                 f"Komunikat {n}", "<p>Treść.</p>", moment, moment, moment, moment)
            )  # fmt: skip
        outside.executemany(
            "INSERT INTO releases (id, uid, number, slug, title, body_html, published_at, created_at,"
            " updated_at, announced_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        outside.executemany(
            "INSERT INTO release_categories (release_id, category_id, position) VALUES (?, ?, 0)",
            [(row[0], category_id) for row in rows],
        )
    outside.close()


@pytest.fixture
def newsroom(settings: Settings, store: Store) -> Store:
    """2,100 recent releases of `sport` above the only releases of `rzadka`, a month older; `kultura`
    and `transport` in between; some releases old and new also in another category, one retracted,
    one under embargo, one held back for a broken title, one category held back for an empty name,
    and 41 recent releases made public at the same second."""
    for slug in ("kultura", "sport", "transport", "rzadka", "zepsuta"):
        store.set_category(slug, slug.capitalize())
    _import(settings, 1, 5, "rzadka", hours_ago=24 * 30)
    _import(settings, 100, 40, "kultura", hours_ago=2_200)
    _import(settings, 200, 30, "transport", hours_ago=2_150)
    _import(settings, 1_000, 2_100, "sport", hours_ago=1)
    outside = sqlite3.connect(settings.database)
    with outside:
        ids = dict(outside.execute("SELECT slug, id FROM categories"))
        # In two categories each: listed once in a mix of both.
        outside.executemany(
            "INSERT INTO release_categories (release_id, category_id, position) VALUES (?, ?, 1)",
            [(n, ids["transport"]) for n in [*range(100, 140, 3), *range(3000, 3100, 10)]]
            + [(n, ids["zepsuta"]) for n in (101, 201, 3050)],
        )
        outside.execute("UPDATE releases SET retracted_at = ? WHERE id = 139", (iso(NOW),))
        outside.execute(
            "UPDATE releases SET embargo_until = ? WHERE id = 229", (iso(NOW + timedelta(days=1)),)
        )
        outside.execute("UPDATE releases SET title = ? WHERE id = 138", ("x" * 5_000,))
        outside.execute("UPDATE categories SET name = '' WHERE slug = 'zepsuta'")
        # 41 releases made public at the same second: the order falls to their ids.
        outside.execute(
            "UPDATE releases SET published_at = (SELECT published_at FROM releases WHERE id = 3040)"
            " WHERE id BETWEEN 3000 AND 3039"
        )
    outside.close()
    return store


@pytest.mark.parametrize("mix", MIXES, ids="+".join)
@pytest.mark.parametrize("limit", [1, 3, 20, 50, 80])
def test_a_short_list_starts_exactly_as_the_whole_list(
    newsroom: Store, mix: tuple[str, ...], limit: int
) -> None:
    whole = newsroom.visible_ids_in(NOW, mix)
    assert newsroom.visible_ids_in(NOW, mix, limit=limit) == whole[:limit]
    if len(mix) == 1:
        assert newsroom.visible_ids(NOW, mix[0], limit=limit) == whole[:limit]
        assert [r.id for r in newsroom.visible_releases(NOW, category=mix[0], limit=limit)] == whole[:limit]


def test_a_category_quiet_for_months_still_lists_its_newest_below_thousands_of_others(
    newsroom: Store,
) -> None:
    assert newsroom.visible_ids_in(NOW, ["rzadka"], limit=3) == [5, 4, 3]
    assert newsroom.visible_ids(NOW, "rzadka", limit=3) == [5, 4, 3]
    assert newsroom.visible_ids_in(NOW, ["sport", "rzadka"], limit=2) == [3099, 3098]


def test_a_mix_lists_each_release_once_and_nothing_retracted_embargoed_or_held(newsroom: Store) -> None:
    listed = newsroom.visible_ids_in(NOW, ["kultura", "transport"], limit=80)
    assert len(listed) == len(set(listed))
    assert 139 not in listed  # retracted
    assert 229 not in listed  # under embargo until tomorrow
    assert 138 not in listed  # held back: its title is far too long
    assert {100, 103, 137, 200, 228} <= set(listed)
    assert len(listed) == 40 + 30 + 10 - 3  # kultura, transport, sport releases also in transport; 3 left out
    # A release in a held-back category is listed through the other categories it is in, never through it.
    assert 101 in newsroom.visible_ids_in(NOW, ["kultura"], limit=50)
    assert 3050 in newsroom.visible_ids(NOW, "sport", limit=50)
    for limit in (1, 2, 5):
        assert newsroom.visible_ids_in(NOW, ["zepsuta"], limit=limit) == []
    both = newsroom.visible_ids_in(NOW, ["sport", "transport"], limit=100)
    assert both == sorted(set(both), reverse=True)
