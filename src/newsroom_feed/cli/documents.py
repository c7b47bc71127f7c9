"""The release document a `release add` or `release update` was given: options, a JSON file or stdin."""

from __future__ import annotations

import json
import select
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from newsroom_feed.cli.base import TIME_HELP, read_input
from newsroom_feed.errors import InputError
from newsroom_feed.importers import decode, release_document

F = TypeVar("F", bound=Callable[..., Any])


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
    an offset are Europe/Warsaw time.
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
    return document


def merge_document(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``changes`` over ``base``; the contact merges field by field, so one option changes one field."""
    merged = {**base, **changes}
    if isinstance(base.get("contact"), dict) and isinstance(changes.get("contact"), dict):
        merged["contact"] = {**base["contact"], **changes["contact"]}
    return merged


def given_document(document: Path | None, options: dict[str, Any], *, enough: str) -> dict[str, Any]:
    """The JSON document with the options over it: what `release add` and `release update` were given.

    Without DOCUMENT, a document piped on stdin is read, unless stdin carries the body; when the
    options hold ``enough`` (``"title"`` for add, ``"any"`` for update), a silent pipe is not waited for.
    """
    body_on_stdin = str(options["body_file"]) == "-"
    if str(document) == "-" and body_on_stdin:
        raise click.UsageError("stdin can carry the JSON document or the body, not both")
    given = _document_from_options(options)
    if document is None and body_on_stdin:
        return given
    sufficient = bool(given) if enough == "any" else bool(given.get(enough))
    return merge_document(_read_document(document, piped_wait=_STDIN_GRACE if sufficient else None), given)
