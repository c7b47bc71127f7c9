"""`python -m newsroom_feed.cli`: the same as the `newsroom-feed` console script."""

from newsroom_feed.cli import run

run()
