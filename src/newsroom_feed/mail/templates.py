"""The e-mail template environment: loaders with operator overrides, filters, autoescape, and the views
of releases that templates see.

Templates are found in `settings.mail.templates_dir` first (an operator's file of the same name wins)
and then in the bundled `templates/email/` at the root of the repository (see `bundled.bundled_templates`:
the project runs as an editable install; a copy inside the package, ``newsroom_feed/templates/email``,
is used instead when present, e.g. in a wheel).

Template names are ``<kind>.<language>.<txt|html>``: ``alert``, ``digest_daily``, ``digest_weekly``,
``confirmation``, ``correction`` (which extends ``alert`` and replaces its ``subject`` block); each
extends ``layout.<language>.<ext>``. The plain-text template sets ``subject``.
Context: ``lang``, ``city`` (member-city greeting), ``newsroom``, ``site_url``, ``feeds_url``,
``unsubscribe_url``, ``preferences_url``, ``confirm_url`` (confirmation only), ``release`` (alert),
``releases``, ``period_end`` and ``events`` (digests; each release has its ``event``), ``corrected``
(digests: releases corrected by the period's end, each with its ``corrections``), ``correction``
(correction mail: its ``at`` and ``note``, or None),
``when(moment)``, ``day(moment)``, ``plural(n, *forms)``, and in HTML ``subject``.
Early access (issue 12): ``early`` (``release`` and ``until``, its lift), ``notice_moved`` and
``notice_withdrawn`` (``release``, of which only title and number are shown, and ``until``),
``journalist_verified`` and ``journalist_refused`` (no release).
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date
from babel.dates import format_datetime as babel_datetime
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    select_autoescape,
)
from markupsafe import Markup

from newsroom_feed.bundled import bundled_templates
from newsroom_feed.event_dates import event_when, starts_at
from newsroom_feed.labels import attachment_label
from newsroom_feed.markup import html_to_text
from newsroom_feed.models import DEFAULT_ZONE, Correction, Release
from newsroom_feed.site import layout

#: Where the bundled mail templates live (see the module docstring).
BUNDLED_TEMPLATES = bundled_templates("email")


def make_environment(override_dir: Path | None = None) -> Environment:
    """The mail templates: an operator's directory first, then the bundled ones.

    Autoescaping is on for ``.html`` and off for ``.txt``; an undefined variable is an error, not "".
    """
    loaders = [FileSystemLoader(str(override_dir))] if override_dir else []
    loaders.append(FileSystemLoader(str(BUNDLED_TEMPLATES)))
    return Environment(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@dataclass(frozen=True, slots=True)
class AttachmentView:
    title: str
    url: str
    label: str


@dataclass(frozen=True, slots=True)
class EventLine:
    """A release's event as a mail says it: when (in the reader's language, the newsroom's zone), where,
    the online link, and the iCalendar file to add it with."""

    when: str
    starts: datetime
    location: str | None
    online_url: str | None
    calendar_url: str


@dataclass(frozen=True, slots=True)
class ReleaseView:
    """A release as mail templates use it: URLs made absolute, HTML marked safe, text made for text mail."""

    uid: str
    title: str
    number: str
    url: str
    summary: str | None
    body_html: Markup
    body_text: str
    visible_at: datetime
    urgent: bool
    categories: tuple[str, ...]
    attachments: tuple[AttachmentView, ...]
    contact: str
    #: Oldest first, each with its time and note: a correction mail and a digest's "Korekty" show them.
    corrections: tuple[Correction, ...] = ()
    #: The event the release announces (an alert's and a digest's event line), None without one.
    event: EventLine | None = None


def body_text(fragment: str) -> str:
    """Plain text of a sanitised body for the text part: paragraphs apart, links kept as "text (URL)"."""

    def link(match: re.Match[str]) -> str:
        url, label = match.group(1), re.sub(r"<[^>]+>", "", match.group(2))
        return label if html_lib.unescape(label).strip() == html_lib.unescape(url) else f"{label} ({url})"

    text = re.sub(r'<a\s[^>]*?href="([^"]*)"[^>]*>(.*?)</a>', link, fragment, flags=re.DOTALL)
    text = re.sub(r"<li[^>]*>", "- ", text)
    blocks = re.split(r"</(?:p|h[2-6]|blockquote|pre|ul|ol|table)>|<hr\s*/?>", text)
    return "\n\n".join(part for part in (html_to_text(block) for block in blocks) if part)


def release_view(
    release: Release, base_url: str, language: str, zone: ZoneInfo = DEFAULT_ZONE
) -> ReleaseView:
    """What a mail in ``language`` shows of a release; an attachment's label is the release page's
    (`labels.attachment_label`), its size written the reader's way (``1,5 MB``, ``1.5 MB``)."""
    attachments = []
    for attachment in release.attachments:
        attachments.append(
            AttachmentView(
                title=attachment.title or attachment.url.rsplit("/", 1)[-1],
                url=attachment.url,
                label=attachment_label(attachment.mime_type, attachment.length, language),
            )
        )
    contact = ", ".join(
        part for part in (release.contact.name, release.contact.email, release.contact.phone) if part
    )
    return ReleaseView(
        uid=release.uid,
        title=release.title,
        number=release.number,
        url=layout.release_url(base_url, release.slug),
        summary=release.summary,
        body_html=Markup(release.body_html),  # noqa: S704 - sanitised by nh3 when stored
        body_text=body_text(release.body_html),
        visible_at=release.visible_at,
        urgent=release.urgent,
        categories=tuple(category.name for category in release.categories),
        attachments=tuple(attachments),
        contact=contact,
        corrections=release.corrections,
        event=_event_line(release, base_url, language, zone),
    )


def _event_line(release: Release, base_url: str, language: str, zone: ZoneInfo) -> EventLine | None:
    event = release.event
    if event is None:
        return None
    return EventLine(
        when=event_when(event, zone, language),
        starts=starts_at(event, zone),
        location=event.location,
        online_url=event.online_url,
        calendar_url=layout.release_calendar_url(base_url, release.slug),
    )


def template_helpers(language: str, zone: ZoneInfo) -> dict[str, Callable[..., str]]:
    """The functions templates call (``when``, ``day``, ``plural``): the reader's language, the newsroom's
    zone, so a date reads the same in every message of one language."""
    locale = Locale.parse(language)

    def when(moment: datetime) -> str:
        """Such as "26 listopada 2026, 10:30": the reader's language, the newsroom's zone."""
        return babel_datetime(moment, "d MMMM y, HH:mm", tzinfo=zone, locale=locale)

    def day(moment: datetime) -> str:
        return format_date(moment.astimezone(zone).date(), "d MMMM y", locale=locale)

    def plural(count: int, *forms: str) -> str:
        """The form for ``count``: Polish takes (one, few, many), English (one, other)."""
        index = {"one": 0, "two": 1, "few": 1, "many": 2}.get(locale.plural_form(count), len(forms) - 1)
        return forms[min(index, len(forms) - 1)]

    return {"when": when, "day": day, "plural": plural}
