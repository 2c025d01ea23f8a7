"""Interoperability of ``dkimtool sign``/``dkimtool verify`` with OpenDKIM, Mail::DKIM and dkimpy.

Every key comes from ``dkimtool genkey`` (once per session); every dkimtool signature is made by
the real ``dkimtool sign`` command (click's CliRunner, plus one true subprocess pipeline) and
every dkimtool verdict comes from ``dkimtool verify --dns-file ... --json``.  The peers run
offline through :mod:`tests.peers`.

The matrix: signer x verifier x algorithm (rsa-sha256 2048, ed25519-sha256; RSA 1024 and 4096
on a subset) x the four header/body canonicalizations x a corpus of awkward messages.  Where a
peer deviates from RFC 6376/8463/8301 the test asserts the peer's documented deviation (so a
change in the peer is noticed) *and* that dkimtool does what the RFC says.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rdatatype
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dkimtool.cli import cli
from tests import peers
from tests.dnsservers import AuthoritativeServer, Record, make_zone, txt_rdata

pytestmark = pytest.mark.peer

DOMAIN = "example.com"
OLD_DOMAIN = "example.org"
TIMESTAMP = 1764014400  # 2025-11-24T20:00:00Z; no x=, so it never expires
CANONS = ("simple/simple", "simple/relaxed", "relaxed/simple", "relaxed/relaxed")
PEERS = ("opendkim", "maildkim", "dkimpy")
# key name -> (genkey arguments, algorithm)
KEY_SPECS: dict[str, tuple[tuple[str, ...], str]] = {
    "rsa1024": (("-a", "rsa", "-b", "1024"), "rsa-sha256"),
    "rsa2048": (("-a", "rsa", "-b", "2048"), "rsa-sha256"),
    "rsa4096": (("-a", "rsa", "-b", "4096"), "rsa-sha256"),
    "ed25519": (("-a", "ed25519"), "ed25519-sha256"),
}
MAIN_KEYS = ("rsa2048", "ed25519")


# --------------------------------------------------------------------------- the corpus


def _crlf(text: bytes) -> bytes:
    return text.replace(b"\n", b"\r\n")


_HEAD = (
    b"From: Alice Example <alice@example.com>\n"
    b"To: Bob <bob@example.net>\n"
    b"Subject: Interop matrix\n"
    b"Date: Mon, 24 Nov 2025 20:00:00 +0000\n"
    b"Message-ID: <matrix-1@example.com>\n"
)
_PLAIN = (
    _HEAD + b"MIME-Version: 1.0\n"
    b"Content-Type: text/plain; charset=us-ascii\n"
    b"\n"
    b"Hello Bob,\n"
    b"\n"
    b"this is the body.\n"
    b"-- \n"
    b"Alice\n"
)
# Every field is written "Name: value" with one space (peers.OPENDKIM_TEST_MODE_INPUT).
_REFS = b"\n\t".join(b"<ref-%03d@lists.example.net>" % i for i in range(40))
_LONG_TO = b",\n".join(b" User %02d <user%02d@example.net>" % (i, i) for i in range(30))
_BOUNDARY = b"=_boundary_42"
_MULTIPART = (
    _HEAD + b"MIME-Version: 1.0\n"
    b'Content-Type: multipart/mixed; boundary="' + _BOUNDARY + b'"\n'
    b"\n"
    b"This is a multi-part message in MIME format.\n"
    b"\n"
    b"--" + _BOUNDARY + b"\n"
    b"Content-Type: text/plain; charset=utf-8\n"
    b"Content-Transfer-Encoding: quoted-printable\n"
    b"\n"
    b"Gr=C3=BC=C3=9Fe,  \n"
    b"the attachment follows.\n"
    b"\n"
    b"--" + _BOUNDARY + b"\n"
    b'Content-Type: application/octet-stream; name="blob.bin"\n'
    b"Content-Transfer-Encoding: base64\n"
    b'Content-Disposition: attachment; filename="blob.bin"\n'
    b"\n" + base64.encodebytes(bytes(range(256)) * 3) + b"\n"
    b"--" + _BOUNDARY + b"--\n"
)

# name -> message as a mail client would hand it over (CRLF unless the name says LF).
CORPUS: dict[str, bytes] = {
    "plain-crlf": _crlf(_PLAIN),
    "plain-lf": _PLAIN,
    "empty-body": _crlf(_HEAD + b"\n"),
    "no-final-newline": _crlf(_HEAD + b"\nHello Bob,\n\nno line end after this"),
    "trailing-ws": _crlf(
        _HEAD.replace(b"Subject: Interop matrix", b"Subject: Runs   of \t white  space  ")
        + b"\nHello   Bob, \t \n\t\nwith trailing white space\t\n \n\n\n\n"
    ),
    "long-folded": _crlf(
        _HEAD.replace(b"To: Bob <bob@example.net>\n", b"To:" + _LONG_TO + b"\n")
        + b"References: "
        + _REFS
        + b"\nIn-Reply-To: <ref-039@lists.example.net>\n\nA reply.\n"
    ),
    "repeated": _crlf(
        b"Received: from a.example.net by b.example.net; Mon, 24 Nov 2025 20:00:02 +0000\n"
        b"Received: from c.example.net by a.example.net; Mon, 24 Nov 2025 20:00:01 +0000\n"
        b"Resent-From: <list@example.com>\n"
        b"Resent-Date: Mon, 24 Nov 2025 20:00:01 +0000\n"
        b"Resent-From: <relay@example.com>\n"
        b"Resent-Date: Mon, 24 Nov 2025 20:00:00 +0000\n"
        + _HEAD
        + b"Comments: one\nComments: two\n\nRepeated fields.\n"
    ),
    "utf8": _crlf(
        "From: Jürgen Müller <juergen@example.com>\n"
        "To: Zoë <zoe@example.net>\n"
        "Subject: Grüße aus Köln — ☃ 雪\n"
        "Date: Mon, 24 Nov 2025 20:00:00 +0000\n"
        "Message-ID: <utf8-1@example.com>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n"
        "Schöne Grüße, ça va?  Ünïcödé ☃ 雪\n".encode()
    ),
    "multipart": _crlf(_MULTIPART),
    "already-signed": b"",  # made by the corpus fixture: plain-crlf signed by dkimpy
    "mbox-from": b"From alice@example.com Mon Nov 24 20:00:00 2025\n" + _PLAIN,
}
MBOX_LINE_END = len(b"From alice@example.com Mon Nov 24 20:00:00 2025\n")
SUBSET = ("plain-crlf", "multipart", "utf8")  # RSA 1024/4096


def peer_view(case: str, message: bytes) -> bytes:
    """What a peer is given: the message without the mbox ``From `` line (an MDA strips it)."""
    return message[MBOX_LINE_END:] if case == "mbox-from" else message


# --------------------------------------------------------------------------- keys and CLI


@dataclass(frozen=True)
class Keys:
    directory: Path
    paths: dict[str, Path]  # key name -> private key file (selector == key name)
    records: dict[str, str]  # "sel._domainkey.domain" -> TXT value
    dns_file: Path  # every genkey .txt, concatenated
    old_path: Path  # the key of the pre-existing signature (d=example.org s=old)

    def algorithm(self, name: str) -> str:
        return KEY_SPECS[name][1]


def run(*args: str, input: bytes | None = None) -> tuple[int, bytes, str]:
    """``dkimtool ARGS`` in process; an unexpected exception propagates."""
    result = CliRunner().invoke(cli, list(args), input=input, prog_name="dkimtool")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout_bytes, result.stderr


def _genkey(directory: Path, domain: str, selector: str, *extra: str) -> tuple[Path, str, str]:
    code, out, err = run(
        "genkey", "-d", domain, "-s", selector, "-D", str(directory), "--json", *extra
    )
    assert code == 0, err
    info = json.loads(out)
    return Path(info["private_key"]), info["name"], info["value"]


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    directory = tmp_path_factory.mktemp("matrix-keys")
    paths: dict[str, Path] = {}
    records: dict[str, str] = {}
    for name, (args, _algorithm) in KEY_SPECS.items():
        path, owner, value = _genkey(directory, DOMAIN, name, *args)
        paths[name] = path
        records[owner] = value
    old_path, owner, value = _genkey(directory, OLD_DOMAIN, "old", "--append-domain")
    records[owner] = value
    dns_file = directory / "all.zone"
    dns_file.write_bytes(b"".join(p.read_bytes() for p in sorted(directory.glob("*.txt"))))
    return Keys(directory, paths, records, dns_file, old_path)


@pytest.fixture(scope="session")
def corpus(keys: Keys) -> dict[str, bytes]:
    peers.require_peer("dkimpy")
    messages = dict(CORPUS)
    messages["already-signed"] = peers.dkimpy_sign(
        CORPUS["plain-crlf"],
        key_pem=keys.old_path.read_bytes(),
        domain=OLD_DOMAIN,
        selector="old",
        canonicalization="simple/simple",
    )
    return messages


@functools.cache
def _signed_cache() -> dict[tuple[str, str, str, bytes], bytes]:
    return {}


def dkimtool_sign(keys: Keys, message: bytes, key: str, canon: str) -> bytes:
    """``dkimtool sign`` (memoized: each verifier reuses the same signed bytes)."""
    cache = _signed_cache()
    index = (key, canon, str(keys.directory), message)
    if index not in cache:
        args = ["sign", "-d", DOMAIN, "-s", key, "-k", str(keys.paths[key]), "-c", canon]
        code, out, err = run(*args, "--timestamp", str(TIMESTAMP), input=message)
        assert code == 0, err
        assert "error" not in err, err
        cache[index] = out
    return cache[index]


def dkimtool_verify(keys: Keys, message: bytes, *extra: str) -> tuple[int, dict[str, object]]:
    code, out, err = run(
        "verify", "--dns-file", str(keys.dns_file), "--json", *extra, input=message
    )
    assert "Traceback" not in err
    report: dict[str, object] = json.loads(out)
    return code, report


def signatures(report: dict[str, object]) -> list[dict[str, object]]:
    sigs = report["signatures"]
    assert isinstance(sigs, list)
    return sigs


def new_fields(message: bytes, signed: bytes, at: int = 0) -> bytes:
    """The bytes ``sign`` inserted at offset AT; asserts that nothing else changed."""
    added = len(signed) - len(message)
    assert added > 0
    assert signed[:at] == message[:at], "the bytes before the new fields changed"
    assert signed[at + added :] == message[at:], "the message after the new fields changed"
    return signed[at : at + added]


def require(peer: str, algorithm: str) -> None:
    peers.require_peer("dkimpy-ed25519" if peer == "dkimpy" and "ed25519" in algorithm else peer)


def peer_verify_ours(
    verifier: str, keys: Keys, message: bytes, selector: str, domain: str = DOMAIN
) -> peers.PeerVerdict:
    """The peer's verdict on the topmost signature (the one just added)."""
    if verifier == "opendkim":
        return peers.opendkim_verify(message, keys.records, keys.directory / "work")
    if verifier == "maildkim":
        verdicts = peers.maildkim_verify(message, keys.records)
        assert verdicts, "Mail::DKIM found no signature"
        assert f"d={domain}, s={selector}," in verdicts[0].detail, verdicts[0].detail
        return verdicts[0]
    verdicts = peers.dkimpy_verify_all(message, keys.records)
    assert verdicts, "dkimpy found no signature"
    return verdicts[0]


