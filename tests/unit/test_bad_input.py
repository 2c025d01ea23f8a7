"""Bad input never produces a traceback: a contract exit code and one ``dkimtool: error:`` line,
or for ``verify`` of a broken signature, the documented result word.

``sign`` prints nothing on stdout when it fails (unless ``--on-error pass``, which prints the
input unchanged).  A terminal on stdin (no FILE) exits 2 with a hint instead of hanging.
"""

from __future__ import annotations

import json
import os
import pty
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from dkimtool.cli import cli
from tests.conftest import CliResult, assert_error

DOMAIN = "example.com"
GOOD = b"From: Alice <alice@example.com>\nSubject: ok\n\nHello.\n"


def invoke(*args: str, input: bytes | None = None) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(cli, list(args), input=input, prog_name="dkimtool")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout_bytes, result.stderr


@dataclass(frozen=True)
class Keys:
    key: Path
    zone: Path

    def sign_args(self) -> list[str]:
        return ["sign", "-d", DOMAIN, "-s", "mail", "-k", str(self.key)]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    directory = tmp_path_factory.mktemp("bad-input-keys")
    code, _, err = invoke(
        "genkey", "-d", DOMAIN, "-s", "mail", "-a", "ed25519", "-D", str(directory)
    )
    assert code == 0, err
    return Keys(directory / "mail.private", directory / "mail.txt")


# name -> (message, fragment of the error)
MALFORMED: dict[str, tuple[bytes, str]] = {
    "empty": (b"", "empty"),
    "binary-junk": (bytes(range(1, 256)) * 4, "header line"),
    "random-with-nul": (bytes((i * 131 + 7) % 256 for i in range(4096)), "NUL"),
    "nul-in-header": (b"From: a@example.com\nSubject: a\x00b\n\nbody\n", "NUL"),
    "no-colon": (b"From: a@example.com\nthis line has no colon\n\nbody\n", "no colon"),
    "continuation-first": (b" folded\nFrom: a@example.com\n\nbody\n", "continuation"),
    "bad-field-name": (b"From: a@example.com\nBad Name: x\n\nbody\n", "field name"),
    "1mb-header-line": (
        b"From: a@example.com\nX-Long: " + b"a" * (1 << 20) + b"\n\nbody\n",
        "header",
    ),
    "65k-header-line": (
        b"From: a@example.com\nX-Long: " + b"a" * (64 * 1024) + b"\n\nbody\n",
        "longer than 65536",
    ),
}


def _error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("dkimtool: error: "), lines[0]
    return lines[0]


@pytest.mark.parametrize(("message", "fragment"), MALFORMED.values(), ids=MALFORMED.keys())
def test_sign_malformed(keys: Keys, message: bytes, fragment: str) -> None:
    code, out, err = invoke(*keys.sign_args(), input=message)
    assert (code, out) == (65, b"")
    assert fragment in _error_line(err)


@pytest.mark.parametrize(("message", "fragment"), MALFORMED.values(), ids=MALFORMED.keys())
def test_verify_malformed(keys: Keys, message: bytes, fragment: str) -> None:
    code, out, err = invoke("verify", "--dns-file", str(keys.zone), input=message)
    assert (code, out) == (65, b"")
    assert fragment in _error_line(err)


@pytest.mark.parametrize(("message", "fragment"), MALFORMED.values(), ids=MALFORMED.keys())
def test_sign_malformed_on_error_pass(keys: Keys, message: bytes, fragment: str) -> None:
    code, out, err = invoke(*keys.sign_args(), "--on-error", "pass", input=message)
    assert (code, out) == (0, message)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dkimtool: warning: ")
    assert fragment in lines[0]


def test_sign_malformed_on_error_tempfail(keys: Keys) -> None:
    code, out, err = invoke(*keys.sign_args(), "--on-error", "tempfail", input=b"junk\n")
    assert (code, out) == (75, b"")
    _error_line(err)


