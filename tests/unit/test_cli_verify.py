"""``dkimtool verify`` through the CLI: every result word, exit codes, policy options, several
files, ``--authres`` and the ``--dns-file`` rules.

Messages are signed by ``dkimtool sign`` with keys from ``dkimtool genkey`` (once per module);
broken signatures are made by editing a good one.  Temporary DNS failures come from a
``SilentServer`` (a local socket that never answers).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dkimtool.cli import cli
from tests.conftest import CliResult, assert_error
from tests.dnsservers import SilentServer

DOMAIN = "example.com"
NOW = int(time.time())
MESSAGE = (
    b"From: Alice <alice@example.com>\r\n"
    b"To: Bob <bob@example.net>\r\n"
    b"Subject: Verify me\r\n"
    b"Date: Mon, 24 Nov 2025 20:00:00 +0000\r\n"
    b"Message-ID: <verify-1@example.com>\r\n"
    b"\r\n"
    b"Hello Bob.\r\n"
)


def invoke(*args: str, input: bytes | None = None) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(cli, list(args), input=input, prog_name="dkimtool")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout_bytes, result.stderr


@dataclass(frozen=True)
class Keys:
    directory: Path
    zone: Path  # the genkey records of every key (relative owners)
    values: dict[str, str]  # selector -> TXT value

    def key(self, selector: str) -> Path:
        return self.directory / f"{selector}.private"

    def sign(self, message: bytes, selector: str = "rsa", *extra: str) -> bytes:
        args = ["sign", "-d", DOMAIN, "-s", selector, "-k", str(self.key(selector)), *extra]
        code, out, err = invoke(*args, input=message)
        assert code == 0, err
        return out

    def zone_with(self, tmp_path: Path, text: str) -> Path:
        path = tmp_path / "custom.zone"
        path.write_text(text)
        return path


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    directory = tmp_path_factory.mktemp("verify-keys")
    values = {}
    for selector, extra in (
        ("rsa", ("-a", "rsa")),
        ("small", ("-a", "rsa", "-b", "1024")),
        ("ed", ("-a", "ed25519")),
        ("test", ("-a", "ed25519", "-t")),
    ):
        code, out, err = invoke(
            "genkey", "-d", DOMAIN, "-s", selector, "-D", str(directory), "--json", *extra
        )
        assert code == 0, err
        values[selector] = json.loads(out)["value"]
    zone = directory / "all.zone"
    zone.write_bytes(b"".join(p.read_bytes() for p in sorted(directory.glob("*.txt"))))
    return Keys(directory, zone, values)


def verify(keys: Keys, message: bytes, *extra: str, zone: Path | None = None) -> CliResult:
    code, out, err = invoke("verify", "--dns-file", str(zone or keys.zone), *extra, input=message)
    return CliResult(code, out.decode("utf-8"), err)


def verify_json(
    keys: Keys, message: bytes, *extra: str, zone: Path | None = None
) -> tuple[int, dict[str, Any]]:
    result = verify(keys, message, "--json", *extra, zone=zone)
    assert "Traceback" not in result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return result.code, report


def edit_signature(signed: bytes, old: bytes, new: bytes) -> bytes:
    """Replace OLD by NEW inside the topmost DKIM-Signature field only."""
    end = signed.index(b"\r\n", signed.index(b"b="))
    head = signed[:end]
    assert old in head, old
    return head.replace(old, new, 1) + signed[end:]


# --------------------------------------------------------------------------- result words


Case = Callable[[Keys, Path], tuple[bytes, Path | None, tuple[str, ...]]]


def _good(keys: Keys, tmp: Path) -> tuple[bytes, Path | None, tuple[str, ...]]:
    return keys.sign(MESSAGE), None, ()


def _body(keys: Keys, tmp: Path) -> tuple[bytes, Path | None, tuple[str, ...]]:
    return keys.sign(MESSAGE).replace(b"Hello Bob.", b"Hello Eve."), None, ()


def _header(keys: Keys, tmp: Path) -> tuple[bytes, Path | None, tuple[str, ...]]:
    return keys.sign(MESSAGE).replace(b"Subject: Verify", b"Subject: Verity"), None, ()


def _revoked(keys: Keys, tmp: Path) -> tuple[bytes, Path | None, tuple[str, ...]]:
    return keys.sign(MESSAGE), keys.zone_with(tmp, 'rsa._domainkey IN TXT "v=DKIM1; p="\n'), ()


def _expired(keys: Keys, tmp: Path) -> tuple[bytes, Path | None, tuple[str, ...]]:
    signed = keys.sign(MESSAGE, "rsa", "--timestamp", str(NOW - 4000), "--expire", "3600")
    return signed, None, ()


def _dup_tag(keys: Keys, tmp: Path) -> tuple[bytes, Path | None, tuple[str, ...]]:
    return edit_signature(keys.sign(MESSAGE), b"v=1;", b"v=1; s=other;"), None, ()


def _bad_version(keys: Keys, tmp: Path) -> tuple[bytes, Path | None, tuple[str, ...]]:
    return edit_signature(keys.sign(MESSAGE), b"v=1;", b"v=2;"), None, ()


def _x_before_t(keys: Keys, tmp: Path) -> tuple[bytes, Path | None, tuple[str, ...]]:
    return edit_signature(keys.sign(MESSAGE), b"v=1;", b"v=1; x=5;"), None, ()


def _no_from_in_h(keys: Keys, tmp: Path) -> tuple[bytes, Path | None, tuple[str, ...]]:
    signed = keys.sign(MESSAGE, "rsa", "--oversign", "")
    return edit_signature(signed, b"h=From:", b"h="), None, ()


def _i_outside(keys: Keys, tmp: Path) -> tuple[bytes, Path | None, tuple[str, ...]]:
    return edit_signature(keys.sign(MESSAGE), b"v=1;", b"v=1; i=@evil.example;"), None, ()


def _no_key(keys: Keys, tmp: Path) -> tuple[bytes, Path | None, tuple[str, ...]]:
    return keys.sign(MESSAGE), keys.zone_with(tmp, 'other._domainkey IN TXT "v=DKIM1; p="\n'), ()


def _key_type(keys: Keys, tmp: Path) -> tuple[bytes, Path | None, tuple[str, ...]]:
    value = keys.values["rsa"].replace("k=rsa", "k=ed25519")
    return keys.sign(MESSAGE), keys.zone_with(tmp, f"rsa._domainkey IN TXT {_txt(value)}\n"), ()


def _key_service(keys: Keys, tmp: Path) -> tuple[bytes, Path | None, tuple[str, ...]]:
    value = keys.values["rsa"].replace("k=rsa;", "k=rsa; s=tlsrpt;")
    return keys.sign(MESSAGE), keys.zone_with(tmp, f"rsa._domainkey IN TXT {_txt(value)}\n"), ()


def _malformed_key(keys: Keys, tmp: Path) -> tuple[bytes, Path | None, tuple[str, ...]]:
    zone = keys.zone_with(tmp, 'rsa._domainkey IN TXT "v=DKIM1; k=rsa; p=!!notbase64!!"\n')
    return keys.sign(MESSAGE), zone, ()


def _l_too_long(keys: Keys, tmp: Path) -> tuple[bytes, Path | None, tuple[str, ...]]:
    return keys.sign(MESSAGE, "rsa", "-l").replace(b"Hello Bob.\r\n", b"Hi\r\n"), None, ()


def _small_key(keys: Keys, tmp: Path) -> tuple[bytes, Path | None, tuple[str, ...]]:
    return keys.sign(MESSAGE, "small"), None, ("--min-key-bits", "2048")


def _sha1(keys: Keys, tmp: Path) -> tuple[bytes, Path | None, tuple[str, ...]]:
    return keys.sign(MESSAGE, "rsa", "-a", "rsa-sha1", "--allow-sha1"), None, ()


def _strict_l(keys: Keys, tmp: Path) -> tuple[bytes, Path | None, tuple[str, ...]]:
    return keys.sign(MESSAGE, "rsa", "-l") + b"P.S. added\r\n", None, ("--strict-body-length",)


def _two_from(keys: Keys, tmp: Path) -> tuple[bytes, Path | None, tuple[str, ...]]:
    signed = keys.sign(MESSAGE)
    return signed.replace(b"To: Bob", b"From: mallory@example.net\r\nTo: Bob"), None, ()


def _none(keys: Keys, tmp: Path) -> tuple[bytes, Path | None, tuple[str, ...]]:
    return MESSAGE, None, ()


WORDS: list[tuple[str, Case, str, str, int]] = [
    ("pass", _good, "pass", "", 0),
    ("body", _body, "fail", "body hash did not verify", 1),
    ("header", _header, "fail", "signature did not verify", 1),
    ("revoked", _revoked, "fail", "key revoked", 1),
    ("expired", _expired, "fail", "signature expired", 1),
    ("duplicate-tag", _dup_tag, "permerror", "duplicate tag s=", 1),
    ("bad-version", _bad_version, "permerror", "v=", 1),
    ("x-before-t", _x_before_t, "permerror", "x= is not after t=", 1),
    ("h-without-from", _no_from_in_h, "permerror", "from", 1),
    ("i-outside-d", _i_outside, "permerror", "i= is not in d=", 1),
    ("no-key", _no_key, "permerror", "no key record", 1),
    ("key-type", _key_type, "permerror", "k=ed25519", 1),
    ("key-service", _key_service, "permerror", "key s= excludes email", 1),
    ("malformed-key", _malformed_key, "permerror", "malformed key record", 1),
    ("l-too-long", _l_too_long, "permerror", "l= is longer than the body", 1),
    ("small-key", _small_key, "policy", "key too small (1024 bits < 2048)", 1),
    ("sha1", _sha1, "policy", "rsa-sha1 not allowed", 1),
    ("strict-l", _strict_l, "policy", "l= leaves 12 body bytes unsigned", 1),
    ("two-from", _two_from, "policy", "2 from fields", 1),
]


@pytest.mark.parametrize(
    ("build", "word", "reason", "code"),
    [pytest.param(b, w, r, c, id=name) for name, b, w, r, c in WORDS],
)
def test_result_words(
    keys: Keys, tmp_path: Path, build: Case, word: str, reason: str, code: int
) -> None:
    message, zone, extra = build(keys, tmp_path)
    exit_code, report = verify_json(keys, message, *extra, zone=zone)
    sig = report["signatures"][0]
    assert (exit_code, report["result"], sig["result"]) == (code, word, word), sig
    assert reason.lower() in sig["reason"].lower() if reason else sig["reason"] == ""
    # the human report: one line, RESULT d= s= a=, and ': REASON' unless pass
    human = verify(keys, message, *extra, zone=zone)
    assert human.code == code
    line = human.stdout.splitlines()[0]
    assert line.startswith(f"{word} d={DOMAIN} s=")
    assert (": " in line) == (word != "pass")
    assert "Traceback" not in human.stderr


def test_none(keys: Keys) -> None:
    code, report = verify_json(keys, MESSAGE)
    assert (code, report) == (1, {"result": "none", "signatures": []})
    result = verify(keys, MESSAGE)
    assert (result.code, result.stdout) == (1, "none: no DKIM-Signature\n")


def test_neutral_past_max_signatures(keys: Keys) -> None:
    signed = keys.sign(keys.sign(MESSAGE, "rsa"), "ed")  # ed on top
    code, report = verify_json(keys, signed, "--max-signatures", "1")
    assert (code, report["result"]) == (0, "pass")
    assert [(s["selector"], s["result"], s["reason"]) for s in report["signatures"]] == [
        ("ed", "pass", ""),
        ("rsa", "neutral", "not evaluated"),
    ]
    code, report = verify_json(keys, signed)
    assert [s["result"] for s in report["signatures"]] == ["pass", "pass"]
    assert invoke("verify", "--max-signatures", "0", input=signed)[0] == 2


def test_temperror_from_a_silent_server(keys: Keys) -> None:
    signed = keys.sign(MESSAGE)
    with SilentServer() as server:
        started = time.monotonic()
        code, out, err = invoke(
            "verify",
            "--nameserver",
            f"127.0.0.1:{server.port}",
            "--timeout",
            "1",
            "--json",
            input=signed,
        )
        elapsed = time.monotonic() - started
    assert code == 75, err
    report = json.loads(out)
    assert report["result"] == "temperror"
    assert report["signatures"][0]["result"] == "temperror"
    assert elapsed < 2 * 1 + 1.5  # one message's lookups stop after 2 x --timeout


def test_overall_order(keys: Keys, tmp_path: Path) -> None:
    """Nothing passes: the first of temperror, policy, fail, permerror present."""
    fail = keys.sign(MESSAGE, "rsa").replace(b"Hello Bob.", b"Hello Eve.")
    policy_on_top = keys.sign(fail, "rsa", "-a", "rsa-sha1", "--allow-sha1")
    code, report = verify_json(keys, policy_on_top)
    words = [s["result"] for s in report["signatures"]]
    assert words == ["policy", "fail"]
    assert (code, report["result"]) == (1, "policy")
    permerror_on_top = edit_signature(keys.sign(fail, "ed"), b"v=1;", b"v=1; x=1;")
    code, report = verify_json(keys, permerror_on_top)
    assert [s["result"] for s in report["signatures"]] == ["permerror", "fail"]
    assert report["result"] == "fail"
    # one good signature among bad ones: pass
    good_below = keys.sign(keys.sign(MESSAGE, "ed").replace(b"Hello Bob.", b"Hello Eve."), "rsa")
    code, report = verify_json(keys, good_below)
    assert (code, report["result"]) == (0, "pass")
    assert [s["result"] for s in report["signatures"]] == ["pass", "fail"]


def test_testing_mode_is_reported_not_a_verdict(keys: Keys) -> None:
    signed = keys.sign(MESSAGE, "test")
    code, report = verify_json(keys, signed)
    assert (code, report["result"]) == (0, "pass")
    assert report["signatures"][0]["testing"] is True
    assert verify(keys, signed).stdout == f"pass d={DOMAIN} s=test a=ed25519-sha256 (testing)\n"
    assert verify_json(keys, keys.sign(MESSAGE, "ed"))[1]["signatures"][0]["testing"] is False


def test_json_shape(keys: Keys) -> None:
    signed = keys.sign(MESSAGE, "rsa", "-i", "alice@mail.example.com", "-l", "--timestamp", "7")
    code, report = verify_json(keys, signed)
    assert code == 0
    assert set(report) == {"result", "signatures"}
    sig = report["signatures"][0]
    assert set(sig) == {
        "result",
        "reason",
        "domain",
        "selector",
        "algorithm",
        "canonicalization",
        "identity",
        "key_bits",
        "testing",
        "signed_headers",
        "body_length",
        "timestamp",
        "expiration",
    }
    assert sig["canonicalization"] == "relaxed/relaxed"
    assert sig["identity"] == "alice@mail.example.com"
    assert sig["key_bits"] == 2048
    assert sig["body_length"] == len(b"Hello Bob.\r\n")
    assert (sig["timestamp"], sig["expiration"]) == (7, None)
    assert sig["signed_headers"][:2] == ["From", "From"]


def test_expiry_within_clock_skew_passes(keys: Keys) -> None:
    signed = keys.sign(MESSAGE, "rsa", "--timestamp", str(NOW - 1000), "--expire", "900")
    code, report = verify_json(keys, signed)  # x= 100 s ago: within the 300 s allowance
    assert (code, report["result"]) == (0, "pass")
    assert report["signatures"][0]["expiration"] == NOW - 100


# --------------------------------------------------------------------------- policy options


def test_min_key_bits(keys: Keys) -> None:
    signed = keys.sign(MESSAGE, "small")
    assert verify_json(keys, signed)[1]["result"] == "pass"  # 1024 is the default minimum
    assert verify_json(keys, signed, "--min-key-bits", "1024")[1]["result"] == "pass"
    assert verify_json(keys, signed, "--min-key-bits", "1025")[1]["result"] == "policy"
    # Ed25519 keys are not measured in RSA bits
    assert verify_json(keys, keys.sign(MESSAGE, "ed"), "--min-key-bits", "4096")[0] == 0
    result = verify(keys, signed, "--min-key-bits", "512")
    assert_error(result, 2, "--min-key-bits")


def test_allow_sha1(keys: Keys) -> None:
    signed = keys.sign(MESSAGE, "rsa", "-a", "rsa-sha1", "--allow-sha1")
    code, report = verify_json(keys, signed)
    assert (code, report["result"]) == (1, "policy")
    assert report["signatures"][0]["reason"] == "rsa-sha1 not allowed"
    code, report = verify_json(keys, signed, "--allow-sha1")
    assert (code, report["result"], report["signatures"][0]["algorithm"]) == (
        0,
        "pass",
        "rsa-sha1",
    )


def test_require_domain(keys: Keys) -> None:
    signed = keys.sign(MESSAGE)
    for wanted in ("example.com", "EXAMPLE.com", "example.com."):
        assert verify_json(keys, signed, "--require-domain", wanted)[:1] == (0,), wanted
    code, report = verify_json(keys, signed, "--require-domain", "example.org")
    assert (code, report["result"]) == (1, "policy")
    assert report["signatures"][0]["result"] == "pass"  # the signature itself is fine
    assert verify(keys, signed, "--require-domain", "bad/name").code == 2
    assert verify(keys, signed, "--require-domain", "a..b").code == 2


def test_strict_body_length(keys: Keys) -> None:
    signed = keys.sign(MESSAGE, "rsa", "-l") + b"P.S. appended\r\n"
    result = verify(keys, signed)
    assert result.code == 0
    assert result.stdout.startswith("pass ")
    warnings = [w for w in result.stderr.splitlines() if w.startswith("dkimtool: warning: ")]
    assert len(warnings) == 1 and "15" in warnings[0]  # len(b"P.S. appended\r\n")
    code, report = verify_json(keys, signed, "--strict-body-length")
    assert (code, report["result"]) == (1, "policy")
    # nothing unsigned: strictness changes nothing
    code, _ = verify_json(keys, keys.sign(MESSAGE, "rsa", "-l"), "--strict-body-length")
    assert code == 0


# --------------------------------------------------------------------------- several files


def test_several_files(keys: Keys, tmp_path: Path) -> None:
    good = tmp_path / "good.eml"
    good.write_bytes(keys.sign(MESSAGE))
    bad = tmp_path / "bad.eml"
    bad.write_bytes(keys.sign(MESSAGE).replace(b"Hello Bob.", b"Hello Eve."))
    unsigned = tmp_path / "unsigned.eml"
    unsigned.write_bytes(MESSAGE)

    code, out, _ = invoke("verify", "--dns-file", str(keys.zone), str(good), str(good))
    assert code == 0
    assert out.decode().splitlines() == [f"{good}: pass d={DOMAIN} s=rsa a=rsa-sha256"] * 2

    code, out, _ = invoke(
        "verify", "--dns-file", str(keys.zone), str(good), str(bad), str(unsigned)
    )
    assert code == 1
    assert out.decode().splitlines() == [
        f"{good}: pass d={DOMAIN} s=rsa a=rsa-sha256",
        f"{bad}: fail d={DOMAIN} s=rsa a=rsa-sha256: body hash did not verify",
        f"{unsigned}: none: no DKIM-Signature",
    ]

    code, out, _ = invoke("verify", "--dns-file", str(keys.zone), "--json", str(good), str(bad))
    objs = [json.loads(line) for line in out.decode().splitlines()]
    assert code == 1
    assert [(o["file"], o["result"]) for o in objs] == [(str(good), "pass"), (str(bad), "fail")]


def test_several_files_exit_rules_with_temperror(keys: Keys, tmp_path: Path) -> None:
    good_ed = tmp_path / "ed.eml"
    good_ed.write_bytes(keys.sign(MESSAGE, "ed"))
    unsigned = tmp_path / "unsigned.eml"
    unsigned.write_bytes(MESSAGE)
    with SilentServer() as server:
        ns = ("--nameserver", f"127.0.0.1:{server.port}", "--timeout", "1")
        # temperror only -> 75; temperror + a definitive 'none' -> 1
        assert invoke("verify", *ns, str(good_ed), str(good_ed))[0] == 75
        assert invoke("verify", *ns, str(good_ed), str(unsigned))[0] == 1


def test_missing_file(keys: Keys, tmp_path: Path) -> None:
    result = verify(keys, b"", str(tmp_path / "nope.eml"))
    assert_error(result, 66, "nope.eml")
    good = tmp_path / "good.eml"
    good.write_bytes(keys.sign(MESSAGE))
    code, out, err = invoke("verify", "--dns-file", str(keys.zone), str(good), str(tmp_path / "x"))
    assert code == 66
    assert out.decode() == f"{good}: pass d={DOMAIN} s=rsa a=rsa-sha256\n"
    assert err.count("dkimtool: error:") == 1


# --------------------------------------------------------------------------- --authres


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_COMMENT = re.compile(r"\((?:[^()\\]|\\.)*\)")


def authres_field(out: bytes, eol: bytes = b"\r\n") -> tuple[str, bytes]:
    """The first (Authentication-Results) field, and the rest of the output."""
    assert out.startswith(b"Authentication-Results: ")
    end = 0
    while True:
        end = out.index(eol, end) + len(eol)
        if out[end : end + 1] not in (b" ", b"\t"):
            return out[:end].decode("utf-8"), out[end:]


def results_in(field: str) -> list[str]:
    """The method results of a field: ``dkim=WORD`` outside quoted strings and comments."""
    value = field.split(":", 1)[1]
    bare = _COMMENT.sub(" ", _QUOTED.sub('""', value))
    return re.findall(r"(?:^|[\s;])([a-z0-9-]+=[a-z]+)(?=[\s;]|$)", bare.replace("\r\n", ""))


def test_authres_prepends_one_field_rest_identical(keys: Keys) -> None:
    signed = keys.sign(MESSAGE)
    code, out, _ = invoke(
        "verify",
        "--dns-file",
        str(keys.zone),
        "--authres",
        "--authserv-id",
        "mx.example.net",
        input=signed,
    )
    assert code == 0
    field, rest = authres_field(out)
    assert rest == signed
    assert field.startswith("Authentication-Results: mx.example.net;")
    assert results_in(field)[0] == "dkim=pass"
    b_prefix = re.search(rb";\s*b=([A-Za-z0-9+/]{8})", signed)
    assert b_prefix is not None
    assert f"header.b={b_prefix.group(1).decode()}" in field.replace('"', "")
    assert "header.d=example.com" in field and "header.s=rsa" in field
    assert "header.a=rsa-sha256" in field
    assert all(len(line) <= 78 for line in field.split("\r\n"))


@pytest.mark.parametrize("tamper", [b"Hello Eve.", None], ids=["fail", "none"])
def test_authres_exits_0_whatever_the_verdict(keys: Keys, tamper: bytes | None) -> None:
    message = MESSAGE if tamper is None else keys.sign(MESSAGE).replace(b"Hello Bob.", tamper)
    code, out, _ = invoke(
        "verify", "--dns-file", str(keys.zone), "--authres", "--authserv-id", "mx", input=message
    )
    assert code == 0
    field, rest = authres_field(out)
    assert rest == message
    assert results_in(field) == ["dkim=none" if tamper is None else "dkim=fail"]


def test_authres_temperror_exit_0(keys: Keys) -> None:
    signed = keys.sign(MESSAGE)
    with SilentServer() as server:
        code, out, _ = invoke(
            "verify",
            "--nameserver",
            f"127.0.0.1:{server.port}",
            "--timeout",
            "1",
            "--authres",
            "--authserv-id",
            "mx",
            input=signed,
        )
    assert code == 0
    assert results_in(authres_field(out)[0]) == ["dkim=temperror"]


def test_authres_removes_forged_fields_case_insensitively(keys: Keys) -> None:
    signed = keys.sign(MESSAGE)
    forged = (
        b"Authentication-Results: MX.Example.NET; dkim=pass\r\n\theader.d=paypal.com\r\n"
        b"Received: from x by y\r\n"
        b"Authentication-Results: other.example; dkim=fail\r\n"
        b"authentication-results: (comment) mx.example.net ; spf=pass\r\n"
        b'Authentication-Results: "mx.example.net"; dkim=pass\r\n'
    )
    code, out, _ = invoke(
        "verify",
        "--dns-file",
        str(keys.zone),
        "--authres",
        "--authserv-id",
        "mx.example.net",
        input=forged + signed,
    )
    assert code == 0
    field, rest = authres_field(out)
    assert rest == (
        b"Received: from x by y\r\nAuthentication-Results: other.example; dkim=fail\r\n" + signed
    )
    assert results_in(field) == ["dkim=pass"]


def test_authres_lf_message_gets_lf_field(keys: Keys) -> None:
    message = MESSAGE.replace(b"\r\n", b"\n")
    signed = keys.sign(message)
    code, out, _ = invoke(
        "verify", "--dns-file", str(keys.zone), "--authres", "--authserv-id", "mx", input=signed
    )
    assert code == 0
    field, rest = authres_field(out, b"\n")
    assert rest == signed and "\r" not in field


@pytest.mark.parametrize(
    "payload",
    [
        b'i="x\\"; dkim=pass header.d=paypal.com";',
        b"i=a\rdkim=pass@example.com;",
        b'd=evil.example" ; dkim=pass header.d=bank.example;',
        b"i=x\r\n dkim=pass;",
        b"i=@example.com (dkim=pass);",
    ],
    ids=["quote", "cr", "d-quote", "crlf-fold", "comment"],
)
def test_authres_values_cannot_inject_results(keys: Keys, payload: bytes) -> None:
    signed = edit_signature(keys.sign(MESSAGE), b"v=1;", b"v=1; " + payload)
    code, out, _ = invoke(
        "verify", "--dns-file", str(keys.zone), "--authres", "--authserv-id", "mx", input=signed
    )
    assert code == 0
    field, rest = authres_field(out)
    assert rest == signed
    results = results_in(field)
    assert len(results) == 1 and results[0] != "dkim=pass", field
    lines = field.split("\r\n")[:-1]
    assert all("\r" not in line and "\n" not in line for line in lines)
    assert all(line[:1] in (" ", "\t") for line in lines[1:])
    assert all(ch.isprintable() or ch == "\t" for line in lines for ch in line)


def test_authres_refuses_json_and_several_files(keys: Keys, tmp_path: Path) -> None:
    assert verify(keys, MESSAGE, "--authres", "--json").code == 2
    one = tmp_path / "one.eml"
    one.write_bytes(MESSAGE)
    assert verify(keys, b"", "--authres", str(one), str(one)).code == 2


# --------------------------------------------------------------------------- --dns-file


def _txt(value: str) -> str:
    """A TXT RDATA of 255-byte quoted strings (a 2048-bit key does not fit one)."""
    return " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))


@pytest.mark.parametrize(
    ("zone_text", "word"),
    [
        ("rsa._domainkey.example.com. IN TXT {v}", "pass"),
        ("RSA._DomainKey.EXAMPLE.com. 300 IN TXT ( {v} ) ; comment", "pass"),
        ("rsa._domainkey IN TXT {v}", "pass"),  # relative: completed with the domain
        ("$ORIGIN example.com.\nrsa._domainkey IN TXT {v}", "pass"),
        ("$TTL 60\n$ORIGIN com.\nrsa._domainkey.example IN TXT {v}", "pass"),
        ("$ORIGIN example.org.\nrsa._domainkey IN TXT {v}", "permerror"),
        ("rsa._domainkey.example.org. IN TXT {v}", "permerror"),  # absolute: exact
        ("rsa._domainkey.example.com IN TXT {v}", "permerror"),  # relative to example.com
        ("mail._domainkey IN TXT {v}", "permerror"),  # missing name: NXDOMAIN
        ('rsa._domainkey IN TXT "v=spf1 -all"', "permerror"),  # no DKIM key record
    ],
    ids=[
        "absolute",
        "case-comment",
        "relative",
        "origin",
        "origin-ttl",
        "other-origin",
        "other-absolute",
        "relative-fqdn-text",
        "missing",
        "not-dkim",
    ],
)
def test_dns_file_names(keys: Keys, tmp_path: Path, zone_text: str, word: str) -> None:
    zone = keys.zone_with(tmp_path, zone_text.format(v=_txt(keys.values["rsa"])) + "\n")
    code, report = verify_json(keys, keys.sign(MESSAGE), zone=zone)
    sig = report["signatures"][0]
    assert (code, sig["result"]) == ((0, "pass") if word == "pass" else (1, word)), sig
    if word != "pass":
        assert sig["reason"] == "no key record"


@pytest.mark.parametrize(
    "zone_text",
    [
        '$INCLUDE /etc/passwd\nrsa._domainkey IN TXT "v=DKIM1; p="',
        '$GENERATE 1-3 sel$._domainkey IN TXT "v=DKIM1; p="',
        'rsa._domainkey IN TXT ( "unterminated',
        "rsa._domainkey IN TXT",
        "rsa._domainkey IN BOGUSTYPE 1 2 3",
        "this is not a zone file at all ((((",
    ],
    ids=["include", "generate", "unterminated", "no-rdata", "bad-type", "junk"],
)
def test_dns_file_refused(keys: Keys, tmp_path: Path, zone_text: str) -> None:
    zone = keys.zone_with(tmp_path, zone_text + "\n")
    result = verify(keys, keys.sign(MESSAGE), zone=zone)
    assert_error(result, 65, "--dns-file")


def test_dns_file_not_utf8_and_missing(keys: Keys, tmp_path: Path) -> None:
    zone = tmp_path / "latin1.zone"
    zone.write_bytes(b'rsa._domainkey IN TXT "caf\xe9"\n')
    assert_error(verify(keys, keys.sign(MESSAGE), zone=zone), 65)
    assert_error(verify(keys, keys.sign(MESSAGE), zone=tmp_path / "nope.zone"), 66)


def test_dns_file_several_records_each_tried(keys: Keys, tmp_path: Path) -> None:
    """RFC 6376 6.1.2: with several key records at a name, each is tried."""
    wrong = keys.values["ed"].replace("k=ed25519", "k=rsa")
    zone = keys.zone_with(
        tmp_path,
        f'rsa._domainkey IN TXT "{wrong}"\nrsa._domainkey IN TXT {_txt(keys.values["rsa"])}\n',
    )
    code, report = verify_json(keys, keys.sign(MESSAGE), zone=zone)
    assert (code, report["result"]) == (0, "pass")


def test_dns_file_repeatable(keys: Keys, tmp_path: Path) -> None:
    rsa_zone = keys.directory / "rsa.txt"
    ed_zone = keys.directory / "ed.txt"
    signed = keys.sign(keys.sign(MESSAGE, "rsa"), "ed")
    code, out, _ = invoke(
        "verify", "--dns-file", str(rsa_zone), "--dns-file", str(ed_zone), "--json", input=signed
    )
    assert code == 0
    assert [s["result"] for s in json.loads(out)["signatures"]] == ["pass", "pass"]
    code, out, _ = invoke("verify", "--dns-file", str(rsa_zone), "--json", input=signed)
    report = json.loads(out)
    assert (code, report["result"]) == (0, "pass")  # rsa passes; ed has no key
    assert report["signatures"][0]["reason"] == "no key record"


def test_config_file_settings(keys: Keys, tmp_path: Path) -> None:
    """MinimumKeyBits, Nameservers and DNSTimeout come from -x; the command line wins."""
    signed = keys.sign(MESSAGE, "small")
    strict = tmp_path / "strict.conf"
    strict.write_text("MinimumKeyBits 2048\nMode sv\n")
    code, out, _ = invoke("verify", "-x", str(strict), "--dns-file", str(keys.zone), input=signed)
    assert code == 1 and out.decode().startswith("policy")
    code, out, _ = invoke(
        "verify",
        "-x",
        str(strict),
        "--min-key-bits",
        "1024",
        "--dns-file",
        str(keys.zone),
        input=signed,
    )
    assert code == 0 and out.decode().startswith("pass")
    with SilentServer() as silent:
        dns_conf = tmp_path / "dns.conf"
        dns_conf.write_text(f"Nameservers 127.0.0.1:{silent.port}\nDNSTimeout 1\n")
        started = time.monotonic()
        code, out, _ = invoke("verify", "-x", str(dns_conf), input=signed)
        elapsed = time.monotonic() - started
    assert code == 75 and out.decode().startswith("temperror")
    assert elapsed < 4, f"DNSTimeout 1 from the config took {elapsed:.1f} s"
    too_small = tmp_path / "small.conf"
    too_small.write_text("MinimumKeyBits 512\n")
    code, _, err = invoke("verify", "-x", str(too_small), input=signed)
    assert code == 78 and f"{too_small}:1" in err


def test_authres_keeps_an_mbox_from_line_first(keys: Keys) -> None:
    """procmail hands over messages with their mbox 'From ' line: it stays the first line."""
    mbox_line = b"From alice@example.com Tue Nov 24 20:00:00 2026\r\n"
    signed = keys.sign(mbox_line + MESSAGE)
    assert signed.startswith(mbox_line + b"DKIM-Signature:")
    code, out, _ = invoke(
        "verify", "--authres", "--authserv-id", "mx.example.net", "--dns-file", str(keys.zone),
        input=signed,
    )  # fmt: skip
    assert code == 0
    assert out.startswith(mbox_line + b"Authentication-Results: mx.example.net;")
    assert b"dkim=pass" in out.split(b"\r\n\r\n", 1)[0]
    assert out.endswith(signed[len(mbox_line) :])