def peer_sign(signer: str, keys: Keys, message: bytes, key: str, canon: str) -> bytes:
    algorithm = keys.algorithm(key)
    if signer == "opendkim":
        return peers.opendkim_sign(
            message,
            key_path=keys.paths[key],
            domain=DOMAIN,
            selector=key,
            canonicalization=canon,
            algorithm=algorithm,
            workdir=keys.directory / "work",
        )
    if signer == "maildkim":
        return peers.maildkim_sign(
            message,
            key_path=keys.paths[key],
            domain=DOMAIN,
            selector=key,
            canonicalization=canon,
            algorithm=algorithm,
        )
    return peers.dkimpy_sign(
        message,
        key_pem=keys.paths[key].read_bytes(),
        domain=DOMAIN,
        selector=key,
        canonicalization=canon,
        algorithm=algorithm,
    )


# --------------------------------------------------------------------------- expectations


def verify_deviation(verifier: str, algorithm: str, canon: str, case: str) -> str | None:
    """The documented reason why VERIFIER cannot accept a correct dkimtool signature, if any."""
    body = canon.split("/")[1]
    if verifier == "maildkim" and "ed25519" in algorithm:
        return peers.MAILDKIM_NO_ED25519
    if case == "no-final-newline":
        if verifier == "opendkim" and body == "relaxed":
            return peers.OPENDKIM_RELAXED_NO_FINAL_CRLF
        if verifier == "maildkim" and body == "simple":
            return peers.MAILDKIM_SIMPLE_BODY_NO_FINAL_CRLF
    return None


