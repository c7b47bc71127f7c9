"""Commands that plan and send mail: `digest *`, `outbox *`, and the demo's `mailsink`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal, get_args

import click

from newsroom_feed import logs
from newsroom_feed.cli.base import (
    Context,
    cli,
    directory_option,
    emit_json,
    local_time,
    pass_context,
    progress_to,
)
from newsroom_feed.errors import NewsroomError
from newsroom_feed.mail import outbox
from newsroom_feed.mail import sink as mailsink
from newsroom_feed.mail.delivery import DeliveryReport, preview_digests, send_due
from newsroom_feed.models import OutboxStatus, utcnow
from newsroom_feed.people.subscriptions import get_subscriber
from newsroom_feed.planner import build as build_outputs
from newsroom_feed.planner import digest_messages, digest_period, news_age, plan_digest


def _report(report: DeliveryReport) -> int:
    """Print what a sending run did; 1 when a message failed permanently or the run was stopped."""
    for error in report.errors:
        click.echo(f"failed: {error}", err=True)
    click.echo(report.summary())
    if report.stopped:
        click.echo(f"stopped: {report.waiting} messages remain queued", err=True)
    return 1 if report.failed or report.stopped else 0


def _send_now(
    context: Context,
    plan: Callable[[], str | None] | None = None,
    *,
    build: Literal["all", "outputs"] | None = None,
) -> int:
    """Take the single-instance lock and deliver every due row; if a daemon holds the lock, only plan.

    With the lock, ``build`` runs first, as `newsroom-feed build` does (``"all"``) or without planning
    alerts (``"outputs"``): no daemon is there to build, and a cron job that adds a release and sends
    expects its alerts to go and every link in the mail to open. ``plan`` runs next in either case
    (enqueue a digest, re-queue rows) and may return a line to say. A failed build is said and the rows
    already queued still go (the daemon keeps sending too when a build fails), but ``plan`` is skipped
    (a digest would link to pages that were not written; the next run covers its period) and the exit
    code is 1.
    """
    # Imported here: the daemon pulls in uvicorn and APScheduler, which sending does not need.
    from newsroom_feed.lock import try_instance_lock

    settings, store = context.settings, context.store
    with try_instance_lock(settings.database) as holder:
        built = _build(context, plan_alerts=build == "all") if holder and build is not None else True
        said = plan() if plan is not None and built else None
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
        code = _report(report)
        return code if built else 1


def _build(context: Context, *, plan_alerts: bool) -> bool:
    """The build before a batch send; says what it changed on stderr, False (said) when it failed."""
    try:
        with logs.progress("Building (release pages)") as bar:
            report = build_outputs(
                context.store,
                context.settings,
                utcnow(),
                on_progress=progress_to(bar),
                plan_alerts=plan_alerts,
            )
    except NewsroomError as error:
        click.echo(f"build failed, nothing new planned: {error}", err=True)
        return False
    if report.changed:
        click.echo(
            f"Build: {len(report.written)} written, {len(report.removed)} removed, "
            f"{len(report.newly_visible)} releases newly visible.",
            err=True,
        )
    return True


_FREQUENCY = click.option(
    "--frequency", type=click.Choice(["daily", "weekly"]), required=True, help="Which digest."
)


@cli.group()
def digest() -> None:
    """Preview and send the daily and weekly digests."""


@digest.command("preview")
@_FREQUENCY
@click.option("--subscriber", "email", metavar="EMAIL", help="Only this subscriber's message.")
@directory_option("--out", "var/preview", "Directory for the .eml and .html files.")
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
        store,
        frequency,
        start,
        end,
        subscriber_id=subscriber_id,
        max_age=news_age(context.settings),
        preview=True,
    )
    written = preview_digests(store, context.settings, messages, out, limit=limit)
    period = f"{local_time(start, context)} – {local_time(end, context)}"
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

    Brings the pages up to date first (a build that plans no alerts), so every link of the digest
    opens. Sends like `outbox send`; if the daemon is running it only plans and the daemon delivers.
    """
    store = context.store
    if dry_run:
        start, end = digest_period(store, frequency, utcnow())
        planned = digest_messages(
            store, frequency, start, end, max_age=news_age(context.settings), preview=True
        )
        count = sum(1 for _ in planned)
        period = f"{local_time(start, context)} – {local_time(end, context)}"
        click.echo(f"Would plan {count} {frequency} digests for {period}.")
        return 0

    def plan() -> str:
        done = plan_digest(store, context.settings, frequency, utcnow())
        return (
            f"Planned {done.planned} {frequency} digests for "
            f"{local_time(done.period_start, context)} – {local_time(done.period_end, context)}."
        )

    return _send_now(context, plan, build="outputs")


@cli.group("outbox")
def outbox_group() -> None:
    """The delivery ledger: list it, send what is due, retry."""


@outbox_group.command("list")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(get_args(OutboxStatus)),
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

    Runs the build first, as `newsroom-feed build` does (so alerts of releases that became visible go
    too), unless the daemon is running: then it only says what is queued. Rows waiting for a later retry
    are left and counted. Exit 1 when a message failed permanently or the build failed.
    """
    return _send_now(context, build="all")


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
@directory_option("--maildir", "var/mail", "Maildir that receives every message.")
def mailsink_command(host: str, port: int, maildir: Path) -> None:
    """A local SMTP server for the demo: stores every message it accepts in a Maildir (Ctrl-C stops)."""

    def ready(bound_host: str, bound_port: int) -> None:
        click.echo(f"mailsink listening on {bound_host}:{bound_port}, delivering into {maildir}", err=True)

    mailsink.run(host, port, maildir, ready=ready)
