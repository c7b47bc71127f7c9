"""The shapes of the domain: the validated release document every entry point shares, and read models.

`ReleaseInput` is the one gate for release input (CLI, stdin JSON, imports, admin API): whatever passes it
can be stored; whatever fails it raises `InputError` naming the field. Its checks (`url_problem`,
`slug_problem`, `email_address`, the bounds) are also those the store holds rows that other programs
wrote with plain SQL to (`flaws.py`), so every writer meets the same ones. `Release`, `Category`,
`Attachment`, `Subscriber` are what the store hands out: frozen, so outputs cannot change what they were
given.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from newsroom_feed.errors import InputError

#: The languages of the templates and pages (mail, subscriber pages); the first is the default.
LANGUAGES: tuple[str, ...] = ("pl", "en")
DEFAULT_ZONE = ZoneInfo("Europe/Warsaw")

# Bounds of every text a release or category may hold. The input models below refuse more, and the
# store holds back (or leaves out) what another program stored beyond them with plain SQL, so every
# writer meets the same ones. A slug is a path segment: 80 characters keep ``releases/<slug>/`` far
# below the 255 bytes a file name may have, even in a file system that counts bytes of UTF-8.
SLUG_MAX = 80
TITLE_MAX = 300
#: An event's place (a hall, a street address, a city).
EVENT_LOCATION_MAX = 300
#: A correction's note, shown first wherever the corrected release goes again.
CORRECTION_NOTE_MAX = 2000
SUMMARY_MAX = 2000
BODY_MAX = 200_000
CONTACT_NAME_MAX = 200
PHONE_MAX = 40
ATTACHMENT_TITLE_MAX = 300
#: An image attachment's alternative text, caption and credit (the desk's image fields).
ALT_MAX = 500
CAPTION_MAX = 1000
CREDIT_MAX = 200
#: RFC 6838 section 4.2: a type and a subtype name of at most 127 characters each.
MIME_TYPE_MAX = 255
CATEGORY_NAME_MAX = 200
CATEGORY_DESCRIPTION_MAX = 2000
#: Only the service mints these (``42/2026``, ``tag:zmp.example.pl,2026:release/42``); an outside writer
#: may fill them in, within these bounds.
NUMBER_MAX = 40
UID_MAX = 300
#: The years a release time may be in (`parse_moment`).
YEARS = range(1900, 3000)

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:\d{2})?$",
)
_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_MIME = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$", re.IGNORECASE)
_LANGUAGE = re.compile(r"^[a-z]{2}$")

ReleaseStatus = Literal["published", "scheduled", "embargoed", "retracted"]


def has_control_characters(text: str) -> bool:
    """Control and format characters (C0, C1, bidi overrides) break headers, XML and terminals."""
    if text.isprintable():
        # No "Other" or "Separator" character but the space: the usual answer, found in C. (Every URL of
        # every release is checked on every read, `url_problem`.)
        return False
    return any(unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"} for char in text)


def parse_moment(value: Any, zone: ZoneInfo = DEFAULT_ZONE) -> datetime | None:
    """An RFC 3339 date-time in UTC; a time without an offset is read in ``zone`` (Europe/Warsaw).

    Only the years `YEARS` are accepted: a time at either end of `datetime` cannot be moved to another
    zone (``0001-01-01T00:00:00+01:00`` overflows), and the store holds back releases it cannot read with
    an embargo in the year 9999 (`store.HELD_UNTIL`), which no accepted time may reach.

    :raises ValueError: for anything that is not ``YYYY-MM-DDTHH:MM[:SS][offset]`` in those years.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and _RFC3339.match(value.strip()):
        moment = datetime.fromisoformat(value.strip().replace("z", "Z").replace("t", "T"))
    else:
        raise ValueError(
            "must be an RFC 3339 date-time such as 2026-11-26T10:30:00+01:00 "
            "(without an offset it is read as Europe/Warsaw time)"
        )
    out_of_range = ValueError(f"must be between the years {YEARS.start} and {YEARS.stop - 1}")
    if moment.year not in YEARS:
        raise out_of_range
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    try:
        moment = moment.astimezone(UTC).replace(microsecond=0)
    except (OverflowError, ValueError):
        raise out_of_range from None
    if moment.year not in YEARS:
        raise out_of_range
    return moment


_HTTP_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)
#: Characters RFC 3986 never allows in a URL, and that end an attribute or a tag wherever a link is
#: pasted into markup without escaping; a real link has them percent-encoded.
_URL_FORBIDDEN = re.compile(r'["<>`\\]')