def sign_deviation(signer: str, algorithm: str, canon: str, case: str) -> str | None:
    """The documented reason why SIGNER's signature is wrong (or missing), if any."""
    header, body = canon.split("/")
    if signer == "maildkim" and "ed25519" in algorithm:
        return peers.MAILDKIM_NO_ED25519
    if case == "no-final-newline":
        if signer == "opendkim" and body == "relaxed":
            return peers.OPENDKIM_RELAXED_NO_FINAL_CRLF
        if signer == "maildkim" and body == "simple":
            return peers.MAILDKIM_SIMPLE_BODY_NO_FINAL_CRLF
    if signer == "opendkim" and "ed25519" in algorithm and header == "simple":
        return peers.OPENDKIM_ED25519_SIMPLE_HEADER
    return None


def _cid(*parts: str) -> str:
    return "-".join(p.replace("/", "_") for p in parts)


def _dkimtool_to_peer_cases() -> Iterator[object]:
    for verifier in PEERS:
        for key in MAIN_KEYS:
            for canon in CANONS:
                for case in CORPUS:
                    yield pytest.param(
                        verifier, key, canon, case, id=_cid(verifier, key, canon, case)
                    )
        for key in ("rsa1024", "rsa4096"):
            for canon in ("simple/simple", "relaxed/relaxed"):
                for case in SUBSET:
                    yield pytest.param(
                        verifier, key, canon, case, id=_cid(verifier, key, canon, case)
                    )


