"""Releases into RSS 2.0, Atom 1.0 and JSON Feed 1.1 bytes, and the public URL layout they live at.

Deterministic: the same releases give the same bytes. Nothing here reads a clock: a feed's
``lastBuildDate``/``updated`` is the newest ``updated`` of its items (a fixed moment for an empty feed),
an entry is ``published`` when the release became visible and ``updated`` at max(updated_at, visible_at).

RSS and Atom are built with feedgen, with two repairs made on its element tree before serialising:
feedgen drops every attribute of an Atom entry's links (upstream issues #135 and #143), so an enclosure
would become a second ``alternate`` link; and it writes only the first ``atom:link`` of an RSS channel,
so the WebSub ``hub`` links are added afterwards. JSON Feed is plain `json`, since feedgen has none.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator
from lxml import etree

from newsroom_feed.markup import summarise
from newsroom_feed.models import Category, Release
from newsroom_feed.settings import Settings

ATOM_NS = "http://www.w3.org/2005/Atom"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
#: The ``updated`` of a feed with no item: any fixed moment keeps an empty feed's bytes stable.
EMPTY_FEED_UPDATED = datetime(2026, 1, 1, tzinfo=UTC)

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


def public_url(settings: Settings, path: str) -> str:
    """The URL of a file in the public directory; ``x/index.html`` is served as ``x/``."""
    return f"{settings.base_url}/{path.removesuffix('index.html')}"


# -- what a feed is about ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedScope:
    """The whole newsroom (``category`` None) or one category: titles, home page and feed URLs."""

    settings: Settings
    category: Category | None = None

    @property
    def title(self) -> str:
        if self.category is None:
            return self.settings.feed.title
        return f"{self.settings.feed.title}: {self.category.name}"

    @property
    def description(self) -> str:
        if self.category is not None and self.category.description:
            return self.category.description
        if self.category is not None:
            return f"{self.settings.feed.description}, kategoria: {self.category.name}"
        return self.settings.feed.description

    @property
    def home_url(self) -> str:
        if self.category is None:
            return f"{self.settings.base_url}/"
        return public_url(self.settings, category_path(self.category.slug))

    def url(self, name: str) -> str:
        slug = None if self.category is None else self.category.slug
        return f"{self.settings.base_url}/{feed_dir(slug)}/{name}"


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


# -- RSS and Atom with feedgen ----------------------------------------------------------------------


class _Entry(FeedEntry):  # type: ignore[misc]
    """A feedgen entry whose Atom links keep their attributes (feedgen issues #135, #143)."""

    def __init__(self, links: list[dict[str, str]]) -> None:
        super().__init__()
        self._links = links

    def atom_entry(self, extensions: bool = True) -> etree._Element:
        entry: etree._Element = super().atom_entry(extensions)
        broken = entry.findall("link")
        position = entry.index(broken[0]) if broken else len(entry)
        for element in broken:
            entry.remove(element)
        for offset, link in enumerate(self._links):
            element = etree.Element("link", link)
            entry.insert(position + offset, element)
        return entry


def _entry(settings: Settings, release: Release) -> _Entry:
    url = release_url(settings, release)
    links = [{"href": url, "rel": "alternate", "type": "text/html"}]
    for attachment in release.attachments:
        link = {
            "href": attachment.url,
            "rel": "enclosure",
            "type": attachment.mime_type,
            "length": str(attachment.length),
        }
        if attachment.title:
            link["title"] = attachment.title
        links.append(link)
    entry = _Entry(links)
    entry.id(release.uid)
    entry.title(release.title)
    entry.link(href=url, rel="alternate")
    if release.attachments:
        first = release.attachments[0]
        # RSS allows one enclosure per item: the first attachment; Atom lists them all.
        entry.enclosure(first.url, str(first.length), first.mime_type)
    if release.body_html:
        entry.content(release.body_html, type="html")
    entry.description(_summary(release), isSummary=True)
    scheme = _category_scheme(settings)
    for category in release.categories:
        entry.category(term=category.slug, label=category.name, scheme=scheme)
    entry.published(release.visible_at)
    entry.updated(entry_updated(release))
    return entry


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
    # Last, because feedgen takes the RSS channel <link> from the last link given.
    generator.link(href=scope.home_url, rel="alternate", type="text/html")
    generator.language(settings.feed.language)
    generator.generator("newsroom-feed")
    generator.updated(feed_updated(releases))
    for release in releases:
        generator.add_entry(_entry(settings, release), order="append")
    return generator


def _serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True)


def rss(scope: FeedScope, releases: Sequence[Release]) -> bytes:
    """RSS 2.0 with ``atom:link`` self and hub links, newest first as given."""
    root, _ = _generator(scope, releases, RSS_FILE)._create_rss()
    channel = root.find("channel")
    self_link = channel.find(f"{{{ATOM_NS}}}link")
    position = channel.index(self_link) + 1
    for offset, hub in enumerate(scope.settings.websub.hubs):
        element = etree.Element(f"{{{ATOM_NS}}}link", {"href": hub, "rel": "hub"})
        channel.insert(position + offset, element)
    for description in channel.iterfind("item/description"):
        # RSS readers take <description> as HTML; a summary is plain text, so "a < b" must stay text.
        description.text = html.escape(description.text or "", quote=False)
    for element in (*channel.iterfind("title"), *channel.iterfind("item/title"), *channel.iter("category")):
        if element.text and _MARKUP.search(element.text):
            # A title that reads like markup ("<b>", "&amp;") is escaped, so readers that guess HTML
            # (most do, feedparser included) show it as written.
            element.text = html.escape(element.text, quote=False)
    return _plain_text_references(_serialise(root))


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


def atom(scope: FeedScope, releases: Sequence[Release]) -> bytes:
    """Atom 1.0 (RFC 4287) with feed author, self, hub and alternate links, newest first as given."""
    root, _ = _generator(scope, releases, ATOM_FILE)._create_atom()
    for name in ("title", "subtitle", "entry/title", "entry/summary"):
        for element in root.iterfind(name):
            if element.text and _MARKUP.search(element.text):
                # Text that reads like markup is declared HTML and escaped: readers then show it as
                # written, where type="text" would leave them guessing.
                element.set("type", "html")
                element.text = html.escape(element.text, quote=False)
    return _serialise(root)


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
    document["items"] = [_json_item(settings, release) for release in releases]
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def render_feeds(scope: FeedScope, releases: Sequence[Release]) -> dict[str, bytes]:
    """The three feeds of one scope, keyed by their path in the public directory.

    ``releases`` are the newest visible ones, newest first, already cut to ``settings.feed.items``.
    """
    slug = None if scope.category is None else scope.category.slug
    rss_path, atom_path, json_path = feed_paths(slug)
    return {
        rss_path: rss(scope, releases),
        atom_path: atom(scope, releases),
        json_path: json_feed(scope, releases),
    }


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