def test_sign_malformed_file_names_the_file(keys: Keys, tmp_path: Path) -> None:
    bad = tmp_path / "bad.eml"
    bad.write_bytes(b"no colon here\n\nbody\n")
    code, out, err = invoke(*keys.sign_args(), str(bad))
    assert (code, out) == (65, b"")
    assert str(bad) in _error_line(err)


def test_verify_malformed_among_several_files(keys: Keys, tmp_path: Path) -> None:
    good = tmp_path / "good.eml"
    good.write_bytes(invoke(*keys.sign_args(), input=GOOD)[1])
    bad = tmp_path / "bad.eml"
    bad.write_bytes(b"\x00\x01\x02")
    code, out, err = invoke("verify", "--dns-file", str(keys.zone), str(bad), str(good))
    assert code == 65
    assert out.decode() == f"{good}: pass d={DOMAIN} s=mail a=ed25519-sha256\n"
    assert str(bad) in _error_line(err)


def test_missing_from(keys: Keys) -> None:
    message = b"To: bob@example.net\nSubject: no From\n\nbody\n"
    code, out, err = invoke(*keys.sign_args(), input=message)
    assert (code, out) == (65, b"")
    assert "From" in _error_line(err)
    # verify: unsigned, so 'none'; with a signature (From added after signing is impossible
    # to sign, so take one off instead), 'policy'
    signed = invoke(*keys.sign_args(), input=GOOD)[1]
    stripped = signed.replace(b"From: Alice <alice@example.com>\n", b"")
    code, out, _ = invoke("verify", "--dns-file", str(keys.zone), "--json", input=stripped)
    report = json.loads(out)
    assert (code, report["result"]) == (1, "policy")
    assert "0 from fields" in report["signatures"][0]["reason"]


def test_two_from_fields(keys: Keys) -> None:
    """Signing is allowed (both are signed); a verifier says policy (RFC 6376 6.1.1 and the
    contract: a message without exactly one From field)."""
    message = b"From: a@example.com\nFrom: b@example.com\nSubject: two\n\nbody\n"
    code, signed, err = invoke(*keys.sign_args(), input=message)
    assert code == 0, err
    assert signed.endswith(message)
    code, out, _ = invoke("verify", "--dns-file", str(keys.zone), "--json", input=signed)
    report = json.loads(out)
    assert (code, report["result"]) == (1, "policy")
    assert report["signatures"][0]["reason"] == "message has 2 from fields, not exactly one"


@pytest.mark.parametrize(
    "message",
    [
        b"From: J\xfcrgen <a@example.com>\nSubject: latin-1\n\nbody\n",
        b"From: a@example.com\nSubject: nul in body\n\nbo\x00dy\n",
        b"From: a@example.com\nSubject: no body at all",
        b"From: a@example.com\r\nSubject: mixed\nX-A: b\r\n\nbody\r\nline\n",
        b"From:a@example.com\nSubject:\tno space\n\n",
    ],
    ids=["8bit-not-utf8", "nul-in-body", "no-blank-line", "mixed-eol", "no-space"],
)
def test_unusual_but_valid_messages_sign_and_verify(keys: Keys, message: bytes) -> None:
    code, signed, err = invoke(*keys.sign_args(), input=message)
    assert code == 0, err
    assert signed.endswith(message)
    code, out, err = invoke("verify", "--dns-file", str(keys.zone), input=signed)
    assert (code, out.decode()) == (0, f"pass d={DOMAIN} s=mail a=ed25519-sha256\n"), err


# --------------------------------------------------------------------------- broken tags


def _edit(signed: bytes, old: bytes, new: bytes) -> bytes:
    assert old in signed
    return signed.replace(old, new, 1)


