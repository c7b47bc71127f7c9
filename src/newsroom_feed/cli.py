"""The `newsroom-feed` command tree: each command parses, calls one core function, prints.

Errors become exit codes in exactly one place, `main`: usage and input errors exit 2 (naming the field),
every other `NewsroomError` exits 1.
"""

from __future__ import annotations

import contextlib
import json
import select
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click
import structlog

from newsroom_feed import logs, mailsink, outbox, subscriptions
from newsroom_feed.delivery import DeliveryReport, preview_digests, send_due
from newsroom_feed.errors import InputError, NewsroomError, SettingsError
from newsroom_feed.importers import (
    FORMATS,
    ImportFormat,
    decode,
    guess_format,
    import_releases,
    read_text,
    release_document,
)
from newsroom_feed.models import Release, ReleaseInput, parse_moment, utcnow
from newsroom_feed.planner import build as build_outputs
from newsroom_feed.planner import digest_messages, digest_period, news_age, plan_digest
from newsroom_feed.settings import Settings, load_settings
from newsroom_feed.store import Store
from newsroom_feed.subscriptions import get_subscriber

F = TypeVar("F", bound=Callable[..., Any])

log = structlog.get_logger(__name__)


class Context:
    """What every command gets: the settings, built once at the edge, and a store opened on demand.

    Building the settings also sets up logging (to stderr, in the format and level of the settings) for
    the rest of the command: stdout stays for what a command prints, such as `--json`.
    """

    def __init__(self, config: Path | None, database: Path | None, public_dir: Path | None) -> None:
        self._overrides = {"config": config, "database": database, "public_dir": public_dir}
        self._settings: Settings | None = None
        self._store: Store | None = None
        self._resources = contextlib.ExitStack()

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            settings = load_settings(**self._overrides)
            self._resources.enter_context(logs.logging_configured(settings.log_format, settings.log_level))
            self._settings = settings
            log.debug(
                "settings",
                config=str(settings.config) if settings.config else None,
                database=str(settings.database),
                public_dir=str(settings.public_dir),
            )
        return self._settings

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
        self._resources.close()


def open_store(settings: Settings) -> Store:
    return Store(settings.database, settings.domain, zone=settings.zone)


pass_context = click.make_pass_decorator(Context)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="TOML settings file (also NEWSROOM_CONFIG).",
)
@click.option("--database", type=click.Path(path_type=Path), help="SQLite store (NEWSROOM_DATABASE).")
@click.option("--public-dir", type=click.Path(path_type=Path), help="Output directory (NEWSROOM_PUBLIC_DIR).")
@click.version_option(package_name="newsroom-feed")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, database: Path | None, public_dir: Path | None) -> None:
    """newsroom-feed: press releases into RSS, Atom and JSON feeds, static pages, e-mail alerts and digests.

    Times without an offset are read as Europe/Warsaw time (NEWSROOM_TIMEZONE).
    """
    context = Context(config, database, public_dir)
    ctx.obj = context
    ctx.call_on_close(context.close)


def _to(bar: logs.Advance) -> Callable[[int, int], None]:
    """A core function's ``on_progress(done, total)`` drawn on a progress bar."""
    return lambda done, total: bar.update(completed=done, total=total)


# == store, input and imports: init, release, import =============================================

_TIME_HELP = (
    "RFC 3339, e.g. 2026-11-26T10:30:00+01:00; a time without an offset is Europe/Warsaw time "
    "(the NEWSROOM_TIMEZONE setting)"
)


@cli.command()
@pass_context
def init(context: Context) -> None:
    """Create the SQLite store, or migrate it to the current schema, and say where it is."""
    settings = context.settings
    with Store(settings.database, settings.domain, zone=settings.zone, migrate=False) as store:
        ran = store.migrate()
        version = store.schema_version
    settings.public_dir.mkdir(parents=True, exist_ok=True)
    done = f"applied {ran} migration{'s' if ran != 1 else ''}" if ran else "already up to date"
    click.echo(f"Store: {settings.database.resolve()} (schema version {version}, {done})", err=True)
    click.echo(f"Outputs: {settings.public_dir.resolve()}", err=True)


