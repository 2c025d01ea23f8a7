"""RFC 6376 3.2 tag=value lists."""

from __future__ import annotations

import binascii
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dkimtool.core import tags as tags_module
from dkimtool.core.errors import EX_DATAERR, InputError
from dkimtool.core.tags import (
    DuplicateTagError,
    TagSyntaxError,
    b64decode,
    parse_tag_list,
    split_colon_list,
    strip_fws,
)


def test_parse_keeps_order_and_strips_surrounding_whitespace() -> None:
    tags = parse_tag_list(" v = DKIM1 ;\tk=rsa;\r\n p=AB\r\n CD ;")
    assert list(tags.items()) == [("v", "DKIM1"), ("k", "rsa"), ("p", "AB\r\n CD")]


def test_empty_values_and_empty_list() -> None:
    assert parse_tag_list("v=DKIM1; p=") == {"v": "DKIM1", "p": ""}
    assert parse_tag_list("") == {}
    with pytest.raises(TagSyntaxError):
        parse_tag_list(" ; ")  # an empty tag-spec before the final ';' (RFC 6376 3.2)


def test_value_may_contain_equals_signs() -> None:
    assert parse_tag_list("b=abc==; n=a=b") == {"b": "abc==", "n": "a=b"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("v=DKIM1; k", "no '='"),
        ("v=DKIM1;; p=x", "no '='"),
        ("1v=DKIM1", "malformed tag name"),
        ("=x", "malformed tag name"),
        ("a b=x", "malformed tag name"),
        ("p=ab\x00cd", "invalid character"),
        ("p=ab\x7fcd", "invalid character"),
        ("n=\x1b[31m", "invalid character"),
    ],
)
def test_malformed_lists_raise(text: str, message: str) -> None:
    with pytest.raises(TagSyntaxError, match=message) as info:
        parse_tag_list(text)
    assert isinstance(info.value, InputError)
    assert info.value.exit_code == EX_DATAERR


def test_duplicate_tags_raise_their_own_error() -> None:
    with pytest.raises(DuplicateTagError, match="p="):
        parse_tag_list("p=abc; k=rsa; p=def")


def test_tag_names_are_case_sensitive() -> None:
    assert parse_tag_list("p=a; P=b") == {"p": "a", "P": "b"}


def test_strip_fws_and_colon_lists() -> None:
    assert strip_fws("MIIB\r\n\tIjAN BgkqhkiG ") == "MIIBIjANBgkqhkiG"
    assert split_colon_list(" sha1 :\r\n sha256") == ["sha1", "sha256"]
    assert split_colon_list("y") == ["y"]


_names = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,5}", fullmatch=True)
_values = st.from_regex(r"[!-:<-~]([ !-:<-~]{0,20}[!-:<-~])?", fullmatch=True) | st.just("")


@given(st.dictionaries(_names, _values, max_size=8), st.sampled_from(["; ", ";", " ;\r\n\t"]))
def test_format_then_parse_round_trips(tags: dict[str, str], separator: str) -> None:
    text = separator.join(f"{name}={value}" for name, value in tags.items())
    assert parse_tag_list(text) == tags


_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")  # RFC 6376 3.2 tag-name, as a regex


@given(st.text(max_size=6) | st.from_regex(r"[A-Za-z_0-9]{1,4}", fullmatch=True))
def test_tag_names_are_exactly_rfc_6376_tag_names(name: str) -> None:
    """parse_tag_list checks names with str methods (faster): the same set as the grammar,
    no leading digit or "_", nothing outside ASCII (str.isidentifier alone allows both)."""
    text = f"{name}=x"
    valid = _TAG_NAME.match(name.strip(" \t")) is not None
    if ";" in name or "=" in name or "\r" in name or "\n" in name:
        return  # other rules apply first
    if valid:
        assert parse_tag_list(text) == {name.strip(" \t"): "x"}
    else:
        with pytest.raises(TagSyntaxError):
            parse_tag_list(text)


def test_strip_fws_removes_only_folding_white_space() -> None:
    assert strip_fws(" a\r\n\tb c\n d\t") == "abcd"
    assert strip_fws("a\x0bb\u00a0c") == "a\x0bb\u00a0c"  # not FWS: left for base64 to refuse


