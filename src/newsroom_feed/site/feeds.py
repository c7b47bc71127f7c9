"""Releases into RSS 2.0, Atom 1.0 and JSON Feed 1.1 bytes, and the public URL layout they live at.

Deterministic: the same releases give the same bytes. Nothing here reads a clock: a feed's
``lastBuildDate``/``updated`` is the newest ``updated`` of its items (a fixed moment for an empty feed),
an entry is ``published`` when the release became visible and ``updated`` at max(updated_at, visible_at).

RSS and Atom channels are built with feedgen, their entries with lxml (see the section below for why),
and its tree is completed before serialising: feedgen writes only the first ``atom:link`` of an RSS
channel, so the WebSub ``hub`` and RFC 5005 links are added afterwards. Text that reads like markup is
escaped so that readers show it as written, and RSS plain text carries ``&#x26;``/``&#x3C;`` as the RSS
Best Practices Profile asks: the W3C validator passes every feed with no warning. JSON Feed is plain
`json`, since feedgen has none.

Long feeds have RFC 5005 archives: releases by blocks of `ARCHIVE_BLOCK` ids, RSS and Atom only.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from feedgen.feed import FeedGenerator
from lxml import etree

from newsroom_feed.markup import summarise, xml_safe
from newsroom_feed.models import Category, Release
from newsroom_feed.settings import Settings

ATOM_NS = "http://www.w3.org/2005/Atom"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
#: The ``updated`` of a feed with no item: any fixed moment keeps an empty feed's bytes stable.
EMPTY_FEED_UPDATED = datetime(2026, 1, 1, tzinfo=UTC)

HISTORY_NS = "http://purl.org/syndication/history/1.0"
#: Releases by id in blocks of this many make the RFC 5005 archive documents: a release's id never
#: changes, so the archive that holds it is known from the id alone, and a block is archived once every
#: id in it has been given out, so an archive document does not change when new releases arrive.
ARCHIVE_BLOCK = 100

RSS_FILE, ATOM_FILE, JSON_FILE = "rss.xml", "atom.xml", "feed.json"
MEDIA_TYPES = {
    RSS_FILE: "application/rss+xml",
    ATOM_FILE: "application/atom+xml",
    JSON_FILE: "application/feed+json",
}


# -- the public URL layout (DESIGN.md section 4) ---------------------------------------------------


def release_path(slug: str) -> str:
    """The page of one release, relative to the public directory."""
    return f"releases/{slug}/index.html"


def category_path(slug: str) -> str:
    """The page of one category; ``categories/<slug>/`` sits beside ``/feeds/<slug>/``."""
    return f"categories/{slug}/index.html"


def feed_dir(category: str | None) -> str:
    return "feeds" if category is None else f"feeds/{category}"


def feed_paths(category: str | None) -> tuple[str, str, str]:
    """RSS, Atom and JSON Feed paths of the whole newsroom (None) or of one category."""
    base = feed_dir(category)
    return f"{base}/{RSS_FILE}", f"{base}/{ATOM_FILE}", f"{base}/{JSON_FILE}"


def archive_block(release_id: int) -> int:
    """The archive block (1, 2, ...) of a release id."""
    return (release_id - 1) // ARCHIVE_BLOCK + 1


def complete_blocks(last_release_id: int) -> int:
    """How many blocks are archived: those whose every id has been given out."""
    return last_release_id // ARCHIVE_BLOCK


def archive_paths(category: str | None, block: int) -> tuple[str, str]:
    """RSS and Atom paths of one archive document (RFC 5005); JSON Feed has no archives."""
    base = f"{feed_dir(category)}/archive/{block}"
    return f"{base}/{RSS_FILE}", f"{base}/{ATOM_FILE}"


def public_url(settings: Settings, path: str) -> str:
    """The URL of a file in the public directory; ``x/index.html`` is served as ``x/``."""
    return f"{settings.base_url}/{path.removesuffix('index.html')}"


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
        return public_url(self.settings, category_path(self.category.slug))

    def current_url(self, name: str) -> str:
        """The subscription document of this scope in one format."""
        return f"{self.settings.base_url}/{feed_dir(self.slug)}/{name}"

    def archive_url(self, name: str, block: int) -> str:
        return f"{self.settings.base_url}/{feed_dir(self.slug)}/archive/{block}/{name}"

    def url(self, name: str) -> str:
        """This document's own URL (``self``)."""
        if self.archive is None:
            return self.current_url(name)
        return self.archive_url(name, self.archive)

    def history_links(self, name: str) -> list[dict[str, str]]:
        """RFC 5005 links of this document: ``current`` for an archive, its neighbours if any."""
        kind = MEDIA_TYPES[name]
        links = []
        if self.archive is not None:
            links.append({"href": self.current_url(name), "rel": "current", "type": kind})
        for rel, block in (("prev-archive", self.prev_archive), ("next-archive", self.next_archive)):
            if block is not None:
                links.append({"href": self.archive_url(name, block), "rel": rel, "type": kind})
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
    return public_url(settings, release_path(release.slug))