def url_problem(value: str) -> str | None:
    """What keeps ``value`` (white space around it aside) from being a link to publish, or None.

    The one check of every URL, whoever wrote it: the input models below and the store's reads of what
    another program stored with plain SQL. Only absolute http(s) URLs pass, so ``javascript:``,
    ``vbscript:`` and ``data:`` in any case, behind spaces, control characters or character references
    (``&#106;avascript:``) never become an ``href`` or an enclosure.
    """
    value = value.strip()
    if not _HTTP_URL.match(value):
        return "must be an absolute http:// or https:// URL"
    if has_control_characters(value):
        return "must not contain control characters"
    if _URL_FORBIDDEN.search(value):
        return 'must not contain the characters " < > ` \\ (percent-encode them)'
    return None


def http_url(value: str) -> str:
    """``value`` without the white space around it, if `url_problem` finds nothing.

    :raises ValueError: with the problem.
    """
    problem = url_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value.strip()


def _optional_url(value: str | None) -> str | None:
    return None if value is None else http_url(value)


def slug_problem(value: str) -> str | None:
    """What keeps ``value`` from being a slug (of a release or a category: a segment of its public
    path), or None."""
    if len(value) > SLUG_MAX:
        return f"must be at most {SLUG_MAX} characters, got {len(value)}"
    if not _SLUG.match(value):
        return "must be lowercase letters and digits, joined by single hyphens"
    return None


def length_problem(value: str, maximum: int) -> str | None:
    return f"must be at most {maximum} characters, got {len(value)}" if len(value) > maximum else None


def mime_type_problem(value: str) -> str | None:
    if len(value) > MIME_TYPE_MAX or not _MIME.match(value):
        return "must be a MIME type such as application/pdf"
    return None


_EMAIL = TypeAdapter(EmailStr)


@functools.lru_cache(maxsize=1024)
def email_address(value: str) -> tuple[str | None, str | None]:
    """(the address, None) or (None, the problem): the check of `ContactInput.email`, for addresses
    another program stored. Cached: a newsroom has a handful of contact addresses, and email-validator
    takes about 20 µs for one."""
    try:
        return _EMAIL.validate_python(value), None
    except ValidationError as error:
        return None, error.errors()[0]["msg"].removeprefix("Value error, ")


def _split_categories(value: Any) -> Any:
    """One text of slugs (a CSV cell, a form field) separated by ``,`` or ``;``; a list as it is."""
    if isinstance(value, str):
        return [part.strip() for part in re.split(r"[;,]", value) if part.strip()]
    return value


def _category_slugs(value: tuple[str, ...]) -> tuple[str, ...]:
    """Each a slug, repeats dropped in order."""
    for slug in value:
        problem = slug_problem(slug)
        if problem is not None:
            shown = slug if len(slug) <= 40 else f"{slug[:40]}…"
            raise ValueError(f"{shown!r} is not a category slug: it {problem}")
    return tuple(dict.fromkeys(value))


