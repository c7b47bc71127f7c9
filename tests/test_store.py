"""The store's own guarantees about times: whatever form another process writes a time in, a release is
never visible before its moment."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest

from newsroom_feed.settings import Settings
from newsroom_feed.store import HELD_UNTIL, Store

from .conftest import NOW
from .test_feeds import EMBARGOED_TITLE, sample_newsroom


def _outside_write(settings: Settings, sql: str, *params: object) -> None:
    outside = sqlite3.connect(settings.database)
    with outside:
        outside.execute(sql, params)
    outside.close()


@pytest.mark.parametrize("text", ["2026-11-26 08:00:00", "2026-11-26T08:00:00+00:00", "2026-11-26t08:00:00z"])
def test_a_time_in_another_form_hides_the_release_until_it_is_completed(
    store: Store, settings: Settings, text: str
) -> None:
    """Between an outside write and the next build's `complete_pending`, reads do not compare that text."""
    release = sample_newsroom(store)["fuzja"]
    _outside_write(settings, "UPDATE releases SET embargo_until = ? WHERE id = ?", text, release.id)
    assert release.id not in store.visible_ids(NOW)
    assert EMBARGOED_TITLE not in [found.title for found in store.visible_releases(NOW)]
    assert release.id not in [found.id for found in store.unannounced_visible(NOW)]
    assert store.complete_pending(NOW) == [release.id]
    assert store.get_release(release.id).embargo_until == NOW.replace(hour=8, minute=0)
    assert release.id in store.visible_ids(NOW)
    assert store.complete_pending(NOW) == []


def test_fractions_of_a_second_round_up_and_impossible_dates_are_held_back(
    store: Store, settings: Settings
) -> None:
    releases = sample_newsroom(store)
    _outside_write(
        settings,
        "UPDATE releases SET embargo_until = '2026-11-26T08:00:00.2Z' WHERE id = ?",
        releases["fuzja"].id,
    )
    _outside_write(
        settings,
        "UPDATE releases SET embargo_until = '2026-02-30T08:00:00Z' WHERE id = ?",
        releases["smog"].id,
    )
    store.complete_pending(NOW)
    assert store.get_release(releases["fuzja"].id).embargo_until == NOW.replace(hour=8, minute=0, second=1)
    assert store.get_release(releases["smog"].id).embargo_until == HELD_UNTIL
    assert store.held_releases() == [(releases["smog"].id, releases["smog"].number)]
    assert releases["smog"].id not in store.visible_ids(NOW + timedelta(days=365 * 100))
