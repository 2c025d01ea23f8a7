"""The command group: --version, --help, -v/-q anywhere, `python -m`, and the exit-code map."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import dkimtool
from dkimtool.cli import COMMANDS
from dkimtool.commands import txt as txt_command
from dkimtool.core import errors
from tests.conftest import RunCli, assert_error

VERSION_RE = r"dkimtool \d+\.\d+\.\d+\n"


def test_version_exact(run_cli: RunCli) -> None:
    result = run_cli("--version")
    assert result.code == 0
    assert result.stdout == f"dkimtool {dkimtool.__version__}\n"
    assert re.fullmatch(VERSION_RE, result.stdout)
    assert dkimtool.__version__ == importlib.metadata.version("dkimtool")
    assert result.stderr == ""


def test_group_help(run_cli: RunCli) -> None:
    result = run_cli("--help")
    assert result.code == 0, result
    assert result.stdout.startswith("Usage: dkimtool ")
    for name in COMMANDS:
        assert re.search(rf"^  {name}\b", result.stdout, re.MULTILINE), name
    for option in ("--version", "--verbose", "--quiet", "--help"):
        assert option in result.stdout


@pytest.mark.parametrize("command", ["genkey", "txt", "testkey", "sign", "verify", "milter"])
def test_every_command_has_help(run_cli: RunCli, command: str) -> None:
    assert command in COMMANDS
    result = run_cli(command, "--help")
    assert result.code == 0, result
    assert result.stdout.startswith(f"Usage: dkimtool {command} ")
    assert "--help" in result.stdout
    assert result.stderr == ""


def test_every_registered_command_is_covered() -> None:
    assert set(COMMANDS) == {"genkey", "txt", "testkey", "sign", "verify", "milter"}


@pytest.mark.parametrize(
    "args",
    [
        ["genkey", "-d", "e.com", "-b", "1024", "-q"],
        ["-q", "genkey", "-d", "e.com", "-b", "1024"],
        ["--quiet", "genkey", "-d", "e.com", "-b", "1024"],
        ["genkey", "--quiet", "-d", "e.com", "-b", "1024"],
    ],
)
def test_quiet_before_or_after_the_command(
    run_cli: RunCli, args: list[str], fast_keygen: None
) -> None:
    result = run_cli(*args)
    assert result.code == 0, result
    assert result.stderr == ""
    assert "DKIM1" in result.stdout  # the payload is still printed


def test_without_quiet_the_warning_and_status_show(run_cli: RunCli, fast_keygen: None) -> None:
    result = run_cli("genkey", "-d", "e.com", "-b", "1024")
    assert result.stderr.startswith("dkimtool: warning: 1024-bit")
    assert "wrote" in result.stderr


@pytest.fixture
def config_with_ignored_key(tmp_path: Path) -> Path:
    conf = tmp_path / "dkim.conf"
    conf.write_text("Domain example.com\nSocket inet:8891@localhost\n")
    return conf


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize("flag", ["-v", "--verbose"])
def test_verbose_before_or_after_the_command(
    run_cli: RunCli, config_with_ignored_key: Path, where: str, flag: str
) -> None:
    args = ["txt", "-x", str(config_with_ignored_key), "--revoke"]
    result = run_cli(flag, *args) if where == "before" else run_cli(*args, flag)
    assert result.code == 0, result
    assert "Socket is not used by this command" in result.stderr


def test_not_verbose_by_default(run_cli: RunCli, config_with_ignored_key: Path) -> None:
    result = run_cli("txt", "-x", str(config_with_ignored_key), "--revoke")
    assert result.code == 0 and result.stderr == ""


@pytest.fixture
def boom(monkeypatch: pytest.MonkeyPatch) -> None:
    """An internal error: read_key raises something no one handles."""

    def explode(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(txt_command, "read_key", explode)


KEYLESS_TXT = ["txt", "-k", "whatever.key", "-d", "example.com"]


@pytest.mark.usefixtures("boom")
@pytest.mark.parametrize("verbosity", [[], ["-v"], ["-q"]])
def test_internal_error_is_70_and_one_line(run_cli: RunCli, verbosity: list[str]) -> None:
    line = assert_error(run_cli(*verbosity, *KEYLESS_TXT), 70)
    assert line == "dkimtool: error: internal error: RuntimeError: boom (run with -vv for details)"


@pytest.mark.usefixtures("boom")
@pytest.mark.parametrize(
    "args",
    [
        ["-vv", *KEYLESS_TXT],
        [*KEYLESS_TXT, "-vv"],
        ["-v", *KEYLESS_TXT, "-v"],
        ["--verbose", "--verbose", *KEYLESS_TXT],
    ],
)
def test_internal_error_traceback_only_at_vv(run_cli: RunCli, args: list[str]) -> None:
    result = run_cli(*args)
    assert result.code == 70
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: boom" in result.stderr
    assert result.stderr.rstrip("\n").splitlines()[-1] == (
        "dkimtool: error: internal error: RuntimeError: boom"
    )
    assert result.stdout == ""


@pytest.fixture
def broken_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """A subcommand whose module fails to import: the error surfaces while --help is built,
    outside the command's invoke()."""
    monkeypatch.setitem(COMMANDS, "broken", "dkimtool.commands._no_such_module")


