"""Signing: output layout, h= selection, options, errors, streaming, and dkimpy as the oracle."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Literal

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from dkimtool.core import keys
from dkimtool.core.canonicalize import header_hash_input, relaxed_header, select_fields
from dkimtool.core.errors import MessageFormatError, SigningError
from dkimtool.core.message import parse_message
from dkimtool.core.signature import (
    DkimSignature,
    header_digest,
    sign_digest,
    strip_b_value,
)
from dkimtool.core.signer import (
    DEFAULT_SIGNED_HEADERS,
    Algorithm,
    Signer,
    SigningKey,
    SignOptions,
    SignResult,
    sign_message,
)
from tests.conftest import pooled_rsa_key

NOW = 1_700_000_000
Canon = Literal["simple", "relaxed"]
MESSAGE = (
    b"From: Joe SixPack <joe@football.example.com>\n"
    b"To: Suzie Q <suzie@shopping.example.net>\n"
    b"Subject: Is dinner ready?\n"
    b"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\n"
    b"Message-ID: <20030712040037.46341.5F8J@football.example.com>\n"
    b"\n"
    b"Hi.\n"
    b"\n"
    b"We lost the game.  Are you hungry yet?  \n"
    b"\n"
    b"Joe.\n"
    b"\n"
)
RFC8463_SEED = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="


def rsa_key(bits: int = 1024) -> keys.LoadedKey:
    private = pooled_rsa_key(bits)
    return keys.LoadedKey(public=private.public_key(), private=private)


@pytest.fixture(scope="module")
def ed_key() -> keys.LoadedKey:
    return keys.load_key(RFC8463_SEED.encode())


def options(*signing_keys: SigningKey, **kwargs: object) -> SignOptions:
    return SignOptions(domain="example.com", keys=signing_keys, **kwargs)  # type: ignore[arg-type]


def rsa_signing(selector: str = "rsa", bits: int = 1024) -> SigningKey:
    return SigningKey(selector=selector, key=rsa_key(bits), algorithm="rsa-sha256")


def dnsfunc_for(records: dict[str, keys.LoadedKey]) -> Callable[..., bytes | None]:
    table = {
        f"{name}.".encode(): f"v=DKIM1; k={key.key_type}; p={keys.p_value(key.public)}".encode()
        for name, key in records.items()
    }

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return table.get(name)

    return dnsfunc


def signed(data: bytes, result: SignResult) -> bytes:
    head, fields, rest = result.output_parts(data)
    return bytes(head) + fields + bytes(rest)


def crlf(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


# ------------------------------------------------------------------------------------------
# Layout
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
def test_field_prepended_in_the_message_line_ending(eol: bytes) -> None:
    data = MESSAGE.replace(b"\n", eol)
    result = sign_message(data, options(rsa_signing()), now=NOW)
    assert result.insert_at == 0
    assert result.fields.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;")
    assert result.fields.endswith(eol)
    assert result.fields.count(b"\n") == result.fields.count(eol)
    assert signed(data, result) == result.fields + data
    for line in result.fields.split(eol)[:-1]:
        assert len(line) <= 78
    assert [s.field for s in result.signatures] == [result.fields]


def test_mbox_from_line_stays_first_and_is_not_hashed() -> None:
    mbox = b"From joe@football.example.com Fri Jul 11 21:00:37 2003\n"
    plain = sign_message(MESSAGE, options(rsa_signing()), now=NOW)
    result = sign_message(mbox + MESSAGE, options(rsa_signing()), now=NOW)
    assert result.insert_at == len(mbox)
    assert result.fields == plain.fields
    assert signed(mbox + MESSAGE, result) == mbox + plain.fields + MESSAGE


def test_output_parts_are_views_of_the_input() -> None:
    result = sign_message(MESSAGE, options(rsa_signing()), now=NOW)
    head, _, rest = result.output_parts(MESSAGE)
    assert isinstance(head, memoryview)
    assert isinstance(rest, memoryview)
    assert rest.obj is MESSAGE


def test_tags_from_options() -> None:
    result = sign_message(
        MESSAGE,
        options(
            rsa_signing(),
            identity="joe@Sub.Example.com",
            expire=3600,
            body_length=True,
            timestamp=1234,
            header_canonicalization="simple",
            body_canonicalization="simple",
        ),
        now=NOW,
    )
    sig = DkimSignature.parse(result.fields.split(b":", 1)[1])
    assert sig.timestamp == 1234
    assert sig.expiration == 1234 + 3600
    assert sig.identity == "joe@Sub.Example.com"
    assert sig.canonicalization == "simple/simple"
    body = MESSAGE[MESSAGE.index(b"\n\n") + 2 :]
    assert sig.body_length == len(crlf(body.rstrip(b"\n") + b"\n"))
    assert "l= lets others append content to the signed message" in result.warnings


def test_timestamp_defaults_to_now() -> None:
    result = sign_message(MESSAGE, options(rsa_signing()), now=NOW + 0.9)
    assert DkimSignature.parse(result.fields.split(b":", 1)[1]).timestamp == NOW


def test_default_h_list_signs_present_and_oversigns() -> None:
    data = b"From: a@example.com\nTo: b\nTo: c\nX-Other: d\nContent-Type: text/plain\n\nx\n"
    result = sign_message(data, options(rsa_signing()), now=NOW)
    sig = DkimSignature.parse(result.fields.split(b":", 1)[1])
    assert list(sig.signed_headers) == [
        "From", "From",
        "Reply-To",
        "Subject",
        "Date",
        "To", "To", "To",
        "Cc",
        "Message-ID",
        "Content-Type",
    ]  # fmt: skip
    assert "x-other" not in (name.lower() for name in sig.signed_headers)
    assert "Content-Type" in DEFAULT_SIGNED_HEADERS


def test_custom_headers_without_oversign_always_sign_from() -> None:
    data = b"From: a@example.com\nSubject: s\n\nx\n"
    result = sign_message(
        data, options(rsa_signing(), headers=("Subject", "Date"), oversign=()), now=NOW
    )
    sig = DkimSignature.parse(result.fields.split(b":", 1)[1])
    assert list(sig.signed_headers) == ["From", "Subject"]


def test_h_list_folds_at_colons_only() -> None:
    names = tuple(f"X-Header-Number-{i}" for i in range(12))
    data = b"From: a\n" + b"".join(f"{n}: v\n".encode() for n in names) + b"\nx\n"
    result = sign_message(data, options(rsa_signing(), headers=names, oversign=()), now=NOW)
    lines = result.fields.split(b"\n")[:-1]
    assert all(len(line) <= 78 for line in lines)
    b_line = next(i for i, line in enumerate(lines) if line.startswith(b" b="))
    for line in lines[1:b_line]:
        assert re.match(rb" (X-Header-Number-\d+[:;]|[a-z]+=)", line), line
    for line in lines[b_line + 1 :]:
        assert re.fullmatch(rb" [A-Za-z0-9+/=]+", line), line
    sig = DkimSignature.parse(result.fields.split(b":", 1)[1])
    assert sig.signed_headers == ("From", *names)


def test_existing_signature_with_same_d_and_s_warns() -> None:
    first = sign_message(MESSAGE, options(rsa_signing("mail")), now=NOW)
    again = sign_message(signed(MESSAGE, first), options(rsa_signing("MAIL")), now=NOW)
    assert "a DKIM-Signature for d=example.com s=MAIL is already present" in again.warnings
    other = sign_message(signed(MESSAGE, first), options(rsa_signing("other")), now=NOW)
    assert not any("already present" in w for w in other.warnings)


def test_two_keys_one_pass_topmost_first(ed_key: keys.LoadedKey) -> None:
    result = sign_message(
        MESSAGE,
        options(
            rsa_signing(),
            SigningKey(selector="ed", key=ed_key, algorithm="ed25519-sha256"),
        ),
        now=NOW,
    )
    assert [s.algorithm for s in result.signatures] == ["rsa-sha256", "ed25519-sha256"]
    assert result.fields == result.signatures[0].field + result.signatures[1].field
    out = signed(MESSAGE, result)
    dnsfunc = dnsfunc_for(
        {"rsa._domainkey.example.com": rsa_key(), "ed._domainkey.example.com": ed_key}
    )
    dk = dkim.DKIM(out)
    assert dk.verify(idx=0, dnsfunc=dnsfunc)
    assert dk.verify(idx=1, dnsfunc=dnsfunc)


def test_rsa_sha1_only_when_asked_and_warns() -> None:
    result = sign_message(
        MESSAGE,
        options(SigningKey(selector="rsa", key=rsa_key(), algorithm="rsa-sha1")),
        now=NOW,
    )
    assert b"a=rsa-sha1;" in result.fields
    assert any("rsa-sha1" in w for w in result.warnings)
    dnsfunc = dnsfunc_for({"rsa._domainkey.example.com": rsa_key()})
    assert dkim.verify(signed(MESSAGE, result), dnsfunc=dnsfunc)


# ------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------


def test_missing_from_is_a_signing_error() -> None:
    with pytest.raises(SigningError, match="no From"):
        sign_message(b"To: a\n\nbody\n", options(rsa_signing()), now=NOW)


def test_empty_message() -> None:
    with pytest.raises(MessageFormatError):
        sign_message(b"", options(rsa_signing()), now=NOW)


@pytest.mark.parametrize(
    "data",
    [b"no colon\n\n", b" cont\nFrom: a\n\n", b"From: \x00\n\n", b"From: a\nX: " + b"y" * 2**20],
)
def test_malformed_message(data: bytes) -> None:
    with pytest.raises(MessageFormatError):
        sign_message(data, options(rsa_signing()), now=NOW)


def test_megabyte_header_line_streamed_is_rejected() -> None:
    signer = Signer(options(rsa_signing()), now=NOW)
    with pytest.raises(MessageFormatError):
        signer.update(b"From: a\nX: ")
        for _ in range(40):
            signer.update(b"y" * 65536)
        signer.finalize()


def test_algorithm_must_fit_the_key(ed_key: keys.LoadedKey) -> None:
    with pytest.raises(SigningError, match="does not fit"):
        Signer(options(SigningKey(selector="s", key=ed_key, algorithm="rsa-sha256")), now=NOW)
    with pytest.raises(SigningError, match="does not fit"):
        Signer(
            options(SigningKey(selector="s", key=rsa_key(), algorithm="ed25519-sha256")), now=NOW
        )


def test_public_key_cannot_sign() -> None:
    public_only = keys.LoadedKey(public=rsa_key().public)
    with pytest.raises(SigningError, match="public key"):
        Signer(options(SigningKey(selector="s", key=public_only, algorithm="rsa-sha256")), now=NOW)


def test_unknown_algorithm() -> None:
    bad: Algorithm = "rsa-md5"  # type: ignore[assignment]
    with pytest.raises(SigningError, match="unknown"):
        Signer(options(SigningKey(selector="s", key=rsa_key(), algorithm=bad)), now=NOW)


@pytest.mark.parametrize("identity", ["joe@example.org", "joe@notexample.com", "no-at-sign"])
def test_identity_outside_domain(identity: str) -> None:
    with pytest.raises(SigningError):
        Signer(options(rsa_signing(), identity=identity), now=NOW)


@pytest.mark.parametrize("kwargs", [{"expire": 0}, {"timestamp": -1}])
def test_bad_times(kwargs: dict[str, int]) -> None:
    with pytest.raises(SigningError):
        Signer(options(rsa_signing(), **kwargs), now=NOW)


def test_bad_names() -> None:
    with pytest.raises(SigningError):
        Signer(SignOptions(domain="exa mple.com", keys=(rsa_signing(),)), now=NOW)
    with pytest.raises(SigningError):
        Signer(options(SigningKey(selector="a/b", key=rsa_key(), algorithm="rsa-sha256")), now=NOW)
    with pytest.raises(SigningError):
        Signer(options(), now=NOW)


def test_corrupted_key_is_caught_before_output() -> None:
    mismatched = keys.LoadedKey(public=rsa_key(2048).public, private=rsa_key(1024).private)
    with pytest.raises(SigningError, match="does not verify"):
        sign_message(
            MESSAGE,
            options(SigningKey(selector="s", key=mismatched, algorithm="rsa-sha256")),
            now=NOW,
        )


# ------------------------------------------------------------------------------------------
# Streaming
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 10, 4096])
@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
def test_chunked_equals_one_shot(size: int, eol: bytes, ed_key: keys.LoadedKey) -> None:
    data = b"From nobody Mon Jan  1 00:00:00 2024\n" + MESSAGE.replace(b"\n", eol) + b"  \t"
    opts = options(rsa_signing(), SigningKey(selector="ed", key=ed_key, algorithm="ed25519-sha256"))
    whole = sign_message(data, opts, now=NOW)
    signer = Signer(opts, now=NOW)
    for offset in range(0, len(data), size):
        signer.update(data[offset : offset + size])
    assert signer.finalize() == whole


def test_finalize_twice_and_update_after() -> None:
    signer = Signer(options(rsa_signing()), now=NOW)
    signer.update(MESSAGE)
    signer.finalize()
    with pytest.raises(ValueError):
        signer.finalize()
    with pytest.raises(ValueError):
        signer.update(b"x")


# ------------------------------------------------------------------------------------------
# dkimpy as the oracle
# ------------------------------------------------------------------------------------------

CANONS = [(h, b) for h in ("simple", "relaxed") for b in ("simple", "relaxed")]


@pytest.mark.parametrize(("header_canon", "body_canon"), CANONS)
@pytest.mark.parametrize("algorithm", ["rsa-sha256", "ed25519-sha256"])
@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
def test_dkimpy_verifies_ours_and_body_hashes_agree(
    header_canon: Canon,
    body_canon: Canon,
    algorithm: Algorithm,
    eol: bytes,
    ed_key: keys.LoadedKey,
) -> None:
    key = ed_key if algorithm == "ed25519-sha256" else rsa_key(2048)
    data = MESSAGE.replace(b"\n", eol)
    result = sign_message(
        data,
        options(
            SigningKey(selector="sel", key=key, algorithm=algorithm),
            header_canonicalization=header_canon,
            body_canonicalization=body_canon,
        ),
        now=NOW,
    )
    dnsfunc = dnsfunc_for({"sel._domainkey.example.com": key})
    assert dkim.verify(signed(data, result), dnsfunc=dnsfunc)

    assert key.private is not None
    if isinstance(key.private, ed25519.Ed25519PrivateKey):
        privkey = RFC8463_SEED.encode()
    else:
        privkey = key.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    theirs = dkim.sign(
        crlf(MESSAGE) if eol == b"\n" else data,
        b"sel",
        b"example.com",
        privkey,
        canonicalize=(header_canon.encode(), body_canon.encode()),
        signature_algorithm=algorithm.encode(),
    )
    bh_theirs = re.search(rb"bh=([^;]+);", theirs)
    bh_ours = re.search(rb"bh=([^;]+);", result.fields)
    assert bh_theirs is not None and bh_ours is not None
    assert bh_ours.group(1) == re.sub(rb"\s", b"", bh_theirs.group(1))


# ------------------------------------------------------------------------------------------
# RFC vectors: the signing primitive reproduces the published b= byte for byte
# ------------------------------------------------------------------------------------------

RFC8463_SIGNED = crlf(
    b"DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\n"
    b" d=football.example.com; i=@football.example.com;\n"
    b" q=dns/txt; s=brisbane; t=1528637909; h=from : to :\n"
    b" subject : date : message-id : from : subject : date;\n"
    b" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\n"
    b" b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\n"
    b" Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\n"
    b"From: Joe SixPack <joe@football.example.com>\n"
    b"To: Suzie Q <suzie@shopping.example.net>\n"
    b"Subject: Is dinner ready?\n"
    b"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\n"
    b"Message-ID: <20030712040037.46341.5F8J@football.example.com>\n"
    b"\n"
    b"Hi.\n"
    b"\n"
    b"We lost the game.  Are you hungry yet?\n"
    b"\n"
    b"Joe.\n"
)


def test_rfc8463_ed25519_signature_reproduced(ed_key: keys.LoadedKey) -> None:
    """RFC 8463 A: the RFC's key over our canonical header data gives the RFC's b=."""
    assert keys.p_value(ed_key.public) == "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
    msg = parse_message(RFC8463_SIGNED)
    field = msg.fields[0]
    sig = DkimSignature.parse(field.value)
    chosen = select_fields(msg.fields, sig.signed_headers, exclude=field)
    data = header_hash_input(chosen, "relaxed") + relaxed_header(strip_b_value(field.raw))[:-2]
    assert ed_key.private is not None
    made = sign_digest(ed_key.private, header_digest(data, "sha256"), "sha256")
    assert base64.b64encode(made).decode() == sig.b_text


def test_two_from_fields_sign_with_a_warning() -> None:
    message = b"From: a@example.com\nFrom: b@example.com\nSubject: x\n\nbody\n"
    options = SignOptions(
        domain="example.com",
        keys=(SigningKey(selector="s", key=rsa_key(), algorithm="rsa-sha256"),),
    )
    result = sign_message(message, options, now=NOW)
    assert result.signatures
    assert any("2 From fields" in warning for warning in result.warnings)
