"""The `newsroom-feed` command tree: each command parses, calls one core function, prints.

Errors become exit codes in exactly one place, `main`: usage and input errors exit 2 (naming the field),
every other `NewsroomError` exits 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from newsroom_feed.errors import InputError, NewsroomError, SettingsError
from newsroom_feed.settings import Settings, load_settings
from newsroom_feed.store import Store

F = TypeVar("F", bound=Callable[..., Any])


class Context:
    """What every command gets: the settings, built once at the edge, and a store opened on demand."""

    def __init__(self, config: Path | None, database: Path | None, public_dir: Path | None) -> None:
        self._overrides = {"config": config, "database": database, "public_dir": public_dir}
        self._settings: Settings | None = None
        self._store: Store | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(**self._overrides)
        return self._settings

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


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


# == store, input and imports: init, release, import =============================================


# == outputs: build ===============================================================================


# == subscribers: subscriber =======================================================================


# == delivery: digest, outbox, mailsink ============================================================


# == daemon: run, check, backup ====================================================================


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