BROKEN_TAGS: dict[str, tuple[bytes, bytes, str, str]] = {
    # name -> (old, new, result word, reason fragment)
    "duplicate": (b"v=1;", b"v=1; d=example.org;", "permerror", "duplicate"),
    "no-equals": (b"v=1;", b"v=1; garbage;", "permerror", ""),
    "empty-name": (b"v=1;", b"v=1; =x;", "permerror", ""),
    "missing-d": (b" d=example.com;", b"", "permerror", "d="),
    "bad-algorithm": (b"a=ed25519-sha256", b"a=rsa-md5", "permerror", "a="),
    "bad-canon": (b"c=relaxed/relaxed", b"c=loose/relaxed", "permerror", "c="),
    "bad-base64-bh": (b"bh=", b"bh=!!!", "permerror", "bh="),
    "t-not-number": (b"v=1;", b"v=1; t=yesterday;", "permerror", "t="),
    "x-before-t": (b"v=1;", b"v=1; x=1000;", "permerror", "x= is not after t="),
    "l-longer": (b"v=1;", b"v=1; l=9999;", "permerror", "l= is longer than the body"),
    "l-not-number": (b"v=1;", b"v=1; l=-5;", "permerror", "l="),
    "q-unknown": (b"v=1;", b"v=1; q=http/well-known;", "permerror", "q="),
    "control-in-d": (b"d=example.com", b"d=exa\x1bmple.com", "permerror", ""),
    "bare-cr-in-i": (b"v=1;", b"v=1; i=a\rb@example.com;", "permerror", ""),
    "control-in-i": (b"v=1;", b"v=1; i=a\x1bb@example.com;", "permerror", ""),
}
BROKEN_TAGS_BUGS: dict[str, str] = {}


@pytest.mark.parametrize(
    ("old", "new", "word", "fragment"),
    [
        pytest.param(
            *value,
            id=name,
            marks=[pytest.mark.xfail(strict=True, reason=BROKEN_TAGS_BUGS[name])]
            if name in BROKEN_TAGS_BUGS
            else [],
        )
        for name, value in BROKEN_TAGS.items()
    ],
)
def test_verify_broken_tags(keys: Keys, old: bytes, new: bytes, word: str, fragment: str) -> None:
    signed = invoke(*keys.sign_args(), "--timestamp", "2000", input=GOOD)[1]
    broken = _edit(signed, old, new)
    code, out, err = invoke("verify", "--dns-file", str(keys.zone), "--json", input=broken)
    assert "Traceback" not in err
    report = json.loads(out)
    sig = report["signatures"][0]
    assert (code, report["result"], sig["result"]) == (1, word, word), sig
    assert fragment in sig["reason"]
    # the human report escapes what came from the message
    code, out, err = invoke("verify", "--dns-file", str(keys.zone), input=broken)
    assert code == 1 and "Traceback" not in err
    text = out.decode()
    assert text.startswith(word + " ") and text.count("\n") == 1
    assert "\x1b" not in text


def test_expired_signature_is_fail(keys: Keys) -> None:
    now = int(time.time())
    signed = invoke(
        *keys.sign_args(), "--timestamp", str(now - 7200), "--expire", "3600", input=GOOD
    )[1]
    code, out, _ = invoke("verify", "--dns-file", str(keys.zone), "--json", input=signed)
    assert (code, json.loads(out)["signatures"][0]["reason"]) == (1, "signature expired")


# --------------------------------------------------------------------------- a terminal on stdin


@pytest.mark.parametrize("command", [["sign", "-d", DOMAIN, "-s", "s", "-k", "k"], ["verify"]])
def test_terminal_stdin_exits_2_with_hint(command: list[str]) -> None:
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "dkimtool", *command],
            stdin=secondary,
            capture_output=True,
            timeout=30,
            check=False,
        )
    finally:
        os.close(secondary)
        os.close(primary)
    assert proc.returncode == 2
    assert proc.stdout == b""
    line = _error_line(proc.stderr.decode())
    assert "terminal" in line and "<" in line  # the hint shows how to pipe a message in


def test_terminal_stdin_with_dash(tmp_path: Path) -> None:
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "dkimtool", "verify", "-"],
            stdin=secondary,
            capture_output=True,
            timeout=30,
            check=False,
        )
    finally:
        os.close(secondary)
        os.close(primary)
    assert proc.returncode == 2
    _error_line(proc.stderr.decode())


