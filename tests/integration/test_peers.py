"""Smoke tests for tests/peers.py: every peer signs, and verifies its own and the others'.

Keys are made here with ``cryptography`` (RSA 2048 as PKCS#1 PEM, Ed25519 as PKCS#8 PEM); the
``p=`` values are built here too (RSA: base64 DER SubjectPublicKeyInfo; Ed25519: base64 of the
32 raw public bytes).  Nothing touches DNS.  Where a peer is known to deviate, the test asserts
the deviation recorded in ``tests.peers`` so a change of behaviour is noticed.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from tests import peers
from tests.peers import KeyRecords, PeerError, PeerVerdict

pytestmark = pytest.mark.peer

DOMAIN = "example.com"
SELECTORS = {"rsa-sha256": "rsa", "ed25519-sha256": "ed"}
CANONS = ("simple/simple", "simple/relaxed", "relaxed/simple", "relaxed/relaxed")
SIGNERS = ("opendkim", "maildkim", "dkimpy")
VERIFIERS = ("opendkim", "maildkim", "dkimpy")

# Folded header, runs of white space, trailing white space and trailing empty lines, so that
# simple and relaxed canonicalization really differ.  Every field has exactly one space after
# its colon (see peers.OPENDKIM_TEST_MODE_INPUT).
MESSAGE = (
    b"From: Alice Example <alice@example.com>\r\n"
    b"To: Bob <bob@example.net>\r\n"
    b"Subject: Peer   interoperability\r\n"
    b"\tsmoke test\r\n"
    b"Date: Mon, 24 Nov 2025 20:00:00 +0000\r\n"
    b"Message-ID: <peers-1@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"Hello Bob,  \r\n"
    b"\r\n"
    b"this   line has  runs of spaces\t and a tab.\r\n"
    b"-- \r\n"
    b"Alice\r\n"
    b"\r\n"
    b"\r\n"
)


@dataclass(frozen=True)
class Keys:
    rsa_path: Path
    rsa_pem: bytes
    ed_path: Path
    ed_pem: bytes
    records: dict[str, str]
    workdir: Path

    def path(self, algorithm: str) -> Path:
        return self.ed_path if algorithm.startswith("ed25519") else self.rsa_path

    def pem(self, algorithm: str) -> bytes:
        return self.ed_pem if algorithm.startswith("ed25519") else self.rsa_pem


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    base = tmp_path_factory.mktemp("peer-keys")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    rsa_pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    ed_pem = ed_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    rsa_p = rsa_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ed_p = ed_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    rsa_path = base / "rsa.pem"
    ed_path = base / "ed25519.pem"
    for path, pem in ((rsa_path, rsa_pem), (ed_path, ed_pem)):
        path.write_bytes(pem)
        path.chmod(0o600)
    records = {
        f"rsa._domainkey.{DOMAIN}": "v=DKIM1; k=rsa; p=" + base64.b64encode(rsa_p).decode(),
        f"ed._domainkey.{DOMAIN}": "v=DKIM1; k=ed25519; p=" + base64.b64encode(ed_p).decode(),
    }
    return Keys(rsa_path, rsa_pem, ed_path, ed_pem, records, base / "work")


def _require(name: str, algorithm: str = "rsa-sha256") -> None:
    if name == "dkimpy" and algorithm.startswith("ed25519"):
        peers.require_peer("dkimpy-ed25519")
    else:
        peers.require_peer(name)


def sign(signer: str, keys: Keys, message: bytes, algorithm: str, canon: str) -> bytes:
    selector = SELECTORS[algorithm]
    if signer == "opendkim":
        return peers.opendkim_sign(
            message,
            key_path=keys.path(algorithm),
            domain=DOMAIN,
            selector=selector,
            canonicalization=canon,
            algorithm=algorithm,
            workdir=keys.workdir,
        )
    if signer == "maildkim":
        return peers.maildkim_sign(
            message,
            key_path=keys.path(algorithm),
            domain=DOMAIN,
            selector=selector,
            canonicalization=canon,
            algorithm=algorithm,
        )
    return peers.dkimpy_sign(
        message,
        key_pem=keys.pem(algorithm),
        domain=DOMAIN,
        selector=selector,
        canonicalization=canon,
        algorithm=algorithm,
    )


def verify(
    verifier: str, keys: Keys, message: bytes, records: KeyRecords | None = None
) -> PeerVerdict:
    """The verdict on the topmost signature, from one peer."""
    records = keys.records if records is None else records
    if verifier == "opendkim":
        return peers.opendkim_verify(message, records, keys.workdir)
    if verifier == "maildkim":
        verdicts = peers.maildkim_verify(message, records)
        assert verdicts, "Mail::DKIM found no signature"
        return verdicts[0]
    return peers.dkimpy_verify(message, records)


def _signature_field(signed: bytes) -> bytes:
    first, _, _ = signed.partition(b"\r\n\t")
    return first


def _tamper_body(message: bytes) -> bytes:
    tampered = message.replace(b"Hello Bob,", b"Hello Eve,", 1)
    assert tampered != message
    return tampered


def _matrix() -> list[object]:
    cases: list[object] = []
    for algorithm in SELECTORS:
        for canon in CANONS:
            for signer in SIGNERS:
                for verifier in VERIFIERS:
                    marks: list[pytest.MarkDecorator] = []
                    if (
                        signer == "opendkim"
                        and verifier != "maildkim"  # it cannot check Ed25519 at all
                        and algorithm == "ed25519-sha256"
                        and canon.startswith("simple/")
                    ):
                        marks.append(
                            pytest.mark.xfail(
                                strict=True, reason=peers.OPENDKIM_ED25519_SIMPLE_HEADER
                            )
                        )
                    cases.append(
                        pytest.param(
                            signer,
                            verifier,
                            algorithm,
                            canon,
                            marks=marks,
                            id=f"{signer}->{verifier}-{algorithm}-{canon.replace('/', '_')}",
                        )
                    )
    return cases


@pytest.mark.parametrize(("signer", "verifier", "algorithm", "canon"), _matrix())
def test_cross_matrix(keys: Keys, signer: str, verifier: str, algorithm: str, canon: str) -> None:
    _require(signer, algorithm)
    _require(verifier, algorithm)
    if signer == "maildkim" and algorithm == "ed25519-sha256":
        with pytest.raises(PeerError, match="unsupported algorithm ed25519-sha256"):
            sign(signer, keys, MESSAGE, algorithm, canon)
        return
    signed = sign(signer, keys, MESSAGE, algorithm, canon)
    assert signed.endswith(MESSAGE)
    field = signed[: len(signed) - len(MESSAGE)]
    assert field.lower().startswith(b"dkim-signature:")
    assert f"a={algorithm}".encode() in field
    assert f"c={canon}".encode() in field.replace(b"\r\n\t", b"").replace(b"\r\n ", b"")
    verdict = verify(verifier, keys, signed)
    if verifier == "maildkim" and algorithm == "ed25519-sha256":
        assert not verdict.ok, peers.MAILDKIM_NO_ED25519
        assert "unsupported algorithm ed25519-sha256" in verdict.detail
        return
    assert verdict.ok, f"{verifier} rejected {signer}'s signature: {verdict.detail}"
    if verifier == "opendkim" and algorithm == "ed25519-sha256":
        assert "0-bit key" in verdict.detail, peers.OPENDKIM_ED25519_KEY_BITS

    tampered = verify(verifier, keys, _tamper_body(signed))
    assert not tampered.ok, f"{verifier} accepted a tampered body: {tampered.detail}"


@pytest.mark.parametrize("verifier", VERIFIERS)
@pytest.mark.parametrize("signer", SIGNERS)
def test_tampered_header_fails(keys: Keys, signer: str, verifier: str) -> None:
    _require(signer)
    _require(verifier)
    signed = sign(signer, keys, MESSAGE, "rsa-sha256", "relaxed/relaxed")
    assert verify(verifier, keys, signed).ok
    forged = signed.replace(b"Subject: Peer", b"Subject: Beer", 1)
    assert forged != signed
    verdict = verify(verifier, keys, forged)
    assert not verdict.ok, f"{verifier} accepted a changed Subject: {verdict.detail}"


@pytest.mark.parametrize("verifier", VERIFIERS)
def test_missing_key_fails_offline(keys: Keys, verifier: str) -> None:
    _require("dkimpy")
    _require(verifier)
    signed = sign("dkimpy", keys, MESSAGE, "rsa-sha256", "relaxed/relaxed")
    verdict = verify(verifier, keys, signed, records={})
    assert not verdict.ok
    assert any(word in verdict.detail for word in ("not found", "not available", "missing"))


def test_unsigned_message(tmp_path: Path) -> None:
    records: KeyRecords = {}
    if peers.have_opendkim():
        verdict = peers.opendkim_verify(MESSAGE, records, tmp_path)
        assert verdict == PeerVerdict(False, "message not signed")
    if peers.have_maildkim():
        assert peers.maildkim_verify(MESSAGE, records) == []
    if peers.have_dkimpy():
        assert peers.dkimpy_verify_all(MESSAGE, records) == []
        assert not peers.dkimpy_verify(MESSAGE, records).ok


def test_every_signature_is_reported(keys: Keys) -> None:
    """Mail::DKIM and dkimpy_verify_all give one verdict per signature, top first."""
    _require("dkimpy", "ed25519-sha256")
    _require("maildkim")
    rsa_signed = sign("dkimpy", keys, MESSAGE, "rsa-sha256", "relaxed/relaxed")
    both = sign("dkimpy", keys, rsa_signed, "ed25519-sha256", "relaxed/relaxed")
    top_ed, below_rsa = peers.dkimpy_verify_all(both, keys.records)
    assert top_ed.ok and below_rsa.ok
    md_ed, md_rsa = peers.maildkim_verify(both, keys.records)
    assert not md_ed.ok and "a=ed25519-sha256" in md_ed.detail
    assert md_rsa.ok and "a=rsa-sha256" in md_rsa.detail
    # without the Ed25519 key the top signature fails, and it alone decides dkimpy_verify
    rsa_only = {name: value for name, value in keys.records.items() if name.startswith("rsa.")}
    assert not peers.dkimpy_verify(both, rsa_only).ok
    top_ed, below_rsa = peers.dkimpy_verify_all(both, rsa_only)
    assert not top_ed.ok and below_rsa.ok


def test_opendkim_reports_one_signature(keys: Keys) -> None:
    _require("opendkim")
    _require("dkimpy")
    good = sign("dkimpy", keys, MESSAGE, "rsa-sha256", "relaxed/relaxed")
    bad_below = peers.dkimpy_sign(
        good.replace(b"Hello Bob,", b"Hello Eve,", 1),
        key_pem=keys.rsa_pem,
        domain=DOMAIN,
        selector="rsa",
    )
    verdict = peers.opendkim_verify(bad_below, keys.records, keys.workdir)
    assert isinstance(verdict, PeerVerdict), peers.OPENDKIM_SINGLE_VERDICT
    assert verdict.ok, "OpenDKIM reports the good signature when there is one"


NO_FINAL_CRLF = MESSAGE.rstrip(b"\r\n")


@pytest.mark.parametrize("verifier", VERIFIERS)
def test_simple_body_without_final_crlf(keys: Keys, verifier: str) -> None:
    """RFC 6376 3.4.3: simple adds the missing CRLF; Mail::DKIM does not."""
    _require("dkimpy")
    _require(verifier)
    signed = sign("dkimpy", keys, NO_FINAL_CRLF, "rsa-sha256", "simple/simple")
    verdict = verify(verifier, keys, signed)
    if verifier == "maildkim":
        assert not verdict.ok, peers.MAILDKIM_SIMPLE_BODY_NO_FINAL_CRLF
    else:
        assert verdict.ok, verdict.detail


def test_opendkim_relaxed_body_without_final_crlf(keys: Keys) -> None:
    _require("opendkim")
    _require("dkimpy")
    with pytest.raises(PeerError, match="CRLF at end of body missing"):
        sign("opendkim", keys, NO_FINAL_CRLF, "rsa-sha256", "relaxed/relaxed")
    signed = sign("dkimpy", keys, NO_FINAL_CRLF, "rsa-sha256", "relaxed/relaxed")
    verdict = peers.opendkim_verify(signed, keys.records, keys.workdir)
    assert verdict == PeerVerdict(False, "message not signed"), peers.OPENDKIM_RELAXED_NO_FINAL_CRLF
    assert peers.dkimpy_verify(signed, keys.records).ok


def test_opendkim_simple_header_spacing(keys: Keys) -> None:
    _require("opendkim")
    _require("dkimpy")
    odd = MESSAGE.replace(b"To: Bob", b"To:Bob", 1)
    signed = sign("dkimpy", keys, odd, "rsa-sha256", "simple/simple")
    assert peers.dkimpy_verify(signed, keys.records).ok
    verdict = peers.opendkim_verify(signed, keys.records, keys.workdir)
    assert not verdict.ok, peers.OPENDKIM_TEST_MODE_INPUT


def test_key_record_flags(keys: Keys) -> None:
    """h= and t=s in the key record: OpenDKIM and Mail::DKIM enforce them, dkimpy does not."""
    _require("opendkim")
    _require("maildkim")
    _require("dkimpy")
    signed = sign("dkimpy", keys, MESSAGE, "rsa-sha256", "relaxed/relaxed")
    name = f"rsa._domainkey.{DOMAIN}"
    sha1_only = {name: keys.records[name] + "; h=sha1"}
    assert not peers.opendkim_verify(signed, sha1_only, keys.workdir).ok
    assert not peers.maildkim_verify(signed, sha1_only)[0].ok
    assert peers.dkimpy_verify(signed, sha1_only).ok, peers.DKIMPY_IGNORES_KEY_FLAGS
    wrong_type = {name: keys.records[name].replace("k=rsa", "k=ed25519")}
    assert peers.opendkim_verify(signed, wrong_type, keys.workdir).ok, (
        peers.OPENDKIM_IGNORES_KEY_TYPE
    )
    assert not peers.maildkim_verify(signed, wrong_type)[0].ok
    assert not peers.dkimpy_verify(signed, wrong_type).ok


@pytest.mark.parametrize("signer", SIGNERS)
def test_lf_only_message(keys: Keys, signer: str) -> None:
    _require(signer)
    lf = MESSAGE.replace(b"\r\n", b"\n")
    signed = sign(signer, keys, lf, "rsa-sha256", "relaxed/relaxed")
    assert b"\r" not in signed
    for verifier in VERIFIERS:
        if verifier == "opendkim" and not peers.have_opendkim():
            continue
        if verifier == "maildkim" and not peers.have_maildkim():
            continue
        verdict = verify(verifier, keys, signed)
        assert verdict.ok, f"{verifier}: {verdict.detail}"


def test_require_peer(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="unknown peer"):
        peers.require_peer("nonesuch")
    missing: Callable[[], bool] = lambda: False
    monkeypatch.setattr(peers, "have_opendkim", missing)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="not available"):
        peers.require_peer("opendkim")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="not available"):
        peers.require_peer("opendkim")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        peers.require_peer("OpenDKIM")


def test_peer_error_carries_output(keys: Keys, tmp_path: Path) -> None:
    _require("opendkim")
    with pytest.raises(PeerError) as info:
        peers.opendkim_sign(
            MESSAGE,
            key_path=keys.rsa_path,
            domain=DOMAIN,
            selector="rsa",
            workdir=tmp_path,
            extra_config=["NoSuchOption yes"],
        )
    assert info.value.peer == "opendkim"
    assert "NoSuchOption" in str(info.value)