def _peer_to_dkimtool_cases() -> Iterator[object]:
    for signer in PEERS:
        for key in MAIN_KEYS:
            for canon in CANONS:
                for case in CORPUS:
                    yield pytest.param(signer, key, canon, case, id=_cid(signer, key, canon, case))
        for key in ("rsa1024", "rsa4096"):
            for canon in ("simple/simple", "relaxed/relaxed"):
                for case in SUBSET:
                    yield pytest.param(signer, key, canon, case, id=_cid(signer, key, canon, case))


# --------------------------------------------------------------------------- dkimtool -> peers


@pytest.mark.parametrize(("verifier", "key", "canon", "case"), list(_dkimtool_to_peer_cases()))
def test_dkimtool_signs_peer_verifies(
    keys: Keys, corpus: dict[str, bytes], verifier: str, key: str, canon: str, case: str
) -> None:
    algorithm = keys.algorithm(key)
    require(verifier, algorithm)
    message = corpus[case]
    signed = dkimtool_sign(keys, message, key, canon)

    # The output is the input with the field(s) inserted, in the message's own line ending,
    # after a leading mbox From line.
    at = MBOX_LINE_END if case == "mbox-from" else 0
    field = new_fields(message, signed, at)
    eol = b"\n" if case in ("plain-lf", "mbox-from") else b"\r\n"
    assert field.startswith(b"DKIM-Signature: v=1; a=" + algorithm.encode())
    assert field.endswith(eol)
    if eol == b"\n":
        assert b"\r" not in field
    else:
        assert b"\n" not in field.replace(b"\r\n", b"")
    unfolded = field.replace(eol + b" ", b" ").replace(eol + b"\t", b"\t")
    assert f"c={canon};".encode() in unfolded

    # dkimtool itself accepts it, whatever the peers say.
    code, report = dkimtool_verify(keys, signed)
    assert (code, report["result"]) == (0, "pass"), report
    assert signatures(report)[0]["selector"] == key

    verdict = peer_verify_ours(verifier, keys, peer_view(case, signed), key)
    deviation = verify_deviation(verifier, algorithm, canon, case)
    if deviation is None:
        assert verdict.ok, f"{verifier} rejected dkimtool's {key} {canon} signature: {verdict}"
        if verifier == "opendkim" and algorithm == "ed25519-sha256":
            assert "0-bit key" in verdict.detail, peers.OPENDKIM_ED25519_KEY_BITS
        return
    # A documented deviation: the peer says no, and the reference (dkimpy) says yes.
    assert not verdict.ok, f"{verifier} no longer deviates ({deviation}): {verdict}"
    if deviation == peers.MAILDKIM_NO_ED25519:
        assert "unsupported algorithm ed25519-sha256" in verdict.detail
    elif deviation == peers.OPENDKIM_RELAXED_NO_FINAL_CRLF:
        assert verdict.detail == "message not signed"
    require("dkimpy", algorithm)
    assert peers.dkimpy_verify_all(peer_view(case, signed), keys.records)[0].ok


# --------------------------------------------------------------------------- peers -> dkimtool


