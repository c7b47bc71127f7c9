"""What every feed format shares: the scope a feed is about, entry dates, feedgen channels, XML
helpers, the `OutputFormat` shape that `site.formats` registers, and the per-build cache of entries.

Deterministic: the same releases give the same bytes. Nothing here reads a clock: a feed's
``lastBuildDate``/``updated`` is the newest ``updated`` of its items (a fixed moment for an empty feed),
an entry is ``published`` when the release became visible and ``updated`` at max(updated_at, visible_at).

RSS and Atom channels are built with feedgen, their entries with lxml (see the section below for why),
and its tree is completed before serialising: feedgen writes only the first ``atom:link`` of an RSS
channel, so the WebSub ``hub`` and RFC 5005 links are added afterwards. Text that reads like markup is
escaped so that readers show it as written. Long feeds have RFC 5005 archives: releases by blocks of
`layout.ARCHIVE_BLOCK` ids, in the formats that say ``archived``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from feedgen.feed import FeedGenerator
from lxml import etree

from newsroom_feed.markup import summarise, xml_safe
from newsroom_feed.models import Category, Release
from newsroom_feed.settings import Settings
from newsroom_feed.site import layout

ATOM_NS = "http://www.w3.org/2005/Atom"
#: The ``updated`` of a feed with no item: any fixed moment keeps an empty feed's bytes stable.
EMPTY_FEED_UPDATED = datetime(2026, 1, 1, tzinfo=UTC)
HISTORY_NS = "http://purl.org/syndication/history/1.0"


class Render(Protocol):
    """Bytes of one feed document; ``entries`` shares serialised entries with the build's other documents."""

    def __call__(
        self, scope: FeedScope, releases: Sequence[Release], entries: Entries | None = None, /
    ) -> bytes: ...


@dataclass(frozen=True, slots=True)
class OutputFormat:
    """One feed format as the build, the pages' autodiscovery, WebSub and the web server see it."""

    #: Its file name in every feed folder (``rss.xml``): the web server takes the media type from it.
    name: str
    #: What pages call it in their feed links ("RSS").
    label: str
    media_type: str
    render: Render
    #: Whether it has RFC 5005 archive documents (JSON Feed has none).
    archived: bool


# -- what a feed is about ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedScope:
    """The whole newsroom (``category`` None) or one category: titles, home page and feed URLs."""

    settings: Settings
    category: Category | None = None
    #: The block this document archives; None for the subscription document (the feed itself).
    archive: int | None = None
    #: The newest archive before this document, for its ``prev-archive`` link.
    prev_archive: int | None = None
    #: The archive after this one (``next-archive``); None for the newest archive and for the feed.
    next_archive: int | None = None

    @property
    def slug(self) -> str | None:
        return None if self.category is None else self.category.slug

    @property
    def title(self) -> str:
        title = self.settings.feed.title
        if self.category is not None:
            title = f"{title}: {self.category.name}"
        title = xml_safe(title)  # a category name an outside writer stored: lxml refuses a NUL
        return title if self.archive is None else f"{title} (archiwum {self.archive})"

    @property
    def description(self) -> str:
        if self.category is not None and self.category.description:
            return xml_safe(self.category.description)
        if self.category is not None:
            return xml_safe(f"{self.settings.feed.description}, kategoria: {self.category.name}")
        return self.settings.feed.description

    @property
    def home_url(self) -> str:
        if self.category is None:
            return f"{self.settings.base_url}/"
        return layout.category_url(self.settings.base_url, self.category.slug)

    @property
    def feed_id(self) -> str:
        """The Atom feed ``id``: the home page of a public scope; a personal feed has one of its own."""
        return self.home_url

    def current_url(self, name: str) -> str:
        """The subscription document of this scope in one format."""
        return f"{self.settings.base_url}/{layout.feed_path(self.slug, name)}"

    def archive_url(self, name: str, block: int) -> str:
        return f"{self.settings.base_url}/{layout.archive_path(self.slug, block, name)}"

    def url(self, name: str) -> str:
        """This document's own URL (``self``)."""
        if self.archive is None:
            return self.current_url(name)
        return self.archive_url(name, self.archive)

    def history_links(self, name: str, media_type: str) -> list[dict[str, str]]:
        """RFC 5005 links of this document: ``current`` for an archive, its neighbours if any."""
        links = []
        if self.archive is not None:
            links.append({"href": self.current_url(name), "rel": "current", "type": media_type})
        for rel, block in (("prev-archive", self.prev_archive), ("next-archive", self.next_archive)):
            if block is not None:
                links.append({"href": self.archive_url(name, block), "rel": rel, "type": media_type})
        return links


