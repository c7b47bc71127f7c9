"""The planner: given the store and `now`, what outputs to rebuild and which alerts and digests to enqueue.

It runs when the store changes (the watcher, `build`) or when the clock passes a moment that matters (an
embargo lifting, a digest being due). Running it twice produces nothing new.
"""

from __future__ import annotations

# == outputs: feeds and pages ====================================================================


# == mail: alerts and digests ====================================================================
