"""The `bounces` commands: read the bounce mailbox once, and list what it told us."""

from __future__ import annotations

from typing import get_args

import click

from newsroom_feed.cli.base import Context, cli, emit_json, pass_context
from newsroom_feed.mail import bounces, intake
from newsroom_feed.mail.bounces import ReportKind
from newsroom_feed.models import utcnow


@cli.group("bounces")
def bounces_group() -> None:
    """The bounce mailbox: delivery reports, complaints and mailto unsubscribes (fetch, list)."""


@bounces_group.command("fetch")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_context
def bounces_fetch(context: Context, as_json: bool) -> int:
    """Read the bounce mailbox once: NEWSROOM_BOUNCES__MAILDIR when set, else the IMAP mailbox
    (NEWSROOM_BOUNCES__IMAP__*). Each message is applied (hard bounces, complaints, ...), then moved or
    flagged so it is never read twice; one that cannot be read is set aside (the unreadable folder).
    Exit 1 when a message was set aside or the mailbox could not be read; nothing is lost either way."""
    summary = intake.fetch(context.store, context.settings, utcnow())
    if as_json:
        emit_json(summary.to_json())
    else:
        click.echo(summary.text())
    return 1 if summary.set_aside else 0


@bounces_group.command("list")
@click.option("--kind", type=click.Choice(get_args(ReportKind)), help="Only reports of this kind.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of reports.")
@pass_context
def bounces_list(context: Context, kind: str | None, limit: int | None, as_json: bool) -> None:
    """What the bounce mailbox told us, newest first: when, from where, the kind, the recipient, the
    RFC 3463 status and the diagnostic, and the subscriber it is about (null once erased)."""
    rows = bounces.list_reports(context.store, limit=limit, kind=kind)
    if as_json:
        emit_json([row.to_json() for row in rows])
        return
    for row in rows:
        who = row.email or ("[erased]" if row.outbox_key else "-")
        line = f"{row.at}  {row.source:<7} {row.kind:<11} {row.status or '-':<7} {who}"
        if row.recipient and row.recipient != row.email:
            line += f"  (to {row.recipient})"
        if row.diagnostic:
            line += f"  {row.diagnostic[:120]}"
        click.echo(line)
    click.echo(f"{len(rows)} report{'s' if len(rows) != 1 else ''}", err=True)
