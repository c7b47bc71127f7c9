"""Commands that run and look after the service: `run`, `check`, `backup`, `prune`.

`daemon` and `maintenance` are imported inside the commands, so other commands do not load uvicorn
and APScheduler.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from newsroom_feed import logs
from newsroom_feed.cli.base import Context, cli, emit_json, pass_context, progress_to
from newsroom_feed.errors import SettingsError
from newsroom_feed.models import utcnow
from newsroom_feed.settings import Settings


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
@click.option(
    "--mail",
    is_flag=True,
    help="Instead: the mail pre-flight (SPF, DKIM, DMARC, MX in DNS; the relay's STARTTLS and certificate).",
)
@click.option("--json", "as_json", is_flag=True, help="With --mail: print the findings as JSON.")
@pass_context
def check_command(context: Context, mail: bool, as_json: bool) -> int:
    """Check the settings, the store, the e-mail templates and the SMTP server; say what is wrong.

    Exits 0 when everything `run` needs works, 1 otherwise (every problem is listed).

    With --mail, look instead at what receiving servers will find: the SPF record of the envelope
    domain, the DKIM record of the selector (an error when it does not match the key), the DMARC
    policy, the MX of the bounce domain, and the relay's STARTTLS certificate; each finding says what
    to publish or fix. Asks the resolver of NEWSROOM_DNS__NAMESERVERS (default: the system's). Exits 1
    when any finding is an error, 0 otherwise (warnings included).
    """
    from newsroom_feed import maintenance

    if as_json and not mail:
        raise click.UsageError("--json goes with --mail")
    try:
        settings = context.settings
    except SettingsError as error:
        click.echo(f"FAIL  settings: {error}")
        return 1
    if mail:
        return _check_mail(settings, as_json)
    findings = maintenance.check(settings)
    for finding in findings:
        click.echo(f"{'ok  ' if finding.ok else 'FAIL'}  {finding.name}: {finding.detail}")
    problems = sum(not finding.ok for finding in findings)
    click.echo("OK" if not problems else f"{problems} problem{'s' if problems > 1 else ''} found", err=True)
    return 1 if problems else 0


def _check_mail(settings: Settings, as_json: bool) -> int:
    """`check --mail`: the findings, one block each, and exit 1 when any is an error."""
    from newsroom_feed.mail import preflight

    findings = asyncio.run(preflight.run(settings))
    errors = sum(finding.level == "error" for finding in findings)
    if as_json:
        emit_json([finding.to_json() for finding in findings])
        return 1 if errors else 0
    for finding in findings:
        click.echo(f"{_LEVEL_LABELS[finding.level]}  {finding.check}: {finding.found}")
        if finding.action:
            click.echo(f"         to do: {finding.action}")
    warnings = sum(finding.level == "warning" for finding in findings)
    summary = f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
    click.echo(summary if errors or warnings else "OK", err=True)
    return 1 if errors else 0


_LEVEL_LABELS = {"ok": "ok     ", "warning": "WARNING", "error": "ERROR  "}


@cli.command("backup")
@click.argument("path", type=click.Path(path_type=Path))
@pass_context
def backup_command(context: Context, path: Path) -> None:
    """Copy the store to PATH with SQLite's online backup, safe while the daemon runs.

    PATH may be a directory: the copy is then named after the store and the time (UTC).
    """
    from newsroom_feed import maintenance

    with logs.progress("Backing up (pages)") as bar:
        target = maintenance.backup(context.settings, path, progress_to(bar))
    click.echo(f"Backup written to {target}")


@cli.command("prune")
@click.option("--json", "as_json", is_flag=True, help="Print what was removed, by kind, as JSON.")
@pass_context
def prune_command(context: Context, as_json: bool) -> None:
    """Remove personal data and logs older than the [privacy] settings keep them: subscribers who never
    confirmed (NEWSROOM_PRIVACY__UNCONFIRMED_DAYS), the change log (__CHANGES_DAYS; never what the next
    build still needs) and SMTP replies (__REPLIES_DAYS).

    `run` does this at start and daily; run it from cron when there is no daemon. Safe to repeat.
    """
    from newsroom_feed import maintenance

    report = maintenance.prune(context.store, context.settings, utcnow())
    if as_json:
        emit_json(report.to_json())
        return
    click.echo(
        f"Removed {report.unconfirmed} unconfirmed subscriber{'s' if report.unconfirmed != 1 else ''}, "
        f"{report.lapsed} unconfirmed re-subscription{'s' if report.lapsed != 1 else ''} "
        f"(unsubscribed again), {report.changes} change log row{'s' if report.changes != 1 else ''}, "
        f"{report.replies} SMTP repl{'ies' if report.replies != 1 else 'y'}."
    )