def _summary(release: Release) -> str:
    return release.summary or summarise(release.body_html) or release.title


def _category_scheme(settings: Settings) -> str:
    return f"{settings.base_url}/categories/"


# -- RSS and Atom: feedgen for the channel, lxml for the entries -------------------------------------
#
# feedgen writes the channel and feed elements. The entries are written here with lxml, in the element
# order feedgen uses: building a feedgen entry cost about 50 µs per release and format, four times the
# elements themselves, which made feedgen the bottleneck of a build (see bench/bench_build.py); and its
# Atom entries lose the attributes of their links anyway (upstream issues #135 and #143), so that an
# enclosure would become a second "alternate" link.

CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attributes: str) -> etree._Element:
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


def _rss_item(channel: etree._Element, settings: Settings, release: Release) -> None:
    item = _sub(channel, "item")
    _sub(item, "title", release.title)
    _sub(item, "link", release_url(settings, release))
    # RSS readers take <description> as HTML; a summary is plain text, so "a < b" must stay text.
    _sub(item, "description", html.escape(_summary(release), quote=False))
    if release.body_html:
        _sub(item, f"{{{CONTENT_NS}}}encoded", release.body_html)
    _sub(item, "guid", release.uid, isPermaLink="false")
    scheme = _category_scheme(settings)
    for category in release.categories:
        _sub(item, "category", category.name, domain=scheme)
    if release.attachments:
        # RSS allows one enclosure per item: the first attachment; Atom lists them all.
        first = release.attachments[0]
        _sub(item, "enclosure", url=first.url, length=str(first.length), type=first.mime_type)
    _sub(item, "pubDate", format_datetime(release.visible_at.astimezone(UTC)))


def _atom_entry(feed: etree._Element, settings: Settings, release: Release) -> None:
    # feedgen's Atom tree carries xmlns as a plain attribute: its elements have no namespace, nor do these.
    entry = _sub(feed, "entry")
    _sub(entry, "id", release.uid)
    _sub(entry, "title", release.title)
    _sub(entry, "updated", entry_updated(release).isoformat())
    if release.body_html:
        _sub(entry, "content", release.body_html, type="html")
    _sub(entry, "link", href=release_url(settings, release), rel="alternate", type="text/html")
    for attachment in release.attachments:
        link = _sub(
            entry, "link", href=attachment.url, rel="enclosure", type=attachment.mime_type,
            length=str(attachment.length),
        )  # fmt: skip
        if attachment.title:
            link.set("title", attachment.title)
    _sub(entry, "summary", _summary(release))
    scheme = _category_scheme(settings)
    for category in release.categories:
        _sub(entry, "category", term=category.slug, scheme=scheme, label=category.name)
    _sub(entry, "published", release.visible_at.isoformat())


