"""Property tests: sign → verify round trips, tampering named correctly, chunking invariance,
and agreement with dkimpy's canonicalization."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import dkim
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dkimtool.core import keys
from dkimtool.core.canonicalize import BodyCanonicalizer, canonicalize_body
from dkimtool.core.errors import DnsNotFound
from dkimtool.core.results import AuthResult
from dkimtool.core.signer import Signer, SigningKey, SignOptions, sign_message
from dkimtool.core.verifier import VerifyPolicy, verify_message
from tests.conftest import pooled_rsa_key
from tests.unit.test_signer import RFC8463_SEED

NOW = 1_700_000_000
Canon = Literal["simple", "relaxed"]
RSA = keys.LoadedKey(public=pooled_rsa_key(1024).public_key(), private=pooled_rsa_key(1024))
ED = keys.load_key(RFC8463_SEED.encode())
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass
class Answer:
    records: list[bytes]


class Zone:
    def lookup_txt(self, name: str) -> Answer:
        key = {"rsa._domainkey.example.com": RSA, "ed._domainkey.example.com": ED}.get(name)
        if key is None:
            raise DnsNotFound(name)
        return Answer([f"v=DKIM1; k={key.key_type}; p={keys.p_value(key.public)}".encode()])


# Lines of text: printable ASCII, 8-bit bytes, runs of spaces and tabs, trailing white space.
line_text = st.lists(
    st.sampled_from([b"a", b"Z", b"0", b" ", b"  ", b"\t", b"\xe9", b"\xc3\xa9", b".", b":"]),
    max_size=30,
).map(b"".join)
body_lines = st.lists(line_text, max_size=12)
values = line_text.filter(lambda v: v.strip(b" \t") != b"")


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    eol = draw(st.sampled_from([b"\n", b"\r\n"]))
    headers = [b"From: " + draw(values)]
    for name in draw(st.lists(st.sampled_from([b"To", b"Subject", b"Cc", b"X-Any"]), max_size=4)):
        value = draw(values)
        if draw(st.booleans()):  # a long folded field
            value = value + eol + b"\t" + draw(values) + eol + b" " + b"x" * 70
        headers.append(name + b":" + value)
    body = draw(body_lines)
    trailing_blank = draw(st.integers(min_value=0, max_value=3))
    text = eol.join(headers) + eol + eol + eol.join(body) + (eol if body else b"")
    return text + eol * trailing_blank


@st.composite
def sign_setups(draw: st.DrawFn) -> tuple[bytes, SignOptions]:
    data = draw(messages())
    use_ed = draw(st.booleans())
    key = SigningKey(
        selector="ed" if use_ed else "rsa",
        key=ED if use_ed else RSA,
        algorithm="ed25519-sha256" if use_ed else "rsa-sha256",
    )
    canon: st.SearchStrategy[Canon] = st.sampled_from(["simple", "relaxed"])
    options = SignOptions(
        domain="example.com",
        keys=(key,),
        header_canonicalization=draw(canon),
        body_canonicalization=draw(canon),
        body_length=draw(st.booleans()),
    )
    return data, options


def _verify(data: bytes) -> list[tuple[AuthResult, str]]:
    report = verify_message(data, keys=Zone(), policy=VerifyPolicy(), now=NOW)
    return [(sig.result, sig.reason) for sig in report.signatures]


@SETTINGS
@given(sign_setups())
def test_sign_then_verify_passes(setup: tuple[bytes, SignOptions]) -> None:
    data, options = setup
    result = sign_message(data, options, now=NOW)
    assert _verify(result.fields + data) == [(AuthResult.PASS, "")]


@SETTINGS
@given(sign_setups(), st.binary(min_size=1, max_size=5).filter(lambda b: b.strip() != b""))
def test_tampered_body_is_body_hash_failure(setup: tuple[bytes, SignOptions], extra: bytes) -> None:
    data, options = setup
    options = options._replace(body_length=False)
    result = sign_message(data, options, now=NOW)
    assert _verify(result.fields + data + b"\nX" + extra) == [
        (AuthResult.FAIL, "body hash did not verify")
    ]


@SETTINGS
@given(sign_setups())
def test_tampered_from_is_signature_failure(setup: tuple[bytes, SignOptions]) -> None:
    data, options = setup
    result = sign_message(data, options, now=NOW)
    tampered = (result.fields + data).replace(b"From: ", b"From: evil ", 1)
    assert _verify(tampered) == [(AuthResult.FAIL, "signature did not verify")]


@SETTINGS
@given(sign_setups(), st.integers(min_value=1, max_value=40))
def test_streaming_signer_equals_one_shot(setup: tuple[bytes, SignOptions], size: int) -> None:
    data, options = setup
    signer = Signer(options, now=NOW)
    for offset in range(0, len(data), size):
        signer.update(data[offset : offset + size])
    assert signer.finalize() == sign_message(data, options, now=NOW)


raw_bodies = st.lists(
    st.sampled_from([b"a", b" ", b"\t", b"\r", b"\n", b"\r\n", b"\xff", b"  \r\n"]), max_size=40
).map(b"".join)


@settings(max_examples=200, deadline=None)
@given(raw_bodies, st.sampled_from(["simple", "relaxed"]), st.lists(st.integers(1, 8), min_size=1))
def test_body_chunking_never_matters(body: bytes, canon: Canon, sizes: list[int]) -> None:
    parts: list[bytes] = []

    class Sink:
        def update(self, data: bytes, /) -> None:
            parts.append(data)

    canonicalizer = BodyCanonicalizer(canon, (Sink(),))
    offset, index = 0, 0
    while offset < len(body):
        size = sizes[index % len(sizes)]
        canonicalizer.update(body[offset : offset + size])
        offset, index = offset + size, index + 1
    canonicalizer.finalize()
    assert b"".join(parts) == canonicalize_body(body, canon)


@settings(max_examples=200, deadline=None)
@given(raw_bodies, st.sampled_from(["simple", "relaxed"]))
def test_body_canonicalization_matches_dkimpy(body: bytes, canon: Canon) -> None:
    """dkimpy agrees wherever the body ends with a line break (see the module doc of
    canonicalize for the unterminated last line, where dkimpy keeps trailing WSP)."""
    body = body + b"\n"
    algorithm = dkim.canonicalization.ALGORITHMS[canon.encode()]
    theirs = algorithm.canonicalize_body(re.sub(rb"(?<!\r)\n", b"\r\n", body))
    assert canonicalize_body(body, canon) == theirs
