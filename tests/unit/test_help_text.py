"""Every command and every option explains itself in --help, and every command has examples.

Hidden options count too (they still show up in error messages and shell completion); only
``--help`` itself, which click writes, is left out.
"""

from __future__ import annotations

import re

import click
import pytest

from dkimtool.cli import cli
from tests.conftest import RunCli

ROOT_CTX = click.Context(cli, info_name="dkimtool")
COMMAND_NAMES = cli.list_commands(ROOT_CTX)


def _command(name: str) -> click.Command:
    command = cli.get_command(ROOT_CTX, name)
    assert command is not None, name
    return command


def _options(command: click.Command) -> list[click.Option]:
    ctx = click.Context(command, info_name=command.name, parent=ROOT_CTX)
    return [
        param
        for param in command.get_params(ctx)
        if isinstance(param, click.Option) and "--help" not in param.opts
    ]


def test_the_group_has_help_and_options_have_help() -> None:
    assert cli.help
    missing = [param.opts for param in _options(cli) if not (param.help or "").strip()]
    assert not missing, f"dkimtool options without help text: {missing}"


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_command_has_help(name: str) -> None:
    command = _command(name)
    assert (command.help or "").strip(), f"dkimtool {name} has no help text"


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_every_option_has_help(name: str) -> None:
    missing = [param.opts for param in _options(_command(name)) if not (param.help or "").strip()]
    assert not missing, f"dkimtool {name}: options without help text: {missing}"


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_epilog_has_examples_of_this_command(name: str) -> None:
    epilog = _command(name).epilog or ""
    assert epilog.startswith("\b\nExamples:\n"), f"dkimtool {name}: epilog must open with Examples"
    examples = re.findall(rf"^\s+dkimtool {name}\b", epilog, re.MULTILINE)
    assert examples, f"dkimtool {name}: no 'dkimtool {name} ...' line in the examples"


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_help_shows_examples_without_control_characters(run_cli: RunCli, name: str) -> None:
    result = run_cli(name, "--help")
    assert result.code == 0, result
    assert "Examples:" in result.stdout
    # A '\b' that click does not treat as a marker (no blank line before it) is printed raw.
    assert not re.search(r"[\x00-\x09\x0b-\x1f]", result.stdout), repr(result.stdout)