def _generator(scope: FeedScope, releases: Sequence[Release], self_name: str) -> FeedGenerator:
    settings = scope.settings
    generator = FeedGenerator()
    generator.id(scope.home_url)
    generator.title(scope.title)
    generator.subtitle(scope.description)
    generator.description(scope.description)
    generator.author(name=settings.feed.organization, email=str(settings.feed.author_email))
    generator.link(href=scope.url(self_name), rel="self", type=MEDIA_TYPES[self_name])
    for hub in settings.websub.hubs:
        generator.link(href=hub, rel="hub")
    for link in scope.history_links(self_name):
        generator.link(**link)
    # Last, because feedgen takes the RSS channel <link> from the last link given.
    generator.link(href=scope.home_url, rel="alternate", type="text/html")
    generator.language(settings.feed.language)
    generator.generator("newsroom-feed")
    generator.updated(feed_updated(releases))
    return generator


def _serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True)


def rss(scope: FeedScope, releases: Sequence[Release], entries: Entries | None = None) -> bytes:
    """RSS 2.0 with ``atom:link`` self and hub links, newest first as given.

    With ``entries``, each item's bytes come from there (serialised once a build) and are spliced in.
    """
    root, _ = _generator(scope, releases, RSS_FILE)._create_rss()
    channel = root.find("channel")
    # The items are spliced only under the very namespace prefixes they were serialised with.
    spliced = entries is not None and root.nsmap == _RSS_NSMAP
    if not spliced:
        for release in releases:
            _rss_item(channel, scope.settings, release)
    self_link = channel.find(f"{{{ATOM_NS}}}link")
    # feedgen writes only the self link into an RSS channel: the others are added here.
    links = [{"href": hub, "rel": "hub"} for hub in scope.settings.websub.hubs]
    links += scope.history_links(RSS_FILE)
    position = channel.index(self_link) + 1
    for offset, link in enumerate(links):
        channel.insert(position + offset, etree.Element(f"{{{ATOM_NS}}}link", link))
    if scope.archive is not None:
        channel.insert(position + len(links), _archive_marker())
    plain = [*channel.iterfind("title"), *channel.iterfind("item/title"), *channel.iter("category")]
    references = _escape_rss_plain(plain)
    data = _serialise(root)
    if references:
        data = _plain_text_references(data)
    if spliced and entries is not None:
        data = _splice(data, _RSS_TAIL, entries.rss_items(releases))
    return data


def _escape_rss_plain(plain: Sequence[etree._Element]) -> bool:
    """Escape plain-text elements that read like markup; whether any now needs `_plain_text_references`."""
    for element in plain:
        if element.text and _MARKUP.search(element.text):
            # A title that reads like markup ("<b>", "&amp;") is escaped, so readers that guess HTML
            # (most do, feedparser included) show it as written.
            element.text = html.escape(element.text, quote=False)
    return any("&" in text or "<" in text for text in (element.text or "" for element in plain))


#: Text that a reader (and the W3C validator) would take for HTML: a tag or an entity.
_MARKUP = re.compile(r"<[A-Za-z/!?]|&#?\w+;")


#: RSS elements that hold plain text, not HTML (the RSS Best Practices Profile).
_PLAIN_TEXT = re.compile(rb"(<(title|category)\b[^>]*>)([^<]*)(</\2>)")


def _plain_text_references(data: bytes) -> bytes:
    """``&`` and ``<`` in plain-text RSS elements as ``&#x26;`` and ``&#x3C;``.

    RSS never said whether a title may hold HTML, so readers guess; the RSS Best Practices Profile
    (and the W3C validator, which warns otherwise) asks for hexadecimal references, which no reader
    mistakes for markup. lxml cannot be told to write them, so the serialised bytes are rewritten.
    """

    def encode(match: re.Match[bytes]) -> bytes:
        text = match.group(3).replace(b"&amp;", b"&#x26;").replace(b"&lt;", b"&#x3C;")
        return match.group(1) + text + match.group(4)

    return _PLAIN_TEXT.sub(encode, data)


