"""RSS 2.0 feeds and archives: a feedgen channel, items written with lxml, plain text as the RSS Best
Practices Profile asks (``&#x26;``/``&#x3C;``), so that the W3C validator passes them with no warning."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import UTC
from email.utils import format_datetime

from lxml import etree

from newsroom_feed.models import Release
from newsroom_feed.settings import Settings
from newsroom_feed.site import layout
from newsroom_feed.site.feeds import (
    ATOM_NS,
    MARKUP,
    Entries,
    FeedScope,
    OutputFormat,
    archive_marker,
    corrected_html,
    corrected_summary,
    generator,
    release_url,
    serialise,
    splice,
    split,
    sub_element,
)

NAME = layout.PRIMARY_FEED
MEDIA_TYPE = "application/rss+xml"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"

#: The namespace prefixes feedgen gives an RSS root: items are spliced only under the very same.
_NSMAP = {"atom": ATOM_NS, "content": CONTENT_NS}
_TAIL = b"  </channel>\n</rss>\n"
_ITEM = b"    <item>"


def _item(channel: etree._Element, settings: Settings, release: Release) -> None:
    item = sub_element(channel, "item")
    sub_element(item, "title", release.title)
    sub_element(item, "link", release_url(settings, release))
    # RSS readers take <description> as HTML; a summary is plain text, so "a < b" must stay text.
    sub_element(item, "description", html.escape(corrected_summary(release, settings.zone), quote=False))
    content = corrected_html(release, settings.zone)
    if content:
        sub_element(item, f"{{{CONTENT_NS}}}encoded", content)
    sub_element(item, "guid", release.uid, isPermaLink="false")
    scheme = layout.category_scheme(settings.base_url)
    for category in release.categories:
        sub_element(item, "category", category.name, domain=scheme)
    if release.attachments:
        # RSS allows one enclosure per item: the first attachment; Atom lists them all.
        first = release.attachments[0]
        sub_element(item, "enclosure", url=first.url, length=str(first.length), type=first.mime_type)
    sub_element(item, "pubDate", format_datetime(release.visible_at.astimezone(UTC)))


def render(scope: FeedScope, releases: Sequence[Release], entries: Entries | None = None) -> bytes:
    """RSS 2.0 with ``atom:link`` self and hub links, newest first as given.

    With ``entries``, each item's bytes come from there (serialised once a build) and are spliced in.
    """
    root, _ = generator(scope, releases, NAME, MEDIA_TYPE)._create_rss()
    channel = root.find("channel")
    spliced = entries is not None and root.nsmap == _NSMAP
    if not spliced:
        for release in releases:
            _item(channel, scope.settings, release)
    self_link = channel.find(f"{{{ATOM_NS}}}link")
    # feedgen writes only the self link into an RSS channel: the others are added here.
    links = [{"href": hub, "rel": "hub"} for hub in scope.settings.websub.hubs]
    links += scope.history_links(NAME, MEDIA_TYPE)
    position = channel.index(self_link) + 1
    for offset, link in enumerate(links):
        channel.insert(position + offset, etree.Element(f"{{{ATOM_NS}}}link", link))
    if scope.archive is not None:
        channel.insert(position + len(links), archive_marker())
    plain = [*channel.iterfind("title"), *channel.iterfind("item/title"), *channel.iter("category")]
    references = _escape_plain(plain)
    data = serialise(root)
    if references:
        data = _plain_text_references(data)
    if spliced and entries is not None:
        data = splice(data, _TAIL, entries.joined(NAME, releases, _serialise_items))
    return data


def _serialise_items(settings: Settings, releases: list[Release]) -> list[bytes]:
    root = etree.Element("rss", nsmap=_NSMAP)
    channel = etree.SubElement(root, "channel")
    for release in releases:
        _item(channel, settings, release)
    marked = [_escape_plain([*item.iterfind("title"), *item.iter("category")]) for item in channel]
    data = etree.tostring(root, encoding="UTF-8", xml_declaration=False, pretty_print=True)
    pieces = split(data, _ITEM, _TAIL, len(releases))
    return [
        _plain_text_references(piece) if mark else piece for piece, mark in zip(pieces, marked, strict=True)
    ]


def _escape_plain(plain: Sequence[etree._Element]) -> bool:
    """Escape plain-text elements that read like markup; whether any now needs `_plain_text_references`."""
    for element in plain:
        if element.text and MARKUP.search(element.text):
            # A title that reads like markup ("<b>", "&amp;") is escaped, so readers that guess HTML
            # (most do, feedparser included) show it as written.
            element.text = html.escape(element.text, quote=False)
    return any("&" in text or "<" in text for text in (element.text or "" for element in plain))


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


FORMAT = OutputFormat(NAME, "RSS", MEDIA_TYPE, render, archived=True)