#: The ``categories`` of a release or subscriber document: a list of slugs or one text separated by
#: ``,`` or ``;``, each checked, repeats dropped.
CategorySlugs = Annotated[
    tuple[str, ...], BeforeValidator(_split_categories), AfterValidator(_category_slugs)
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class AttachmentInput(_Input):
    url: str
    title: str | None = Field(default=None, max_length=ATTACHMENT_TITLE_MAX)
    mime_type: str = "application/octet-stream"
    length: int = Field(default=0, ge=0)
    #: For images: the text that stands for the picture, its caption and whom it is credited to.
    alt: str | None = Field(default=None, max_length=ALT_MAX)
    caption: str | None = Field(default=None, max_length=CAPTION_MAX)
    credit: str | None = Field(default=None, max_length=CREDIT_MAX)

    _url = field_validator("url")(classmethod(lambda cls, value: http_url(value)))

    @field_validator("mime_type")
    @classmethod
    def _mime(cls, value: str) -> str:
        problem = mime_type_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value.lower()

    @field_validator("title", "alt", "caption", "credit")
    @classmethod
    def _title(cls, value: str | None) -> str | None:
        if value is not None and has_control_characters(value):
            raise ValueError("must not contain control characters")
        return value or None


def _event_day(value: Any) -> date:
    """An all-day event's day: ``YYYY-MM-DD`` (a time of day would say the event is not all-day).

    :raises ValueError: with the problem.
    """
    if isinstance(value, date) and not isinstance(value, datetime):
        day = value
    elif isinstance(value, str) and _DAY.match(value.strip()):
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("is not a day of the calendar") from None
    else:
        raise ValueError("must be a date such as 2026-12-10 for an all-day event (no time of day)")
    if day.year not in YEARS:
        raise ValueError(f"must be between the years {YEARS.start} and {YEARS.stop - 1}")
    return day


def _event_moment(value: Any) -> datetime:
    """A timed event's moment, in UTC: an RFC 3339 date-time that says its offset.

    Unlike a release's times, a naive time is refused: an event is often somewhere else than the newsroom
    (an online seminar from Brussels), and a calendar shows it at the wrong hour if the zone is guessed.

    :raises ValueError: with the problem.
    """
    if isinstance(value, str) and _DAY.match(value.strip()):
        raise ValueError("needs a time of day and its offset, such as 2026-12-10T10:00:00+01:00 (or all_day)")
    naive = isinstance(value, datetime) and value.tzinfo is None
    naive = naive or (
        isinstance(value, str)
        and _RFC3339.match(value.strip()) is not None
        and _NAIVE_TAIL.search(value.strip()) is not None
    )
    if naive:
        raise ValueError("needs a time zone offset, such as 2026-12-10T10:00:00+01:00 or ...Z")
    moment = parse_moment(value)
    if moment is None:
        raise ValueError("is required")
    return moment


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: The end of an RFC 3339 date-time that carries no offset (``...T10:00`` or ``...T10:00:00.5``).
_NAIVE_TAIL = re.compile(r"[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$", re.IGNORECASE)


class EventInput(_Input):
    """The dated event a release announces (DESIGN.md section 4.1): a start, an optional end, a place
    and an online link. ``all_day`` comes first so the times are read as days or moments by it."""

    all_day: bool = False
    start: datetime | date
    end: datetime | date | None = None
    location: str | None = Field(default=None, max_length=EVENT_LOCATION_MAX)
    online_url: str | None = None

    _online_url = field_validator("online_url")(classmethod(lambda cls, value: _optional_url(value)))

    @field_validator("start", "end", mode="before")
    @classmethod
    def _time(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or value == "":
            if info.field_name == "start":
                raise ValueError("is required")
            return None
        if info.data.get("all_day") is True:
            return _event_day(value)
        return _event_moment(value)

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: datetime | date | None, info: ValidationInfo) -> datetime | date | None:
        start = info.data.get("start")
        if value is not None and start is not None and type(value) is type(start) and value < start:
            raise ValueError("must not be before the start")
        return value

    @field_validator("location")
    @classmethod
    def _location(cls, value: str | None) -> str | None:
        if value is not None and has_control_characters(value):
            raise ValueError("must not contain control characters (line breaks, tabs, ...)")
        return value or None

    def to_event(self) -> Event:
        return Event(self.start, self.end, self.all_day, self.location, self.online_url)


class ContactInput(_Input):
    name: str | None = Field(default=None, max_length=CONTACT_NAME_MAX)
    email: EmailStr | None = None
    phone: str | None = Field(default=None, max_length=PHONE_MAX)

    @field_validator("name", "phone")
    @classmethod
    def _plain(cls, value: str | None) -> str | None:
        if value is not None and has_control_characters(value):
            raise ValueError("must not contain control characters")
        return value or None

    @field_validator("email", mode="before")
    @classmethod
    def _empty_email(cls, value: Any) -> Any:
        return None if value == "" else value


class ReleaseInput(_Input):
    """The release document (DESIGN.md section 4). Only ``title`` is required.

    Validate with `ReleaseInput.parse(data, zone)` so that naive times are read in the newsroom's zone and
    errors come out as `InputError`.
    """

    title: str
    summary: str | None = Field(default=None, max_length=SUMMARY_MAX)
    body: str = Field(default="", max_length=BODY_MAX)
    categories: CategorySlugs = ()
    urgent: bool = False
    language: str = "pl"
    attachments: tuple[AttachmentInput, ...] = ()
    published_at: datetime | None = None
    embargo_until: datetime | None = None
    contact: ContactInput | None = None
    source_url: str | None = None
    #: Shares the release with verified journalists before its embargo lifts (no embargo: no effect).
    early_access: bool = False
    #: The dated event the release announces, if any.
    event: EventInput | None = None

    _source_url = field_validator("source_url")(classmethod(lambda cls, value: _optional_url(value)))

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        if not value:
            raise ValueError("is required and must not be empty")
        if has_control_characters(value):
            raise ValueError("must not contain control characters (line breaks, tabs, ...)")
        if len(value) > TITLE_MAX:
            raise ValueError(f"must be at most {TITLE_MAX} characters, got {len(value)}")
        return value

    @field_validator("summary", "body", mode="before")
    @classmethod
    def _newlines(cls, value: Any) -> Any:
        # Windows line ends (CSV cells, files saved on Windows) are line ends, not control characters.
        return value.replace("\r\n", "\n").replace("\r", "\n") if isinstance(value, str) else value

    @field_validator("summary")
    @classmethod
    def _summary(cls, value: str | None) -> str | None:
        if value and any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in value):
            raise ValueError("must not contain control characters")
        return value or None

    @field_validator("body")
    @classmethod
    def _body(cls, value: str) -> str:
        # XML 1.0 cannot carry C0 controls other than tab and newline: one in a body would break
        # every feed build, so it is refused at the door.
        if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in value):
            raise ValueError("must not contain control characters other than line breaks and tabs")
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if not _LANGUAGE.match(value):
            raise ValueError("must be a two-letter language code such as pl or en")
        return value

    @field_validator("published_at", "embargo_until", mode="before")
    @classmethod
    def _moment(cls, value: Any, info: ValidationInfo) -> Any:
        zone = (info.context or {}).get("zone", DEFAULT_ZONE)
        return parse_moment(value, zone)

    @classmethod
    def parse(cls, data: Any, zone: ZoneInfo = DEFAULT_ZONE) -> ReleaseInput:
        """Validate a release document.

        :raises InputError: naming the first bad field (``attachments.0.url``) and the problem.
        """
        if not isinstance(data, dict):
            raise InputError("", "a release document must be a JSON object")
        try:
            return cls.model_validate(data, context={"zone": zone})
        except ValidationError as error:
            raise input_error(error) from None

    def merged(self, changes: dict[str, Any], zone: ZoneInfo = DEFAULT_ZONE) -> ReleaseInput:
        """This document with ``changes`` applied, validated as a whole (for `release update`)."""
        data = self.model_dump(mode="json", exclude_none=False)
        data.update(changes)
        return ReleaseInput.parse(data, zone)