def _release_options(command: F) -> F:
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
        click.option("--published-at", metavar="TIME", help=f"Publication time (default now). {_TIME_HELP}."),
        click.option(
            "--embargo-until",
            metavar="TIME",
            help=f"Hidden from every output until then ('' lifts it). {_TIME_HELP}.",
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
        click.option("--json", "as_json", is_flag=True, help="Print the stored release document on stdout."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


_DOCUMENT_HELP = """
    DOCUMENT is a JSON release document (a file, or - for stdin), the format `release show --json`
    prints; options given as well override its fields. Without DOCUMENT, a document piped on stdin
    (not a terminal) is read; an empty stdin is no document. When the options alone make the command,
    a pipe that stays silent for a second is ignored: give - to wait for a slow writer. Times without
    an offset are Europe/Warsaw time.
"""

#: How long a command that its options already make waits for a document on a silent pipe.
_STDIN_GRACE = 1.0


def _read_input(path: Path) -> str:
    """The text of a file named on the command line, ``-`` being stdin.

    :raises InputError: missing, unreadable or not UTF-8.
    """
    if str(path) == "-":
        return decode(sys.stdin.buffer.read(), "stdin")
    return read_text(path)


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
        text = _read_input(path)
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
        document["body"] = _read_input(options["body_file"])
    if options["categories"]:
        document["categories"] = list(options["categories"])
    if options["urgent"] is not None:
        document["urgent"] = options["urgent"]
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


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``changes`` over ``base``; the contact merges field by field, so one option changes one field."""
    merged = {**base, **changes}
    if isinstance(base.get("contact"), dict) and isinstance(changes.get("contact"), dict):
        merged["contact"] = {**base["contact"], **changes["contact"]}
    return merged


def _given(document: Path | None, options: dict[str, Any], *, enough: str) -> dict[str, Any]:
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
    return _merge(_read_document(document, piped_wait=_STDIN_GRACE if sufficient else None), given)


def _local(moment: Any, context: Context) -> str:
    return str(moment.astimezone(context.settings.zone).strftime("%Y-%m-%d %H:%M")) if moment else ""


def _say(action: str, release: Release, context: Context) -> None:
    status = release.status(utcnow())
    click.echo(
        f"{action} {release.number} {release.slug} ({status}, visible from "
        f"{_local(release.visible_at, context)} {context.settings.timezone})",
        err=True,
    )


@cli.group()
def release() -> None:
    """Add, change, retract and look at press releases."""


@release.command(
    "add",
    help="Add a release from options and/or a JSON document; prints nothing on stdout unless --json.\n"
    + _DOCUMENT_HELP,
)
@click.argument("document", required=False, type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@_release_options
@pass_context
def release_add(context: Context, /, document: Path | None, as_json: bool, **options: Any) -> None:
    data = _given(document, options, enough="title")
    parsed = ReleaseInput.parse(data, context.settings.zone)
    now = utcnow()
    stored = context.store.add_release(parsed, now)
    if as_json:
        emit_json(stored.to_document(now))
    _say("Added", stored, context)


@release.command(
    "update",
    help="Change the given fields of release REF (an id, slug, number such as 12/2026, or uid); the "
    "uid stays and `updated` moves on.\n" + _DOCUMENT_HELP,
)
@click.argument("ref")
@click.argument("document", required=False, type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@_release_options
@pass_context
def release_update(
    context: Context, /, ref: str, document: Path | None, as_json: bool, **options: Any
) -> None:
    changes = _given(document, options, enough="any")
    if not changes:
        raise click.UsageError("nothing to change: give an option or a JSON document")
    store = context.store
    if "contact" in changes:
        current = store.get_release(ref).to_document(utcnow())
        changes = {**changes, "contact": _merge(current, {"contact": changes["contact"]})["contact"]}
    now = utcnow()
    stored = store.update_release(ref, changes, now)
    if as_json:
        emit_json(stored.to_document(now))
    _say("Updated", stored, context)


@release.command("retract")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print the retracted release document on stdout.")
@pass_context
def release_retract(context: Context, ref: str, as_json: bool) -> None:
    """Take release REF out of every feed, page and digest; it keeps its uid and number."""
    now = utcnow()
    stored = context.store.retract_release(ref, now)
    if as_json:
        emit_json(stored.to_document(now))
    click.echo(f"Retracted {stored.number} {stored.slug}", err=True)


@release.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print the release document as JSON.")
@pass_context
def release_show(context: Context, ref: str, as_json: bool) -> None:
    """Show release REF (an id, slug, number such as 12/2026, or uid)."""
    now = utcnow()
    found = context.store.get_release(ref)
    if as_json:
        emit_json(found.to_document(now))
        return
    zone = context.settings.timezone
    lines = [
        found.title,
        f"number: {found.number}   id: {found.id}   status: {found.status(now)}"
        + ("   URGENT" if found.urgent else ""),
        f"slug: {found.slug}",
        f"uid: {found.uid}",
        f"published: {_local(found.published_at, context)} {zone}",
    ]
    if found.embargo_until:
        lines.append(f"embargo until: {_local(found.embargo_until, context)} {zone}")
    if found.retracted_at:
        lines.append(f"retracted: {_local(found.retracted_at, context)} {zone}")
    lines.append(f"updated: {_local(found.updated_at, context)} {zone}")
    if found.categories:
        lines.append("categories: " + ", ".join(category.slug for category in found.categories))
    for attachment in found.attachments:
        lines.append(f"attachment: {attachment.url} ({attachment.mime_type}, {attachment.length} bytes)")
    contact = [part for part in (found.contact.name, found.contact.email, found.contact.phone) if part]
    if contact:
        lines.append("contact: " + ", ".join(contact))
    if found.source_url:
        lines.append(f"source: {found.source_url}")
    if found.summary:
        lines += ["", found.summary]
    if found.body_markdown:
        lines += ["", found.body_markdown]
    click.echo("\n".join(lines))


@release.command("list")
@click.option(
    "--status",
    type=click.Choice(["published", "scheduled", "embargoed", "retracted"]),
    help="Only releases with this status.",
)
@click.option("--category", metavar="SLUG", help="Only releases in this category.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of release documents.")
@pass_context
def release_list(
    context: Context, status: str | None, category: str | None, limit: int | None, as_json: bool
) -> None:
    """List releases newest first: a table on a terminal, tab-separated lines otherwise."""
    now = utcnow()
    releases = context.store.list_releases(now=now, status=status, category=category, limit=limit)
    if as_json:
        emit_json([found.to_document(now) for found in releases])
        return
    header = ("number", "status", "visible from", "slug", "title")
    rows = [
        (found.number, found.status(now), _local(found.visible_at, context), found.slug, found.title)
        for found in releases
    ]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*header)
        for row in rows:
            table.add_row(*row)
        Console().print(table)
    else:
        for row in rows:
            click.echo("\t".join(row))
    click.echo(f"{len(rows)} release{'s' if len(rows) != 1 else ''}", err=True)


@cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="jsonl, csv or listing (default: from the file name: .jsonl, .csv, .txt).",
)
@click.option(
    "--base-time",
    metavar="TIME",
    help=f"listing only: published_at of the first (newest) entry, each next one a minute earlier "
    f"(default now). {_TIME_HELP}.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print what was imported, skipped and rejected as JSON."
)
@pass_context
def import_command(
    context: Context, file: Path, fmt: str | None, base_time: str | None, as_json: bool
) -> int:
    """Import releases from FILE ('-' for stdin): one result line per rejected row, naming its line.

    Good rows are imported even when others are rejected (exit 1 then); rows already imported are
    skipped, so importing a file again creates nothing new. An unusable file exits 2.
    """
    if str(file) == "-" and fmt is None:
        raise click.UsageError("give --format when reading stdin")
    text = _read_input(file)
    chosen = cast(ImportFormat, fmt) if fmt else guess_format(file)
    base = None
    if base_time is not None and chosen != "listing":
        raise click.UsageError("--base-time is for the listing format only")
    if base_time is not None:
        try:
            base = parse_moment(base_time, context.settings.zone)
        except ValueError as error:
            raise InputError("base_time", str(error)) from None
    with logs.progress("Importing releases") as bar:
        report = import_releases(context.store, text, chosen, utcnow(), base=base, on_progress=_to(bar))
    for rejected in report.rejected:
        click.echo(f"rejected: {rejected}", err=True)
    if as_json:
        emit_json(report.to_dict())
    click.echo(
        f"Imported {len(report.imported)}, skipped {len(report.skipped)} already in the store, "
        f"rejected {len(report.rejected)}.",
        err=True,
    )
    return 1 if report.rejected else 0


# == outputs: build ===============================================================================


@cli.command("build")
@click.option("--full", is_flag=True, help="Rebuild every output, not only what the changes touch.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_context
def build_command(context: Context, full: bool, as_json: bool) -> None:
    """Rebuild the feeds and pages that changed and plan alerts for releases that became visible.

    Runs the planner once, as the daemon does on a change. It sends nothing: `outbox send` (or the
    daemon) delivers the planned alerts. Prints the files written and removed; nothing when nothing
    changed.
    """
    with logs.progress("Building (release pages)") as bar:
        report = build_outputs(context.store, context.settings, utcnow(), full=full, on_progress=_to(bar))
    if as_json:
        emit_json(report.to_json())
        return
    for path in report.written:
        click.echo(f"written  {path}")
    for path in report.removed:
        click.echo(f"removed  {path}")
    kind = "Full build" if report.full else "Build"
    click.echo(
        f"{kind}: {len(report.written)} written, {len(report.removed)} removed, "
        f"{len(report.changed_feeds)} feeds changed, {len(report.newly_visible)} releases newly visible "
        f"({report.duration * 1000:.0f} ms).",
        err=True,
    )


# == subscribers: subscriber =======================================================================

_STATUSES = ("pending", "active", "unsubscribed", "bounced")


@cli.group()
def subscriber() -> None:
    """Subscribers of alerts and digests: add, import, export, list, remove (erase)."""


@subscriber.command("add")
@click.argument("email")
@click.option("--name", help="The person's name (the To display name).")
@click.option(
    "--kind",
    type=click.Choice(["journalist", "city", "other"]),
    default="other",
    show_default=True,
    help="Who this is; member cities (city) get their own greeting.",
)
@click.option("--organization", help="Newsroom, city office or other organization.")
@click.option(
    "--category",
    "categories",
    multiple=True,
    metavar="SLUG",
    help="A category to receive (repeat; none means every category). Unknown slugs are created.",
)
@click.option(
    "--frequency",
    type=click.Choice(["immediate", "daily", "weekly"]),
    default="immediate",
    show_default=True,
    help="An alert per release, or a daily or weekly digest.",
)
@click.option(
    "--language",
    type=click.Choice(["pl", "en"]),
    default="pl",
    show_default=True,
    help="Language of the messages (the releases stay in theirs).",
)
@click.option("--consent-text", help="The consent the person gave, as they saw it (stored).")
@click.option(
    "--double-opt-in",
    is_flag=True,
    help="Make the subscriber pending and queue a confirmation mail instead of activating at once.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the subscriber as JSON.")
@pass_context
def subscriber_add(
    context: Context,
    email: str,
    name: str | None,
    kind: str,
    organization: str | None,
    categories: tuple[str, ...],
    frequency: str,
    language: str,
    consent_text: str | None,
    double_opt_in: bool,
    as_json: bool,
) -> None:
    """Add the subscriber EMAIL: active at once (consent source "operator"), unless --double-opt-in."""
    now = utcnow()
    data = {
        "email": email,
        "name": name,
        "kind": kind,
        "organization": organization,
        "categories": list(categories),
        "frequency": frequency,
        "language": language,
        "consent_text": consent_text,
    }
    added = subscriptions.add_subscriber(context.store, data, now, double_opt_in=double_opt_in)
    if as_json:
        emit_json(subscriptions.subscriber_document(added))
    elif double_opt_in:
        click.echo(f"Added {added.email} (pending): a confirmation mail is queued in the outbox.")
    else:
        click.echo(f"Added {added.email} (active).")


@subscriber.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option(
    "--double-opt-in", is_flag=True, help="Import as pending and queue a confirmation mail to each."
)
@click.option("--json", "as_json", is_flag=True, help="Print imported, skipped and rejected as JSON.")
@pass_context
def subscriber_import(context: Context, file: Path, double_opt_in: bool, as_json: bool) -> int:
    """Import subscribers from a CSV FILE ('-' for stdin) with the header
    email,name,kind,organization,categories,frequency,language (categories separated by ';').

    One line per rejected row names the line where the record starts and the reason; good rows are
    imported anyway (exit 1 when any row was rejected). Addresses already stored are skipped, so
    importing the same file again changes nothing. A file with another header exits 2.
    """
    text = _read_input(file)
    now = utcnow()
    result = subscriptions.import_subscribers(context.store, text, now, double_opt_in=double_opt_in)
    for rejected in result.rejected:
        click.echo(f"rejected: {rejected}", err=True)
    if as_json:
        emit_json(
            {
                "imported": [item.email for item in result.imported],
                "skipped": result.skipped,
                "rejected": [
                    {"line": item.line, "field": item.field, "problem": item.problem}
                    for item in result.rejected
                ],
            }
        )
    click.echo(
        f"Imported {len(result.imported)}, skipped {result.skipped} already subscribed, "
        f"rejected {len(result.rejected)}.",
        err=True,
    )
    return 1 if result.rejected else 0


@subscriber.command("export")
@click.option("--status", type=click.Choice(_STATUSES), help="Only subscribers with this status.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file instead of stdout.",
)
@pass_context
def subscriber_export(context: Context, status: str | None, output: Path | None) -> None:
    """Export subscribers as CSV with the header that `subscriber import` reads."""
    if output is None:
        count = subscriptions.export_subscribers(context.store, sys.stdout, status=status)
    else:
        with output.open("w", encoding="utf-8", newline="") as handle:
            count = subscriptions.export_subscribers(context.store, handle, status=status)
    click.echo(f"Exported {count} subscriber{'s' if count != 1 else ''}.", err=True)


@subscriber.command("list")
@click.option("--status", type=click.Choice(_STATUSES), help="Only subscribers with this status.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of subscribers.")
@pass_context
def subscriber_list(context: Context, status: str | None, as_json: bool) -> None:
    """List subscribers (every status unless --status is given)."""
    found = subscriptions.list_subscribers(context.store, status=status)
    if as_json:
        emit_json([subscriptions.subscriber_document(item) for item in found])
        return
    for item in found:
        click.echo(
            "\t".join(
                (
                    item.email,
                    item.status,
                    item.frequency,
                    item.language,
                    item.kind,
                    ",".join(item.categories) or "(all)",
                    item.display_name or "",
                )
            )
        )
    click.echo(f"{len(found)} subscriber{'s' if len(found) != 1 else ''}", err=True)


@subscriber.command("remove")
@click.argument("email")
@pass_context
def subscriber_remove(context: Context, email: str) -> None:
    """Erase the subscriber EMAIL: their personal data is deleted, the outbox keeps anonymous counts."""
    subscriptions.remove_subscriber(context.store, email)
    click.echo(f"Removed {email}: personal data erased.")


# == delivery: digest, outbox, mailsink ============================================================


def _report(report: DeliveryReport) -> int:
    """Print what a sending run did; 1 when a message failed permanently or the run was stopped."""
    for error in report.errors:
        click.echo(f"failed: {error}", err=True)
    click.echo(report.summary())
    if report.stopped:
        click.echo(f"stopped: {report.waiting} messages remain queued", err=True)
    return 1 if report.failed or report.stopped else 0


def _send_now(context: Context, plan: Callable[[], str | None] | None = None) -> int:
    """Take the single-instance lock and deliver every due row; if a daemon holds the lock, only plan.

    ``plan`` runs first in either case (enqueue a digest, re-queue rows) and may return a line to say.
    """
    # Imported here: the daemon pulls in uvicorn and APScheduler, which sending does not need.
    from newsroom_feed.daemon import try_instance_lock

    settings, store = context.settings, context.store
    with try_instance_lock(settings.database) as holder:
        said = plan() if plan is not None else None
        if said:
            click.echo(said)
        if not holder:
            queued = outbox.waiting(store)
            click.echo(f"The daemon is running and will deliver ({queued} messages queued).")
            return 0
        reclaimed = outbox.reclaim_all(store)
        if reclaimed:
            click.echo(f"{reclaimed} messages left by a stopped sender are due again.", err=True)
        with logs.progress("Sending", total=outbox.waiting(store)) as bar:
            report = send_due(store, settings, on_outcome=lambda *_: bar.advance())
        return _report(report)


_FREQUENCY = click.option(
    "--frequency", type=click.Choice(["daily", "weekly"]), required=True, help="Which digest."
)


@cli.group()
def digest() -> None:
    """Preview and send the daily and weekly digests."""


@digest.command("preview")
@_FREQUENCY
@click.option("--subscriber", "email", metavar="EMAIL", help="Only this subscriber's message.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var/preview"),
    show_default=True,
    help="Directory for the .eml and .html files.",
)
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True, help="At most this many.")
@pass_context
def digest_preview(context: Context, frequency: str, email: str | None, out: Path, limit: int) -> int:
    """Write the exact messages a digest run now would send (.eml, and its HTML part as .html).

    Changes nothing in the store and sends nothing.
    """
    store, now = context.store, utcnow()
    start, end = digest_period(store, frequency, now)
    subscriber_id = get_subscriber(store, email).id if email else None
    messages = digest_messages(
        store, frequency, start, end, subscriber_id=subscriber_id, max_age=news_age(context.settings)
    )
    written = preview_digests(store, context.settings, messages, out, limit=limit)
    period = f"{_local(start, context)} – {_local(end, context)}"
    if not written:
        click.echo(f"Nothing new for a {frequency} digest in {period}.")
    for path in written:
        click.echo(str(path))
    return 0


@digest.command("send")
@_FREQUENCY
@click.option("--dry-run", is_flag=True, help="Say what would be planned; change and send nothing.")
@pass_context
def digest_send(context: Context, frequency: str, dry_run: bool) -> int:
    """Plan the digest run ending now (from where the last run of this frequency ended), then send.

    Sends like `outbox send`; if the daemon is running it only plans and the daemon delivers.
    """
    store = context.store
    if dry_run:
        start, end = digest_period(store, frequency, utcnow())
        planned = digest_messages(store, frequency, start, end, max_age=news_age(context.settings))
        count = sum(1 for _ in planned)
        click.echo(
            f"Would plan {count} {frequency} digests for {_local(start, context)} – {_local(end, context)}."
        )
        return 0

    def plan() -> str:
        done = plan_digest(store, context.settings, frequency, utcnow())
        return (
            f"Planned {done.planned} {frequency} digests for "
            f"{_local(done.period_start, context)} – {_local(done.period_end, context)}."
        )

    return _send_now(context, plan)


@cli.group("outbox")
def outbox_group() -> None:
    """The delivery ledger: list it, send what is due, retry."""


@outbox_group.command("list")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(["pending", "sending", "sent", "failed"]),
    help="Only rows with this status (repeatable).",
)
@click.option("--limit", type=click.IntRange(min=1), help="At most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of rows.")
@pass_context
def outbox_list(context: Context, statuses: tuple[str, ...], limit: int | None, as_json: bool) -> None:
    """Every planned message with its status, attempts and last error, newest first."""
    rows = outbox.list_rows(context.store, statuses=statuses, limit=limit)
    if as_json:
        emit_json([row.to_json() for row in rows])
        return
    for row in rows:
        when = row.sent_at if row.status == "sent" else row.next_attempt_at
        who = row.email or "[erased]"
        line = f"{row.id:>6}  {row.status:<8} {row.attempts:>2}  {when or '-':<20}  {who}  {row.key}"
        if row.last_error and row.status != "sent":
            line += f"  ({row.last_error})"
        click.echo(line)


@outbox_group.command("send")
@pass_context
def outbox_send(context: Context) -> int:
    """Deliver every due message and return when none is due; prints sent, waiting and failed.

    Rows waiting for a later retry are left and counted. Exit 1 when a message failed permanently.
    """
    return _send_now(context)


@outbox_group.command("retry")
@click.option("--failed", "include_failed", is_flag=True, help="Also re-queue rows that failed.")
@pass_context
def outbox_retry(context: Context, include_failed: bool) -> int:
    """Make waiting messages due now, then send them like `outbox send`.

    With --failed, messages that failed permanently are queued again too (after you fixed the cause).
    """

    def plan() -> str:
        count = outbox.retry(context.store, utcnow(), include_failed=include_failed)
        return f"{count} messages are due now."

    return _send_now(context, plan)


@cli.command("mailsink")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8025, show_default=True, help="SMTP port.")
@click.option(
    "--maildir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var/mail"),
    show_default=True,
    help="Maildir that receives every message.",
)
def mailsink_command(host: str, port: int, maildir: Path) -> None:
    """A local SMTP server for the demo: stores every message it accepts in a Maildir (Ctrl-C stops)."""

    def ready(bound_host: str, bound_port: int) -> None:
        click.echo(f"mailsink listening on {bound_host}:{bound_port}, delivering into {maildir}", err=True)

    mailsink.run(host, port, maildir, ready=ready)


# == daemon: run, check, backup ====================================================================


@cli.command("run")
@pass_context
def run_command(context: Context) -> int:
    """Run the service: watch the store, lift embargoes, send digests and mail, serve the web app.

    Holds the single-instance lock on the store (a second `run` exits 1 naming the process that holds
    it). SIGTERM or Ctrl-C stops taking work, lets messages in flight finish (NEWSROOM_SHUTDOWN_GRACE),
    puts the rest back in the queue and exits 0. Logs go to stderr, JSON lines with
    NEWSROOM_LOG_FORMAT=json.
    """
    # Imported here: the daemon pulls in uvicorn and APScheduler, which other commands do not need.
    from newsroom_feed import daemon

    return daemon.run(context.settings)


@cli.command("check")
@pass_context
def check_command(context: Context) -> int:
    """Check the settings, the store, the e-mail templates and the SMTP server; say what is wrong.

    Exits 0 when everything `run` needs works, 1 otherwise (every problem is listed).
    """
    from newsroom_feed import maintenance

    try:
        settings = context.settings
    except SettingsError as error:
        click.echo(f"FAIL  settings: {error}")
        return 1
    findings = maintenance.check(settings)
    for finding in findings:
        click.echo(f"{'ok  ' if finding.ok else 'FAIL'}  {finding.name}: {finding.detail}")
    problems = sum(not finding.ok for finding in findings)
    click.echo("OK" if not problems else f"{problems} problem{'s' if problems > 1 else ''} found", err=True)
    return 1 if problems else 0


@cli.command("backup")
@click.argument("path", type=click.Path(path_type=Path))
@pass_context
def backup_command(context: Context, path: Path) -> None:
    """Copy the store to PATH with SQLite's online backup, safe while the daemon runs.

    PATH may be a directory: the copy is then named after the store and the time (UTC).
    """
    from newsroom_feed import maintenance

    with logs.progress("Backing up (pages)") as bar:
        target = maintenance.backup(context.settings, path, _to(bar))
    click.echo(f"Backup written to {target}")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and map errors to exit codes: 2 for usage and input, 1 for other failures."""
    try:
        result = cli.main(args=argv, prog_name="newsroom-feed", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except (InputError, SettingsError) as error:
        click.echo(f"error: {error}", err=True)
        return 2
    except NewsroomError as error:
        click.echo(f"error: {error}", err=True)
        return 1
    except KeyboardInterrupt:
        return 130
    return result if isinstance(result, int) else 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
