"""Release imports: JSON Lines, CSV and the plain-text listing format, each row all or nothing.

Every row goes through `ReleaseInput`, the gate all entry points share. A bad row becomes an
`ImportRowError` naming the line where it starts; good rows are stored even when others are rejected.
Re-importing a file creates nothing new: each row carries an ``external_key`` (a hash of what identifies
it in its format) and a row whose key is already in the store is skipped.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from slugify import slugify

from newsroom_feed.errors import ImportRowError, InputError
from newsroom_feed.models import DEFAULT_ZONE, Release, ReleaseInput, has_control_characters
from newsroom_feed.store.database import Store

ImportFormat = Literal["jsonl", "csv", "listing"]
FORMATS: tuple[ImportFormat, ...] = ("jsonl", "csv", "listing")

#: Fields that `release show --json` adds to a release document. Input ignores them, so an exported
#: document can be imported or sent back to `release update` as it is; the store mints its own.
READ_ONLY_FIELDS = frozenset(
    {"id", "uid", "number", "slug", "status", "created_at", "updated_at", "retracted_at", "corrections"}
)

#: The CSV header: document fields, the contact and the event flattened, and at most one attachment per
#: row. A contract: columns are only ever added at the end, so every older file imports as it did.
CSV_COLUMNS = (
    "title", "summary", "body", "categories", "urgent", "language", "published_at", "embargo_until",
    "contact_name", "contact_email", "contact_phone", "source_url",
    "attachment_url", "attachment_title", "attachment_mime_type", "attachment_length",
    "event_start", "event_end", "event_all_day", "event_location", "event_online_url",
)  # fmt: skip

#: In the listing format each block starts with this word (the text of the page's download link).
LISTING_MARKER = "Pobierz"
#: Listing entries carry no dates: the first in the file gets the base moment, each next one a minute
#: earlier, so the store's newest-first order is the file's order whatever moment is chosen.
LISTING_STEP = timedelta(minutes=1)
#: A category line is one short line; anything longer is a summary without a category after it.
_CATEGORY_LINE_MAX = 80

_TRUE = {"1", "true", "yes", "tak", "t", "y"}
_FALSE = {"0", "false", "no", "nie", "f", "n", ""}


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One parsed row: where it starts, its validated document and the key that makes it idempotent."""

    line: int
    document: ReleaseInput
    external_key: str
    #: Category slug -> display name, for categories this row may create (the listing's own line).
    category_names: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class ImportReport:
    """What an import did: releases stored, rows already in the store, rows rejected with the reason."""

    imported: list[Release] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    rejected: list[ImportRowError] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "imported": [
                {"id": release.id, "number": release.number, "slug": release.slug, "title": release.title}
                for release in self.imported
            ],
            "skipped": len(self.skipped),
            "rejected": [
                {"line": error.line, "field": error.field, "problem": error.problem}
                for error in self.rejected
            ],
        }


def release_document(data: Any) -> Any:
    """A JSON value as a release document: the read-only fields of an exported document dropped."""
    if isinstance(data, dict):
        return {key: value for key, value in data.items() if key not in READ_ONLY_FIELDS}
    return data


def guess_format(path: Path) -> ImportFormat:
    """The format a file name suggests: ``.jsonl``/``.ndjson``, ``.csv``, ``.txt``.

    :raises InputError: the name suggests none of them.
    """
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson"}:
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    if suffix == ".txt":
        return "listing"
    raise InputError("format", f"cannot tell the format of {path.name!r}: give --format {'|'.join(FORMATS)}")


def read_text(path: Path) -> str:
    """The file's text, ``-`` meaning stdin handled by the caller.

    :raises InputError: the file is missing, unreadable or not UTF-8 (an unusable file: exit 2).
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError("file", f"cannot read {path}: {error.strerror or error}") from None
    return decode(data, str(path))


def decode(data: bytes, name: str) -> str:
    """UTF-8 text with a byte-order mark removed.

    :raises InputError: the bytes are not UTF-8.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError("file", f"{name} is not UTF-8 text (byte {error.start})") from None


def parse_rows(
    text: str, fmt: ImportFormat, *, zone: ZoneInfo = DEFAULT_ZONE, base: datetime | None = None
) -> Iterator[ImportRow | ImportRowError]:
    """The rows of an import file in file order, each either parsed or the reason it was rejected.

    ``base`` is the listing format's moment for its first (newest) entry.

    :raises InputError: the file as a whole is unusable (an unknown format, a CSV without a title column).
    """
    if fmt == "jsonl":
        return _jsonl_rows(text, zone)
    if fmt == "csv":
        return _csv_rows(text, zone)
    if fmt == "listing":
        if base is None:
            raise InputError("base_time", "the listing format needs a base moment for its newest entry")
        return _listing_rows(text, zone, base)
    raise InputError("format", f"{fmt!r} is not one of {', '.join(FORMATS)}")