def input_error(error: ValidationError) -> InputError:
    """The first problem of a pydantic error, as an `InputError` naming the field in dotted form."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"]
    if first["type"] == "missing":
        message = "is required"
    elif first["type"] == "extra_forbidden":
        message = "is not a field of this document"
    message = message.removeprefix("Value error, ")
    return InputError(where, message)


@dataclass(frozen=True, slots=True)
class Category:
    slug: str
    name: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Attachment:
    url: str
    title: str | None
    mime_type: str
    length: int
    alt: str | None = None
    caption: str | None = None
    credit: str | None = None

    def to_document(self) -> dict[str, Any]:
        """The attachment of a release document; the image fields only when set, so a document of a
        release without them reads as it always did."""
        document: dict[str, Any] = {
            "url": self.url,
            "title": self.title,
            "mime_type": self.mime_type,
            "length": self.length,
        }
        for name in ("alt", "caption", "credit"):
            value = getattr(self, name)
            if value is not None:
                document[name] = value
        return document


@dataclass(frozen=True, slots=True)
class Contact:
    name: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """A dated event a release announces. Timed: ``start``/``end`` are aware UTC datetimes (shown in
    the newsroom's zone); all-day: they are dates, ``end`` the last day (inclusive)."""

    start: datetime | date
    end: datetime | date | None = None
    all_day: bool = False
    location: str | None = None
    online_url: str | None = None

    def to_document(self) -> dict[str, Any]:
        return {
            "start": _event_text(self.start),
            "end": _event_text(self.end) if self.end is not None else None,
            "all_day": self.all_day,
            "location": self.location,
            "online_url": self.online_url,
        }


def _event_text(value: datetime | date) -> str:
    return iso(value) if isinstance(value, datetime) else value.isoformat()


def correction_note(value: str) -> str:
    """The note of a correction as it is kept: without the white space around it, Windows line ends
    made plain ones.

    :raises InputError: (``note``) it is empty, longer than `CORRECTION_NOTE_MAX`, not text (a byte
        that is not UTF-8 on the command line, a lone ``\\ud800`` in JSON: SQLite cannot store it) or
        holds a control character other than a line break or a tab.
    """
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise InputError("note", "is required: say what was corrected")
    if len(text) > CORRECTION_NOTE_MAX:
        raise InputError("note", f"must be at most {CORRECTION_NOTE_MAX} characters, got {len(text)}")
    if any(unicodedata.category(char) == "Cs" for char in text):
        raise InputError("note", "must be UTF-8 text (it holds a byte or an escape that is no character)")
    if any(unicodedata.category(char) == "Cc" and char not in "\n\t" for char in text):
        raise InputError("note", "must not contain control characters other than line breaks and tabs")
    return text


@dataclass(frozen=True, slots=True)
class Correction:
    """One correction of a release ("korekta"): when it was made and what the note says."""

    at: datetime
    note: str
    #: Its row in ``corrections`` (0 when not read from the store); a correction mail's key names it.
    id: int = field(default=0, compare=False)

    def to_document(self) -> dict[str, Any]:
        return {"at": iso(self.at), "note": self.note}


@dataclass(frozen=True, slots=True)
class Release:
    """A stored release. Times are aware UTC datetimes; `visible_at` is when the public may see it."""

    id: int
    uid: str
    number: str
    slug: str
    title: str
    summary: str | None
    body_markdown: str
    body_html: str
    language: str
    urgent: bool
    contact: Contact
    source_url: str | None
    published_at: datetime
    embargo_until: datetime | None
    created_at: datetime
    updated_at: datetime
    retracted_at: datetime | None
    categories: tuple[Category, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    early_access: bool = False
    event: Event | None = None
    #: Every correction, oldest first.
    corrections: tuple[Correction, ...] = ()

    @property
    def visible_at(self) -> datetime:
        if self.embargo_until is not None and self.embargo_until > self.published_at:
            return self.embargo_until
        return self.published_at

    def status(self, now: datetime) -> ReleaseStatus:
        if self.retracted_at is not None:
            return "retracted"
        if self.embargo_until is not None and self.embargo_until > now:
            return "embargoed"
        if self.published_at > now:
            return "scheduled"
        return "published"

    def is_visible(self, now: datetime) -> bool:
        return self.retracted_at is None and self.visible_at <= now

    def to_document(self, now: datetime) -> dict[str, Any]:
        """The release document plus ``id``, ``uid``, ``number``, ``slug`` and ``status``."""
        return {
            "id": self.id,
            "uid": self.uid,
            "number": self.number,
            "slug": self.slug,
            "status": self.status(now),
            "title": self.title,
            "summary": self.summary,
            "body": self.body_markdown,
            "categories": [category.slug for category in self.categories],
            "urgent": self.urgent,
            "language": self.language,
            "attachments": [attachment.to_document() for attachment in self.attachments],
            "published_at": iso(self.published_at),
            "embargo_until": iso(self.embargo_until) if self.embargo_until else None,
            "contact": {
                "name": self.contact.name,
                "email": self.contact.email,
                "phone": self.contact.phone,
            },
            "source_url": self.source_url,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "retracted_at": iso(self.retracted_at) if self.retracted_at else None,
            "early_access": self.early_access,
            "event": self.event.to_document() if self.event is not None else None,
            "corrections": [correction.to_document() for correction in self.corrections],
        }


SubscriberKind = Literal["journalist", "city", "other"]
Frequency = Literal["immediate", "daily", "weekly"]
SubscriberStatus = Literal["pending", "active", "unsubscribed", "bounced"]


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: int
    email: str
    name: str | None
    kind: SubscriberKind
    organization: str | None
    language: str
    frequency: Frequency
    status: SubscriberStatus
    token: str
    categories: tuple[str, ...] = field(default=())
    consent_text: str | None = None
    consent_at: datetime | None = None
    consent_source: str | None = None
    created_at: datetime | None = None
    confirmed_at: datetime | None = None
    unsubscribed_at: datetime | None = None

    @property
    def display_name(self) -> str | None:
        return self.name or self.organization

    def wants(self, release: Release) -> bool:
        """No categories chosen means everything."""
        if not self.categories:
            return True
        return any(category.slug in self.categories for category in release.categories)


def iso(moment: datetime) -> str:
    """The store's and the JSON documents' time format: UTC, seconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


OutboxKind = str  # a name in `mail.kinds.KINDS`
OutboxStatus = Literal["pending", "sending", "sent", "failed", "withdrawn"]


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One message to send: what `outbox.py` claims and `compose.py` turns into bytes."""

    id: int
    key: str
    kind: OutboxKind
    subscriber_id: int | None
    release_ids: tuple[int, ...]
    status: OutboxStatus
    attempts: int
    message_id: str | None = None
    #: The Message-ID this message answers (a correction or a notice about a release already received).
    in_reply_to: str | None = None
    #: Whether the recipient is a verified journalist when the row is claimed: only then may a kind
    #: composed before the lift (a correction, a notice) show a release still under embargo.
    verified: bool = False


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A composed message, ready for SMTP: the envelope and the exact bytes."""

    outbox_id: int
    sender: str
    recipient: str
    message_id: str
    data: bytes
