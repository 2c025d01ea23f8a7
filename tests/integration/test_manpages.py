"""The man pages render cleanly: ``groff -man -ww -z`` warns about nothing, and ``man -l``
formats each page (what a user runs) without complaint."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tools import gen_docs

PAGES = sorted(gen_docs.MAN_DIR.glob("*.1"))


def _require(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    reason = f"{name} is not installed (Debian: groff-base / man-db; make peers)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason + " (CI=true: a missing tool is a failure)", pytrace=False)
    pytest.skip(reason)


def test_there_are_pages() -> None:
    assert [p.name for p in PAGES if p.name == "dkimtool.1"] == ["dkimtool.1"]
    assert len(PAGES) >= 6


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
@pytest.mark.parametrize("device", [[], ["-Tutf8", "-rLL=80n"]], ids=["default", "utf8-80"])
def test_groff_has_no_warnings(page: Path, device: list[str]) -> None:
    groff = _require("groff")
    result = subprocess.run(
        [groff, "-man", "-ww", "-z", *device, str(page)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_man_renders_the_page(page: Path) -> None:
    man = _require("man")
    env = {**os.environ, "MANWIDTH": "80", "LC_ALL": "C.UTF-8"}
    result = subprocess.run(
        [man, "-l", str(page)], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr
    text = re.sub(".\x08", "", result.stdout)  # grotty's overstrike bold and underline
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "FILES"):
        assert f"\n{section}\n" in text, section
    assert "\nEXAMPLES\n" in text
    assert "\nSEE ALSO\n" in text
    assert "\\" not in text.replace("\\\n", ""), "an unescaped roff sequence leaked through"
    name = page.stem.removeprefix("dkimtool-")
    if name != "dkimtool":
        assert f"dkimtool {name} " in text.split("EXAMPLES", 1)[1], "examples of this command"
