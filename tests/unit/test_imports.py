"""The cold-start budget: what each command imports at start-up.

A CLI run once per message pays its imports every time; dnspython and dkimpy would roughly
double `dkimtool sign`'s start-up, so they must never be on the sign path.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_PROBE = """
import json, sys
from dkimtool.cli import cli
cli.get_command(None, {command!r})
print(json.dumps(sorted(sys.modules)))
"""
HEAVY = ("dns", "dkim", "hypothesis", "rich", "idna", "nacl")


def loaded_modules(command: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(command=command)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(json.loads(out))


def _top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


@pytest.mark.parametrize("command", ["sign", "genkey", "txt"])
def test_offline_commands_do_not_import_dns_or_dkimpy(command: str) -> None:
    heavy = _top_level(loaded_modules(command)) & set(HEAVY)
    assert not heavy, f"`dkimtool {command}` imports {sorted(heavy)} at start-up"


def test_sign_does_not_load_other_subcommands() -> None:
    modules = loaded_modules("sign")
    others = {f"dkimtool.commands.{name}" for name in ("verify", "testkey", "genkey", "txt")}
    assert not modules & others


def test_verify_path_does_not_import_dkimpy() -> None:
    assert "dkim" not in _top_level(loaded_modules("verify"))
