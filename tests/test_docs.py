"""Every CLI command has help text and is documented in README.md (as sqlite-utils' test_docs does)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from newsroom_feed.cli import cli, main

README = Path(__file__).parents[1] / "README.md"


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    """Every command and group under ``group`` as ("release add", command), walking the whole tree."""
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if command is None or command.hidden:
            continue
        path = (*prefix, name)
        yield " ".join(path), command
        if isinstance(command, click.Group):
            yield from _commands(command, path)


COMMANDS = dict(_commands(cli))


def test_the_contract_commands_exist() -> None:
    """DESIGN.md section 4 names these; the helpers' sections add the rest."""
    for path in ("init", "release add", "release update", "release retract", "release show", "release list"):
        assert path in COMMANDS
    assert "import" in COMMANDS


def test_every_command_has_help_text() -> None:
    missing = [path for path, command in COMMANDS.items() if not (command.help or command.short_help)]
    assert not missing, f"commands without help text (add a docstring): {', '.join(missing)}"


def test_every_option_has_help_text() -> None:
    missing = [
        f"{path} {param.opts[0]}"
        for path, command in COMMANDS.items()
        for param in command.params
        if isinstance(param, click.Option) and not param.help and param.opts[0] not in {"--help", "-h"}
    ]
    assert not missing, f"options without help text: {', '.join(missing)}"


def test_every_command_is_mentioned_in_the_readme() -> None:
    """The README names each command as `newsroom-feed <command>` or in a `<command>` code span."""
    readme = README.read_text(encoding="utf-8")
    missing = [
        path
        for path in COMMANDS
        if not re.search(rf"(newsroom-feed( --?[\w-]+( [^\s`-]\S*)?)* |`){re.escape(path)}\b", readme)
    ]
    assert not missing, f"commands not mentioned in README.md: {', '.join(missing)}"


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_help_of_every_command_exits_0(path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*path.split(), "--help"]) == 0
    assert "Usage: newsroom-feed " + path in capsys.readouterr().out
