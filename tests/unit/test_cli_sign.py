"""``dkimtool sign`` through the CLI: output bytes, options, batches, --on-error, --json, -x.

Keys come from ``dkimtool genkey`` (once per module); every signature made here is checked by
``dkimtool verify --dns-file`` and, where it matters, by dkimpy (the reference oracle).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dkimtool.cli import cli
from tests.conftest import CliResult, RunCli, assert_error

DOMAIN = "example.com"
T = 1764014400
MESSAGE_LF = (
    b"From: Alice <alice@example.com>\n"
    b"To: Bob <bob@example.net>\n"
    b"Subject: Hello\n"
    b"Date: Mon, 24 Nov 2025 20:00:00 +0000\n"
    b"Message-ID: <sign-1@example.com>\n"
    b"\n"
    b"Hello Bob.  \n"
    b"\n"
)
MESSAGE_CRLF = MESSAGE_LF.replace(b"\n", b"\r\n")
MBOX_LINE = b"From alice@example.com Mon Nov 24 20:00:00 2025\n"


@dataclass(frozen=True)
class Keys:
    rsa: Path
    ed: Path
    zone: Path  # both genkey .txt records

    def args(self, *extra: str) -> list[str]:
        return ["sign", "-d", DOMAIN, "-s", "rsa", "-k", str(self.rsa), *extra]


def _invoke(*args: str, input: bytes | None = None) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(cli, list(args), input=input, prog_name="dkimtool")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout_bytes, result.stderr


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    directory = tmp_path_factory.mktemp("sign-keys")
    for selector, algorithm in (("rsa", "rsa"), ("ed", "ed25519")):
        code, _, err = _invoke(
            "genkey", "-d", DOMAIN, "-s", selector, "-a", algorithm, "-D", str(directory)
        )
        assert code == 0, err
    zone = directory / "keys.zone"
    zone.write_bytes((directory / "rsa.txt").read_bytes() + (directory / "ed.txt").read_bytes())
    return Keys(directory / "rsa.private", directory / "ed.private", zone)


def sign(keys: Keys, message: bytes, *extra: str) -> tuple[int, bytes, str]:
    return _invoke(*keys.args(*extra), input=message)


def verify_json(keys: Keys, message: bytes, *extra: str) -> tuple[int, dict[str, Any]]:
    code, out, err = _invoke(
        "verify", "--dns-file", str(keys.zone), "--json", *extra, input=message
    )
    assert out, err
    result: dict[str, Any] = json.loads(out)
    return code, result


def tags(field: bytes) -> dict[str, str]:
    """The tags of one DKIM-Signature field (unfolded)."""
    value = re.sub(rb"\r?\n[ \t]", b" ", field).decode().split(":", 1)[1]
    out = {}
    for item in value.split(";"):
        if item.strip():
            name, _, val = item.strip().partition("=")
            out[name.strip()] = re.sub(r"\s+", "", val)
    return out


def signed_fields(message: bytes, signed: bytes, at: int = 0) -> bytes:
    added = len(signed) - len(message)
    assert added > 0
    assert signed[:at] + signed[at + added :] == message
    return signed[at : at + added]


# --------------------------------------------------------------------------- output bytes


@pytest.mark.parametrize("message", [MESSAGE_LF, MESSAGE_CRLF], ids=["lf", "crlf"])
def test_output_is_input_with_field_prepended(keys: Keys, message: bytes) -> None:
    code, out, err = sign(keys, message, "--timestamp", str(T))
    assert (code, err) == (0, "")
    field = signed_fields(message, out)
    eol = b"\r\n" if message is MESSAGE_CRLF else b"\n"
    assert field.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com;")
    lines = field.split(eol)
    assert lines[-1] == b""
    assert all(b"\r" not in line and b"\n" not in line for line in lines)
    assert all(line[:1] in (b" ", b"\t") for line in lines[1:-1])  # folded, not broken
    assert verify_json(keys, out)[1]["result"] == "pass"


def test_mbox_from_line_stays_first_and_is_not_hashed(keys: Keys) -> None:
    message = MBOX_LINE + MESSAGE_LF
    code, out, _ = sign(keys, message, "--timestamp", str(T))
    assert code == 0
    assert out.startswith(MBOX_LINE + b"DKIM-Signature: ")
    field = signed_fields(message, out, len(MBOX_LINE))
    # The same signature as for the message without the mbox line: it is not hashed.
    assert field == signed_fields(MESSAGE_LF, sign(keys, MESSAGE_LF, "--timestamp", str(T))[1])
    assert verify_json(keys, out)[1]["result"] == "pass"


def test_message_without_blank_line_is_all_header(keys: Keys) -> None:
    message = b"From: a@example.com\nSubject: no body"
    code, out, _ = sign(keys, message)
    assert code == 0
    field = signed_fields(message, out)
    # Empty body: relaxed hashes to the SHA-256 of the empty string.
    assert tags(field)["bh"] == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    assert verify_json(keys, out)[1]["result"] == "pass"


def test_timestamp_reproducible(keys: Keys) -> None:
    extra = ("-s", "ed", "-k", str(keys.ed), "--timestamp", str(T))
    first = sign(keys, MESSAGE_LF, *extra)
    second = sign(keys, MESSAGE_LF, *extra)
    assert first[0] == 0
    assert first[1] == second[1]
    fields = signed_fields(MESSAGE_LF, first[1])
    assert fields.count(b"DKIM-Signature:") == 2
    assert fields.count(b" t=1764014400;") == 2
    other = sign(keys, MESSAGE_LF, *extra[:-1], str(T + 1))[1]
    assert other != first[1]


def test_timestamp_defaults_to_now(keys: Keys) -> None:
    import time

    before = int(time.time())
    code, out, _ = sign(keys, MESSAGE_LF)
    assert code == 0
    assert before <= int(tags(signed_fields(MESSAGE_LF, out))["t"]) <= int(time.time()) + 1


def test_header_only(keys: Keys) -> None:
    code, out, _ = sign(keys, MESSAGE_CRLF, "--header-only", "--timestamp", str(T))
    assert code == 0
    full = sign(keys, MESSAGE_CRLF, "--timestamp", str(T))[1]
    assert out == signed_fields(MESSAGE_CRLF, full)
    assert out + MESSAGE_CRLF == full
    assert out.count(b"DKIM-Signature:") == 1


def test_dual_signing_one_pass(keys: Keys) -> None:
    code, out, _ = sign(keys, MESSAGE_LF, "-s", "ed", "-k", str(keys.ed))
    assert code == 0
    fields = signed_fields(MESSAGE_LF, out)
    first, second = fields.split(b"DKIM-Signature:")[1:]
    assert tags(b"x:" + first)["a"] == "rsa-sha256" and tags(b"x:" + first)["s"] == "rsa"
    assert tags(b"x:" + second)["a"] == "ed25519-sha256" and tags(b"x:" + second)["s"] == "ed"
    # one body hash for both (same canonicalization, same hash)
    assert tags(b"x:" + first)["bh"] == tags(b"x:" + second)["bh"]
    code, report = verify_json(keys, out)
    assert code == 0
    assert [s["result"] for s in report["signatures"]] == ["pass", "pass"]


# --------------------------------------------------------------------------- tag options


def test_canonicalization_word_sets_header_only(keys: Keys) -> None:
    for value, expected in (
        ("simple", "simple/simple"),
        ("relaxed", "relaxed/simple"),
        ("relaxed/relaxed", "relaxed/relaxed"),
        ("Simple/Relaxed", "simple/relaxed"),
    ):
        code, out, _ = sign(keys, MESSAGE_LF, "-c", value, "--header-only")
        assert code == 0
        assert tags(out)["c"] == expected, value
    assert_error(CliResult(*_decode(sign(keys, MESSAGE_LF, "-c", "loose"))), 2, "loose")


def _decode(result: tuple[int, bytes, str]) -> tuple[int, str, str]:
    return result[0], result[1].decode("utf-8", "replace"), result[2]


def test_headers_and_oversign(keys: Keys) -> None:
    code, out, _ = sign(keys, MESSAGE_LF, "--header-only")
    assert code == 0
    h = tags(out)["h"].split(":")
    assert h.count("From") == 2 and h.count("Subject") == 2  # oversigned by default
    assert "Reply-To" in h  # absent but oversigned: nobody can add one
    assert "Received" not in h
    code, out, _ = sign(keys, MESSAGE_LF, "--header-only", "-H", "Subject:Date", "--oversign", "")
    assert code == 0
    assert tags(out)["h"] == "From:Subject:Date"  # From always, others only if present


@pytest.mark.parametrize("seconds", [1, 86400])
def test_expire(keys: Keys, seconds: int) -> None:
    code, out, _ = sign(keys, MESSAGE_LF, "--header-only", "--expire", str(seconds))
    assert code == 0
    t = tags(out)
    assert int(t["x"]) == int(t["t"]) + seconds


def test_expire_in_the_past_fails_verification(keys: Keys) -> None:
    code, out, _ = sign(keys, MESSAGE_LF, "--timestamp", str(T), "--expire", "60")
    assert code == 0
    code, report = verify_json(keys, out)
    assert (code, report["result"]) == (1, "fail")
    assert report["signatures"][0]["reason"] == "signature expired"
    assert report["signatures"][0]["expiration"] == T + 60
    assert_error(CliResult(*_decode(sign(keys, MESSAGE_LF, "--expire", "0"))), 2)


def test_body_length_warns_and_adds_l(keys: Keys) -> None:
    code, out, err = sign(keys, MESSAGE_LF, "-l")
    assert code == 0
    assert err.splitlines() == [
        "dkimtool: warning: l= lets others append content to the signed message"
    ]
    field = signed_fields(MESSAGE_LF, out)
    assert tags(field)["l"] == str(len(b"Hello Bob.\r\n"))  # relaxed: trailing WSP, blank line
    code, report = verify_json(keys, out + b"appended\n")
    assert report["result"] == "pass"  # exactly the risk the warning names
    assert report["signatures"][0]["body_length"] == 12


def test_identity(keys: Keys) -> None:
    code, out, _ = sign(keys, MESSAGE_LF, "--header-only", "-i", "alice@mail.example.com")
    assert code == 0
    assert tags(out)["i"] == "alice@mail.example.com"
    code, out, _ = sign(keys, MESSAGE_LF, "--header-only", "-i", "@example.com")
    assert (code, tags(out)["i"]) == (0, "@example.com")
    for bad in ("bob@example.net", "bob@notexample.com", "no-at-sign"):
        assert_error(CliResult(*_decode(sign(keys, MESSAGE_LF, "-i", bad))), 2, bad)


def test_algorithm_must_fit_key(keys: Keys) -> None:
    result = CliResult(*_decode(sign(keys, MESSAGE_LF, "-a", "ed25519-sha256")))
    assert_error(result, 2, "ed25519-sha256")
    args = ["sign", "-d", DOMAIN, "-s", "ed", "-k", str(keys.ed), "-a", "rsa-sha256"]
    assert_error(CliResult(*_decode(_invoke(*args, input=MESSAGE_LF))), 2, "rsa-sha256")
    # once per -k, in order
    code, out, _ = sign(
        keys, MESSAGE_LF, "-s", "ed", "-k", str(keys.ed), "-a", "rsa-sha256", "-a", "ed25519-sha256"
    )
    assert code == 0, out
    # two -a for one -k: neither once nor once per key
    result = CliResult(*_decode(sign(keys, MESSAGE_LF, "-a", "rsa-sha256", "-a", "rsa-sha256")))
    assert_error(result, 2)


def test_selector_key_counts_must_match(keys: Keys) -> None:
    args = ["sign", "-d", DOMAIN, "-s", "rsa", "-s", "ed", "-k", str(keys.rsa)]
    assert_error(CliResult(*_decode(_invoke(*args, input=MESSAGE_LF))), 2, "selector")
    args = ["sign", "-d", DOMAIN, "-s", "rsa", "-k", str(keys.rsa), "-k", str(keys.ed)]
    assert_error(CliResult(*_decode(_invoke(*args, input=MESSAGE_LF))), 2)


def test_rsa_sha1_needs_allow_sha1(keys: Keys) -> None:
    assert_error(CliResult(*_decode(sign(keys, MESSAGE_LF, "-a", "rsa-sha1"))), 2, "--allow-sha1")
    code, out, err = sign(keys, MESSAGE_LF, "-a", "rsa-sha1", "--allow-sha1", "--header-only")
    assert code == 0
    assert tags(out)["a"] == "rsa-sha1"
    assert len(tags(out)["bh"]) == 28  # a SHA-1 body hash
    assert err.count("dkimtool: warning: rsa-sha1") == 1
    code, signed, _ = sign(keys, MESSAGE_LF, "-a", "rsa-sha1", "--allow-sha1")
    assert verify_json(keys, signed)[1]["result"] == "policy"
    assert verify_json(keys, signed, "--allow-sha1")[1]["result"] == "pass"


def test_missing_domain_selector_key(keys: Keys) -> None:
    result = _decode(_invoke("sign", "-s", "rsa", "-k", str(keys.rsa), input=MESSAGE_LF))
    assert result[0] == 2 and result[1] == "" and "-d" in result[2]
    result = _decode(_invoke("sign", "-d", DOMAIN, input=MESSAGE_LF))
    assert result[0] == 2 and result[1] == ""


def test_signature_with_same_d_and_s_already_present_warns(keys: Keys) -> None:
    code, once, _ = sign(keys, MESSAGE_LF)
    code, twice, err = sign(keys, once)
    assert code == 0
    assert err.splitlines() == [
        "dkimtool: warning: a DKIM-Signature for d=example.com s=rsa is already present"
    ]
    assert signed_fields(once, twice).startswith(b"DKIM-Signature:")
    # another selector: no warning
    args = ["sign", "-d", DOMAIN, "-s", "ed", "-k", str(keys.ed)]
    assert _invoke(*args, input=once)[2] == ""


# --------------------------------------------------------------------------- key files


def test_key_writable_by_others_is_refused(keys: Keys, tmp_path: Path) -> None:
    key = tmp_path / "k.private"
    key.write_bytes(keys.rsa.read_bytes())
    key.chmod(0o602)
    args = ["sign", "-d", DOMAIN, "-s", "rsa", "-k", str(key)]
    result = CliResult(*_decode(_invoke(*args, input=MESSAGE_LF)))
    assert_error(result, 66, "writable by others")


def test_key_in_world_writable_directory_is_refused(keys: Keys, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    key = shared / "k.private"
    key.write_bytes(keys.rsa.read_bytes())
    key.chmod(0o600)
    shared.chmod(0o777)
    args = ["sign", "-d", DOMAIN, "-s", "rsa", "-k", str(key)]
    assert_error(CliResult(*_decode(_invoke(*args, input=MESSAGE_LF))), 66)
    shared.chmod(0o1777)  # sticky (like /tmp): allowed
    assert _invoke(*args, input=MESSAGE_LF)[0] == 0


def test_key_readable_by_others_warns(keys: Keys, tmp_path: Path) -> None:
    key = tmp_path / "k.private"
    key.write_bytes(keys.rsa.read_bytes())
    key.chmod(0o644)
    code, out, err = _invoke("sign", "-d", DOMAIN, "-s", "rsa", "-k", str(key), input=MESSAGE_LF)
    assert code == 0
    assert out.endswith(MESSAGE_LF)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dkimtool: warning: ")
    assert "readable" in lines[0]


def test_missing_key_file(keys: Keys, tmp_path: Path) -> None:
    args = ["sign", "-d", DOMAIN, "-s", "rsa", "-k", str(tmp_path / "nope.private")]
    assert_error(CliResult(*_decode(_invoke(*args, input=MESSAGE_LF))), 66)


def test_public_key_file_is_not_a_signing_key(keys: Keys, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    private = serialization.load_pem_private_key(keys.rsa.read_bytes(), password=None)
    public = tmp_path / "pub.pem"
    public.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    public.chmod(0o600)
    args = ["sign", "-d", DOMAIN, "-s", "rsa", "-k", str(public)]
    assert_error(CliResult(*_decode(_invoke(*args, input=MESSAGE_LF))), 65, "public key")


# --------------------------------------------------------------------------- --on-error


NO_FROM = b"To: bob@example.net\nSubject: no From\n\nbody\n"


def test_on_error_fail_is_default(keys: Keys) -> None:
    for extra in ((), ("--on-error", "fail")):
        assert_error(CliResult(*_decode(sign(keys, NO_FROM, *extra))), 65, "From")


def test_on_error_pass_prints_input_unchanged(keys: Keys) -> None:
    code, out, err = sign(keys, NO_FROM, "--on-error", "pass")
    assert code == 0
    assert out == NO_FROM
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dkimtool: warning: ")
    assert "not signed" in lines[0]


def test_on_error_tempfail(keys: Keys) -> None:
    code, out, err = sign(keys, NO_FROM, "--on-error", "tempfail")
    assert (code, out) == (75, b"")
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("dkimtool: error:")]


@pytest.mark.parametrize(
    ("mode", "code"), [("fail", 66), ("pass", 0), ("tempfail", 75)], ids=["fail", "pass", "temp"]
)
def test_on_error_covers_key_problems(keys: Keys, tmp_path: Path, mode: str, code: int) -> None:
    args = ["sign", "-d", DOMAIN, "-s", "rsa", "-k", str(tmp_path / "missing.private")]
    result = _invoke(*args, "--on-error", mode, input=MESSAGE_CRLF)
    assert result[0] == code
    assert result[1] == (MESSAGE_CRLF if mode == "pass" else b"")
    assert "Traceback" not in result[2]


# --------------------------------------------------------------------------- --json


def test_json_shape(keys: Keys) -> None:
    code, out, _ = sign(keys, MESSAGE_CRLF, "--json", "-s", "ed", "-k", str(keys.ed))
    assert code == 0
    lines = out.decode().splitlines()
    assert len(lines) == 1  # the JSON object only, not the message
    obj = json.loads(lines[0])
    assert set(obj) == {"file", "output", "ok", "error", "signatures"}
    assert (obj["file"], obj["output"], obj["ok"], obj["error"]) == ("-", None, True, None)
    assert [set(s) for s in obj["signatures"]] == [
        {"domain", "selector", "algorithm", "header"}
    ] * 2
    rsa_sig, ed_sig = obj["signatures"]
    assert (rsa_sig["domain"], rsa_sig["selector"], rsa_sig["algorithm"]) == (
        DOMAIN,
        "rsa",
        "rsa-sha256",
    )
    assert ed_sig["algorithm"] == "ed25519-sha256"
    header_only = sign(keys, MESSAGE_CRLF, "--header-only", "-s", "ed", "-k", str(keys.ed))[1]
    # the same fields --header-only prints (b= differs only if t= does)
    joined = "\r\n".join(s["header"] for s in obj["signatures"]) + "\r\n"
    assert re.sub(r"t=\d+", "", joined) == re.sub(r"t=\d+", "", header_only.decode())


def test_json_error_shape(keys: Keys) -> None:
    code, out, err = sign(keys, NO_FROM, "--json")
    assert code == 65
    obj = json.loads(out)
    assert obj["ok"] is False and obj["signatures"] == []
    assert "From" in obj["error"]
    assert err.count("dkimtool: error:") == 1


def test_several_files_need_o_or_header_only_json(keys: Keys, tmp_path: Path) -> None:
    a, b = tmp_path / "a.eml", tmp_path / "b.eml"
    a.write_bytes(MESSAGE_LF)
    b.write_bytes(NO_FROM)
    result = _decode(sign(keys, b"", str(a), str(b)))
    assert result[0] == 2 and result[1] == ""
    code, out, err = sign(keys, b"", "--header-only", "--json", str(a), str(b))
    assert code == 65  # the first failure's code
    objs = [json.loads(line) for line in out.decode().splitlines()]
    assert [(o["file"], o["ok"]) for o in objs] == [(str(a), True), (str(b), False)]
    assert err.count("dkimtool: error:") == 1 and str(b) in err


# --------------------------------------------------------------------------- -o DIR


@pytest.fixture
def inputs(tmp_path: Path) -> list[Path]:
    src = tmp_path / "in"
    src.mkdir()
    paths = []
    for name, data in (("one.eml", MESSAGE_LF), ("two.eml", MESSAGE_CRLF)):
        path = src / name
        path.write_bytes(data)
        paths.append(path)
    return paths


def test_output_dir(keys: Keys, tmp_path: Path, inputs: list[Path]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    code, stdout, err = sign(keys, b"", "-o", str(out), *map(str, inputs))
    assert (code, stdout, err) == (0, b"", "")
    assert sorted(os.listdir(out)) == ["one.eml", "two.eml"]  # no temporary files left
    for path in inputs:
        signed = (out / path.name).read_bytes()
        signed_fields(path.read_bytes(), signed)
        assert verify_json(keys, signed)[1]["result"] == "pass"
    # again: the outputs exist now
    code, stdout, err = sign(keys, b"", "-o", str(out), *map(str, inputs))
    assert code == 73 and stdout == b""
    assert err.startswith("dkimtool: error:")
    code, _, _ = sign(keys, b"", "-o", str(out), "--force", *map(str, inputs))
    assert code == 0
    assert sorted(os.listdir(out)) == ["one.eml", "two.eml"]


def test_output_dir_json(keys: Keys, tmp_path: Path, inputs: list[Path]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    code, stdout, _ = sign(keys, b"", "-o", str(out), "--json", *map(str, inputs))
    assert code == 0
    objs = [json.loads(line) for line in stdout.decode().splitlines()]
    assert [o["output"] for o in objs] == [str(out / "one.eml"), str(out / "two.eml")]
    assert all(o["ok"] for o in objs)


def test_output_dir_same_names_refused_before_signing(
    keys: Keys, tmp_path: Path, inputs: list[Path]
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "one.eml").write_bytes(MESSAGE_LF)
    out = tmp_path / "out"
    out.mkdir()
    result = _decode(sign(keys, b"", "-o", str(out), str(inputs[0]), str(other / "one.eml")))
    assert_error(CliResult(*result), 2, "one.eml")
    assert os.listdir(out) == []


def test_output_dir_is_input_dir_refused(keys: Keys, inputs: list[Path]) -> None:
    before = [p.read_bytes() for p in inputs]
    result = _decode(sign(keys, b"", "-o", str(inputs[0].parent), *map(str, inputs)))
    assert result[0] == 2
    assert "Traceback" not in result[2]
    # even --force never overwrites an input
    result = _decode(sign(keys, b"", "-o", str(inputs[0].parent), "--force", *map(str, inputs)))
    assert result[0] == 2
    assert [p.read_bytes() for p in inputs] == before


def test_output_dir_symlink_not_followed(keys: Keys, tmp_path: Path, inputs: list[Path]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    (out / "one.eml").symlink_to(victim)
    code, stdout, err = sign(keys, b"", "-o", str(out), str(inputs[0]))
    assert code in (2, 73) and stdout == b""
    assert err.startswith("dkimtool: error: ")
    assert victim.read_bytes() == b"precious\n"
    code, _, _ = sign(keys, b"", "-o", str(out), "--force", str(inputs[0]))
    assert victim.read_bytes() == b"precious\n"  # the link is replaced, never written through
    if code == 0:
        assert not (out / "one.eml").is_symlink()


def test_output_dir_missing_is_created(keys: Keys, tmp_path: Path, inputs: list[Path]) -> None:
    out = tmp_path / "new" / "dir"
    code, stdout, err = sign(keys, b"", "-o", str(out), *map(str, inputs))
    assert code == 0 and stdout == b"", err
    assert out.stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in inputs)


def test_output_dir_that_cannot_be_created(keys: Keys, inputs: list[Path]) -> None:
    code, stdout, err = sign(keys, b"", "-o", "/proc/nowhere", *map(str, inputs))
    assert code == 73 and stdout == b""
    assert "Traceback" not in err
    assert err.startswith("dkimtool: error: ")


def test_identity_outside_domain_is_a_usage_error_even_with_on_error_pass(keys: Keys) -> None:
    code, stdout, err = sign(keys, MESSAGE_LF, "-i", "a@elsewhere.example", "--on-error", "pass")
    assert code == 2 and stdout == b""
    assert err.startswith("dkimtool: error: ")


def test_output_dir_needs_files(keys: Keys, tmp_path: Path) -> None:
    result = _decode(sign(keys, MESSAGE_LF, "-o", str(tmp_path)))
    assert_error(CliResult(*result), 2)


def test_output_dir_failure_keeps_old_output(
    keys: Keys, tmp_path: Path, inputs: list[Path]
) -> None:
    bad = inputs[1]
    bad.write_bytes(NO_FROM)
    out = tmp_path / "out"
    out.mkdir()
    (out / bad.name).write_bytes(b"old output\n")
    code, stdout, err = sign(keys, b"", "-o", str(out), "--force", *map(str, inputs))
    assert code == 65 and stdout == b""
    assert err.count("dkimtool: error:") == 1
    assert (out / bad.name).read_bytes() == b"old output\n"  # not replaced by anything
    assert verify_json(keys, (out / inputs[0].name).read_bytes())[1]["result"] == "pass"
    assert sorted(os.listdir(out)) == ["one.eml", "two.eml"]


def test_output_dir_on_error_pass_writes_input(
    keys: Keys, tmp_path: Path, inputs: list[Path]
) -> None:
    inputs[1].write_bytes(NO_FROM)
    out = tmp_path / "out"
    out.mkdir()
    code, stdout, _ = sign(keys, b"", "-o", str(out), "--on-error", "pass", *map(str, inputs))
    assert (code, stdout) == (0, b"")
    assert (out / "two.eml").read_bytes() == NO_FROM


# --------------------------------------------------------------------------- -x config


def _config(tmp_path: Path, keys: Keys, *lines: str) -> Path:
    key = tmp_path / "conf.private"
    key.write_bytes(keys.rsa.read_bytes())
    key.chmod(0o600)
    conf = tmp_path / "dkim.conf"
    body = [
        "# a classic dkim-filter configuration",
        "Domain            example.com",
        "Selector          rsa",
        "KeyFile           conf.private",  # relative to the config file
        "Canonicalization  simple/relaxed",
        "Syslog            yes",
        *lines,
    ]
    conf.write_text("\n".join(body) + "\n")
    return conf


def test_config_file(keys: Keys, tmp_path: Path, run_cli: RunCli) -> None:
    conf = _config(tmp_path, keys, "SignatureAlgorithm rsa-sha1")
    result = run_cli("sign", "-x", str(conf), "--header-only", input=MESSAGE_LF)
    assert result.code == 0
    t = tags(result.stdout.encode())
    assert (t["d"], t["s"], t["c"], t["a"]) == (
        "example.com",
        "rsa",
        "simple/relaxed",
        "rsa-sha256",
    )
    warnings = result.stderr.splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("dkimtool: warning: ")
    assert "rsa-sha1" in warnings[0]
    # --allow-sha1 keeps the configured algorithm; the command line overrides the file
    result = run_cli(
        "sign", "-x", str(conf), "--allow-sha1", "-c", "relaxed", "--header-only", input=MESSAGE_LF
    )
    assert result.code == 0
    t = tags(result.stdout.encode())
    assert (t["a"], t["c"]) == ("rsa-sha1", "relaxed/simple")


def test_config_file_unknown_key(keys: Keys, tmp_path: Path) -> None:
    conf = _config(tmp_path, keys, "NoSuchKey yes")
    result = _decode(_invoke("sign", "-x", str(conf), input=MESSAGE_LF))
    line = assert_error(CliResult(*result), 78, str(conf))
    assert "NoSuchKey" in line
