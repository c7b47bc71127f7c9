"""The planner: given the store and `now`, what outputs to rebuild and which alerts and digests to enqueue.

It runs when the store changes (the watcher, `build`) or when the clock passes a moment that matters (an
embargo lifting, a digest being due). Running it twice produces nothing new.
"""

from __future__ import annotations

from datetime import datetime

from newsroom_feed.settings import Settings
from newsroom_feed.store import Store

# == outputs: feeds and pages ====================================================================


# == mail: alerts and digests ====================================================================


def announce(store: Store, settings: Settings, now: datetime) -> list[int]:
    """Releases that became visible since the last run: plan their alerts, once; returns their ids.

    Called at the end of every build, after the outputs are in place, so an alert never points at a
    page that is not there yet.
    """
    releases = store.unannounced_visible(now)
    ids = [release.id for release in releases]
    store.mark_announced(ids, now)
    return ids