@pytest.mark.parametrize(("signer", "key", "canon", "case"), list(_peer_to_dkimtool_cases()))
def test_peer_signs_dkimtool_verifies(
    keys: Keys, corpus: dict[str, bytes], signer: str, key: str, canon: str, case: str
) -> None:
    algorithm = keys.algorithm(key)
    require(signer, algorithm)
    message = corpus[case]
    mbox = message[:MBOX_LINE_END] if case == "mbox-from" else b""
    deviation = sign_deviation(signer, algorithm, canon, case)
    if deviation in (peers.MAILDKIM_NO_ED25519, peers.OPENDKIM_RELAXED_NO_FINAL_CRLF):
        with pytest.raises(peers.PeerError) as refused:
            peer_sign(signer, keys, peer_view(case, message), key, canon)
        words = {
            peers.MAILDKIM_NO_ED25519: "unsupported algorithm",
            peers.OPENDKIM_RELAXED_NO_FINAL_CRLF: "CRLF at end of body missing",
        }
        assert words[deviation] in str(refused.value)
        return
    signed = mbox + peer_sign(signer, keys, peer_view(case, message), key, canon)
    code, report = dkimtool_verify(keys, signed)
    ours = signatures(report)[0]
    assert (ours["domain"], ours["selector"], ours["algorithm"]) == (DOMAIN, key, algorithm)
    if deviation is None:
        assert (code, report["result"], ours["result"]) == (0, "pass", "pass"), report
        assert ours["canonicalization"] == canon
        if case == "already-signed":
            assert [s["result"] for s in signatures(report)] == ["pass", "pass"]
        # Tampering with the body is caught, and the reason says it was the body.
        tampered = _tamper_body(signed)
        code, report = dkimtool_verify(keys, tampered)
        assert (code, report["result"]) == (1, "fail")
        assert signatures(report)[0]["reason"] == "body hash did not verify"
        return
    # The peer's signature is wrong in a documented way: dkimtool rejects it, as dkimpy does
    # (the pre-existing valid signature still makes the message pass).
    overall = (0, "pass") if case == "already-signed" else (1, "fail")
    assert (code, report["result"], ours["result"]) == (*overall, "fail"), report
    expected = {
        peers.OPENDKIM_ED25519_SIMPLE_HEADER: "signature did not verify",
        peers.MAILDKIM_SIMPLE_BODY_NO_FINAL_CRLF: "body hash did not verify",
    }
    assert ours["reason"] == expected[deviation], deviation
    require("dkimpy", algorithm)
    assert not peers.dkimpy_verify_all(signed[len(mbox) :], keys.records)[0].ok


def _tamper_body(message: bytes) -> bytes:
    """Change the last letter of the body (or add a line to an empty body)."""
    ends = [(message.find(sep), len(sep)) for sep in (b"\r\n\r\n", b"\n\n")]
    found = [at + size for at, size in ends if at >= 0]
    at = min(found) if found else len(message)
    body = message[at:]
    letters = [i for i, ch in enumerate(body) if chr(ch).isalpha()]
    if not letters:
        return message + b"appended\r\n"
    i = letters[-1]
    return message[: at + i] + (b"Y" if body[i : i + 1] == b"X" else b"X") + body[i + 1 :]


# --------------------------------------------------------------------------- tampering


@pytest.mark.parametrize("verifier", PEERS)
@pytest.mark.parametrize(
    ("what", "tamper", "reason"),
    [
        ("body", lambda m: m.replace(b"this is the body", b"this is the bodY"), "body hash"),
        ("subject", lambda m: m.replace(b"Subject: Interop", b"Subject: Interlop"), "signature"),
        (
            "added-subject",
            lambda m: m.replace(b"\r\nTo: Bob", b"\r\nSubject: added\r\nTo: Bob"),
            "signature",
        ),
        ("from", lambda m: m.replace(b"alice@example.com>", b"mallory@example.com>"), "signature"),
    ],
    ids=["body", "subject", "added-subject", "from"],
)
def test_tampering_is_caught(
    keys: Keys, verifier: str, what: str, tamper: object, reason: str
) -> None:
    """A changed body or signed header (or an extra instance of an oversigned one) fails in
    dkimtool with a reason naming the body or the header signature, and in every peer."""
    require(verifier, "rsa-sha256")
    assert callable(tamper)
    signed = dkimtool_sign(keys, CORPUS["plain-crlf"], "rsa2048", "relaxed/relaxed")
    forged: bytes = tamper(signed)
    assert forged != signed
    code, report = dkimtool_verify(keys, forged)
    assert (code, report["result"]) == (1, "fail")
    sig = signatures(report)[0]
    assert sig["reason"] == f"{reason} did not verify"
    assert not peer_verify_ours(verifier, keys, forged, "rsa2048").ok
    # and the human report names it too
    code, out, _ = run("verify", "--dns-file", str(keys.dns_file), input=forged)
    assert out.decode() == f"fail d={DOMAIN} s=rsa2048 a=rsa-sha256: {reason} did not verify\n"


