"""Commands on the store, releases and outputs: `init`, `release *`, `import`, `build`."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import click

from newsroom_feed import logs
from newsroom_feed.cli.base import (
    TIME_HELP,
    Context,
    cli,
    emit_json,
    finish_import,
    local_time,
    pass_context,
    progress_to,
    read_input,
)
from newsroom_feed.cli.documents import DOCUMENT_HELP, completed_changes, given_document, release_options
from newsroom_feed.errors import InputError
from newsroom_feed.importers import FORMATS, ImportFormat, guess_format, import_releases
from newsroom_feed.models import CORRECTION_NOTE_MAX, Event, Release, ReleaseInput, parse_moment, utcnow
from newsroom_feed.planner import build as build_outputs
from newsroom_feed.store.database import Store


@cli.command()
@pass_context
def init(context: Context) -> None:
    """Create the SQLite store, or migrate it to the current schema, and say where it is."""
    settings = context.settings
    with Store.for_settings(settings, migrate=False) as store:
        ran = store.migrate()
        version = store.schema_version
    settings.public_dir.mkdir(parents=True, exist_ok=True)
    done = f"applied {ran} migration{'s' if ran != 1 else ''}" if ran else "already up to date"
    click.echo(f"Store: {settings.database.resolve()} (schema version {version}, {done})", err=True)
    click.echo(f"Outputs: {settings.public_dir.resolve()}", err=True)


def _say(action: str, release: Release, context: Context) -> None:
    status = release.status(utcnow())
    click.echo(
        f"{action} {release.number} {release.slug} ({status}, visible from "
        f"{local_time(release.visible_at, context)} {context.settings.timezone})",
        err=True,
    )


@cli.group()
def release() -> None:
    """Add, change, retract and look at press releases."""


@release.command(
    "add",
    help="Add a release from options and/or a JSON document; prints nothing on stdout unless --json.\n"
    + DOCUMENT_HELP,
)
@click.argument("document", required=False, type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@release_options
@pass_context
def release_add(context: Context, /, document: Path | None, as_json: bool, **options: Any) -> None:
    data = given_document(document, options, enough="title")
    parsed = ReleaseInput.parse(data, context.settings.zone)
    now = utcnow()
    stored = context.store.add_release(parsed, now)
    if as_json:
        emit_json(stored.to_document(now))
    _say("Added", stored, context)


@release.command(
    "update",
    help="Change the given fields of release REF (an id, slug, number such as 12/2026, or uid); the "
    "uid stays and `updated` moves on.\n" + DOCUMENT_HELP,
)
@click.argument("ref")
@click.argument("document", required=False, type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@release_options
@pass_context
def release_update(
    context: Context, /, ref: str, document: Path | None, as_json: bool, **options: Any
) -> None:
    changes = given_document(document, options, enough="any")
    if not changes:
        raise click.UsageError("nothing to change: give an option or a JSON document")
    store = context.store
    changes = completed_changes(lambda: store.get_release(ref), changes, utcnow())
    now = utcnow()
    stored = store.update_release(ref, changes, now)
    if as_json:
        emit_json(stored.to_document(now))
    _say("Updated", stored, context)


@release.command(
    "correct",
    help='Correct release REF ("korekta"): change the given fields as `release update` does and keep '
    "--note, with its time, in the release's corrections; the page shows every correction, the feeds "
    "show the entry again (same id, `updated` moved) opening with the note. The uid stays. A retracted "
    "release is not corrected.\n" + DOCUMENT_HELP,
)
@click.argument("ref")
@click.argument("document", required=False, type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option(
    "--note",
    required=True,
    help=f"What was corrected, for readers (at most {CORRECTION_NOTE_MAX} characters): it opens the "
    "feed entry and the page's correction box.",
)
@release_options
@pass_context
def release_correct(
    context: Context, /, ref: str, document: Path | None, note: str, as_json: bool, **options: Any
) -> None:
    changes = given_document(document, options, enough="")
    store = context.store
    changes = completed_changes(lambda: store.get_release(ref), changes, utcnow())
    now = utcnow()
    stored = store.correct_release(ref, note, changes, now)
    if as_json:
        emit_json(stored.to_document(now))
    _say("Corrected", stored, context)


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
        f"published: {local_time(found.published_at, context)} {zone}",
    ]
    if found.embargo_until:
        lines.append(f"embargo until: {local_time(found.embargo_until, context)} {zone}")
        if found.early_access:
            lines.append("early access: verified journalists see it before the lift")
    if found.retracted_at:
        lines.append(f"retracted: {local_time(found.retracted_at, context)} {zone}")
    lines.append(f"updated: {local_time(found.updated_at, context)} {zone}")
    for correction in found.corrections:
        lines.append(f"correction: {local_time(correction.at, context)} {zone}: {correction.note}")
    if found.categories:
        lines.append("categories: " + ", ".join(category.slug for category in found.categories))
    for attachment in found.attachments:
        lines.append(f"attachment: {attachment.url} ({attachment.mime_type}, {attachment.length} bytes)")
    contact = [part for part in (found.contact.name, found.contact.email, found.contact.phone) if part]
    if contact:
        lines.append("contact: " + ", ".join(contact))
    if found.source_url:
        lines.append(f"source: {found.source_url}")
    if found.event is not None:
        lines.append("event: " + _event_line(found.event, context))
    if found.summary:
        lines += ["", found.summary]
    if found.body_markdown:
        lines += ["", found.body_markdown]
    click.echo("\n".join(lines))


def _event_line(event: Event, context: Context) -> str:
    """When and where, as a person in the newsroom reads it: times in its zone, days as days."""
    if isinstance(event.start, datetime):
        start = local_time(event.start, context)
        end = local_time(event.end, context) if isinstance(event.end, datetime) else ""
        if end[:10] == start[:10]:
            end = end[11:]  # the same day: the hour alone
        when = f"{start} – {end}" if end else start
        when += f" {context.settings.timezone}"
    else:
        when = event.start.isoformat()
        if event.end is not None and event.end != event.start:
            when += f" – {event.end.isoformat()}"
        when += " (all day)"
    return "; ".join(part for part in (when, event.location, event.online_url) if part)


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
        (found.number, found.status(now), local_time(found.visible_at, context), found.slug, found.title)
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
    f"(default now). {TIME_HELP}.",
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
    text = read_input(file)
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
        report = import_releases(
            context.store, text, chosen, utcnow(), base=base, on_progress=progress_to(bar)
        )
    return finish_import(
        report.rejected,
        report.to_dict() if as_json else None,
        f"Imported {len(report.imported)}, skipped {len(report.skipped)} already in the store",
    )


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
        report = build_outputs(
            context.store, context.settings, utcnow(), full=full, on_progress=progress_to(bar)
        )
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
