"""-j N: a batch over worker processes reports exactly what one process reports.

Run as real processes (``python -m dkimtool``), since the workers are forked. No timings here:
the speed-up is measured by benchmarks/run.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dkimtool.commands._jobs import PortableError, effective_jobs
from dkimtool.core.errors import CantCreateError, ConfigError, DkimtoolError

MESSAGE = (
    b"From: Joe <joe@example.com>\nTo: Suzie <suzie@example.net>\nSubject: test {n}\n"
    b"Date: Fri, 11 Jul 2003 21:00:37 -0700\n\nHello {n}.\n"
)


def dkimtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dkimtool", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """keys/, a zone file, and in/ with 9 good messages and one without From."""
    root = tmp_path_factory.mktemp("jobs")
    done = dkimtool("genkey", "-q", "-d", "example.com", "-s", "mail", "-D", "keys", cwd=root)
    assert done.returncode == 0, done.stderr
    (root / "in").mkdir()
    for n in range(9):
        (root / "in" / f"m{n}.eml").write_bytes(MESSAGE.replace(b"{n}", str(n).encode()))
    (root / "in" / "m9-nofrom.eml").write_bytes(b"Subject: no From\n\nbody\n")
    return root


def inputs(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in (root / "in").iterdir())


def sign(root: Path, out: str, *extra: str) -> subprocess.CompletedProcess[str]:
    (root / out).mkdir(exist_ok=True)
    args = ["sign", "-d", "example.com", "-s", "mail", "-k", "keys/mail.private"]
    return dkimtool(*args, "--timestamp", "1700000000", "-o", out, *extra, *inputs(root), cwd=root)


@pytest.mark.parametrize("extra", [(), ("--json",), ("--on-error", "pass", "--json")])
def test_sign_jobs_report_and_write_what_one_process_does(
    batch: Path, extra: tuple[str, ...]
) -> None:
    tag = "-".join(extra) or "plain"
    one = sign(batch, f"one{tag}", "-j", "1", *extra)
    two = sign(batch, f"two{tag}", "-j", "3", *extra)
    assert one.returncode == two.returncode == (0 if "pass" in extra else 65)
    assert one.stderr == two.stderr
    assert one.stdout.replace(f"one{tag}/", "X/") == two.stdout.replace(f"two{tag}/", "X/")
    for path in sorted((batch / f"one{tag}").iterdir()):
        assert (batch / f"two{tag}" / path.name).read_bytes() == path.read_bytes()
    if "pass" in extra:  # the message without From is copied unsigned
        copied = (batch / f"two{tag}" / "m9-nofrom.eml").read_bytes()
        assert copied == (batch / "in" / "m9-nofrom.eml").read_bytes()


def test_sign_jobs_refuse_existing_outputs_before_signing(batch: Path) -> None:
    assert sign(batch, "exists", "-j", "2").returncode == 65  # m9 has no From
    again = sign(batch, "exists", "-j", "2")
    assert again.returncode == 73
    assert "already exists" in again.stderr


def test_verify_jobs_report_what_one_process_does(batch: Path) -> None:
    assert sign(batch, "signed", "--on-error", "pass").returncode == 0
    (batch / "signed" / "m3.eml").write_bytes(
        (batch / "signed" / "m3.eml").read_bytes().replace(b"Hello", b"Hullo")
    )
    files = sorted(str(p.relative_to(batch)) for p in (batch / "signed").iterdir())
    files.append("missing.eml")
    for extra in ((), ("--json",)):
        args = ["verify", "--dns-file", "keys/mail.txt", *extra, *files]
        one = dkimtool(*args, "-j", "1", cwd=batch)
        two = dkimtool(*args, "-j", "2", cwd=batch)
        assert one.returncode == two.returncode == 66  # the missing file's code
        assert (one.stdout, one.stderr) == (two.stdout, two.stderr)
        assert "body hash did not verify" in two.stdout


def test_effective_jobs() -> None:
    assert effective_jobs(1, 100) == 1
    assert effective_jobs(4, 2) == 2  # never more workers than files
    assert effective_jobs(4, 1) == 1
    assert effective_jobs(0, 1000) >= 1  # 0: one per CPU


@pytest.mark.parametrize(
    "error",
    [CantCreateError("out/x: already exists", hint="use --force"), ConfigError("bad key", line=3)],
)
def test_portable_error_keeps_text_and_exit_code(error: DkimtoolError) -> None:
    import pickle

    portable = pickle.loads(pickle.dumps(PortableError.of(error)))
    assert str(portable) == str(error)
    assert portable.exit_code == error.exit_code