def test_unsigned_header_change_still_passes(keys: Keys) -> None:
    """Only signed fields count: a new Received field on top changes nothing anywhere."""
    signed = dkimtool_sign(keys, CORPUS["plain-crlf"], "rsa2048", "relaxed/relaxed")
    relayed = b"Received: from mx.example.net by mx2.example.net\r\n" + signed
    assert dkimtool_verify(keys, relayed)[1]["result"] == "pass"
    peers.require_peer("dkimpy")
    assert peers.dkimpy_verify(relayed, keys.records).ok


# --------------------------------------------------------------------------- dual signing


@pytest.mark.parametrize("canon", ["relaxed/relaxed", "simple/simple"])
def test_dual_rsa_ed25519_one_pass(keys: Keys, canon: str) -> None:
    message = CORPUS["plain-crlf"]
    args = ["sign", "-d", DOMAIN, "-c", canon, "--timestamp", str(TIMESTAMP)]
    args += ["-s", "rsa2048", "-k", str(keys.paths["rsa2048"])]
    args += ["-s", "ed25519", "-k", str(keys.paths["ed25519"])]
    code, signed, err = run(*args, input=message)
    assert code == 0, err
    fields = new_fields(message, signed)
    assert fields.count(b"DKIM-Signature:") == 2
    assert fields.index(b"a=rsa-sha256") < fields.index(b"a=ed25519-sha256")

    code, report = dkimtool_verify(keys, signed)
    assert code == 0
    assert [(s["selector"], s["result"]) for s in signatures(report)] == [
        ("rsa2048", "pass"),
        ("ed25519", "pass"),
    ]
    peers.require_peer("dkimpy-ed25519")
    assert [v.ok for v in peers.dkimpy_verify_all(signed, keys.records)] == [True, True]

    peers.require_peer("opendkim")
    # OpenDKIM reports one signature only (peers.OPENDKIM_SINGLE_VERDICT): check each alone.
    rsa_field, ed_field = _split_fields(fields)
    for field, selector in ((rsa_field, "rsa2048"), (ed_field, "ed25519")):
        verdict = peers.opendkim_verify(field + message, keys.records, keys.directory / "work")
        assert verdict.ok, verdict
        assert f"s={selector}" in verdict.detail
    verdict = peers.opendkim_verify(signed, keys.records, keys.directory / "work")
    assert verdict.ok, verdict

    peers.require_peer("maildkim")
    words = [v.ok for v in peers.maildkim_verify(signed, keys.records)]
    assert words == [True, False], peers.MAILDKIM_NO_ED25519


def _split_fields(fields: bytes) -> list[bytes]:
    at = fields.index(b"DKIM-Signature:", 1)
    return [fields[:at], fields[at:]]


# --------------------------------------------------------------------------- key records


def _records_with(keys: Keys, name: str, value: str) -> dict[str, str]:
    return {**keys.records, name: value}


def _zone_file(path: Path, records: dict[str, str]) -> Path:
    path.write_text(
        "".join(f"{name}. IN TXT {txt_rdata(value)}\n" for name, value in records.items())
    )
    return path


def test_key_h_tag_enforced_unlike_dkimpy(keys: Keys, tmp_path: Path) -> None:
    """A record with h=sha1 excludes rsa-sha256 (RFC 6376 3.6.1): dkimtool, OpenDKIM and
    Mail::DKIM refuse; dkimpy accepts (peers.DKIMPY_IGNORES_KEY_FLAGS)."""
    name = f"rsa2048._domainkey.{DOMAIN}"
    records = _records_with(keys, name, keys.records[name].replace("v=DKIM1;", "v=DKIM1; h=sha1;"))
    signed = dkimtool_sign(keys, CORPUS["plain-crlf"], "rsa2048", "relaxed/relaxed")
    code, out, _ = run(
        "verify", "--dns-file", str(_zone_file(tmp_path / "z", records)), "--json", input=signed
    )
    sig = json.loads(out)["signatures"][0]
    assert (code, sig["result"], sig["reason"]) == (1, "permerror", "key h= excludes sha256")
    peers.require_peer("dkimpy")
    assert peers.dkimpy_verify(signed, records).ok, peers.DKIMPY_IGNORES_KEY_FLAGS
    peers.require_peer("opendkim")
    assert not peers.opendkim_verify(signed, records, tmp_path).ok
    peers.require_peer("maildkim")
    assert not peers.maildkim_verify(signed, records)[0].ok


