"""The release document a `release add` or `release update` was given: options, a JSON file or stdin."""

from __future__ import annotations

import json
import select
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from newsroom_feed.cli.base import TIME_HELP, read_input
from newsroom_feed.errors import InputError
from newsroom_feed.importers import decode, release_document
from newsroom_feed.models import Release

F = TypeVar("F", bound=Callable[..., Any])


#: Unlike the release's own times, an event's must say its offset: an online seminar may be in another
#: zone than the newsroom, and a calendar that guessed would show it at the wrong hour.
EVENT_TIME_HELP = (
    "RFC 3339 with its offset, e.g. 2026-12-10T10:00:00+01:00 (a time without one is refused); "
    "with --all-day a day such as 2026-12-10"
)

#: The event's fields in the release document, by the option that gives each.
_EVENT_OPTIONS = {
    "start": "event_start",
    "end": "event_end",
    "all_day": "all_day",
    "location": "event_location",
    "online_url": "event_online_url",
}


def release_options(command: F) -> F:
    """The options of `release add` and `release update`: each one field of the release document."""
    options = [
        click.option("--title", help="Title, at most 300 characters, one line."),
        click.option("--summary", help="Lead paragraph for feeds and lists ('' clears it)."),
        click.option("--body", help="Body in Markdown (rendered to sanitised HTML)."),
        click.option(
            "--body-file",
            type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
            help="Read the Markdown body from this file ('-' for stdin).",
        ),
        click.option(
            "--category",
            "categories",
            multiple=True,
            metavar="SLUG",
            help="Category slug; repeat for more (replaces the list). Unknown slugs are created.",
        ),
        click.option("--urgent/--not-urgent", default=None, help="Mark as urgent (or not)."),
        click.option("--language", metavar="CODE", help="Two-letter language code (default pl)."),
        click.option("--published-at", metavar="TIME", help=f"Publication time (default now). {TIME_HELP}."),
        click.option(
            "--embargo-until",
            metavar="TIME",
            help=f"Hidden from every output until then ('' lifts it). {TIME_HELP}.",
        ),
        click.option(
            "--attachment",
            "attachments",
            multiple=True,
            metavar="URL|JSON",
            help='Attachment URL, or a JSON object {"url", "title", "mime_type", "length"}; repeatable '
            "(replaces the list).",
        ),
        click.option("--attachment-title", multiple=True, help="Title of the n-th --attachment."),
        click.option(
            "--attachment-type", multiple=True, metavar="MIME", help="MIME type of the n-th --attachment."
        ),
        click.option(
            "--attachment-length",
            multiple=True,
            type=int,
            metavar="BYTES",
            help="Size of the n-th --attachment.",
        ),
        click.option("--contact-name", help="Media contact: name."),
        click.option("--contact-email", help="Media contact: e-mail address."),
        click.option("--contact-phone", help="Media contact: phone number."),
        click.option("--source-url", metavar="URL", help="The release on the association's own site."),
        click.option(
            "--early-access/--no-early-access",
            default=None,
            help="Share it with verified journalists before its embargo lifts (or not); needs an embargo.",
        ),
        click.option(
            "--event-start",
            metavar="TIME|DAY",
            help=f"The event the release announces starts then: {EVENT_TIME_HELP}.",
        ),
        click.option(
            "--event-end",
            metavar="TIME|DAY",
            help="The event ends then (not before its start; the last day for --all-day; '' clears it).",
        ),
        click.option(
            "--all-day/--not-all-day",
            "all_day",
            default=None,
            help="The event takes whole days: --event-start and --event-end are days such as 2026-12-10.",
        ),
        click.option("--event-location", metavar="PLACE", help="Where the event is ('' clears it)."),
        click.option(
            "--event-online-url",
            metavar="URL",
            help="The event's online link, http:// or https:// ('' clears it).",
        ),
        click.option(
            "--no-event", is_flag=True, help="The release announces no event (removes the one it has)."
        ),
        click.option("--json", "as_json", is_flag=True, help="Print the stored release document on stdout."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


DOCUMENT_HELP = """
    DOCUMENT is a JSON release document (a file, or - for stdin), the format `release show --json`
    prints; options given as well override its fields. Without DOCUMENT, a document piped on stdin
    (not a terminal) is read; an empty stdin is no document. When the options alone make the command,
    a pipe that stays silent for a second is ignored: give - to wait for a slow writer. Times without
    an offset are Europe/Warsaw time, except an event's, which must say its offset.
"""

#: How long a command that its options already make waits for a document on a silent pipe.
_STDIN_GRACE = 1.0


def _piped_stdin(wait: float | None) -> str:
    """What was piped on stdin when no DOCUMENT was named: '' for a terminal or an unreadable stdin.

    With ``wait``, a pipe or socket that brings neither data nor end-of-file within ``wait`` seconds
    counts as empty, so `release add --title X` run with an idle open stdin (ssh, a supervisor) does
    not hang.

    :raises InputError: not UTF-8.
    """
    stream = sys.stdin
    try:
        if stream is None or stream.isatty() or not stream.readable():
            return ""
        if wait is not None and not _ready(stream, wait):
            return ""
        return decode(stream.buffer.read(), "stdin")
    except (OSError, ValueError, AttributeError):
        return ""


def _ready(stream: Any, wait: float) -> bool:
    """Whether reading ``stream`` would not block: data or end-of-file within ``wait`` seconds."""
    try:
        descriptor = stream.fileno()
    except (OSError, ValueError):
        return True  # an in-memory stream never blocks
    readable, _, _ = select.select([descriptor], [], [], wait)
    return bool(readable)


def _read_document(path: Path | None, *, piped_wait: float | None = None) -> dict[str, Any]:
    """A release document from a JSON file or stdin; exported read-only fields (id, uid...) dropped.

    Without ``path``, a document piped on stdin (see `_piped_stdin`); none when stdin is a terminal
    or empty.

    :raises InputError: not JSON, or not an object.
    """
    if path is None:
        text = _piped_stdin(piped_wait)
        if not text.strip():
            return {}
    else:
        text = read_input(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError("document", f"not valid JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(data, dict):
        raise InputError("document", "a release document must be a JSON object")
    return dict(release_document(data))


def _attachments(options: dict[str, Any]) -> list[dict[str, Any]] | None:
    given: tuple[str, ...] = options["attachments"]
    extras = {"title": "attachment_title", "mime_type": "attachment_type", "length": "attachment_length"}
    for option in extras.values():
        if len(options[option]) > len(given):
            flag = "--" + option.replace("_", "-")
            raise click.UsageError(f"{flag} given {len(options[option])} times, --attachment {len(given)}")
    if not given:
        return None
    attachments: list[dict[str, Any]] = []
    for index, value in enumerate(given):
        if value.lstrip().startswith("{"):
            try:
                attachment = json.loads(value)
            except json.JSONDecodeError as error:
                raise InputError(f"attachments.{index}", f"not a valid JSON object ({error.msg})") from None
            if not isinstance(attachment, dict):
                raise InputError(f"attachments.{index}", "must be a URL or a JSON object")
        else:
            attachment = {"url": value}
        for key, option in extras.items():
            if index < len(options[option]):
                attachment[key] = options[option][index]
        attachments.append(attachment)
    return attachments


def _document_from_options(options: dict[str, Any]) -> dict[str, Any]:
    """The fields given as options, as a (partial) release document; options not given are absent."""
    document: dict[str, Any] = {}
    for name in ("title", "summary", "body", "language", "published_at", "embargo_until", "source_url"):
        if options[name] is not None:
            document[name] = options[name]
    if options["body_file"] is not None:
        if options["body"] is not None:
            raise click.UsageError("give --body or --body-file, not both")
        document["body"] = read_input(options["body_file"])
    if options["categories"]:
        document["categories"] = list(options["categories"])
    if options["urgent"] is not None:
        document["urgent"] = options["urgent"]
    if options["early_access"] is not None:
        document["early_access"] = options["early_access"]
    attachments = _attachments(options)
    if attachments is not None:
        document["attachments"] = attachments
    contact = {
        key: options[f"contact_{key}"]
        for key in ("name", "email", "phone")
        if options[f"contact_{key}"] is not None
    }
    if contact:
        document["contact"] = contact
    document.update(_event_from_options(options))
    return document


def _event_from_options(options: dict[str, Any]) -> dict[str, Any]:
    """``{"event": ...}`` as the event options give it: the fields given (partial: an update completes
    them from the release's event), None for --no-event, nothing when no event option was given.

    An empty end, place or link clears that field.
    """
    event = {key: options[option] for key, option in _EVENT_OPTIONS.items() if options[option] is not None}
    if options["no_event"]:
        if event:
            given = ", ".join("--" + _EVENT_OPTIONS[key].replace("_", "-") for key in event)
            raise click.UsageError(f"--no-event removes the event: give no {given} with it")
        return {"event": None}
    if not event:
        return {}
    for key in ("end", "location", "online_url"):
        if event.get(key) == "":
            event[key] = None
    return {"event": event}


#: The parts of a release document that merge field by field, so one option changes one field.
_NESTED = ("contact", "event")


def merge_document(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``changes`` over ``base``; the contact and the event merge field by field, so one option changes
    one field (a None event, --no-event, removes it)."""
    merged = {**base, **changes}
    for name in _NESTED:
        if isinstance(base.get(name), dict) and isinstance(changes.get(name), dict):
            merged[name] = {**base[name], **changes[name]}
    return merged


def completed_changes(
    current: Callable[[], Release], changes: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """The changes of `release update` (and `release correct`) with a given contact or event completed
    from the release's own: `--contact-phone` alone changes the phone, not the whole contact;
    `--event-location X` moves the place of the event the release has, and keeps its times. A release
    without an event gains one only with a start (else the update fails naming ``event.start``).
    ``current`` reads the release only when there is something to complete.

    :raises ReleaseNotFound: from ``current``.
    """
    if not any(isinstance(changes.get(name), dict) for name in _NESTED):
        return changes
    document = current().to_document(now)
    completed = merge_document({name: document.get(name) for name in _NESTED}, changes)
    return {**changes, **{name: completed[name] for name in _NESTED if name in changes}}


def given_document(document: Path | None, options: dict[str, Any], *, enough: str) -> dict[str, Any]:
    """The JSON document with the options over it: what `release add` and `release update` were given.

    Without DOCUMENT, a document piped on stdin is read, unless stdin carries the body; when the
    options hold ``enough`` (``"title"`` for add, ``"any"`` for update; ``""`` for correct, whose note
    alone makes the command), a silent pipe is not waited for.
    """
    body_on_stdin = str(options["body_file"]) == "-"
    if str(document) == "-" and body_on_stdin:
        raise click.UsageError("stdin can carry the JSON document or the body, not both")
    given = _document_from_options(options)
    if document is None and body_on_stdin:
        return given
    sufficient = not enough or (bool(given) if enough == "any" else bool(given.get(enough)))
    return merge_document(_read_document(document, piped_wait=_STDIN_GRACE if sufficient else None), given)
