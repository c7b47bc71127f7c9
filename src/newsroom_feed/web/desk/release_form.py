"""The desk's release form and the release document, each turned into the other.

The form shows times as Europe/Warsaw wall time (``datetime-local`` fields, `core.input_time`) and the
document carries them as typed, so `ReleaseInput.parse` reads them in the newsroom's zone: a winter
10:00 is stored as 09:00Z. An event's times are the same wall time, but the document carries them with
the offset the newsroom's zone has on that day (`ReleaseInput` refuses an event time without one), so a
10:00 seminar stays at 10:00 on either side of a change to or from summer time; an all-day event takes
the date part of its fields, and an empty start means no event. Attachments are rows of the form
(``attachment-<n>-title`` and so on) with their URL, type and length in hidden fields; an uploaded file
adds a row. An error of the document (``contact.email``, ``attachments.2.alt``, ``event.end``) is put
back beside the form field it came from (`field_id`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from starlette.datastructures import FormData

from newsroom_feed.errors import InputError
from newsroom_feed.models import Release, ReleaseInput, iso
from newsroom_feed.settings import Settings
from newsroom_feed.site.uploads import Upload
from newsroom_feed.store.database import stored_moment
from newsroom_feed.web.desk.core import choices, input_time, raw, text

#: The fields of a release document the desk edits, in the order of the form (and of the audit log).
DOCUMENT_FIELDS = (
    "title",
    "summary",
    "body",
    "categories",
    "urgent",
    "language",
    "contact",
    "source_url",
    "published_at",
    "embargo_until",
    "early_access",
    "event",
    "attachments",
)

#: The form field each top-level document field is shown beside.
_FIELD_IDS = {
    "title": "title",
    "summary": "summary",
    "body": "body",
    "categories": "new_categories",
    "urgent": "urgent",
    "language": "language",
    "source_url": "source_url",
    "published_at": "published_at",
    "embargo_until": "embargo_until",
    "early_access": "early_access",
    "contact": "contact_name",
    "attachments": "upload",
    "event": "event_start",
}

#: The event's fields in the document and the form fields that hold them.
_EVENT_FIELDS = {
    "start": "event_start",
    "end": "event_end",
    "all_day": "event_all_day",
    "location": "event_location",
    "online_url": "event_online_url",
}
#: A ``datetime-local`` value: wall time to the minute (or second), no offset; typed with a space where
#: a browser shows a plain text field instead, as the hints spell it (``2026-12-10 10:00``).
_LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?$")
_DAY_PART = re.compile(r"^\d{4}-\d{2}-\d{2}(?=$|[T ])")


@dataclass(frozen=True, slots=True)
class AttachmentRow:
    """An attachment as the form holds it."""

    url: str
    title: str = ""
    mime_type: str = "application/octet-stream"
    length: int = 0
    alt: str = ""
    caption: str = ""
    credit: str = ""
    removed: bool = False

    @property
    def is_image(self) -> bool:
        return self.mime_type.startswith("image/")


@dataclass(frozen=True, slots=True)
class ReleaseForm:
    """What the edit form shows: the values as typed (or as stored, turned into form text)."""

    title: str = ""
    summary: str = ""
    body: str = ""
    categories: tuple[str, ...] = ()
    new_categories: str = ""
    urgent: bool = False
    language: str = "pl"
    contact_name: str = ""
    contact_email: str = ""
    contact_phone: str = ""
    source_url: str = ""
    #: ``datetime-local`` text, Europe/Warsaw wall time.
    published_at: str = ""
    embargo_until: str = ""
    early_access: bool = False
    #: The event: ``datetime-local`` text, Europe/Warsaw wall time (all-day: the date part counts).
    event_start: str = ""
    event_end: str = ""
    event_all_day: bool = False
    event_location: str = ""
    event_online_url: str = ""
    attachments: tuple[AttachmentRow, ...] = field(default=())

    def with_uploads(self, uploads: list[Upload]) -> ReleaseForm:
        """This form with a row for each newly uploaded file (its title: the file's own name)."""
        added = tuple(
            AttachmentRow(url=u.url, title=u.file_name, mime_type=u.mime_type, length=u.length)
            for u in uploads
        )
        return replace(self, attachments=self.attachments + added)


def new_form(settings: Settings) -> ReleaseForm:
    """A new release starts with the newsroom's media contact (the settings) and its language."""
    desk = settings.desk
    return ReleaseForm(
        contact_name=desk.contact_name or "",
        contact_email=str(desk.contact_email or settings.feed.author_email),
        contact_phone=desk.contact_phone or "",
    )


def form_of_document(document: dict[str, Any], zone: ZoneInfo) -> ReleaseForm:
    """The form of a stored release document (a release's or a draft's)."""
    contact = document.get("contact") or {}
    attachments = tuple(
        AttachmentRow(
            url=str(item.get("url") or ""),
            title=str(item.get("title") or ""),
            mime_type=str(item.get("mime_type") or "application/octet-stream"),
            length=int(item.get("length") or 0),
            alt=str(item.get("alt") or ""),
            caption=str(item.get("caption") or ""),
            credit=str(item.get("credit") or ""),
        )
        for item in document.get("attachments") or ()
        if isinstance(item, dict)
    )
    return ReleaseForm(
        title=str(document.get("title") or ""),
        summary=str(document.get("summary") or ""),
        body=str(document.get("body") or ""),
        categories=tuple(str(slug) for slug in document.get("categories") or ()),
        urgent=bool(document.get("urgent")),
        language=str(document.get("language") or "pl"),
        contact_name=str(contact.get("name") or ""),
        contact_email=str(contact.get("email") or ""),
        contact_phone=str(contact.get("phone") or ""),
        source_url=str(document.get("source_url") or ""),
        published_at=_local(document.get("published_at"), zone),
        embargo_until=_local(document.get("embargo_until"), zone),
        early_access=bool(document.get("early_access")),
        **_event_form(document.get("event"), zone),
        attachments=attachments,
    )


def _event_form(event: Any, zone: ZoneInfo) -> dict[str, Any]:
    """The event fields of the form; an all-day event's days at midnight, as a ``datetime-local`` field
    holds only a date and a time (a bare date would show as empty, and saving would drop the event)."""
    if not isinstance(event, dict) or not event.get("start"):
        return {}
    all_day = bool(event.get("all_day"))

    def shown(value: Any) -> str:
        if not value:
            return ""
        return f"{value}T00:00" if all_day else _local(value, zone)

    return {
        "event_start": shown(event.get("start")),
        "event_end": shown(event.get("end")),
        "event_all_day": all_day,
        "event_location": str(event.get("location") or ""),
        "event_online_url": str(event.get("online_url") or ""),
    }


def _local(value: Any, zone: ZoneInfo) -> str:
    try:
        return input_time(stored_moment(value) if isinstance(value, str) else None, zone)
    except ValueError:
        return ""


def form_of_request(form: FormData) -> ReleaseForm:
    """The form as the browser sent it."""
    rows = []
    index = 0
    while f"attachment-{index}-url" in form:
        prefix = f"attachment-{index}-"
        try:
            length = int(text(form, prefix + "length") or 0)
        except ValueError:
            length = 0
        rows.append(
            AttachmentRow(
                url=text(form, prefix + "url"),
                title=text(form, prefix + "title"),
                mime_type=text(form, prefix + "mime_type") or "application/octet-stream",
                length=length,
                alt=text(form, prefix + "alt"),
                caption=text(form, prefix + "caption"),
                credit=text(form, prefix + "credit"),
                removed=bool(form.get(prefix + "remove")),
            )
        )
        index += 1
    return ReleaseForm(
        title=text(form, "title"),
        summary=raw(form, "summary").strip(),
        body=raw(form, "body"),
        categories=tuple(choices(form, "categories")),
        new_categories=text(form, "new_categories"),
        urgent=bool(form.get("urgent")),
        language=text(form, "language") or "pl",
        contact_name=text(form, "contact_name"),
        contact_email=text(form, "contact_email"),
        contact_phone=text(form, "contact_phone"),
        source_url=text(form, "source_url"),
        published_at=text(form, "published_at"),
        embargo_until=text(form, "embargo_until"),
        early_access=bool(form.get("early_access")),
        event_start=text(form, "event_start"),
        event_end=text(form, "event_end"),
        event_all_day=bool(form.get("event_all_day")),
        event_location=text(form, "event_location"),
        event_online_url=text(form, "event_online_url"),
        attachments=tuple(rows),
    )


def document_of_form(values: ReleaseForm, zone: ZoneInfo) -> tuple[dict[str, Any], list[int]]:
    """The release document the form stands for, and for each of its attachments the form row it came
    from (removed rows are left out, so the indexes differ). ``zone`` is the newsroom's: the event's
    wall times get its offset of their day."""
    kept = [(index, row) for index, row in enumerate(values.attachments) if not row.removed]
    new_slugs = [part.strip() for part in values.new_categories.replace(";", ",").split(",") if part.strip()]
    document: dict[str, Any] = {
        "title": values.title,
        "summary": values.summary or None,
        "body": values.body,
        "categories": [*values.categories, *new_slugs],
        "urgent": values.urgent,
        "language": values.language,
        "contact": {
            "name": values.contact_name or None,
            "email": values.contact_email or None,
            "phone": values.contact_phone or None,
        },
        "source_url": values.source_url or None,
        "published_at": values.published_at or None,
        "embargo_until": values.embargo_until or None,
        "early_access": values.early_access,
        "event": _event_document(values, zone),
        "attachments": [_attachment(row) for _, row in kept],
    }
    return document, [index for index, _ in kept]


def _event_document(values: ReleaseForm, zone: ZoneInfo) -> dict[str, Any] | None:
    """The event of the form, or None when its start is empty (clearing the start removes the event).

    What is not a ``datetime-local`` value is passed on as typed, for `EventInput` to refuse by name.
    """
    if not values.event_start:
        return None
    if values.event_all_day:
        start, end = _day(values.event_start), _day(values.event_end)
    else:
        start, end = _with_offset(values.event_start, zone), _with_offset(values.event_end, zone)
    return {
        "all_day": values.event_all_day,
        "start": start,
        "end": end or None,
        "location": values.event_location or None,
        "online_url": values.event_online_url or None,
    }


def _with_offset(local: str, zone: ZoneInfo) -> str:
    """A wall time of the form with the offset ``zone`` has then (``2027-03-30T10:00`` → ``+02:00``).

    A wall time that a change to summer time skips (02:30 on the last Sunday of March) is read with
    the offset before it, as `parse_moment` reads the release's own times.
    """
    if not _LOCAL_TIME.match(local):
        return local
    return datetime.fromisoformat(local).replace(tzinfo=zone).isoformat()


def _day(local: str) -> str:
    """The date part of a ``datetime-local`` value (an all-day event's day); other text as typed."""
    found = _DAY_PART.match(local)
    return found.group(0) if found else local


def _attachment(row: AttachmentRow) -> dict[str, Any]:
    attachment: dict[str, Any] = {
        "url": row.url,
        "title": row.title or None,
        "mime_type": row.mime_type,
        "length": row.length,
    }
    if row.is_image:
        attachment.update(alt=row.alt or None, caption=row.caption or None, credit=row.credit or None)
    return attachment


def parse(document: dict[str, Any], zone: ZoneInfo, rows: list[int]) -> ReleaseInput | dict[str, InputError]:
    """The validated document, or every problem it has by the form field it concerns (the gate is
    `ReleaseInput`'s, as `ReleaseInput.parse`; that one stops at the first problem, a form shows all)."""
    try:
        return ReleaseInput.model_validate(document, context={"zone": zone})
    except ValidationError as error:
        problems: dict[str, InputError] = {}
        for detail in error.errors():
            where = ".".join(str(part) for part in detail["loc"])
            problem = InputError(where, str(detail["msg"]).removeprefix("Value error, "))
            problems.setdefault(field_id(problem, rows), problem)
        return problems


def field_id(error: InputError, rows: list[int]) -> str:
    """The form field an error of the document is shown beside (``contact.email`` → ``contact_email``,
    ``attachments.1.alt`` → the alt field of the form row that attachment came from)."""
    parts = error.field.split(".") if error.field else []
    if not parts:
        return "title"
    head = parts[0]
    if head == "contact" and len(parts) > 1 and parts[1] in ("name", "email", "phone"):
        return f"contact_{parts[1]}"
    if head == "event":
        return _EVENT_FIELDS.get(parts[1] if len(parts) > 1 else "", "event_start")
    if head == "attachments" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(rows):
        row = rows[int(parts[1])]
        name = parts[2] if len(parts) > 2 and parts[2] in ("alt", "caption", "credit") else "title"
        return f"attachment-{row}-{name}"
    return _FIELD_IDS.get(head, "title")


def stored_document(document: ReleaseInput) -> dict[str, Any]:
    """A validated document in the form a release's own (`Release.to_document`) has: what drafts keep and
    what the audit log compares, so a draft and the release made of it read alike."""
    contact = document.contact
    return {
        "title": document.title,
        "summary": document.summary,
        "body": document.body,
        "categories": list(document.categories),
        "urgent": document.urgent,
        "language": document.language,
        "contact": {
            "name": contact.name if contact else None,
            "email": contact.email if contact else None,
            "phone": contact.phone if contact else None,
        },
        "source_url": document.source_url,
        "published_at": iso(document.published_at) if document.published_at else None,
        "embargo_until": iso(document.embargo_until) if document.embargo_until else None,
        "early_access": document.early_access,
        "event": document.event.to_event().to_document() if document.event is not None else None,
        "attachments": [
            {key: value for key, value in item.model_dump().items() if value is not None or key == "title"}
            for item in document.attachments
        ],
    }


def release_document(release: Release, now: datetime) -> dict[str, Any]:
    """The document fields of a stored release."""
    whole = release.to_document(now)
    return {name: whole[name] for name in DOCUMENT_FIELDS}


def audited(document: dict[str, Any]) -> dict[str, Any]:
    """A release document as the audit log compares it: one entry per field a person edits
    (``contact.email``, ``attachments``), each a plain value that reads well in the change history."""
    flat: dict[str, Any] = {}
    for name in DOCUMENT_FIELDS:
        value = document.get(name)
        if name == "contact":
            for part in ("name", "email", "phone"):
                flat[f"contact.{part}"] = (value or {}).get(part)
        elif name == "event":
            for part in _EVENT_FIELDS:
                flat[f"event.{part}"] = (value or {}).get(part)
        elif name == "categories":
            flat[name] = ", ".join(value or ()) or None
        elif name == "attachments":
            flat[name] = "; ".join(_attachment_line(item) for item in value or ()) or None
        else:
            flat[name] = value
    return flat


def _attachment_line(item: dict[str, Any]) -> str:
    extras = [f"{key}: {item[key]}" for key in ("alt", "caption", "credit") if item.get(key)]
    line = f"{item.get('title') or item.get('url')} <{item.get('url')}>"
    return f"{line} ({', '.join(extras)})" if extras else line