def atom(scope: FeedScope, releases: Sequence[Release], entries: Entries | None = None) -> bytes:
    """Atom 1.0 (RFC 4287) with feed author, self, hub and alternate links, newest first as given.

    With ``entries``, each entry's bytes come from there (serialised once a build) and are spliced in.
    """
    root, _ = _generator(scope, releases, ATOM_FILE)._create_atom()
    spliced = entries is not None and root.nsmap == {}
    if not spliced:
        for release in releases:
            _atom_entry(root, scope.settings, release)
    _escape_atom_text(root, ("title", "subtitle", "entry/title", "entry/summary"))
    if scope.archive is not None:
        first_entry = root.find("entry")
        root.insert(len(root) if first_entry is None else root.index(first_entry), _archive_marker())
    data = _serialise(root)
    if spliced and entries is not None:
        data = _splice(data, _ATOM_TAIL, entries.atom_entries(releases))
    return data


def _escape_atom_text(root: etree._Element, paths: Sequence[str]) -> None:
    for name in paths:
        for element in root.iterfind(name):
            if element.text and _MARKUP.search(element.text):
                # Text that reads like markup is declared HTML and escaped: readers then show it as
                # written, where type="text" would leave them guessing.
                element.set("type", "html")
                element.text = html.escape(element.text, quote=False)


# -- entries serialised once a build ------------------------------------------------------------------
#
# A full build lists every release in about 2.3 documents per format (the newsroom's archive, one or two
# categories' archives, maybe a feed). An item's bytes depend only on the release and the settings, and
# lxml's pretty printer indents a child by its depth alone, so an item serialised under an ``<rss>`` with
# the same namespace prefixes and at the same depth is byte for byte what it would be in any document: it
# is serialised once and spliced before the closing tags of each document that lists it.

_RSS_NSMAP = {"atom": ATOM_NS, "content": CONTENT_NS}
_RSS_TAIL = b"  </channel>\n</rss>\n"
_ATOM_TAIL = b"</feed>\n"
_RSS_ITEM = b"    <item>"
_ATOM_ENTRY = b"  <entry>"


def _splice(data: bytes, tail: bytes, pieces: bytes) -> bytes:
    """``pieces`` inserted before the closing ``tail`` of a serialised document."""
    if not data.endswith(tail):
        raise ValueError(f"a serialised feed that does not end with {tail!r}")
    return b"".join((data[: -len(tail)], pieces, tail))


def _split(data: bytes, start: bytes, tail: bytes, count: int) -> list[bytes]:
    """The serialised children of a wrapper document, each from its ``start`` to its end of line.

    Text and attribute values in the bytes have every ``<`` escaped, so ``start`` only begins a child.
    """
    body = data[data.index(start) : len(data) - len(tail)]
    pieces = [start + piece for piece in body.split(start)[1:]]
    if not data.endswith(tail) or len(pieces) != count:
        raise ValueError(f"{count} entries serialised, {len(pieces)} found")
    return pieces


