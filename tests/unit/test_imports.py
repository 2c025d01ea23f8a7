"""The cold-start budget: what each command imports at start-up.

A CLI run once per message pays its imports every time; dnspython and dkimpy would roughly
double `dkimtool sign`'s start-up, so they must never be on the sign path.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dkimtool.core import keys

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


def test_sign_path_leaves_batch_and_config_machinery_unloaded() -> None:
    """One message through an MTA pipe: no worker pool, progress bar, config or genkey code."""
    modules = loaded_modules("sign")
    lazy = {
        "multiprocessing",
        "click._termui_impl",
        "dkimtool.core.config",
        "dkimtool.core.genkey",
        "dkimtool.core.record",
    }
    assert not modules & lazy, f"`dkimtool sign` imports {sorted(modules & lazy)} at start-up"


def test_sign_run_imports_neither_dns_nor_dkimpy(tmp_path: Path) -> None:
    """A whole `dkimtool sign` run, not just its start-up, stays off dnspython and dkimpy."""
    key = tmp_path / "k.private"
    private = keys.generate("ed25519").private
    assert private is not None
    key.write_bytes(keys.serialize_private(private, "pkcs8"))
    key.chmod(0o600)
    probe = (
        "import sys\n"
        "from dkimtool.cli import main\n"
        "try:\n"
        "    main(['sign', '-d', 'example.com', '-s', 'k', '-k', sys.argv[1]])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(key)],
        input=b"From: a@example.com\n\nhi\n",
        capture_output=True,
        check=True,
    )
    assert done.stdout.startswith(b"DKIM-Signature:")
    top = set(json.loads(done.stderr.decode().strip().splitlines()[-1].replace("'", '"')))
    assert not top & {"dns", "dkim"}


def test_verify_path_leaves_key_serialization_unloaded() -> None:
    """verify loads keys from DNS only; cryptography's serialization package (with its SSH
    key code, ~5 ms) is for key files: sign, genkey, testkey -k."""
    modules = loaded_modules("verify")
    assert "cryptography.hazmat.primitives.serialization" not in modules
    assert "dkimtool.core.keys" in modules  # the probe did load the key code