@pytest.mark.usefixtures("broken_command")
def test_internal_error_outside_a_command_is_70_and_one_line(run_cli: RunCli) -> None:
    line = assert_error(run_cli("--help"), 70, "internal error: ModuleNotFoundError")
    assert line.endswith("(run with -vv for details)")
    assert_error(run_cli("-q", "--help"), 70)
    for args in (["-vv", "--help"], ["-v", "--help", "-v"]):
        verbose = run_cli(*args)
        assert verbose.code == 70
        assert "Traceback (most recent call last)" in verbose.stderr
        assert verbose.stderr.rstrip("\n").splitlines()[-1].startswith("dkimtool: error: ")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.NegativeResult("no"), 1),
        (errors.DnsNotFound("nxdomain"), 1),
        (errors.UsageError("bad"), 2),
        (errors.InputError("bad"), 65),
        (errors.KeyFormatError("bad"), 65),
        (errors.MessageFormatError("bad"), 65),
        (errors.RecordFormatError("bad"), 65),
        (errors.SigningError("bad"), 65),
        (errors.NoInputError("bad"), 66),
        (errors.DkimtoolError("bad"), 70),
        (errors.CantCreateError("bad"), 73),
        (errors.TempFailError("bad"), 75),
        (errors.DnsTempError("bad"), 75),
        (errors.ConfigError("bad", path="f.conf", line=3), 78),
    ],
)
def test_exit_code_map(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, error: errors.DkimtoolError, code: int
) -> None:
    def fail(*_args: object, **_kwargs: object) -> object:
        raise error

    monkeypatch.setattr(txt_command, "read_key", fail)
    line = assert_error(run_cli(*KEYLESS_TXT), code)
    assert line == f"dkimtool: error: {error}"
    verbose = run_cli("-vv", *KEYLESS_TXT)
    assert verbose.code == code and "Traceback" in verbose.stderr


def test_sysexits_values() -> None:
    assert (errors.EX_DATAERR, errors.EX_NOINPUT, errors.EX_SOFTWARE) == (65, 66, 70)
    assert (errors.EX_CANTCREAT, errors.EX_TEMPFAIL, errors.EX_CONFIG) == (73, 75, 78)


def test_hint_is_part_of_the_one_line(run_cli: RunCli) -> None:
    line = assert_error(run_cli("genkey", "-d", "e.com", "-h", "rsa-sha256"), 2)
    assert line == (
        "dkimtool: error: invalid hash algorithm 'rsa-sha256' "
        "(h= lists hashes, not signing algorithms: use sha256)"
    )


def test_error_text_has_no_control_characters(run_cli: RunCli, tmp_path: Path) -> None:
    bad = tmp_path / "evil\x1b[31m.key"
    bad.write_bytes(b"junk")
    line = assert_error(run_cli("txt", "-k", str(bad), "-d", "e.com"), 65)
    assert "\x1b" not in line and "\\x1b" in line


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["no-such-command"], "No such command"),
        (["genkey", "--no-such-option"], "--no-such-option"),
        (["genkey", "-d"], "-d"),
        (["genkey", "-d", "e.com", "-a", "dsa"], "dsa"),
        (["genkey", "-d", "e.com", "-h"], "-h"),  # -h is --hash-algorithms, not help
        (["--no-such-global"], "--no-such-global"),
    ],
)
def test_usage_errors_are_one_line(run_cli: RunCli, args: list[str], fragment: str) -> None:
    assert_error(run_cli(*args), 2, fragment)


def run_module(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "dkimtool", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
        check=False,
    )


def test_python_dash_m(tmp_path: Path) -> None:
    version = run_module("--version", cwd=tmp_path)
    assert (version.returncode, version.stdout) == (0, f"dkimtool {dkimtool.__version__}\n")
    made = run_module("genkey", "-d", "example.com", "-s", "m", "-a", "ed25519", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert made.stdout == (tmp_path / "m.txt").read_text()
    again = run_module("genkey", "-d", "example.com", "-s", "m", "-a", "ed25519", cwd=tmp_path)
    assert again.returncode == 73
    assert again.stdout == ""
    assert again.stderr.startswith("dkimtool: error: ") and again.stderr.count("\n") == 1
    usage = run_module("txt", "-d", "example.com", cwd=tmp_path)
    assert usage.returncode == 2 and usage.stderr.count("\n") == 1
    assert "Traceback" not in usage.stderr + again.stderr


def test_console_script(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "dkimtool"
    if not script.is_file():
        pytest.skip(f"no console script next to {sys.executable}")
    proc = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert (proc.returncode, proc.stdout) == (0, f"dkimtool {dkimtool.__version__}\n")


def test_unbuffered_python_gets_buffered_stdout_in_order(tmp_path: Path) -> None:
    """Under PYTHONUNBUFFERED=1 (common in container images) stdout is a raw file: dkimtool
    puts a BufferedWriter back (whole writes, a batch report in blocks), and with 2>&1 the
    report and error lines still come out in input order."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONWARNINGS": "ignore"}
    code = (
        "import sys; from dkimtool.commands import _render; _render.use_buffered_stdout();"
        " print(type(sys.stdout.buffer).__name__)"
    )
    probe = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert probe.stdout == "BufferedWriter\n"
    made = run_module("genkey", "-d", "example.com", "-s", "s", "-a", "ed25519", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    message = tmp_path / "m.eml"
    message.write_bytes(b"From: a@example.com\nSubject: s\n\nHello.\n")
    signed = run_module(
        "sign",
        "-k",
        "s.private",
        "-d",
        "example.com",
        "-s",
        "s",
        "-o",
        "out",
        str(message),
        cwd=tmp_path,
    )
    assert signed.returncode == 0, signed.stderr
    args = ["verify", "--dns-file", "s.txt", "out/m.eml", "missing.eml", "out/m.eml"]
    merged = subprocess.run(
        [sys.executable, "-m", "dkimtool", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )
    lines = merged.stdout.splitlines()
    assert merged.returncode == 66
    assert [line.split(":")[0] for line in lines] == ["out/m.eml", "dkimtool", "out/m.eml"]
    assert lines[0].startswith("out/m.eml: pass") and "missing.eml" in lines[1]
