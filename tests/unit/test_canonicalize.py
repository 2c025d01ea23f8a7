"""Canonicalization (RFC 6376 3.4): headers, bodies, any chunking, and l= accounting."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dkimtool.core.canonicalize import (
    BodyCanonicalizer,
    BodyHash,
    Canonicalization,
    canonical_headers,
    canonicalize_body,
    canonicalize_header,
    relaxed_header,
    select_fields,
    simple_header,
)
from dkimtool.core.message import parse_message

CHUNK_SIZES = [1, 2, 3, 5, 7, 10, 4096]


def test_rfc6376_3_4_6_example() -> None:
    """The RFC's own example: header "A: X", "B : Y\\t\\r\\n\\tZ  " and its body."""
    assert relaxed_header(b"A: X") == b"a:X\r\n"
    assert relaxed_header(b"B : Y\t\r\n\tZ  ") == b"b:Y Z\r\n"
    assert simple_header(b"B : Y\t\r\n\tZ  ") == b"B : Y\t\r\n\tZ  \r\n"
    body = b" C \r\nD \t E\r\n\r\n\r\n"
    assert canonicalize_body(body, "relaxed") == b" C\r\nD E\r\n"
    assert canonicalize_body(body, "simple") == b" C \r\nD \t E\r\n"


def test_simple_header_makes_crlf() -> None:
    assert simple_header(b"Subject: a\n b") == b"Subject: a\r\n b\r\n"


@pytest.mark.parametrize(
    ("body", "simple", "relaxed"),
    [
        (b"", b"\r\n", b""),
        (b"\r\n", b"\r\n", b""),
        (b"\n\n\n", b"\r\n", b""),
        (b"abc", b"abc\r\n", b"abc\r\n"),
        (b"abc  ", b"abc  \r\n", b"abc\r\n"),
        (b"a\n \n", b"a\r\n \r\n", b"a\r\n"),
        (b"a\r\r\n", b"a\r\r\n", b"a\r\r\n"),
        (b"a\tb  c \r\n", b"a\tb  c \r\n", b"a b c\r\n"),
        (b"\r\n\r\nx\r\n\r\n", b"\r\n\r\nx\r\n", b"\r\n\r\nx\r\n"),
    ],
)
def test_body_edge_cases(body: bytes, simple: bytes, relaxed: bytes) -> None:
    assert canonicalize_body(body, "simple") == simple
    assert canonicalize_body(body, "relaxed") == relaxed


def _reference(body: bytes, canon: Canonicalization) -> bytes:
    """A plain transcription of RFC 6376 3.4.3/3.4.4 for newline-terminated bodies."""
    body = re.sub(rb"(?<!\r)\n", b"\r\n", body)
    if canon == "relaxed":
        body = re.sub(rb"[ \t]+\r\n", b"\r\n", body)
        body = re.sub(rb"[ \t]+", b" ", body)
    while body.endswith(b"\r\n\r\n"):
        body = body[:-2]
    if canon == "relaxed" and body == b"\r\n":
        return b""
    return body or (b"\r\n" if canon == "simple" else b"")


class Collect:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def update(self, data: bytes, /) -> None:
        self.parts.append(data)


CORPUS = [
    b"Hi.\n\nWe lost the game. Are you hungry yet?\n\nJoe.\n\n\n",
    b"a  \t b\t\r\n\t \r\n  c\r\r\n\r\n \r\n",
    b"\r\n" * 50 + b"x" + b" " * 30 + b"\n" * 40,
    b"8-bit \xe4\xf6\xfc\xc3\xa9 \t\n\x00binary\x01\r\n",
    b"line\rwith lone CR\r\n\r",
]


@pytest.mark.parametrize("canon", ["simple", "relaxed"])
@pytest.mark.parametrize("crlf", [False, True])
@pytest.mark.parametrize("size", CHUNK_SIZES)
def test_chunked_equals_one_shot(canon: Canonicalization, crlf: bool, size: int) -> None:
    for body in CORPUS:
        if crlf:
            body = re.sub(rb"(?<!\r)\n", b"\r\n", body)
        whole = canonicalize_body(body, canon)
        if body.endswith(b"\n"):
            assert whole == _reference(body, canon)
        sink = Collect()
        canonicalizer = BodyCanonicalizer(canon, (sink,))
        for offset in range(0, len(body), size):
            canonicalizer.update(body[offset : offset + size])
        canonicalizer.finalize()
        assert b"".join(sink.parts) == whole
        assert canonicalizer.total == len(whole)


def test_large_input_is_processed_in_blocks() -> None:
    body = (b"x" * 100 + b"  \r\n") * 30_000 + b"\r\n" * 600_000  # ~4.3 MB
    digest = BodyHash("sha256")
    canonicalizer = BodyCanonicalizer("relaxed", (digest,))
    canonicalizer.update(body)
    canonicalizer.finalize()
    expected = (b"x" * 100 + b"\r\n") * 30_000
    assert canonicalizer.total == len(expected)
    assert digest.digest() == hashlib.sha256(expected).digest()


def test_body_hash_limit() -> None:
    limited, full = BodyHash("sha256", limit=5), BodyHash("sha1")
    canonicalizer = BodyCanonicalizer("simple", (limited, full))
    for piece in (b"ab", b"cd\r\nef", b"\r\n"):
        canonicalizer.update(piece)
    canonicalizer.finalize()
    assert limited.hashed == 5
    assert limited.digest() == hashlib.sha256(b"abcd\r").digest()
    assert full.digest() == hashlib.sha1(b"abcd\r\nef\r\n").digest()
    assert canonicalizer.total == 10


def test_unknown_canonicalization() -> None:
    with pytest.raises(ValueError):
        BodyCanonicalizer("nofws", ())  # type: ignore[arg-type]


def test_select_fields_bottom_up_and_oversigned() -> None:
    msg = parse_message(b"To: 1\nFrom: f\nTo: 2\n\n")
    chosen = select_fields(msg.fields, ["to", "To", "TO", "from", "subject"])
    assert [f.raw for f in chosen] == [b"To: 2", b"To: 1", b"From: f"]


_raw_fields = st.lists(
    st.builds(
        lambda name, value: name + b":" + value,
        st.sampled_from([b"Subject", b"X-A ", b"to\t", b"From"]),
        st.binary(max_size=30)
        | st.lists(st.sampled_from([b" ", b"\t", b"\r\n ", b"\n\t", b"a", b"\x00", b"\r"])).map(
            b"".join
        ),
    ),
    max_size=6,
)


@given(_raw_fields, st.sampled_from(["simple", "relaxed"]))
def test_canonical_headers_is_each_field_canonicalized(
    raws: list[bytes], canonicalization: Canonicalization
) -> None:
    """The batched form (values joined, canonicalized at once) equals one field at a time,
    NUL bytes in values (the fallback) included."""
    expected = b"".join(canonicalize_header(raw, canonicalization) for raw in raws)
    assert canonical_headers(raws, canonicalization) == expected
