"""The DKIM-Signature field: strict parsing, b= stripping and folding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dkimtool.core.signature import (
    DkimSignature,
    SignatureFormatError,
    fold_field,
    lenient_tags,
    parse_canonicalization,
    strip_b_value,
)

BASE = (
    "v=1; a=rsa-sha256; c=relaxed; d=Example.COM; s=sel.sub; h=From : To;"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; b=dGVz\r\n dA=="
)


def parse(text: str) -> DkimSignature:
    return DkimSignature.parse(text.encode())


def test_parse_values_and_defaults() -> None:
    sig = parse(BASE)
    assert sig.algorithm == "rsa-sha256"
    assert (sig.key_type, sig.hash_name) == ("rsa", "sha256")
    assert (sig.header_canonicalization, sig.body_canonicalization) == ("relaxed", "simple")
    assert sig.canonicalization == "relaxed/simple"
    assert (sig.domain, sig.selector) == ("Example.COM", "sel.sub")
    assert sig.signed_headers == ("From", "To")
    assert sig.signature == b"test"
    assert sig.b_text == "dGVzdA=="
    assert (sig.identity, sig.identity_given, sig.identity_domain) == (
        "@Example.COM",
        False,
        "Example.COM",
    )
    assert (sig.body_length, sig.timestamp, sig.expiration) == (None, None, None)


def test_optional_tags() -> None:
    sig = parse(BASE + "; i=joe@Mail.example.com; l=10; t=5; x=6; q=dns/txt; z=From:x")
    assert sig.identity == "joe@Mail.example.com"
    assert sig.identity_given
    assert (sig.body_length, sig.timestamp, sig.expiration) == (10, 5, 6)


def test_ed25519_and_u_label_domain() -> None:
    sig = parse(
        BASE.replace("rsa-sha256", "Ed25519-SHA256").replace("Example.COM", "bücher.example")
    )
    assert (sig.algorithm, sig.key_type) == ("ed25519-sha256", "ed25519")
    assert sig.domain == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda t: t + "; b=AAAA", "duplicate tag b="),
        (lambda t: t.replace("v=1; ", ""), "missing tag v="),
        (lambda t: t.replace(" s=sel.sub;", ""), "missing tag s="),
        (lambda t: t.replace("bh=", "bx="), "missing tag bh="),
        (lambda t: t.replace("b=dGVz\r\n dA==", "b="), "tag b= is empty"),
        (lambda t: t.replace("bh=2j", "bh=*j"), "tag bh= is not valid base64"),
        (lambda t: t.replace("b=dGVz\r\n dA==", "b=dGVzdA="), "tag b= is not valid base64"),
        # three "=" after a whole quantum: binascii's strict mode alone would take it
        (lambda t: t.replace("b=dGVz\r\n dA==", "b=dGVz==="), "tag b= is not valid base64"),
        (lambda t: t.replace("h=From : To", "h=To"), "h= does not include from"),
        (lambda t: t.replace("h=From : To", "h=From::To"), "invalid tag h="),
        (
            lambda t: t.replace("c=relaxed", "c=relaxed/fancy"),
            "unknown canonicalization c=relaxed/fancy",
        ),
        (lambda t: t.replace("a=rsa-sha256", "a=rsa-sha512"), "unknown algorithm a=rsa-sha512"),
        (lambda t: t + "; i=joe@example.org", "i= is not in d= or a subdomain of it"),
        (lambda t: t + "; i=joe@notexample.com", "i= is not in d= or a subdomain of it"),
        (lambda t: t + "; i=joe", "invalid tag i= (no @)"),
        (lambda t: t + "; t=10; x=9", "x= is not after t="),
        (lambda t: t + "; t=1234567890123", "invalid tag t="),
        (lambda t: t + "; x=soon", "invalid tag x="),
        (lambda t: t + "; l=1" + "0" * 80, "invalid tag l="),
        (lambda t: t + "; q=dns", "unsupported query method q=dns"),
    ],
)
def test_invalid(change: object, reason: str) -> None:
    assert callable(change)
    with pytest.raises(SignatureFormatError) as info:
        parse(change(BASE))
    assert info.value.message == reason


@pytest.mark.parametrize("name", ["d", "s"])
def test_bad_names(name: str) -> None:
    text = (
        BASE.replace("d=Example.COM", "d=a..b")
        if name == "d"
        else BASE.replace("s=sel.sub", "s=a/b")
    )
    with pytest.raises(SignatureFormatError) as info:
        parse(text)
    assert info.value.message.startswith(f"invalid tag {name}= (")


def test_not_utf8() -> None:
    with pytest.raises(SignatureFormatError, match="utf-8"):
        DkimSignature.parse(b"v=1; a=\xff")


def test_parse_canonicalization() -> None:
    assert parse_canonicalization("Simple") == ("simple", "simple")
    assert parse_canonicalization("relaxed/relaxed") == ("relaxed", "relaxed")
    with pytest.raises(SignatureFormatError):
        parse_canonicalization("simple/relaxed/simple")


def test_lenient_tags_first_wins() -> None:
    assert lenient_tags(b"d=a; d=b; junk; s = x ;b=") == {"d": "a", "s": "x", "b": ""}


def test_strip_b_value_keeps_bh_and_layout() -> None:
    raw = b"DKIM-Signature: bh=abc; b=de\r\n fg ;d=x"
    assert strip_b_value(raw) == b"DKIM-Signature: bh=abc; b=;d=x"
    assert strip_b_value(b"DKIM-Signature: a=1;\r\n b = x y") == b"DKIM-Signature: a=1;\r\n b ="


def _strip_b_by_splitting(raw: bytes) -> bytes:
    """The plain reading of RFC 6376 3.7, as a model: split the tag list at its semicolons and
    empty the first spec whose name is b."""
    colon = raw.index(b":") + 1
    specs = raw[colon:].split(b";")
    for index, spec in enumerate(specs):
        name, eq, _ = spec.partition(b"=")
        if eq and name.strip(b" \t\r\n") == b"b":
            specs[index] = name + b"="
            break
    return raw[:colon] + b";".join(specs)


_SPEC_PART = st.sampled_from(
    [b"b", b"bh", b"B", b"a", b"=", b" ", b"\t", b"\r\n ", b"\n\t", b"x", b"ab", b"b=", b":"]
)


@given(
    st.lists(st.lists(_SPEC_PART, max_size=6).map(b"".join), max_size=6),
    st.sampled_from([b"DKIM-Signature:", b"dkim-signature :"]),
)
def test_strip_b_value_agrees_with_splitting_at_semicolons(specs: list[bytes], name: bytes) -> None:
    raw = name + b";".join(specs)
    assert strip_b_value(raw) == _strip_b_by_splitting(raw)


def test_fold_field_layout() -> None:
    tags = [
        ("v", "1"),
        ("a", "rsa-sha256"),
        ("d", "example.com"),
        ("h", ":".join(["Subject"] * 20)),
    ]
    b_value = "A" * 300
    lines = fold_field(tags, b_value)
    assert lines[0].startswith("DKIM-Signature: v=1; a=rsa-sha256; d=example.com;")
    assert all(len(line) <= 78 for line in lines)
    assert all(line.startswith(" ") for line in lines[1:])
    b_start = next(i for i, line in enumerate(lines) if line.startswith(" b="))
    assert "".join(line.strip() for line in lines[b_start:]) == "b=" + b_value
    assert fold_field(tags, "")[:b_start] == lines[:b_start]
    assert fold_field(tags, "")[b_start] == " b="
    text = "\r\n".join(lines)
    sig_tags = lenient_tags(text.split(":", 1)[1].encode())
    assert sig_tags["h"].replace("\r\n ", "") == ":".join(["Subject"] * 20)


def test_the_algorithm_names_are_one_list() -> None:
    """sign's -a choices and key pairing come from the Algorithm type; verification from
    ALGORITHMS: the two must name the same algorithms."""
    from dkimtool.core import signature, signkeys

    assert set(signkeys.ALGORITHMS) == set(signature.ALGORITHMS)
    assert signkeys.ALGORITHMS[0] == "rsa-sha256"  # the default for an RSA key
