"""The completion scripts in completions/ work in real shells, installed as a user would.

* bash: ``source completions/dkimtool.bash``; zsh: ``completions/`` on ``$fpath`` and
  ``compinit`` (and, separately, ``source completions/_dkimtool`` after compinit); fish:
  ``completions/`` on ``$fish_complete_path``. Several TABs in one session: with click's
  unpatched zsh script the second one did nothing (see tools/gen_docs.py).
* Each shell runs interactively in a private tmux server; the test types the words and a real
  TAB and reads the command line back from the screen.
* bash is also driven through ``complete -p`` and COMP_WORDS/COMP_CWORD, fish through
  ``complete -C``.

What must complete: ``dkimtool ge`` to ``genkey``, ``dkimtool sign --can`` to
``--canonicalization``, and file names after ``-k`` (click.Path options).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools import gen_docs

VENV_BIN = Path(sys.executable).parent
COMPLETIONS = gen_docs.COMPLETIONS_DIR
PROMPT = "READY>"
CASES = [
    ("dkimtool ge", "dkimtool genkey"),
    ("dkimtool sign --can", "dkimtool sign --canonicalization"),
    ("dkimtool sign -k ma", "dkimtool sign -k mail.private"),
    ("dkimtool txt --key ma", "dkimtool txt --key mail.private"),
    (
        "dkimtool testkey -d example.com -s mail -k ma",
        "dkimtool testkey -d example.com -s mail -k mail.private",
    ),
    ("dkimtool verify --dns-file zo", "dkimtool verify --dns-file zone.txt"),
]


def _require(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    reason = f"{name} is not installed (make peers installs zsh, fish; tmux for TAB tests)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason + " (CI=true: a missing tool is a failure)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A directory where 'ma' can only be mail.private, and 'zo' zone.txt."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "mail.private").write_text("not a key\n")
    (work / "zone.txt").write_text("; not a record\n")
    (work / "message.eml").write_text("From: a@example.com\n\nhi\n")
    return work


def _env(home: Path) -> dict[str, str]:
    return {
        "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
    }


class Tmux:
    """One shell in a private tmux server (its own socket); killed on close."""

    def __init__(self, socket: Path, workdir: Path, env: dict[str, str], argv: list[str]):
        self.tmux = _require("tmux")
        self.socket = socket
        self.session = "t" + uuid.uuid4().hex[:8]
        subprocess.run(
            [self.tmux, "-S", str(socket), "-f", "/dev/null", "new-session", "-d",
             "-s", self.session, "-x", "200", "-y", "50", "-c", str(workdir), *argv],
            env=env, check=True, timeout=30,
        )  # fmt: skip

    def _tmux(self, *args: str) -> str:
        return subprocess.run(
            [self.tmux, "-S", str(self.socket), *args],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout  # fmt: skip

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.session)

    def last_line(self) -> str:
        lines = [line.rstrip() for line in self.screen().splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def wait_for(
        self, predicate_text: str, *, exact_last: bool = False, timeout: float = 20
    ) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.last_line()
            if (line == predicate_text) if exact_last else (predicate_text in line):
                return line
            time.sleep(0.05)
        raise AssertionError(f"waited for {predicate_text!r}; screen:\n{self.screen()}")

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", self.session, "-l", text)

    def key(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", self.session, *keys)

    def run(self, command: str) -> None:
        self.type(command)
        self.key("Enter")
        self.wait_for(PROMPT, exact_last=True)

    def complete(self, typed: str) -> str:
        """Type, press TAB, return the command line once it has changed; then cancel it."""
        self.type(typed)
        self.wait_for(f"{PROMPT} {typed}", exact_last=True)
        self.key("Tab")
        deadline = time.monotonic() + 20
        line = self.last_line()
        while time.monotonic() < deadline and line.removeprefix(PROMPT).strip() == typed:
            time.sleep(0.05)
            line = self.last_line()
        time.sleep(0.3)  # let a slow shell finish drawing
        line = self.last_line()
        self.key("C-u")
        self.wait_for(PROMPT, exact_last=True)
        return line.removeprefix(PROMPT).strip()

    def close(self) -> None:
        subprocess.run(
            [self.tmux, "-S", str(self.socket), "kill-server"],
            check=False,
            capture_output=True,
            timeout=30,
        )


def _shell_session(shell: str, tmp_path: Path, workdir: Path) -> Iterator[Tmux]:
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    env = _env(home)
    if shell == "bash":
        argv = [_require("bash"), "--norc", "--noprofile", "-i"]
        setup = [f"source {COMPLETIONS / 'dkimtool.bash'}"]
        env["PS1"] = PROMPT + " "
    elif shell == "zsh":  # installed on $fpath, e.g. /usr/share/zsh/vendor-completions
        argv = [_require("zsh"), "-f", "-i"]
        setup = [f"fpath=({COMPLETIONS} $fpath)", "autoload -Uz compinit && compinit -u -D"]
        env["PS1"] = PROMPT + " "
    elif shell == "zsh-source":  # sourced from .zshrc after compinit
        argv = [_require("zsh"), "-f", "-i"]
        setup = ["autoload -Uz compinit && compinit -u -D", f"source {COMPLETIONS / '_dkimtool'}"]
        env["PS1"] = PROMPT + " "
    else:
        argv = [_require("fish"), "--no-config", "-i"]
        setup = [f"set -p fish_complete_path {COMPLETIONS}"]
    session = Tmux(tmp_path / "tmux.sock", workdir, env, argv)
    try:
        if shell == "fish":
            time.sleep(0.5)
            session.type(f"function fish_prompt; echo -n '{PROMPT} '; end")
            session.key("Enter")
            session.wait_for(PROMPT, exact_last=True)
        else:
            session.wait_for(PROMPT, exact_last=True)
        for command in setup:
            session.run(command)
        yield session
    finally:
        session.close()


@pytest.mark.parametrize("shell", ["bash", "zsh", "zsh-source", "fish"])
def test_tab_completes_in_a_real_shell(shell: str, tmp_path: Path, workdir: Path) -> None:
    for session in _shell_session(shell, tmp_path, workdir):
        got = {typed: session.complete(typed) for typed, _ in CASES}
        assert got == {typed: expected for typed, expected in CASES}, session.screen()


def _bash(script: str, workdir: Path, tmp_path: Path) -> str:
    bash = _require("bash")
    result = subprocess.run(
        [bash, "--norc", "--noprofile", "-c", script],
        cwd=workdir, env=_env(tmp_path), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_bash_registers_and_calls_the_completion_function(tmp_path: Path, workdir: Path) -> None:
    script = f"""
        source {COMPLETIONS / "dkimtool.bash"}
        complete -p dkimtool
        for line in "dkimtool ge" "dkimtool sign --can" "dkimtool --vers"; do
            read -ra COMP_WORDS <<< "$line"
            COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
            COMPREPLY=()
            _dkimtool_completion dkimtool
            echo "$line => ${{COMPREPLY[*]}}"
        done
    """
    out = _bash(script, workdir, tmp_path).splitlines()
    assert out[0] == "complete -o nosort -F _dkimtool_completion dkimtool"
    assert out[1:] == [
        "dkimtool ge => genkey",
        "dkimtool sign --can => --canonicalization",
        "dkimtool --vers => --version",
    ]


def test_bash_asks_for_file_names_after_k(tmp_path: Path, workdir: Path) -> None:
    """click answers 'file' for -k (a click.Path); the script hands over to readline's
    file-name completion (compopt -o default), which the TAB test above exercises."""
    env = {
        **_env(tmp_path),
        "COMP_WORDS": "dkimtool sign -k ma",
        "COMP_CWORD": "3",
        gen_docs.COMPLETE_VAR: "bash_complete",
    }
    for words in ("dkimtool sign -k ma", "dkimtool txt -k ma", "dkimtool testkey -k ma"):
        env["COMP_WORDS"] = words
        result = subprocess.run(
            [str(VENV_BIN / "dkimtool")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.stdout.splitlines() == ["file,ma"], (words, result)


def test_fish_complete_command(tmp_path: Path, workdir: Path) -> None:
    fish = _require("fish")
    script = (
        f"set -p fish_complete_path {COMPLETIONS}; "
        "complete -C 'dkimtool ge'; complete -C 'dkimtool sign --can'; "
        "complete -C 'dkimtool sign -k ma'"
    )
    result = subprocess.run(
        [fish, "--no-config", "-c", script],
        cwd=workdir, env=_env(tmp_path), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    words = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert words == ["genkey", "--canonicalization", "mail.private"], result.stdout