def test_bad_input_never_traces_even_verbose(keys: Keys) -> None:
    result = CliResult(*_decoded(invoke(*keys.sign_args(), "-v", input=b"\x00")))
    assert_error(result, 65)


def _decoded(result: tuple[int, bytes, str]) -> tuple[int, str, str]:
    return result[0], result[1].decode("utf-8", "replace"), result[2]


def test_header_line_over_998_bytes_still_gets_signed_and_verified(tmp_path: Path) -> None:
    """RFC 5322's 998 is broken by real mail; sign and verify still work on it."""
    message = b"From: a@example.com\nX-Long: " + b"a" * 2000 + b"\n\nbody\n"
    runner = CliRunner()
    genkey = runner.invoke(cli, ["genkey", "-d", "example.com", "-s", "s", "-D", str(tmp_path)])
    assert genkey.exit_code == 0, genkey.stderr
    key = str(tmp_path / "s.private")
    signed = runner.invoke(
        cli, ["sign", "-d", "example.com", "-s", "s", "-k", key, "-H", "From:X-Long"], input=message
    )
    assert signed.exit_code == 0, signed.stderr
    verified = runner.invoke(
        cli, ["verify", "--dns-file", str(tmp_path / "s.txt")], input=signed.stdout_bytes
    )
    assert verified.exit_code == 0 and verified.stdout.startswith("pass"), verified.stdout


def test_directory_or_unreadable_file_among_several_is_66_for_that_file(
    keys: Keys, tmp_path: Path
) -> None:
    """FILE arguments are checked when read, not by click before the batch starts: a
    directory (or, below, an unreadable file) gets one error line, exit 66 (the contract's "an
    input file ... cannot be read"), and the other files are still verified or signed."""
    good = tmp_path / "good.eml"
    good.write_bytes(invoke(*keys.sign_args(), input=GOOD)[1])
    folder = tmp_path / "folder.eml"
    folder.mkdir()
    code, out, err = invoke("verify", "--dns-file", str(keys.zone), str(folder), str(good))
    assert code == 66
    assert out.decode() == f"{good}: pass d={DOMAIN} s=mail a=ed25519-sha256\n"
    assert _error_line(err) == f"dkimtool: error: {folder}: is a directory"  # named once
    plain = tmp_path / "plain.eml"
    plain.write_bytes(GOOD)
    code, _, err = invoke(*keys.sign_args(), "-o", str(tmp_path / "out"), str(folder), str(plain))
    assert code == 66
    assert _error_line(err) == f"dkimtool: error: {folder}: is a directory"
    code, _, err = invoke(
        *keys.sign_args(), "--on-error", "pass", "-o", str(tmp_path / "out2"), str(folder)
    )
    assert err == f"dkimtool: warning: {folder}: not signed: is a directory\n"
    assert (tmp_path / "out" / "plain.eml").read_bytes().startswith(b"DKIM-Signature:")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_unreadable_file_is_66_not_a_usage_error(keys: Keys) -> None:
    shared = Path(tempfile.mkdtemp())  # pytest's tmp_path sits under a 0700 directory
    try:
        shared.chmod(0o755)
        zone = shared / "zone.txt"
        zone.write_bytes(keys.zone.read_bytes())
        zone.chmod(0o644)
        secret = shared / "secret.eml"
        secret.write_bytes(GOOD)
        secret.chmod(0o600)  # root's: nobody cannot read it
        os.seteuid(pwd.getpwnam("nobody").pw_uid)  # the real uid stays root: restored below
        try:
            code, out, err = invoke("verify", "--dns-file", str(zone), str(secret))
        finally:
            os.seteuid(0)
    finally:
        shutil.rmtree(shared)
    assert (code, out) == (66, b"")
    assert _error_line(err) == f"dkimtool: error: {secret}: Permission denied"
