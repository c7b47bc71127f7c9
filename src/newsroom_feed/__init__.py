"""newsroom_feed: press releases into feeds, pages, alerts and digests."""

__version__ = "0.1.0"
