"""``sign -o DIR`` and ``verify FILE...`` show a progress bar on stderr only when stderr is a
terminal (and not -q); verify only when its report goes elsewhere."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

MESSAGE = b"From: a@example.com\nTo: b@example.net\nSubject: hi\n\nbody\n"


def _run_with_terminal_stderr(
    args: list[str], cwd: Path, *, terminal_stdout: bool = False
) -> tuple[int, str]:
    """Run dkimtool with stderr (and, if asked, stdout) on a pseudo-terminal; return (exit
    code, what the tty saw)."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dkimtool", *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=slave if terminal_stdout else subprocess.DEVNULL,
            stderr=slave,
        )
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = proc.wait(timeout=60)
    finally:
        os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


@pytest.fixture
def batch(tmp_path: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "dkimtool", "genkey", "-d", "example.com", "-s", "s"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    for index in range(5):
        (tmp_path / f"m{index}.eml").write_bytes(MESSAGE)
    return tmp_path


def _sign_args(directory: Path, *extra: str) -> list[str]:
    files = sorted(str(p) for p in directory.glob("m*.eml"))
    return ["sign", "-d", "example.com", "-s", "s", "-k", "s.private", *extra, *files]


def test_progress_bar_on_a_terminal(batch: Path) -> None:
    code, seen = _run_with_terminal_stderr(_sign_args(batch, "-o", "out"), batch)
    assert code == 0, seen
    assert "signing" in seen and "100%" in seen, seen
    assert len(list((batch / "out").iterdir())) == 5


def test_no_progress_bar_with_quiet(batch: Path) -> None:
    code, seen = _run_with_terminal_stderr(_sign_args(batch, "-q", "-o", "out"), batch)
    assert code == 0, seen
    assert seen.strip() == ""


def test_no_progress_bar_when_stderr_is_not_a_terminal(batch: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dkimtool", *_sign_args(batch, "-o", "out")],
        cwd=batch,
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert b"signing" not in proc.stderr


def _verify_args(batch: Path, *extra: str) -> list[str]:
    """Sign the batch into out/, and return the arguments that verify it."""
    code, seen = _run_with_terminal_stderr(_sign_args(batch, "-q", "-o", "out"), batch)
    assert code == 0, seen
    signed = sorted(str(p) for p in (batch / "out").glob("m*.eml"))
    return ["verify", "--dns-file", "s.txt", *extra, *signed]


def test_verify_progress_bar_when_the_report_goes_elsewhere(batch: Path) -> None:
    code, seen = _run_with_terminal_stderr(_verify_args(batch), batch)
    assert code == 0, seen
    assert "verifying" in seen and "100%" in seen, seen


def test_verify_no_progress_bar_on_a_terminal_report_or_with_quiet(batch: Path) -> None:
    args = _verify_args(batch)
    code, seen = _run_with_terminal_stderr(args, batch, terminal_stdout=True)
    assert code == 0, seen
    assert "verifying" not in seen and seen.count(": pass d=example.com") == 5, seen
    code, seen = _run_with_terminal_stderr([*args, "-q"], batch)
    assert (code, seen.strip()) == (0, "")


def test_closed_stdout_is_a_temporary_failure_with_one_line(batch: Path) -> None:
    """`sign | consumer` where the consumer died: 75 (an MTA retries), one error line, no
    traceback at exit."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will read: the first write fails with EPIPE
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "dkimtool", *_sign_args(batch)[:7], str(batch / "m0.eml")],
            cwd=batch,
            stdout=write_end,
            stderr=subprocess.PIPE,
            check=False,
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 75, proc.stderr
    lines = proc.stderr.decode().splitlines()
    assert lines == ["dkimtool: error: standard output was closed before everything was written"]