def entry_updated(release: Release) -> datetime:
    """When the public version last changed: the moment it became visible, or a later correction.

    A release never edited since it was stored (``updated_at == created_at``) counts from its visibility,
    so that importing old releases does not stamp them all with the import time.
    """
    if release.updated_at > release.created_at:
        return max(release.updated_at, release.visible_at)
    return release.visible_at


def feed_updated(releases: Sequence[Release]) -> datetime:
    return max((entry_updated(release) for release in releases), default=EMPTY_FEED_UPDATED)


def release_url(settings: Settings, release: Release) -> str:
    return layout.release_url(settings.base_url, release.slug)


def summary(release: Release) -> str:
    return release.summary or summarise(release.body_html) or release.title


# -- corrections: what opens a corrected entry ------------------------------------------------------
#
# A reader's feed shows a corrected entry again (same id, `updated` moved); what changed must be the
# first thing it says, so the newest note opens both the text and the HTML. An entry never corrected
# keeps its bytes exactly (the golden feeds pin that).


def _newest_correction(release: Release, zone: ZoneInfo) -> tuple[str, str] | None:
    """(``Korekta (3 grudnia 2026, 10:12)``, the note) of the newest correction, if any: in the
    release's own words, so an English release says ``Correction (3 December 2026, 10:12)``."""
    if not release.corrections:
        return None
    newest = release.corrections[-1]
    english = release.language == "en"
    when = format_datetime(newest.at, "d MMMM y, HH:mm", tzinfo=zone, locale="en" if english else "pl")
    return f"{'Correction' if english else 'Korekta'} ({when})", newest.note


def corrected_summary(release: Release, zone: ZoneInfo) -> str:
    """The entry's plain-text summary, opened by the newest correction note if there is one
    (``Korekta (3 grudnia 2026, 10:12): <note>``)."""
    newest = _newest_correction(release, zone)
    return summary(release) if newest is None else f"{newest[0]}: {newest[1]}\n\n{summary(release)}"


def corrected_html(release: Release, zone: ZoneInfo) -> str | None:
    """The entry's HTML content: the body, opened by the newest correction note (escaped, its line
    breaks kept) if there is one; None for an uncorrected release without a body."""
    newest = _newest_correction(release, zone)
    if newest is None:
        return release.body_html or None
    label, note = newest
    lines = "<br>".join(html.escape(line, quote=False) for line in note.split("\n"))
    return f'<p class="correction"><strong>{html.escape(label)}:</strong> {lines}</p>\n{release.body_html}'


# -- RSS and Atom: feedgen for the channel, lxml for the entries -------------------------------------
#
# feedgen writes the channel and feed elements. The entries are written with lxml, in the element
# order feedgen uses: building a feedgen entry cost about 50 µs per release and format, four times the
# elements themselves, which made feedgen the bottleneck of a build (see bench/bench_build.py); and its
# Atom entries lose the attributes of their links anyway (upstream issues #135 and #143), so that an
# enclosure would become a second "alternate" link.

#: Text that a reader (and the W3C validator) would take for HTML: a tag or an entity.
MARKUP = re.compile(r"<[A-Za-z/!?]|&#?\w+;")


def sub_element(
    parent: etree._Element, tag: str, text: str | None = None, **attributes: str
) -> etree._Element:
    """A child element; text XML cannot hold (a NUL an outside writer stored) loses those characters
    rather than stopping the build: lxml refuses it, so it is cleaned only then, at no cost otherwise."""
    try:
        element = etree.SubElement(parent, tag, attributes)
    except ValueError:
        element = etree.SubElement(parent, tag, {key: xml_safe(value) for key, value in attributes.items()})
    if text is not None:
        try:
            element.text = text
        except ValueError:
            element.text = xml_safe(text)
    return element


