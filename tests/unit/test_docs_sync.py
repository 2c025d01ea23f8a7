"""man/ and completions/ are generated from the click definitions: regenerate and compare.

When one of these fails, an option or help text changed: run ``make docs`` and commit the
regenerated files with the change.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from dkimtool.cli import cli
from tools import gen_docs

HINT = "out of date: run 'make docs' (tools/gen_docs.py) and commit man/ and completions/"
SECTIONS = ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "FILES", "EXAMPLES")
PAGES = gen_docs.man_pages()
SCRIPTS = gen_docs.completion_scripts()


def test_one_page_per_command() -> None:
    ctx = click.Context(cli, info_name="dkimtool")
    expected = {"dkimtool.1"} | {f"dkimtool-{name}.1" for name in cli.list_commands(ctx)}
    assert set(PAGES) == expected
    on_disk = {path.name for path in gen_docs.MAN_DIR.glob("*.1")}
    assert on_disk == expected, f"man/ has {sorted(on_disk)}; {HINT}"


@pytest.mark.parametrize("name", sorted(PAGES))
def test_man_page_is_up_to_date(name: str) -> None:
    path = gen_docs.MAN_DIR / name
    assert path.is_file(), f"man/{name} is missing; {HINT}"
    assert path.read_text(encoding="utf-8") == PAGES[name], f"man/{name} is {HINT}"


@pytest.mark.parametrize("name", sorted(PAGES))
def test_man_page_sections(name: str) -> None:
    headings = [line[4:].strip('"') for line in PAGES[name].splitlines() if line.startswith(".SH")]
    for section in (*SECTIONS, "SEE ALSO"):
        assert section in headings, f"{name}: no {section} section"
    assert [h for h in headings if h in SECTIONS] == list(SECTIONS), headings
    assert headings[0] == "NAME"
    assert headings[-1] == "SEE ALSO"


def test_pages_document_every_visible_option() -> None:
    ctx = click.Context(cli, info_name="dkimtool")
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert command is not None
        page = PAGES[f"dkimtool-{name}.1"]
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                for opt in param.opts:
                    assert f"\\fB{gen_docs.roff_escape(opt)}\\fR" in page, (name, opt)


def test_exit_codes_match_the_readme_table() -> None:
    readme = Path(__file__).resolve().parents[2] / "README.md"
    readme_codes = [
        int(line.split("|")[1])
        for line in readme.read_text().splitlines()
        if line.startswith("| ") and line.split("|")[1].strip().isdigit()
    ]
    assert [code for code, _ in gen_docs.EXIT_CODES] == readme_codes


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_completion_script_is_up_to_date(name: str) -> None:
    path = gen_docs.COMPLETIONS_DIR / name
    assert path.is_file(), f"completions/{name} is missing; {HINT}"
    assert path.read_text(encoding="utf-8") == SCRIPTS[name], f"completions/{name} is {HINT}"


@pytest.mark.parametrize("shell", sorted(gen_docs.COMPLETION_FILES))
def test_completion_script_is_what_the_installed_command_prints(shell: str) -> None:
    """Compare with the real ``_DKIMTOOL_COMPLETE=SHELL_source dkimtool``, not only the
    generator's in-process call."""
    dkimtool = Path(sys.executable).parent / "dkimtool"
    env = {**os.environ, gen_docs.COMPLETE_VAR: f"{shell}_source"}
    out = subprocess.run(
        [str(dkimtool)], env=env, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    file_name = gen_docs.COMPLETION_FILES[shell]
    expected = (gen_docs.COMPLETIONS_DIR / file_name).read_text(encoding="utf-8")
    assert gen_docs.finish_script(shell, out.rstrip("\n") + "\n") == expected


def test_check_mode_reports_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``gen_docs.py --check`` exits 1 on a changed page and on a page of a removed command."""
    man = tmp_path / "man"
    completions = tmp_path / "completions"
    monkeypatch.setattr(gen_docs, "ROOT", tmp_path)
    monkeypatch.setattr(gen_docs, "MAN_DIR", man)
    monkeypatch.setattr(gen_docs, "COMPLETIONS_DIR", completions)
    assert gen_docs.main([]) == 0
    assert gen_docs.main(["--check"]) == 0
    page = man / "dkimtool-sign.1"
    page.write_text(page.read_text().replace("canonicalization", "canon"))
    (man / "dkimtool-gone.1").write_text(".TH GONE 1\n")
    assert set(gen_docs.stale_files()) == {page, man / "dkimtool-gone.1"}
    assert gen_docs.main(["--check"]) == 1
    assert gen_docs.main([]) == 0
    assert not (man / "dkimtool-gone.1").exists()
    assert gen_docs.stale_files() == []
