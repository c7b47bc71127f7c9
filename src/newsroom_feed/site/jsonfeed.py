"""JSON Feed 1.1, served as ``application/feed+json``: plain `json`, since feedgen has none; no archives."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from newsroom_feed.markup import xml_safe
from newsroom_feed.models import Release, iso
from newsroom_feed.settings import Settings
from newsroom_feed.site.feeds import (
    Entries,
    FeedScope,
    OutputFormat,
    corrected_html,
    corrected_summary,
    entry_updated,
    release_url,
    summary,
)

NAME = "feed.json"
MEDIA_TYPE = "application/feed+json"
VERSION = "https://jsonfeed.org/version/1.1"


def _item(settings: Settings, release: Release) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": release.uid,
        "url": release_url(settings, release),
        "title": release.title,
        "content_html": corrected_html(release, settings.zone)
        or f"<p>{html.escape(summary(release), quote=False)}</p>",
        "summary": corrected_summary(release, settings.zone),
        "date_published": iso(release.visible_at),
        "date_modified": iso(entry_updated(release)),
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


def render(scope: FeedScope, releases: Sequence[Release], entries: Entries | None = None) -> bytes:
    """JSON Feed 1.1, newest first as given; ``entries`` is not used (items are cheap to write)."""
    settings = scope.settings
    document: dict[str, Any] = {
        "version": VERSION,
        "title": scope.title,
        "home_page_url": scope.home_url,
        "feed_url": scope.url(NAME),
        "description": scope.description,
        "language": settings.feed.language,
        "authors": [{"name": settings.feed.organization, "url": f"{settings.base_url}/"}],
    }
    if settings.websub.hubs:
        document["hubs"] = [{"type": "WebSub", "url": hub} for hub in settings.websub.hubs]
    # One item per line: readable in a diff, yet written by json's C encoder, which ``indent`` would
    # replace with its pure-Python one at four times the cost.
    head = json.dumps(document, ensure_ascii=False)[:-1]
    items = ",\n".join(json.dumps(_item(settings, release), ensure_ascii=False) for release in releases)
    text = f'{head}, "items": [\n{items}\n]}}\n'
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate, which UTF-8 cannot hold (json escapes the controls)
        return xml_safe(text).encode()


FORMAT = OutputFormat(NAME, "JSON Feed", MEDIA_TYPE, render, archived=False)
