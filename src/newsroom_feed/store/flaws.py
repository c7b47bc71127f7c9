"""What another program stored with plain SQL that no writer may store: the input rules of `models.py`
applied to stored rows, and what the outputs do about each flaw.

The service's own writes pass `ReleaseInput`; an outside writer's (DESIGN.md lets a CMS insert releases
with SQL) pass nothing, so the store reads every row through these functions. Two answers:

- **left out**: a link that is not an absolute http(s) URL (``javascript:``, ``data:``, ...), a contact
  address that is not one, an attachment with any bad field. The release is published without it.
- **held back**: the release's own texts beyond their bounds or not text at all, a slug that cannot be a
  path segment (too long for a file name, ``../``), text that is not UTF-8. The release (or the
  category) is in no output until the row is fixed; every other release is published.

Each flaw is reported (`build_state.last_error`, so ``/healthz``, and `newsroom-feed check`) naming the
row and the field, in the terms of the release document (``attachments.0.url``, ``contact.email``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from newsroom_feed.markup import xml_safe
from newsroom_feed.models import (
    ATTACHMENT_TITLE_MAX,
    BODY_MAX,
    CATEGORY_DESCRIPTION_MAX,
    CATEGORY_NAME_MAX,
    CONTACT_NAME_MAX,
    NUMBER_MAX,
    PHONE_MAX,
    SUMMARY_MAX,
    TITLE_MAX,
    UID_MAX,
    email_address,
    length_problem,
    mime_type_problem,
    slug_problem,
    url_problem,
)

_LANGUAGE = re.compile(r"^[a-z]{2}$")
_COMMON_LANGUAGES = frozenset({"", "pl", "en"})
NOT_TEXT = "is not text"
NOT_UTF8 = "is not UTF-8 text"
#: Columns of the release tables by the name of their field in the release document.
_FIELDS = {
    "body_markdown": "body",
    "contact_name": "contact.name",
    "contact_email": "contact.email",
    "contact_phone": "contact.phone",
}


@dataclass(frozen=True, slots=True)
class Flaw:
    """One value no writer may store: where it is, what is wrong, and whether the whole release (or
    category) is held back or only the value is left out of the outputs."""

    #: ``release 12/2026``, ``release id 7`` (no usable number yet) or ``category id 3``.
    row: str
    #: The field in the terms of the release document (``attachments.1.url``), or the column (``slug``).
    field: str
    problem: str
    held: bool

    def __str__(self) -> str:
        effect = "held back" if self.held else "left out"
        return f"{self.row}: {self.field}: {self.problem} ({effect})"


def release_row(release_id: int, number: Any) -> str:
    """How a report names a release: by its number when it has a usable one, else by its id."""
    if isinstance(number, str) and number and length_problem(number, NUMBER_MAX) is None:
        return f"release {xml_safe(number)}"
    return f"release id {release_id}"


def category_row(category_id: int) -> str:
    return f"category id {category_id}"


def field_of_column(column: str) -> str:
    return _FIELDS.get(column, column)


def undecodable_column(error: Exception) -> str | None:
    """The column sqlite3 names in "Could not decode to UTF-8 column 'title' ...", if it is one."""
    found = re.search(r"decode to UTF-8 column '([^']+)'", str(error))
    return found.group(1) if found else None


def _text(value: Any, maximum: int, *, required: bool = False) -> str | None:
    """The problem of a text column, or None. SQLite turns numbers into text in a TEXT column, so
    anything but text or NULL is a BLOB."""
    if value is None:
        return "is required" if required else None
    if not isinstance(value, str):
        return NOT_TEXT
    if len(value) > maximum:
        return f"must be at most {maximum} characters, got {len(value)}"
    # Printable text holds nothing `xml_safe` takes out: the regular expression only for the rest.
    if required and not ((value.isprintable() and value.strip()) or xml_safe(value).strip()):
        return "must not be empty"
    return None


def release_flaws(
    release_id: int,
    *,
    title: Any,
    summary: Any,
    body_type: str,
    body_length: int | None,
    language: Any,
    contact_name: Any,
    contact_email: Any,
    contact_phone: Any,
    source_url: Any,
    slug: Any,
    number: Any,
    uid: Any,
) -> list[Flaw]:
    """The flaws of a release's own columns (its attachments are `attachment_problem`'s). The body is
    given by its SQLite type and length, so that a scan of every release need not read the bodies.
    A NULL slug, number or uid is not a flaw: `Store.complete_pending` mints them."""
    problems = (
        ("title", _text(title, TITLE_MAX, required=True), True),
        ("summary", _text(summary, SUMMARY_MAX), True),
        ("body", _body(body_type, body_length), True),
        ("language", _language(language), True),
        ("contact.name", _text(contact_name, CONTACT_NAME_MAX), True),
        ("contact.phone", _text(contact_phone, PHONE_MAX), True),
        ("slug", None if slug is None else slug_problem(slug) if isinstance(slug, str) else NOT_TEXT, True),
        ("number", _text(number, NUMBER_MAX), True),
        ("uid", _text(uid, UID_MAX), True),
        ("contact.email", email_problem(contact_email), False),
        ("source_url", link_problem(source_url), False),
    )
    if not any(problem for _, problem, _ in problems):
        return []
    row = release_row(release_id, number)
    return [Flaw(row, field, problem, held) for field, problem, held in problems if problem]


def _body(body_type: str, body_length: int | None) -> str | None:
    if body_type not in ("text", "null"):
        return NOT_TEXT
    if body_length is not None and body_length > BODY_MAX:
        return f"must be at most {BODY_MAX} characters, got {body_length}"
    return None


def _language(value: Any) -> str | None:
    if value is None or value in _COMMON_LANGUAGES:
        return None  # "" is read as "pl", the column's default
    if not isinstance(value, str) or not _LANGUAGE.match(value):
        return "must be a two-letter language code such as pl or en"
    return None


def link_problem(value: Any) -> str | None:
    """`models.url_problem` for a stored value, which may be NULL or not text."""
    if value is None:
        return None
    return url_problem(value) if isinstance(value, str) else NOT_TEXT


def email_problem(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return email_address(value)[1] if isinstance(value, str) else NOT_TEXT


def attachment_problem(url: Any, title: Any, mime_type: Any, length: Any) -> tuple[str, str] | None:
    """(field, problem) of the first bad field of a stored attachment, or None: one bad field leaves the
    whole attachment out, since a link without its type or a type without its link says nothing."""
    length_bad = not isinstance(length, int) or isinstance(length, bool) or length < 0
    problems = {
        "url": link_problem(url) if url is not None else "is required",
        "title": _text(title, ATTACHMENT_TITLE_MAX),
        "mime_type": mime_type_problem(mime_type) if isinstance(mime_type, str) else NOT_TEXT,
        "length": "must be a whole number of bytes, 0 or more" if length_bad else None,
    }
    return next(((field, problem) for field, problem in problems.items() if problem), None)


def category_flaws(category_id: int, slug: Any, name: Any, description: Any) -> list[Flaw]:
    """The flaws of a category: any of them holds it back (no page, no feeds, named by no release)."""
    row = category_row(category_id)
    problems = {
        "slug": slug_problem(slug) if isinstance(slug, str) else NOT_TEXT,
        "name": _text(name, CATEGORY_NAME_MAX, required=True),
        "description": _text(description, CATEGORY_DESCRIPTION_MAX),
    }
    return [Flaw(row, field, problem, True) for field, problem in problems.items() if problem]


def shown_text(value: Any) -> str | None:
    """A stored value as text to show, whatever it is: XML-invalid characters out, a BLOB read as UTF-8
    (U+FFFD for what is not). Held rows are still shown to the operator (`release show`), so their
    reading must not fail."""
    if value is None or isinstance(value, str):
        return None if value is None else xml_safe(value)
    if isinstance(value, bytes):
        return xml_safe(value.decode("utf-8", "replace"))
    return str(value)


def shown_link(value: Any) -> str | None:
    """A stored link as published: None unless it passes `link_problem`."""
    return value.strip() if isinstance(value, str) and url_problem(value) is None else None


def shown_email(value: Any) -> str | None:
    """A stored contact address as published: the address `models.email_address` reads, or None."""
    return email_address(value)[0] if isinstance(value, str) and value else None