class Entries:
    """RSS items and Atom entries serialised once, by release, for every document of one build.

    A release read again with other content (written by another process mid-build) is serialised
    again, never served stale: a cached item is used only for an equal release (a frozen dataclass).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._rss: dict[int, tuple[Release, bytes]] = {}
        self._atom: dict[int, tuple[Release, bytes]] = {}

    def rss_items(self, releases: Sequence[Release]) -> bytes:
        missing = _missing(self._rss, releases)
        if missing:
            root = etree.Element("rss", nsmap=_RSS_NSMAP)
            channel = etree.SubElement(root, "channel")
            for release in missing:
                _rss_item(channel, self.settings, release)
            marked = []
            for item in channel:
                plain = [*item.iterfind("title"), *item.iter("category")]
                marked.append(_escape_rss_plain(plain))
            data = etree.tostring(root, encoding="UTF-8", xml_declaration=False, pretty_print=True)
            pieces = _split(data, _RSS_ITEM, _RSS_TAIL, len(missing))
            for release, piece, mark in zip(missing, pieces, marked, strict=True):
                self._rss[release.id] = (release, _plain_text_references(piece) if mark else piece)
        return b"".join([self._rss[release.id][1] for release in releases])

    def atom_entries(self, releases: Sequence[Release]) -> bytes:
        missing = _missing(self._atom, releases)
        if missing:
            root = etree.Element("feed")
            for release in missing:
                _atom_entry(root, self.settings, release)
            _escape_atom_text(root, ("entry/title", "entry/summary"))
            data = etree.tostring(root, encoding="UTF-8", xml_declaration=False, pretty_print=True)
            pieces = _split(data, _ATOM_ENTRY, _ATOM_TAIL, len(missing))
            for release, piece in zip(missing, pieces, strict=True):
                self._atom[release.id] = (release, piece)
        return b"".join([self._atom[release.id][1] for release in releases])


def _missing(cache: dict[int, tuple[Release, bytes]], releases: Sequence[Release]) -> list[Release]:
    """The releases with no serialised entry yet, or only one of another version, each once."""
    missing: dict[int, Release] = {}
    for release in releases:
        hit = cache.get(release.id)
        if hit is None or (hit[0] is not release and hit[0] != release):
            missing[release.id] = release
    return list(missing.values())


def _archive_marker() -> etree._Element:
    """``<fh:archive/>``: this document is an archive (RFC 5005 section 4)."""
    return etree.Element(f"{{{HISTORY_NS}}}archive", nsmap={"fh": HISTORY_NS})


def render_archive(
    scope: FeedScope, releases: Sequence[Release], entries: Entries | None = None
) -> dict[str, bytes]:
    """The RSS and Atom archive documents of ``scope.archive``: its block's visible releases, newest
    first. JSON Feed has no archives."""
    if scope.archive is None:
        raise ValueError("an archive document needs the block it archives")
    rss_path, atom_path = archive_paths(scope.slug, scope.archive)
    return {rss_path: rss(scope, releases, entries), atom_path: atom(scope, releases, entries)}


# -- JSON Feed ----------------------------------------------------------------------------------------


def _json_item(settings: Settings, release: Release) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": release.uid,
        "url": release_url(settings, release),
        "title": release.title,
        "content_html": release.body_html or f"<p>{_escape(_summary(release))}</p>",
        "summary": _summary(release),
        "date_published": _rfc3339(release.visible_at),
        "date_modified": _rfc3339(entry_updated(release)),
        "language": release.language,
    }
    if release.categories:
        item["tags"] = [category.name for category in release.categories]
    if release.attachments:
        item["attachments"] = [
            {
                "url": attachment.url,
                "mime_type": attachment.mime_type,
                **({"title": attachment.title} if attachment.title else {}),
                **({"size_in_bytes": attachment.length} if attachment.length else {}),
            }
            for attachment in release.attachments
        ]
    return item


def json_feed(scope: FeedScope, releases: Sequence[Release]) -> bytes:
    """JSON Feed 1.1 (served as ``application/feed+json``), newest first as given."""
    settings = scope.settings
    document: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": scope.title,
        "home_page_url": scope.home_url,
        "feed_url": scope.url(JSON_FILE),
        "description": scope.description,
        "language": settings.feed.language,
        "authors": [{"name": settings.feed.organization, "url": f"{settings.base_url}/"}],
    }
    if settings.websub.hubs:
        document["hubs"] = [{"type": "WebSub", "url": hub} for hub in settings.websub.hubs]
    # One item per line: readable in a diff, yet written by json's C encoder, which ``indent`` would
    # replace with its pure-Python one at four times the cost.
    head = json.dumps(document, ensure_ascii=False)[:-1]
    items = ",\n".join(json.dumps(_json_item(settings, release), ensure_ascii=False) for release in releases)
    text = f'{head}, "items": [\n{items}\n]}}\n'
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate, which UTF-8 cannot hold (json escapes the controls)
        return xml_safe(text).encode()


def render_feeds(
    scope: FeedScope, releases: Sequence[Release], entries: Entries | None = None
) -> dict[str, bytes]:
    """The three feeds of one scope, keyed by their path in the public directory.

    ``releases`` are the newest visible ones, newest first, already cut to ``settings.feed.items``;
    ``entries``, if given, shares the serialised items with the build's other documents.
    """
    rss_path, atom_path, json_path = feed_paths(scope.slug)
    return {
        rss_path: rss(scope, releases, entries),
        atom_path: atom(scope, releases, entries),
        json_path: json_feed(scope, releases),
    }


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
