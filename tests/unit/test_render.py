"""Output helpers: escaping of values from messages and DNS."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from dkimtool.commands._render import printable

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@given(st.text(alphabet=st.characters(max_codepoint=0x2FF), max_size=40))
def test_printable_escapes_exactly_the_control_characters(text: str) -> None:
    escaped = printable(text)
    assert _CONTROL.search(escaped) is None
    assert escaped == _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def test_printable_examples() -> None:
    assert printable("pass d=example.com") == "pass d=example.com"
    assert printable("a\r\nb\x1b[31m\x85é") == "a\\x0d\\x0ab\\x1b[31m\\x85é"
