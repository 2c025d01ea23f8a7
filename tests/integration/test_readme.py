"""The README's shell examples run: every fenced ``sh`` block, in order, in one temporary
directory, with ``dkimtool`` from this venv on PATH and ``examples/message.eml`` copied to
``message.eml`` (the walkthrough's "any message").

A block that cannot run offline is preceded by ``<!-- docs-test: skip REASON -->`` and is
reported as skipped with that reason. Each block runs with ``sh -eu``, so a failing command
fails the test. A test that runs alone first runs the blocks before it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
VENV_BIN = Path(sys.executable).parent
MARKER_RE = re.compile(r"<!-- docs-test: (?P<verb>\S+)(?: (?P<reason>.*?))? -->")
FENCE_RE = re.compile(r"^```(?P<info>\S*)\s*$")


@dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the opening fence
    info: str
    text: str
    skip: str | None

    @property
    def id(self) -> str:
        return f"line{self.line}"


def readme_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    pending: str | None = None
    while index < len(lines):
        line = lines[index]
        marker = MARKER_RE.fullmatch(line.strip())
        if marker:
            if marker["verb"] != "skip" or not marker["reason"]:
                raise ValueError(f"README line {index + 1}: use <!-- docs-test: skip REASON -->")
            pending = marker["reason"]
        fence = FENCE_RE.match(line)
        if fence:
            end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
            body = "\n".join(lines[index + 1 : end]) + "\n"
            blocks.append(Block(index + 1, fence["info"], body, pending))
            pending = None
            index = end
        elif line.strip() and not marker:
            pending = None  # a marker applies to the very next block only
        index += 1
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))
SH_BLOCKS = [block for block in BLOCKS if block.info == "sh"]


class Walkthrough:
    """The shared directory and which blocks have run in it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.done: set[int] = set()
        shutil.copy(ROOT / "examples" / "message.eml", directory / "message.eml")
        home = directory.parent / "home"
        home.mkdir()
        self.env = {
            "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(home),
            "LANG": "C.UTF-8",
        }

    def run_through(self, block: Block) -> None:
        """Run BLOCK, and first every runnable block before it that has not run yet."""
        for earlier in SH_BLOCKS:
            if earlier.skip is not None or earlier.line in self.done:
                if earlier is block:
                    break
                continue
            result = subprocess.run(
                ["sh", "-eu", "-c", earlier.text],
                check=False,
                cwd=self.directory,
                env=self.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=120,
            )
            self.done.add(earlier.line)
            assert result.returncode == 0, (
                f"README block at line {earlier.line} exited {result.returncode}:\n"
                f"{earlier.text}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
            if earlier is block:
                break


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory: pytest.TempPathFactory) -> Walkthrough:
    directory = tmp_path_factory.mktemp("readme") / "work"
    directory.mkdir()
    return Walkthrough(directory)


def test_readme_has_runnable_examples() -> None:
    runnable = [block for block in SH_BLOCKS if block.skip is None]
    assert len(runnable) >= 8
    commands = " ".join(block.text for block in runnable)
    for command in ("genkey", "txt", "testkey", "sign", "verify"):
        assert f"dkimtool {command} " in commands, command


def test_markers_are_attached_to_sh_blocks() -> None:
    for block in BLOCKS:
        assert block.skip is None or block.info == "sh", f"marker before line {block.line}"


def test_shell_commands_are_in_sh_blocks() -> None:
    """A shell example in a plain ``` block would silently escape this test."""
    for block in BLOCKS:
        if block.info == "":
            first = block.text.lstrip().split(" ", 1)[0]
            assert first not in ("dkimtool", "make", "dig"), f"line {block.line}: use ```sh"


@pytest.mark.parametrize("block", SH_BLOCKS, ids=lambda b: b.id)
def test_readme_block_runs(block: Block, walkthrough: Walkthrough) -> None:
    if block.skip is not None:
        pytest.skip(f"README line {block.line}: {block.skip}")
    walkthrough.run_through(block)


def test_walkthrough_results(walkthrough: Walkthrough) -> None:
    """What the README says the examples produce."""
    last = [block for block in SH_BLOCKS if block.skip is None][-1]
    walkthrough.run_through(last)
    work = walkthrough.directory
    assert (work / "mail.private").stat().st_mode & 0o777 == 0o600
    record = (work / "mail.txt").read_text()
    assert record.startswith('mail._domainkey\tIN\tTXT\t( "v=DKIM1; k=rsa; p=MII'), record
    revoked = (work / "mail-revoked.txt").read_text()
    assert revoked.startswith('mail._domainkey\tIN\tTXT\t( "v=DKIM1; p=" )'), revoked
    field = (work / "checked.eml").read_text().split("\nDKIM-Signature:")[0]
    assert field.startswith("Authentication-Results: mx.example.net;"), field
    assert "dkim=pass header.d=example.com header.s=mail" in field, field
    assert (work / "dual.eml").read_bytes().count(b"DKIM-Signature:") == 2
