"""Commands that run and look after the service: `run`, `check`, `backup`, `prune`.

`daemon` and `maintenance` are imported inside the commands, so other commands do not load uvicorn
and APScheduler.
"""

from __future__ import annotations

from pathlib import Path

import click

from newsroom_feed import logs
from newsroom_feed.cli.base import Context, cli, emit_json, pass_context, progress_to
from newsroom_feed.errors import SettingsError
from newsroom_feed.models import utcnow


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