def import_releases(
    store: Store,
    text: str,
    fmt: ImportFormat,
    now: datetime,
    *,
    base: datetime | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Store every good row of an import file; each row in its own transaction, so never half a row.

    A row whose ``external_key`` is already in the store is skipped (re-importing creates nothing new);
    a second row with the key of an earlier row of the same file is rejected, naming that line.
    ``on_progress(rows_done, rows)`` hears each row as it is done (the CLI's progress bar).

    :raises InputError: the file is unusable as a whole (nothing is stored then).
    """
    rows = list(parse_rows(text, fmt, zone=store.zone, base=base or now))
    if not rows:
        raise InputError("file", "contains no releases")
    report = ImportReport()
    seen: dict[str, int] = {}
    known = {category.slug for category in store.categories()}
    for index, row in enumerate(rows):
        if on_progress is not None:
            on_progress(index, len(rows))  # the rows before this one are done
        if isinstance(row, ImportRowError):
            report.rejected.append(row)
            continue
        if row.external_key in seen:
            report.rejected.append(
                ImportRowError(row.line, "title", f"repeats the release on line {seen[row.external_key]}")
            )
            continue
        seen[row.external_key] = row.line
        # The check and the insert share one write transaction, so two imports of the same file at once
        # cannot both insert a row: the second waits for the first and then finds its key.
        with store.transaction():
            if store.external_key_exists(row.external_key):
                report.skipped.append(row.line)
                continue
            for slug, name in row.category_names.items():
                if slug not in known:
                    store.set_category(slug, name)
                    known.add(slug)
            report.imported.append(store.add_release(row.document, now, external_key=row.external_key))
    if on_progress is not None:
        on_progress(len(rows), len(rows))
    return report


def _key(kind: str, *parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]
    return f"{kind}:{digest}"


def document_key(document: ReleaseInput) -> str:
    """JSON Lines and CSV rows are the same release when title and given ``published_at`` match."""
    published = document.published_at.isoformat() if document.published_at else ""
    return _key("release", document.title, published)


def _parsed(line: int, data: Any, zone: ZoneInfo) -> ImportRow | ImportRowError:
    try:
        document = ReleaseInput.parse(release_document(data), zone)
    except InputError as error:
        return ImportRowError(line, error.field, error.problem)
    return ImportRow(line, document, document_key(document))


# -- JSON Lines -------------------------------------------------------------------------------------


def _jsonl_rows(text: str, zone: ZoneInfo) -> Iterator[ImportRow | ImportRowError]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            yield ImportRowError(number, "", f"not valid JSON: {error.msg} (column {error.colno})")
            continue
        yield _parsed(number, data, zone)


# -- CSV --------------------------------------------------------------------------------------------


def _csv_rows(text: str, zone: ZoneInfo) -> Iterator[ImportRow | ImportRowError]:
    header_line = text.split("\n", 1)[0]
    delimiter = ","
    if "," not in header_line:
        # Spreadsheets with a Polish locale save CSV with semicolons.
        delimiter = ";" if ";" in header_line else "\t" if "\t" in header_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [name.strip().lower() for name in next(reader, [])]
    _check_header(header)
    start = reader.line_num + 1
    for record in _records(reader):
        cells, end = record
        line, start = start, end + 1
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            yield ImportRowError(line, "", f"has {len(cells)} cells, the header has {len(header)}")
            continue
        data = _csv_document(dict(zip(header, cells, strict=True)))
        if isinstance(data, InputError):
            yield ImportRowError(line, data.field, data.problem)
            continue
        yield _parsed(line, data, zone)


def _records(reader: Any) -> Iterator[tuple[list[str], int]]:
    """Each CSV record with the physical line it ends on (a quoted cell may span lines)."""
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise InputError("file", f"line {reader.line_num}: {error}") from None
        yield cells, reader.line_num


def _check_header(header: list[str]) -> None:
    if "title" not in header:
        raise InputError(
            "file", f"the CSV header must name a title column; the columns are: {', '.join(CSV_COLUMNS)}"
        )
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if unknown:
        columns = ", ".join(CSV_COLUMNS)
        raise InputError("file", f"unknown CSV column {unknown[0]!r}; the columns are: {columns}")
    repeated = [name for name in header if header.count(name) > 1]
    if repeated:
        raise InputError("file", f"the CSV column {repeated[0]!r} appears twice")


def _csv_document(cells: dict[str, str]) -> dict[str, Any] | InputError:
    """A release document out of one CSV row; empty cells are fields not given."""
    given = {name: value.strip() for name, value in cells.items() if value.strip()}
    document: dict[str, Any] = {}
    for name in ("title", "summary", "body", "language", "published_at", "embargo_until", "source_url"):
        if name in given:
            document[name] = given[name]
    if "title" not in document:
        document["title"] = ""
    if "body" in document:
        document["body"] = cells["body"].replace("\r\n", "\n")
    if "categories" in given:
        document["categories"] = [part.strip() for part in given["categories"].split(";") if part.strip()]
    for name in ("urgent", "event_all_day"):
        if name in given:
            flag = given[name].lower()
            if flag not in _TRUE | _FALSE:
                return InputError(name, "must be true or false (also 1/0, yes/no, tak/nie)")
    if "urgent" in given:
        document["urgent"] = given["urgent"].lower() in _TRUE
    event: dict[str, Any] = {
        key: given[f"event_{key}"]
        for key in ("start", "end", "location", "online_url")
        if f"event_{key}" in given
    }
    all_day = given.get("event_all_day", "").lower() in _TRUE
    if event or all_day:
        # A filled event cell without a start is an event without one: the check names event.start. A
        # "false" all-day cell alone (a sheet's default) says nothing.
        document["event"] = {**event, "all_day": all_day}
    contact = {
        key: given[f"contact_{key}"] for key in ("name", "email", "phone") if f"contact_{key}" in given
    }
    if contact:
        document["contact"] = contact
    attachment_columns = ("url", "title", "mime_type", "length")
    attachment: dict[str, Any] = {
        key: given[f"attachment_{key}"] for key in attachment_columns if f"attachment_{key}" in given
    }
    if attachment:
        if "url" not in attachment:
            return InputError("attachment_url", "is required when other attachment cells are filled")
        if "length" in attachment:
            if not attachment["length"].isdigit():
                return InputError("attachment_length", "must be a whole number of bytes")
            attachment["length"] = int(attachment["length"])
        document["attachments"] = [attachment]
    return document


# -- the listing format -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Block:
    line: int
    heading: str
    paragraphs: list[list[str]] = field(default_factory=list)


def _listing_blocks(text: str) -> Iterator[_Block]:
    """Blocks starting at a ``Pobierz`` line; text before the first one is the page's heading."""
    block: _Block | None = None
    paragraph: list[str] = []
    marker = re.compile(rf"^{LISTING_MARKER}(\s|$)")
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if marker.match(line):
            if block is not None:
                if paragraph:
                    block.paragraphs.append(paragraph)
                yield block
            block, paragraph = _Block(number, line), []
        elif block is None:
            continue
        elif line:
            paragraph.append(line)
        elif paragraph:
            block.paragraphs.append(paragraph)
            paragraph = []
    if block is not None:
        if paragraph:
            block.paragraphs.append(paragraph)
        yield block


def _listing_rows(text: str, zone: ZoneInfo, base: datetime) -> Iterator[ImportRow | ImportRowError]:
    blocks = list(_listing_blocks(text))
    if not blocks:
        raise InputError("file", f"no '{LISTING_MARKER} <title>' line: this is not the listing format")
    for position, block in enumerate(blocks):
        title = " ".join(block.heading.split()[1:])
        if not title:
            yield ImportRowError(block.line, "title", f"the '{LISTING_MARKER}' line has no title after it")
            continue
        if not block.paragraphs:
            yield ImportRowError(block.line, "summary", "no summary paragraph and no category line follow")
            continue
        category_line = block.paragraphs[-1]
        if len(category_line) != 1 or len(category_line[0]) > _CATEGORY_LINE_MAX:
            yield ImportRowError(block.line, "categories", "the block does not end with a category line")
            continue
        if len(block.paragraphs) < 2:
            yield ImportRowError(block.line, "summary", "no summary paragraph between title and category")
            continue
        category = category_line[0]
        slug = slugify(category)
        if not slug or has_control_characters(category):
            yield ImportRowError(block.line, "categories", f"{category!r} cannot be a category")
            continue
        summary = "\n\n".join(" ".join(lines) for lines in block.paragraphs[:-1])
        data = {
            "title": title,
            "summary": summary,
            "categories": [slug],
            "published_at": (base - position * LISTING_STEP).isoformat(),
        }
        row = _parsed(block.line, data, zone)
        if isinstance(row, ImportRow):
            name = category[:1].upper() + category[1:]
            row = ImportRow(row.line, row.document, _key("listing", title), {slug: name})
        yield row
