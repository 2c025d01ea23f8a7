"""RFC 6376 section 3.2 tag=value lists, shared by signatures and key records."""

from __future__ import annotations

import binascii
import re

from dkimtool.core.errors import InputError

# Control characters other than the WSP and line breaks of FWS.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# CR and LF may appear only as folding white space (a line break followed by WSP) or at the end.
_BARE_BREAK_RE = re.compile(r"\r(?!\n)|\n(?![ \t]|\Z)")
_WSP_STRIP = " \t\r\n"
# The tags of signatures and key records (RFC 6376 3.5, 3.6.1): valid names, no test needed.
_COMMON_NAMES = frozenset(
    ["v", "a", "b", "bh", "c", "d", "h", "i", "l", "q", "s", "t", "x", "z", "k", "n", "p"]
)
_CONTROL_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])  # as _CONTROL_RE


def b64encode(data: bytes) -> str:
    """Base64 on one line. (binascii, not the base64 module: that is one import less per run.)"""
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def b64decode(text: str | bytes) -> bytes:
    """Strict base64: only the alphabet and at most two "=" of correct padding, else
    ValueError (binascii.Error, or plain ValueError for a str that is not ASCII)."""
    # strict_mode refuses characters outside the alphabet and anything after the padding,
    # but lets "abcd===" through (padding after a whole quantum). RFC 6376's base64string,
    # like base64.b64decode(validate=True), allows at most two "=": a substring test, not a
    # regex, since a signature's b= is decoded for every message.
    excess = "===" in text if isinstance(text, str) else b"===" in text
    if excess:
        raise binascii.Error("not base64")
    return binascii.a2b_base64(text, strict_mode=True)


class TagSyntaxError(InputError):
    """A tag list that breaks RFC 6376 3.2."""


class DuplicateTagError(TagSyntaxError):
    pass


def _check_value(name: str, value: str) -> None:
    bad = _CONTROL_RE.search(value)
    if bad is not None:
        raise TagSyntaxError(f"tag {name}= has an invalid character {bad.group()!r}")


def _plain_ascii(text: str) -> bool:
    """True if TEXT is ASCII without control characters, and every CR or LF in it is folding
    white space (CRLF or LF followed by WSP) or the final line break. Several times faster
    than the two regexes (C-level passes that do not backtrack); when it says False, the
    regexes decide and name what is wrong."""
    if not text.isascii():
        return False
    raw = text.encode("ascii")
    if len(raw.translate(None, _CONTROL_BYTES)) != len(raw):
        return False
    linefeeds = raw.count(b"\n")
    if linefeeds and linefeeds != raw.count(b"\n ") + raw.count(b"\n\t") + raw.endswith(b"\n"):
        return False
    returns = raw.count(b"\r")
    return not returns or returns == raw.count(b"\r\n")


def parse_tag_list(text: str) -> dict[str, str]:
    """Parse ``tag=value; ...`` into an ordered dict; values keep inner FWS as given.

    Raises TagSyntaxError for a malformed spec and DuplicateTagError for a repeated tag.
    """
    check_values = False
    if not _plain_ascii(text):  # rare: the regexes decide, and name what is wrong
        if _BARE_BREAK_RE.search(text):
            raise TagSyntaxError("a CR or LF that is not folding white space")
        # Only when the text has a control character is each value checked, to name the tag.
        check_values = _CONTROL_RE.search(text) is not None
    tags: dict[str, str] = {}
    specs = text.split(";")
    if specs and specs[-1].strip(_WSP_STRIP) == "":
        specs.pop()  # a trailing ";" is allowed
    for spec in specs:
        name, eq, value = spec.partition("=")
        name = name.strip(_WSP_STRIP)
        if not eq:
            shown = spec.strip(_WSP_STRIP) or "(empty)"
            raise TagSyntaxError(f"malformed tag specification {shown!r}: no '='")
        # tag-name = ALPHA *ALNUMPUNC (ALPHA / DIGIT / "_"), with str methods: this runs per tag.
        if name not in _COMMON_NAMES and not (
            name.isascii() and name.isidentifier() and name[0] != "_"
        ):
            raise TagSyntaxError(f"malformed tag name {name!r}")
        if name in tags:
            raise DuplicateTagError(f"duplicate tag {name}=")
        value = value.strip(_WSP_STRIP)
        if check_values:
            _check_value(name, value)
        tags[name] = value
    return tags


def strip_fws(value: str) -> str:
    """Remove all folding white space from a value (base64 in b=, bh=, p=)."""
    # Four C-level passes: several times faster than one regex on a folded b= value.
    return value.replace(" ", "").replace("\t", "").replace("\r", "").replace("\n", "")


def split_colon_list(value: str) -> list[str]:
    """Split a colon-separated list (h=, s=, t=), dropping FWS around items."""
    return [item.strip(_WSP_STRIP) for item in value.split(":")]
