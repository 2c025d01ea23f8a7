"""Domain and selector names: A-labels, IDNA 2008 U-labels, and what exits 2."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dkimtool.core.names import (
    LABEL_RE,
    MAX_NAME_BYTES,
    InvalidName,
    is_same_or_subdomain,
    key_record_name,
    normalize_domain,
    normalize_selector,
)


@pytest.mark.parametrize(
    ("given_name", "expected"),
    [
        ("example.com", "example.com"),
        ("Example.COM", "Example.COM"),  # ASCII case is kept; comparisons ignore it
        ("example.com.", "example.com"),  # the root dot of a domain is dropped
        ("_dmarc-ish.example", "_dmarc-ish.example"),
        ("a1.b-2.c_3", "a1.b-2.c_3"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.example", "xn--bcher-kva.example"),  # UTS 46 mapping lower-cases U-labels
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("例え.テスト", "xn--r8jz45g.xn--zckzah"),
    ],
)
def test_domains_normalize_to_a_labels(given_name: str, expected: str) -> None:
    assert normalize_domain(given_name) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        ".",
        "a/b.example",
        "exa mple.com",
        "example..com",
        ".example.com",
        "-example.com",
        "example-.com",
        "a" * 64 + ".example",
        "exam\nple.com",
        "exa;mple.com",
        "bü cher.example",
        "☃☃\u200d.example",  # ZWJ is not allowed by IDNA 2008 here
    ],
)
def test_invalid_domains_are_refused(bad: str) -> None:
    with pytest.raises(InvalidName):
        normalize_domain(bad)


def test_label_length_limit_is_63() -> None:
    assert normalize_domain("a" * 63 + ".example") == "a" * 63 + ".example"
    with pytest.raises(InvalidName, match="63"):
        normalize_domain("a" * 64 + ".example")


def test_name_length_limit_is_253_bytes() -> None:
    exactly = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    assert len(exactly) == MAX_NAME_BYTES == 253
    assert normalize_domain(exactly) == exactly
    with pytest.raises(InvalidName, match="253"):
        normalize_domain(exactly + "d")
    # The limit applies to the A-label form: 219 characters of U-labels grow past 253 bytes.
    unicode_name = ".".join(["bücherei" + "ä" * 46] * 4)
    assert len(unicode_name) == 219
    with pytest.raises(InvalidName, match="253"):
        normalize_domain(unicode_name)


def test_selectors_may_have_dots_but_not_a_root_dot() -> None:
    assert normalize_selector("mail.2026") == "mail.2026"
    assert normalize_selector("sélecteur") == "xn--slecteur-b1a"
    with pytest.raises(InvalidName, match="selector"):
        normalize_selector("mail.")
    with pytest.raises(InvalidName, match="selector"):
        normalize_selector("../etc/passwd")
    with pytest.raises(InvalidName, match="selector"):
        normalize_selector("")


def test_key_record_name() -> None:
    assert key_record_name("mail", "example.com") == "mail._domainkey.example.com"


@pytest.mark.parametrize(
    ("name", "domain", "expected"),
    [
        ("example.com", "example.com", True),
        ("EXAMPLE.com.", "example.COM", True),
        ("mail.example.com", "example.com", True),
        ("badexample.com", "example.com", False),
        ("example.com", "mail.example.com", False),
        ("example.org", "example.com", False),
    ],
)
def test_is_same_or_subdomain(name: str, domain: str, expected: bool) -> None:
    assert is_same_or_subdomain(name, domain) is expected


_label = st.from_regex(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,20}[A-Za-z0-9_])?", fullmatch=True)


@given(st.lists(_label, min_size=1, max_size=6))
def test_valid_ascii_names_are_kept_exactly(labels: list[str]) -> None:
    name = ".".join(labels)
    assert normalize_domain(name) == name
    assert normalize_selector(name) == name


@given(st.text(min_size=1, max_size=40))
def test_any_accepted_name_is_plain_a_labels(text: str) -> None:
    try:
        result = normalize_domain(text)
    except InvalidName:
        return
    assert result.isascii()
    assert len(result) <= MAX_NAME_BYTES
    assert all(LABEL_RE.match(label) for label in result.split("."))
    assert normalize_domain(result) == result  # idempotent