def test_key_t_s_enforced_unlike_dkimpy(keys: Keys, tmp_path: Path) -> None:
    """t=s forbids an i= in a subdomain of d= (RFC 6376 3.6.1)."""
    name = f"rsa2048._domainkey.{DOMAIN}"
    records = _records_with(keys, name, keys.records[name].replace("v=DKIM1;", "v=DKIM1; t=s;"))
    args = ["sign", "-d", DOMAIN, "-s", "rsa2048", "-k", str(keys.paths["rsa2048"])]
    code, signed, err = run(*args, "-i", f"alice@mail.{DOMAIN}", input=CORPUS["plain-crlf"])
    assert code == 0, err
    assert b"i=alice@mail.example.com" in signed
    assert dkimtool_verify(keys, signed)[1]["result"] == "pass"  # without t=s it is fine
    code, out, _ = run(
        "verify", "--dns-file", str(_zone_file(tmp_path / "z", records)), "--json", input=signed
    )
    sig = json.loads(out)["signatures"][0]
    assert (code, sig["result"]) == (1, "permerror")
    assert "t=s" in sig["reason"]
    peers.require_peer("dkimpy")
    assert peers.dkimpy_verify(signed, records).ok, peers.DKIMPY_IGNORES_KEY_FLAGS
    peers.require_peer("maildkim")
    assert not peers.maildkim_verify(signed, records)[0].ok


