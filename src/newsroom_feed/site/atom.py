"""Atom 1.0 (RFC 4287) feeds and archives: a feedgen feed element, entries written with lxml."""

from __future__ import annotations

import html
from collections.abc import Sequence

from lxml import etree

from newsroom_feed.models import Release
from newsroom_feed.settings import Settings
from newsroom_feed.site import layout
from newsroom_feed.site.feeds import (
    MARKUP,
    Entries,
    FeedScope,
    OutputFormat,
    archive_marker,
    corrected_html,
    corrected_summary,
    entry_updated,
    generator,
    release_url,
    serialise,
    splice,
    split,
    sub_element,
)

NAME = "atom.xml"
MEDIA_TYPE = "application/atom+xml"

_TAIL = b"</feed>\n"
_ENTRY = b"  <entry>"


def _entry(feed: etree._Element, settings: Settings, release: Release) -> None:
    # feedgen's Atom tree carries xmlns as a plain attribute: its elements have no namespace, nor do these.
    entry = sub_element(feed, "entry")
    sub_element(entry, "id", release.uid)
    sub_element(entry, "title", release.title)
    sub_element(entry, "updated", entry_updated(release).isoformat())
    content = corrected_html(release, settings.zone)
    if content:
        sub_element(entry, "content", content, type="html")
    sub_element(entry, "link", href=release_url(settings, release), rel="alternate", type="text/html")
    for attachment in release.attachments:
        link = sub_element(
            entry, "link", href=attachment.url, rel="enclosure", type=attachment.mime_type,
            length=str(attachment.length),
        )  # fmt: skip
        if attachment.title:
            link.set("title", attachment.title)
    sub_element(entry, "summary", corrected_summary(release, settings.zone))
    scheme = layout.category_scheme(settings.base_url)
    for category in release.categories:
        sub_element(entry, "category", term=category.slug, scheme=scheme, label=category.name)
    sub_element(entry, "published", release.visible_at.isoformat())


def render(scope: FeedScope, releases: Sequence[Release], entries: Entries | None = None) -> bytes:
    """Atom 1.0 with feed author, self, hub and alternate links, newest first as given.

    With ``entries``, each entry's bytes come from there (serialised once a build) and are spliced in.
    """
    root, _ = generator(scope, releases, NAME, MEDIA_TYPE)._create_atom()
    spliced = entries is not None and root.nsmap == {}
    if not spliced:
        for release in releases:
            _entry(root, scope.settings, release)
    _escape_text(root, ("title", "subtitle", "entry/title", "entry/summary"))
    if scope.archive is not None:
        first_entry = root.find("entry")
        root.insert(len(root) if first_entry is None else root.index(first_entry), archive_marker())
    data = serialise(root)
    if spliced and entries is not None:
        data = splice(data, _TAIL, entries.joined(NAME, releases, _serialise_entries))
    return data


def _serialise_entries(settings: Settings, releases: list[Release]) -> list[bytes]:
    root = etree.Element("feed")
    for release in releases:
        _entry(root, settings, release)
    _escape_text(root, ("entry/title", "entry/summary"))
    data = etree.tostring(root, encoding="UTF-8", xml_declaration=False, pretty_print=True)
    return split(data, _ENTRY, _TAIL, len(releases))


def _escape_text(root: etree._Element, paths: Sequence[str]) -> None:
    for name in paths:
        for element in root.iterfind(name):
            if element.text and MARKUP.search(element.text):
                # Text that reads like markup is declared HTML and escaped: readers then show it as
                # written, where type="text" would leave them guessing.
                element.set("type", "html")
                element.text = html.escape(element.text, quote=False)


FORMAT = OutputFormat(NAME, "Atom", MEDIA_TYPE, render, archived=True)
