"""The `subscriber` commands: add, import, export, list, history (of consent), remove (erase)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from newsroom_feed.cli.base import (
    Context,
    choice_option,
    cli,
    emit_json,
    finish_import,
    local_time,
    pass_context,
    read_input,
)
from newsroom_feed.models import utcnow
from newsroom_feed.people import subscriber_csv, subscriptions

_STATUSES = ("pending", "active", "unsubscribed", "bounced")


@cli.group()
def subscriber() -> None:
    """Subscribers of alerts and digests: add, import, export, list, history, remove (erase)."""


@subscriber.command("add")
@click.argument("email")
@click.option("--name", help="The person's name (the To display name).")
@choice_option(
    "--kind",
    ["journalist", "city", "other"],
    "other",
    "Who this is; member cities (city) get their own greeting.",
)
@click.option("--organization", help="Newsroom, city office or other organization.")
@click.option(
    "--category",
    "categories",
    multiple=True,
    metavar="SLUG",
    help="A category to receive (repeat; none means every category). Unknown slugs are created.",
)
@choice_option(
    "--frequency",
    ["immediate", "daily", "weekly"],
    "immediate",
    "An alert per release, or a daily or weekly digest.",
)
@choice_option("--language", ["pl", "en"], "pl", "Language of the messages (the releases stay in theirs).")
@click.option("--consent-text", help="The consent the person gave, as they saw it (stored).")
@click.option(
    "--double-opt-in",
    is_flag=True,
    help="Make the subscriber pending and queue a confirmation mail instead of activating at once "
    "(the only way to add again someone who unsubscribed).",
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
    """Add the subscriber EMAIL: active at once (consent source "operator"), unless --double-opt-in.

    Someone who unsubscribed can be added again only with --double-opt-in: they are pending until they
    use the confirmation link, and what they had stays as it was until then (exit 2 without it).
    """
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
    added = subscriptions.add_subscriber(
        context.store, data, now, double_opt_in=double_opt_in, via="subscriber add"
    )
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
    text = read_input(file)
    now = utcnow()
    result = subscriber_csv.import_subscribers(context.store, text, now, double_opt_in=double_opt_in)
    document = {
        "imported": [item.email for item in result.imported],
        "skipped": result.skipped,
        "rejected": [
            {"line": item.line, "field": item.field, "problem": item.problem} for item in result.rejected
        ],
    }
    return finish_import(
        result.rejected,
        document if as_json else None,
        f"Imported {len(result.imported)}, skipped {result.skipped} already subscribed",
    )


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
        count = subscriber_csv.export_subscribers(context.store, sys.stdout, status=status)
    else:
        with output.open("w", encoding="utf-8", newline="") as handle:
            count = subscriber_csv.export_subscribers(context.store, handle, status=status)
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


@subscriber.command("history")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of the events.")
@pass_context
def subscriber_history(context: Context, email: str, as_json: bool) -> None:
    """The consent history of the subscriber EMAIL, oldest first: every opt-in, confirmation, change of
    preferences and withdrawal, with its time, source and consent text version (exit 1: no such
    subscriber)."""
    events = subscriptions.consent_history(context.store, email)
    if as_json:
        emit_json([event.to_json() for event in events])
        return
    for event in events:
        detail = ", ".join(f"{key}: {_shown(value)}" for key, value in (event.detail or {}).items())
        click.echo(
            "\t".join(
                (
                    local_time(event.at, context),
                    event.event,
                    event.source,
                    f"consent {event.consent_version}" if event.consent_version else "",
                    detail,
                )
            ).rstrip()
        )
    click.echo(f"{len(events)} event{'s' if len(events) != 1 else ''}", err=True)


def _shown(value: object) -> str:
    """A detail value on one line: a waiting request's choices as ``key=value`` pairs."""
    if isinstance(value, dict):
        return " ".join(f"{key}={_shown(item)}" for key, item in value.items() if item not in (None, []))
    if isinstance(value, list):
        return ";".join(str(item) for item in value) or "(all)"
    return str(value)


@subscriber.command("remove")
@click.argument("email")
@pass_context
def subscriber_remove(context: Context, email: str) -> None:
    """Erase the subscriber EMAIL: their personal data and consent history are deleted, the outbox keeps
    anonymous counts."""
    subscriptions.remove_subscriber(context.store, email)
    click.echo(f"Removed {email}: personal data erased.")
