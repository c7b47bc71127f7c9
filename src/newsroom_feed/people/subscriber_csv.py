"""Subscriber lists in and out as CSV: the exact header, per-row results by line, the export writer.

An export is opened in spreadsheets, which run a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a
formula (and treat a leading tab or CR alike): a name typed on the web form as ``=HYPERLINK(...)`` would
become a link in the operator's spreadsheet (OWASP "CSV injection"). Such a cell is written behind a single
quote, which spreadsheets show as text and hide; `import_subscribers` takes that quote off again, so an
export imports as it was.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from newsroom_feed.errors import ImportRowError, InputError
from newsroom_feed.models import Subscriber
from newsroom_feed.people.subscriptions import SubscriberInput, add_if_new, get_subscriber, list_subscribers
from newsroom_feed.store.database import Store

#: The exact header of a subscriber CSV file, for import and export (DESIGN.md section 4).
CSV_HEADER = ("email", "name", "kind", "organization", "categories", "frequency", "language")
#: First characters that make a spreadsheet read a cell as a formula (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: What spreadsheets take as "this cell is text"; they show the rest of the cell without it.
_TEXT_MARK = "'"


def neutralised(value: str) -> str:
    """``value`` as a cell a spreadsheet shows as text: behind a quote when it would start a formula.

    A value that already starts with a quote gets one more, so that `restored` can tell our mark from a
    quote the person typed (spreadsheets show ``''Asia`` as ``'Asia``).
    """
    if value.startswith((*FORMULA_STARTS, _TEXT_MARK)):
        return _TEXT_MARK + value
    return value


def restored(cell: str) -> str:
    """The value `neutralised` wrote: its quote taken off. A quote before anything else was typed by a
    person (or another program) and stays."""
    if cell.startswith(_TEXT_MARK) and cell[1:].startswith((*FORMULA_STARTS, _TEXT_MARK)):
        return cell[1:]
    return cell


@dataclass(slots=True)
class ImportResult:
    """What `subscriber import` did: good rows went in even when others were rejected."""

    imported: list[Subscriber] = field(default_factory=list)
    skipped: int = 0
    rejected: list[ImportRowError] = field(default_factory=list)


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line on which the record starts, fields) for each non-blank CSV record."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise ImportRowError(start, "", f"cannot read the CSV record: {error}") from None
        if any(value.strip() for value in fields):
            yield start, fields
        start = reader.line_num + 1


def import_subscribers(
    store: Store, text: str, now: datetime, *, double_opt_in: bool = False
) -> ImportResult:
    """Import a subscriber CSV: each good row in its own transaction, bad rows reported by line.

    Addresses already stored are skipped (so running it twice changes nothing); a second row with the
    same address in the file is rejected. Rows of a file whose CSV syntax breaks are rejected from there.
    With ``double_opt_in`` each new row is `pending` and its confirmation mail is queued with it.

    :raises InputError: the header is not exactly `CSV_HEADER` (then nothing is imported).
    """
    result = ImportResult()
    records = _records(text.removeprefix("\ufeff"))
    try:
        first = next(records, None)
    except ImportRowError as error:
        raise InputError("header", error.problem) from None
    if first is None or tuple(value.strip() for value in first[1]) != CSV_HEADER:
        got = ",".join(first[1]) if first else "an empty file"
        raise InputError("header", f"must be exactly {','.join(CSV_HEADER)} (got {got})")
    seen: dict[str, int] = {}
    try:
        for line, fields in records:
            if len(fields) != len(CSV_HEADER):
                result.rejected.append(
                    ImportRowError(line, "", f"has {len(fields)} fields, the header has {len(CSV_HEADER)}")
                )
                continue
            data = {
                name: restored(value.strip())
                for name, value in zip(CSV_HEADER, fields, strict=True)
                if value.strip()
            }
            data.setdefault("email", "")
            try:
                document = SubscriberInput.parse(data)
            except InputError as error:
                result.rejected.append(ImportRowError(line, error.field, error.problem))
                continue
            key = document.email.lower()
            if key in seen:
                result.rejected.append(
                    ImportRowError(line, "email", f"{document.email} duplicates line {seen[key]}")
                )
                continue
            seen[key] = line
            subscriber_id = add_if_new(
                store, document, now, source="operator", double_opt_in=double_opt_in, via="subscriber import"
            )
            if subscriber_id is None:
                result.skipped += 1
                continue
            result.imported.append(get_subscriber(store, subscriber_id))
    except ImportRowError as error:
        result.rejected.append(error)
    return result


def export_subscribers(store: Store, out: TextIO, *, status: str | None = None) -> int:
    """Write subscribers as CSV with `CSV_HEADER` (what `import` reads back); returns how many.

    Every cell goes through `neutralised`: the name and organization come from the web form, and even an
    address may start with ``-`` or ``+``.
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    subscribers = list_subscribers(store, status=status)
    for subscriber in subscribers:
        cells = (
            subscriber.email,
            subscriber.name or "",
            subscriber.kind,
            subscriber.organization or "",
            ";".join(subscriber.categories),
            subscriber.frequency,
            subscriber.language,
        )
        writer.writerow([neutralised(cell) for cell in cells])
    return len(subscribers)