def generator(scope: FeedScope, releases: Sequence[Release], name: str, media_type: str) -> FeedGenerator:
    """The feedgen channel of one RSS or Atom document, without entries."""
    settings = scope.settings
    generator = FeedGenerator()
    generator.id(scope.feed_id)
    generator.title(scope.title)
    generator.subtitle(scope.description)
    generator.description(scope.description)
    generator.author(name=settings.feed.organization, email=str(settings.feed.author_email))
    generator.link(href=scope.url(name), rel="self", type=media_type)
    for hub in settings.websub.hubs:
        generator.link(href=hub, rel="hub")
    for link in scope.history_links(name, media_type):
        generator.link(**link)
    # Last, because feedgen takes the RSS channel <link> from the last link given.
    generator.link(href=scope.home_url, rel="alternate", type="text/html")
    generator.language(settings.feed.language)
    generator.generator("newsroom-feed")
    generator.updated(feed_updated(releases))
    return generator


def serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True)


def archive_marker() -> etree._Element:
    """``<fh:archive/>``: this document is an archive (RFC 5005 section 4)."""
    return etree.Element(f"{{{HISTORY_NS}}}archive", nsmap={"fh": HISTORY_NS})


# -- entries serialised once a build ------------------------------------------------------------------
#
# A full build lists every release in about 2.3 documents per format (the newsroom's archive, one or two
# categories' archives, maybe a feed). An item's bytes depend only on the release and the settings, and
# lxml's pretty printer indents a child by its depth alone, so an item serialised under a root with
# the same namespace prefixes and at the same depth is byte for byte what it would be in any document: it
# is serialised once and spliced before the closing tags of each document that lists it.


def splice(data: bytes, tail: bytes, pieces: bytes) -> bytes:
    """``pieces`` inserted before the closing ``tail`` of a serialised document."""
    if not data.endswith(tail):
        raise ValueError(f"a serialised feed that does not end with {tail!r}")
    return b"".join((data[: -len(tail)], pieces, tail))


def split(data: bytes, start: bytes, tail: bytes, count: int) -> list[bytes]:
    """The serialised children of a wrapper document, each from its ``start`` to its end of line.

    Text and attribute values in the bytes have every ``<`` escaped, so ``start`` only begins a child.
    """
    body = data[data.index(start) : len(data) - len(tail)]
    pieces = [start + piece for piece in body.split(start)[1:]]
    if not data.endswith(tail) or len(pieces) != count:
        raise ValueError(f"{count} entries serialised, {len(pieces)} found")
    return pieces


#: Serialises releases into one piece each, in order: a format's entries for `Entries`.
Serialiser = Callable[[Settings, list[Release]], list[bytes]]


class Entries:
    """Entries serialised once, by format and release, for every document of one build.

    A release read again with other content (written by another process mid-build) is serialised
    again, never served stale: a cached entry is used only for an equal release (a frozen dataclass).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._by_format: dict[str, dict[int, tuple[Release, bytes]]] = {}

    def joined(self, name: str, releases: Sequence[Release], serialiser: Serialiser) -> bytes:
        """The entries of ``releases`` in the format whose file is ``name``, serialising the missing."""
        cache = self._by_format.setdefault(name, {})
        missing = _missing(cache, releases)
        if missing:
            for release, piece in zip(missing, serialiser(self.settings, missing), strict=True):
                cache[release.id] = (release, piece)
        return b"".join([cache[release.id][1] for release in releases])

    def serialised(self, name: str, release_id: int) -> bytes | None:
        """The cached entry of one release in one format, if any."""
        hit = self._by_format.get(name, {}).get(release_id)
        return None if hit is None else hit[1]


def _missing(cache: dict[int, tuple[Release, bytes]], releases: Sequence[Release]) -> list[Release]:
    """The releases with no serialised entry yet, or only one of another version, each once."""
    missing: dict[int, Release] = {}
    for release in releases:
        hit = cache.get(release.id)
        if hit is None or (hit[0] is not release and hit[0] != release):
            missing[release.id] = release
    return list(missing.values())
