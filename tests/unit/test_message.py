"""Splitting raw messages: mbox line, fields, body offset, line endings and bad input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dkimtool.core import message
from dkimtool.core.errors import MessageFormatError
from dkimtool.core.message import MAX_LINE_BYTES, find_bounds, parse_message


def test_fields_body_and_offsets_lf() -> None:
    data = b"From: a@example.com\nSubject: hi\n there\n\nbody\n"
    msg = parse_message(data)
    assert [f.name for f in msg.fields] == ["From", "Subject"]
    assert msg.fields[1].raw == b"Subject: hi\n there"
    assert msg.fields[1].value == b" hi\n there"
    assert data[msg.fields[1].start : msg.fields[1].end] == b"Subject: hi\n there\n"
    assert data[msg.body_offset :] == b"body\n"
    assert msg.eol == b"\n"
    assert msg.mbox_end == 0


def test_crlf_and_mixed_line_endings() -> None:
    data = b"From: a\r\nTo: b\n\tc\r\n\r\nbody"
    msg = parse_message(data)
    assert msg.eol == b"\r\n"
    assert [f.raw for f in msg.fields] == [b"From: a", b"To: b\n\tc"]
    assert data[msg.body_offset :] == b"body"
    mixed = b"From: a\r\nTo: b\n\nbody"
    assert parse_message(mixed).body_offset == mixed.index(b"body")


def test_no_blank_line_is_all_header() -> None:
    data = b"From: a\nSubject: b"
    msg = parse_message(data)
    assert [f.raw for f in msg.fields] == [b"From: a", b"Subject: b"]
    assert msg.body_offset == len(data)


def test_mbox_from_line_is_not_a_field() -> None:
    data = b"From joe@example.com Mon Jan  1 00:00:00 2024\nFrom: joe@example.com\n\nx\n"
    msg = parse_message(data)
    assert msg.mbox_end == data.index(b"From:")
    assert [f.key for f in msg.fields] == ["from"]


def test_from_with_space_before_colon_is_a_field() -> None:
    msg = parse_message(b"From : joe@example.com\n\nx\n")
    assert msg.mbox_end == 0
    assert msg.fields[0].name == "From"


def test_message_starting_with_blank_line_has_no_fields() -> None:
    msg = parse_message(b"\r\nbody\r\n")
    assert msg.fields == ()
    assert msg.body_offset == 2


def test_named_is_case_insensitive() -> None:
    msg = parse_message(b"FROM: a\nfrom: b\nTo: c\n\n")
    assert [f.raw for f in msg.named("From")] == [b"FROM: a", b"from: b"]


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty"),
        (b"no colon here\n\nbody", "no colon"),
        (b" continued\nFrom: a\n\n", "continuation"),
        (b"From: a\x00b\n\n", "NUL"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "NUL"),
        (b"\xff\xfe\xfa\x01junk\n\n", "no colon"),
        (b"Fr om: a\n\n", "invalid field name"),
        (b": empty name\n\n", "invalid field name"),
        (b"From: a\nX: " + b"y" * (MAX_LINE_BYTES + 1) + b"\n\n", "longer than 65536"),
        (b"X: " + b"y" * 1_000_000, "longer than 65536"),
    ],
)
def test_bad_input(data: bytes, fragment: str) -> None:
    with pytest.raises(MessageFormatError) as info:
        parse_message(data)
    assert fragment in str(info.value)


@pytest.mark.parametrize("length", [998, 999, 5000, MAX_LINE_BYTES])
def test_long_lines_beyond_rfc5322_are_accepted(length: int) -> None:
    """Mail with over-long header lines exists; it still gets a verdict."""
    line = b"X: " + b"y" * (length - 3)
    assert len(parse_message(b"From: a\r\n" + line + b"\r\n\r\n").fields) == 2


def test_find_bounds_waits_for_more_data() -> None:
    assert find_bounds(b"Fro", final=False) is None
    assert find_bounds(b"From ", final=False) is None
    assert find_bounds(b"From: a\r\n", final=False) is None
    assert find_bounds(b"From: a\r\n\r", final=False) is None
    bounds = find_bounds(b"From: a\r\n\r\nbo", final=False)
    assert bounds is not None
    assert (bounds.header_end, bounds.body_offset) == (9, 11)


_HEADER_LINES = st.lists(
    st.one_of(
        st.sampled_from(
            [b"From: a@example.com", b"Subject:x", b"To :  b", b"X-A:\t1", b"Bad Name: x"]
        ),
        st.binary(max_size=20).map(lambda b: b.replace(b"\n", b"").replace(b"\x00", b"")),
        st.sampled_from([b" folded", b"\tmore", b" "]),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=300, deadline=None)  # no timing: loaded CI machines are slow
@given(lines=_HEADER_LINES, crlf=st.booleans())
def test_fast_field_split_agrees_with_the_line_by_line_one(lines: list[bytes], crlf: bool) -> None:
    """The regex fast path must give exactly the fields the error-reporting path gives."""
    eol = b"\r\n" if crlf else b"\n"
    region = eol.join(lines) + eol
    if region.startswith(eol):
        return
    bounds = find_bounds(region, final=True)
    assert bounds is not None
    data = region[bounds.mbox_end : bounds.header_end]
    split = data.split(b"\n")
    if split and not split[-1]:
        split.pop()
    fast = message._split_well_formed(data, bounds.mbox_end)
    try:
        slow = message._split_reporting_errors(region, split, bounds.mbox_end, bounds.header_end)
    except MessageFormatError:
        assert fast is None
        return
    if fast is not None:
        assert fast == slow


def test_field_name_memo_stays_small_and_right() -> None:
    """Names are remembered per batch; thousands of odd names must not grow it without end."""
    for number in range(5000):
        name = f"X-Odd-{number}"
        fields = parse_message(f"{name}: v\nfrom: a\n\nbody\n".encode()).fields
        assert [(f.name, f.key) for f in fields] == [(name, name.lower()), ("from", "from")]
    assert len(message._FIELD_NAMES) <= 4096
