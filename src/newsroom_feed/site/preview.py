"""A release's public outputs made for a look before they go out: its page and its entry in every feed
format, by the very code the build runs (`Pages.release`, each format's `render`); nothing is written.

A draft has no row in ``releases``, so no uid, number or slug: `unsaved_release` makes the `Release`
it would be, with a stand-in uid (``tag:<domain>,<year>:preview``) and number ("—"), so that every
renderer runs on it unchanged.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from slugify import slugify

from newsroom_feed.markup import render_markdown
from newsroom_feed.models import Attachment, Category, Contact, Release, ReleaseInput
from newsroom_feed.settings import Settings
from newsroom_feed.site.feeds import Entries, FeedScope
from newsroom_feed.site.formats import FORMATS
from newsroom_feed.site.pages import Pages

#: What an unsaved release shows where its yearly number will be.
NO_NUMBER = "—"
#: Around the items of a JSON Feed document (`jsonfeed.render` writes one item per line).
_ITEMS_START = '"items": [\n'
_ITEMS_END = "\n]}"


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One release's entry in one feed format, as the feed file carries it."""

    label: str
    media_type: str
    text: str


def unsaved_release(
    document: ReleaseInput, category_names: Mapping[str, str], settings: Settings, now: datetime
) -> Release:
    """The `Release` a document would become if it were stored now; ``category_names`` by slug (a slug
    not there is named by itself, as storing it would). Never stored: id 0, a stand-in uid and number."""
    now = now.replace(microsecond=0)  # the store keeps times to the second
    contact = document.contact
    published = document.published_at or now
    return Release(
        id=0,
        uid=f"tag:{settings.domain},{now.astimezone(settings.zone).year}:preview",
        number=NO_NUMBER,
        slug=slugify(document.title, max_length=80, word_boundary=True) or "podglad",
        title=document.title,
        summary=document.summary,
        body_markdown=document.body,
        body_html=render_markdown(document.body),
        language=document.language,
        urgent=document.urgent,
        contact=Contact(
            contact.name if contact else None,
            str(contact.email) if contact and contact.email else None,
            contact.phone if contact else None,
        ),
        source_url=document.source_url,
        published_at=published,
        embargo_until=document.embargo_until,
        created_at=now,
        updated_at=now,
        retracted_at=None,
        categories=tuple(Category(slug, category_names.get(slug, slug)) for slug in document.categories),
        attachments=tuple(
            Attachment(a.url, a.title, a.mime_type, a.length, a.alt, a.caption, a.credit)
            for a in document.attachments
        ),
        event=document.event.to_event() if document.event is not None else None,
    )


def page(settings: Settings, release: Release) -> bytes:
    """The bytes of ``releases/<slug>/index.html`` for this release, as the build writes them."""
    return Pages(settings).release(release)


def feed_items(settings: Settings, release: Release) -> list[FeedItem]:
    """The release's entry in each format of `FORMATS`, cut out of a one-release feed of the newsroom.

    The build serialises each RSS item and Atom entry once (`Entries`) and splices the bytes into every
    document that lists it: those bytes are what is shown. A format without such pieces (JSON Feed
    writes one item per line) is cut out of its document.
    """
    entries = Entries(settings)
    scope = FeedScope(settings)
    items = []
    for output in FORMATS:
        document = output.render(scope, [release], entries)
        piece = entries.serialised(output.name, release.id)
        if piece is not None:
            text = textwrap.dedent(piece.decode("utf-8")).strip("\n")
        else:
            text = _json_item(document)
        items.append(FeedItem(output.label, output.media_type, text))
    return items


def _json_item(document: bytes) -> str:
    """The one item of a one-release JSON Feed document: its line in the file, byte for byte.

    :raises ValueError: the document does not hold exactly one item (the format changed its layout).
    """
    text = document.decode("utf-8")
    _, found, rest = text.partition(_ITEMS_START)
    item, closed, _ = rest.rpartition(_ITEMS_END)
    if not (found and closed and item) or "\n" in item:
        raise ValueError("a one-release JSON Feed document without its one item on a line of its own")
    json.loads(item)  # a whole JSON value, not a piece of one
    return item
