"""The root `newsroom-feed` group and what every command shares: `Context`, JSON output, exit codes.

Errors become exit codes in exactly one place, `main`: usage and input errors exit 2 (naming the field),
every other `NewsroomError` exits 1.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC
from pathlib import Path
from typing import Any

import click
import structlog

from newsroom_feed import logs
from newsroom_feed.errors import InputError, NewsroomError, SettingsError
from newsroom_feed.importers import decode, read_text
from newsroom_feed.settings import Settings, load_settings
from newsroom_feed.store.database import Store

# Named after the package, not this module: log lines keep the logger name they had before the split.
log = structlog.get_logger("newsroom_feed.cli")


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
    return Store.for_settings(settings)


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


def progress_to(bar: logs.Advance) -> Callable[[int, int], None]:
    """A core function's ``on_progress(done, total)`` drawn on a progress bar."""
    return lambda done, total: bar.update(completed=done, total=total)


TIME_HELP = (
    "RFC 3339, e.g. 2026-11-26T10:30:00+01:00; a time without an offset is Europe/Warsaw time "
    "(the NEWSROOM_TIMEZONE setting)"
)


def choice_option(name: str, choices: Sequence[str], default: str, help: str) -> Callable[[Any], Any]:
    """An option taking one of ``choices``, with its default shown in ``--help``."""
    return click.option(name, type=click.Choice(list(choices)), default=default, show_default=True, help=help)


def directory_option(name: str, default: str, help: str) -> Callable[[Any], Any]:
    """An option naming a directory, with its default shown in ``--help``."""
    return click.option(
        name,
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(default),
        show_default=True,
        help=help,
    )


def finish_import(rejected: Sequence[object], document: Any, summary: str) -> int:
    """Report an import the same way for every kind of record; the exit code (1: rows were rejected).

    One ``rejected:`` line a rejected row and then ``summary`` go to stderr; ``document`` (None: not
    asked for) is printed on stdout as JSON, so a script can read it while a person reads the rest.
    """
    for item in rejected:
        click.echo(f"rejected: {item}", err=True)
    if document is not None:
        emit_json(document)
    click.echo(f"{summary}, rejected {len(rejected)}.", err=True)
    return 1 if rejected else 0


def read_input(path: Path) -> str:
    """The text of a file named on the command line, ``-`` being stdin.

    :raises InputError: missing, unreadable or not UTF-8.
    """
    if str(path) == "-":
        return decode(sys.stdin.buffer.read(), "stdin")
    return read_text(path)


def local_time(moment: Any, context: Context) -> str:
    """``moment`` as minutes in the settings' time zone, as the commands print it; '' for none.

    A moment at the end of `datetime` (an outside writer's ``9999-12-31``) cannot be moved to another
    zone: it is printed in UTC rather than stopping a listing.
    """
    if not moment:
        return ""
    try:
        return str(moment.astimezone(context.settings.zone).strftime("%Y-%m-%d %H:%M"))
    except (OverflowError, ValueError):
        return str(moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"))


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