@given(st.text(alphabet="ab \t\r\n;=", max_size=30))
def test_line_break_rule_matches_the_grammar(text: str) -> None:
    """Bare CR or LF (not FWS) is refused: the quick count and the regex agree."""
    bare = re.search(r"\r(?!\n)|\n(?![ \t]|\Z)", text) is not None
    try:
        parse_tag_list(text)
    except TagSyntaxError as exc:
        if bare:
            assert "not folding white space" in str(exc)
        return
    assert not bare


def _reference_parse(text: str) -> dict[str, str]:
    """RFC 6376 3.2 written plainly with regexes: what parse_tag_list's quick paths must match."""
    if re.search(r"\r(?!\n)|\n(?![ \t]|\Z)", text):
        raise TagSyntaxError("a CR or LF that is not folding white space")
    specs = text.split(";")
    if specs and specs[-1].strip(" \t\r\n") == "":
        specs.pop()
    tags: dict[str, str] = {}
    for spec in specs:
        name, eq, value = spec.partition("=")
        name = name.strip(" \t\r\n")
        if not eq:
            raise TagSyntaxError("no '='")
        if not _TAG_NAME.match(name):
            raise TagSyntaxError("malformed tag name")
        if name in tags:
            raise TagSyntaxError("duplicate tag")
        value = value.strip(" \t\r\n")
        if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", value):
            raise TagSyntaxError("invalid character")
        tags[name] = value
    return tags


@given(
    st.text(alphabet="ab_1 \t\r\n;=\x00\x0b\x1f\x7f\x85é", max_size=30)
    | st.text(alphabet="a=\t \r\n", max_size=12)  # dense in line breaks and folds
)
@example("a=\n\r\n b")  # a bare LF hidden by a fold right after it
@example("a=x\r\r\n")
@example("a=x\n\n\tb")
def test_tag_lists_parse_as_the_plain_reference_does(text: str) -> None:
    try:
        expected: dict[str, str] | str = _reference_parse(text)
    except TagSyntaxError as exc:
        expected = exc.message
    try:
        got: dict[str, str] | str = parse_tag_list(text)
    except TagSyntaxError as exc:
        got = exc.message
    if isinstance(expected, dict):
        assert got == expected
    else:  # the same failure (ours words it more specifically)
        assert isinstance(got, str) and expected in got, (expected, got)


def test_b64decode_is_as_strict_as_validated_base64() -> None:
    assert b64decode("dGVzdA==") == b64decode(b"dGVzdA==") == b"test"
    assert b64decode("") == b""
    for bad in ("dGVz===", "dGVzdA=", "dG=Vz", "dGVz dA==", "dGVz\ndA==", "dGVzé", "=dGVz"):
        with pytest.raises(ValueError):
            b64decode(bad)
        with pytest.raises(ValueError):
            b64decode(bad.encode("utf-8"))


@given(
    st.text(alphabet="a; \t\r\n\x00\x0b\x1f\x7f\x85é", max_size=20)
    | st.text(alphabet="a\t \r\n", max_size=12)
)
@example("a\n")
@example("a\r\n")
@example("a\n\n")
@example("\r\n\r\n ")
def test_quick_check_is_exactly_the_regex_rules(text: str) -> None:
    """_plain_ascii says True exactly when the control-character and line-break regexes find
    nothing in ASCII text (a wrong True would let a bad tag list through unchecked)."""
    clean = (
        text.isascii()
        and re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text) is None
        and re.search(r"\r(?!\n)|\n(?![ \t]|\Z)", text) is None
    )
    assert tags_module._plain_ascii(text) == clean


@given(st.text(alphabet="AZaz09+/=é \n-", max_size=14))
@example("dGVz===")
@example("dGVz====")
def test_b64decode_accepts_what_the_base64string_pattern_and_strict_decoding_accept(
    text: str,
) -> None:
    """The substring test for "===" plus strict decoding refuse exactly what RFC 6376's
    pattern with strict decoding refuses."""
    import base64

    try:
        expected: bytes | None = (
            base64.b64decode(text, validate=True)
            if re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", text)
            and binascii.a2b_base64(text, strict_mode=True) is not None
            else None
        )
    except ValueError:
        expected = None
    for given_text in (text, text.encode("utf-8")):
        try:
            got: bytes | None = b64decode(given_text)
        except ValueError:
            got = None
        assert got == expected, (given_text, got, expected)