def test_small_rsa_key_is_policy_unlike_maildkim(keys: Keys, tmp_path: Path) -> None:
    """RFC 8301: keys under 1024 bits never pass.  Mail::DKIM 1.20230212 has no minimum."""
    peers.require_peer("maildkim")
    key_path = tmp_path / "small.pem"
    # cryptography refuses to make a 512-bit key; OpenSSL still does.
    made = subprocess.run(
        ["openssl", "genrsa", "-traditional", "-out", str(key_path), "512"],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    small = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(small, rsa.RSAPrivateKey) and small.key_size == 512
    spki = small.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    records = {f"small._domainkey.{DOMAIN}": "v=DKIM1; k=rsa; p=" + base64.b64encode(spki).decode()}
    signed = peers.maildkim_sign(
        CORPUS["plain-crlf"], key_path=key_path, domain=DOMAIN, selector="small"
    )
    assert peers.maildkim_verify(signed, records)[0].ok  # the deviation
    zone = _zone_file(tmp_path / "z", records)
    code, out, _ = run("verify", "--dns-file", str(zone), "--json", input=signed)
    report = json.loads(out)
    sig = report["signatures"][0]
    assert (code, report["result"], sig["result"]) == (1, "policy", "policy")
    assert sig["reason"] == "key too small (512 bits < 1024)"
    assert sig["key_bits"] == 512
    peers.require_peer("dkimpy")
    assert not peers.dkimpy_verify(signed, records).ok  # dkimpy's minkey is 1024
    # dkimtool refuses to sign with such a key.
    key_path.chmod(0o600)
    args = ("sign", "-d", DOMAIN, "-s", "small", "-k", str(key_path))
    code, out, err = run(*args, input=CORPUS["plain-crlf"])
    assert code not in (0, 1) and out == b""
    assert err.startswith("dkimtool: error:") and "512 bits" in err, err
    assert len(err.splitlines()) == 1


# --------------------------------------------------------------------------- the real thing


def test_real_processes_pipeline(keys: Keys, tmp_path: Path) -> None:
    """``dkimtool sign ... | dkimtool verify --dns-file KEY.txt`` with the console script."""
    exe = Path(sys.executable).with_name("dkimtool")
    assert exe.exists()
    sign = subprocess.run(
        [str(exe), "sign", "-d", DOMAIN, "-s", "ed25519", "-k", str(keys.paths["ed25519"])],
        input=CORPUS["utf8"],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert sign.returncode == 0, sign.stderr
    assert sign.stderr == b""
    txt = keys.directory / "ed25519.txt"
    verify = subprocess.run(
        [str(exe), "verify", "--dns-file", str(txt)],
        input=sign.stdout,
        capture_output=True,
        check=False,
        timeout=60,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
    )
    assert verify.returncode == 0, verify.stderr
    assert verify.stdout == f"pass d={DOMAIN} s=ed25519 a=ed25519-sha256\n".encode()


# --------------------------------------------------------------------------- knotd over TCP


def test_verify_rsa4096_from_knotd_over_tcp(keys: Keys, tmp_path: Path) -> None:
    """A real authoritative server; the answer (an RSA-4096 key record next to a long
    non-DKIM TXT record at the same name) exceeds knot's 1232-byte UDP limit, so the lookup
    must fall back to TCP."""
    value = keys.records[f"rsa4096._domainkey.{DOMAIN}"]
    filler = "x-note=" + "n" * 700  # a TXT record that is not a DKIM key record: ignored
    zone = make_zone(
        f"{DOMAIN}.",
        [
            Record("rsa4096._domainkey", "TXT", txt_rdata(value)),
            Record("rsa4096._domainkey", "TXT", txt_rdata(filler)),
        ],
    )
    with AuthoritativeServer(tmp_path / "knot", {f"{DOMAIN}.": zone}) as server:
        query = dns.message.make_query(f"rsa4096._domainkey.{DOMAIN}.", dns.rdatatype.TXT)
        query.use_edns(0, payload=1232)
        udp = dns.query.udp(query, "127.0.0.1", port=server.port, timeout=5)
        assert udp.flags & dns.flags.TC, "the answer fits UDP: this test would not need TCP"

        signed = dkimtool_sign(keys, CORPUS["multipart"], "rsa4096", "relaxed/relaxed")
        code, out, err = run(
            "verify",
            "--nameserver",
            f"127.0.0.1:{server.port}",
            "--timeout",
            "5",
            "--json",
            input=signed,
        )
        report = json.loads(out)
        assert (code, report["result"]) == (0, "pass"), (report, err)
        assert signatures(report)[0]["key_bits"] == 4096
        # A tampered copy: a definitive answer, not a DNS problem.
        code, out, _ = run(
            "verify",
            "--nameserver",
            f"127.0.0.1:{server.port}",
            "--timeout",
            "5",
            input=_tamper_body(signed),
        )
        assert code == 1
        assert out.startswith(b"fail d=example.com s=rsa4096 a=rsa-sha256: body hash")


# --------------------------------------------------------------------------- unterminated last line

DKIMPY_RELAXED_UNTERMINATED_WSP = (
    "dkimpy 1.1.8's relaxed body canonicalization keeps white space on an unterminated last "
    "line: for a body 'Hello\\r\\n  ' (a last line of blanks and no CRLF) RFC 6376 3.4.4 "
    "removes the trailing WSP, which leaves an empty line that is ignored ('Hello\\r\\n'); "
    "dkimtool, OpenDKIM and Mail::DKIM agree on that, dkimpy hashes something else."
)
UNTERMINATED_TRAILING_WSP = (
    "For a body 'Hello  ' (trailing WSP on an unterminated last line) the implementations "
    "split two and two: dkimtool and Mail::DKIM remove the WSP before adding the CRLF "
    "('Hello\\r\\n'; dkimtool's reading of RFC 6376 3.4.4, see core/canonicalize.py), dkimpy "
    "and OpenDKIM keep one SP ('Hello \\r\\n')."
)


@pytest.mark.parametrize(
    ("body", "agree"),
    [
        (b"Hello\r\n  ", {"opendkim": True, "maildkim": True, "dkimpy": False}),
        (b"Hello \t ", {"opendkim": False, "maildkim": True, "dkimpy": False}),
    ],
    ids=["blank-last-line", "trailing-wsp"],
)
def test_relaxed_body_unterminated_last_line(
    keys: Keys, body: bytes, agree: dict[str, bool]
) -> None:
    """Which peers hash a relaxed body ending in an unterminated line with trailing WSP as
    dkimtool does (DKIMPY_RELAXED_UNTERMINATED_WSP, UNTERMINATED_TRAILING_WSP); in both
    directions, so that a change on either side is noticed."""
    for peer in PEERS:
        require(peer, "rsa-sha256")
    message = b"From: a@example.com\r\nSubject: wsp\r\n\r\n" + body
    signed = dkimtool_sign(keys, message, "rsa2048", "relaxed/relaxed")
    assert dkimtool_verify(keys, signed)[1]["result"] == "pass"
    for peer, same in agree.items():
        verdict = peer_verify_ours(peer, keys, signed, "rsa2048")
        assert verdict.ok == same, (peer, verdict)
        theirs = peer_sign(peer, keys, message, "rsa2048", "relaxed/relaxed")
        code, report = dkimtool_verify(keys, theirs)
        expected = (0, "pass", "") if same else (1, "fail", "body hash did not verify")
        assert (code, report["result"], signatures(report)[0]["reason"]) == expected, peer
    # Terminated, the same bodies agree everywhere.
    terminated = message.rstrip(b" \t") + b"\r\n"
    signed = dkimtool_sign(keys, terminated, "rsa2048", "relaxed/relaxed")
    assert all(peer_verify_ours(peer, keys, signed, "rsa2048").ok for peer in PEERS)
