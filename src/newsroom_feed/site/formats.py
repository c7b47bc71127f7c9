"""The registry of feed formats: `FORMATS` is the one list that the build, the pages' autodiscovery
links, WebSub and the web server's content types read.

Adding a format is one module with a `feeds.OutputFormat` named ``FORMAT`` and one line below (plus any
template it needs); the order here is the order of the pages' feed links.
"""

from __future__ import annotations

from collections.abc import Sequence

from newsroom_feed.models import Release
from newsroom_feed.site import atom, jsonfeed, layout, rss
from newsroom_feed.site.feeds import Entries, FeedScope, OutputFormat

FORMATS: tuple[OutputFormat, ...] = (
    rss.FORMAT,
    atom.FORMAT,
    jsonfeed.FORMAT,
)

#: Every feed file name, for telling a feed from a page by its path.
NAMES: tuple[str, ...] = tuple(output.name for output in FORMATS)


def feed_paths(category: str | None) -> list[str]:
    """The subscription documents of the whole newsroom (None) or of one category, one per format."""
    return [layout.feed_path(category, output.name) for output in FORMATS]


def archive_paths(category: str | None, block: int) -> list[str]:
    """The RFC 5005 archive documents of one block, in the formats that have archives."""
    return [layout.archive_path(category, block, output.name) for output in FORMATS if output.archived]


def is_feed(path: str) -> bool:
    """Whether an output path is a feed or a feed archive: what WebSub hubs are told of."""
    return layout.is_feed_path(path, NAMES)


def render_feeds(
    scope: FeedScope, releases: Sequence[Release], entries: Entries | None = None
) -> dict[str, bytes]:
    """The feeds of one scope, keyed by their path in the public directory.

    ``releases`` are the newest visible ones, newest first, already cut to ``settings.feed.items``;
    ``entries``, if given, shares the serialised items with the build's other documents.
    """
    return {
        layout.feed_path(scope.slug, output.name): output.render(scope, releases, entries)
        for output in FORMATS
    }


def render_archive(
    scope: FeedScope, releases: Sequence[Release], entries: Entries | None = None
) -> dict[str, bytes]:
    """The archive documents of ``scope.archive``: its block's visible releases, newest first."""
    if scope.archive is None:
        raise ValueError("an archive document needs the block it archives")
    return {
        layout.archive_path(scope.slug, scope.archive, output.name): output.render(scope, releases, entries)
        for output in FORMATS
        if output.archived
    }
