"""Split a raw message into an optional mbox ``From `` line, header fields and the body offset.

Input may use LF, CRLF or a mix of both. Nothing is copied or rewritten here: fields keep the
bytes they had, and offsets point into the input, so a caller can splice new fields in and leave
every other byte as it was. Canonical CRLF forms are made by ``canonicalize``.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from dkimtool.core.errors import MessageFormatError

MAX_LINE_BYTES = 64 * 1024
"""The longest header line accepted, without its line ending.

RFC 5322 2.1.1 says 998, but real mail breaks that and DKIM does not depend on it: refusing
such a message would leave it without a verdict. Only absurd lines are refused."""

MAX_HEADER_BYTES = 1 << 20
"""The header section may not exceed 1 MiB (mail servers refuse far less than this)."""

_HEADER_END_RE = re.compile(rb"\n\r?\n")
_FIELD_NAME_RE = re.compile(rb"[\x21-\x39\x3b-\x7e]+\Z")  # printable ASCII except ':'
# A well-formed field: name, optional WSP, colon, the rest of the line, continuation lines;
# then its line break. Groups: the field, its name, the line break (empty at the end).
_FIELD_RE = re.compile(rb"(([\x21-\x39\x3b-\x7e]+)[ \t]*:[^\n]*(?:\n[ \t][^\n]*)*)(\n?)")
_HEADER_FROM_RE = re.compile(rb"From[ \t]*:")
_UNDECIDED_FROM_RE = re.compile(rb"From[ \t]*\Z")


# The records here are NamedTuples, not dataclasses: a dataclass costs about 0.4 ms to create
# at import, and these modules are imported by every run of ``dkimtool sign``.


class HeaderField(NamedTuple):
    """One header field as it appears in the input."""

    name: str  # the field name as written (without white space before the colon)
    key: str  # the name in lower case, for comparisons
    raw: bytes
    # raw: the whole field, name to last character, with its folding line breaks but without
    # the line ending that ends it
    start: int  # offset of the field in the input
    end: int  # offset just after the field's final line ending

    @property
    def value(self) -> bytes:
        """Everything after the first colon, folding included."""
        return self.raw[self.raw.index(b":") + 1 :]


class HeaderBounds(NamedTuple):
    """Where the parts of a message start, as offsets into the input."""

    mbox_end: int  # 0, or the offset just after a leading mbox ``From `` line
    header_end: int
    # header_end: where the header section ends: the start of the blank line, or the end of input
    body_offset: int  # the first body byte (the input's length when there is no body)


class Message(NamedTuple):
    """A parsed message: its fields top to bottom and the offsets of its parts."""

    fields: tuple[HeaderField, ...]
    bounds: HeaderBounds
    eol: bytes  # the header's line ending, b"\r\n" or b"\n"; new fields use it

    @property
    def mbox_end(self) -> int:
        return self.bounds.mbox_end

    @property
    def body_offset(self) -> int:
        return self.bounds.body_offset

    def named(self, name: str) -> list[HeaderField]:
        """The fields called NAME (any case), top to bottom."""
        key = name.lower()
        return [field for field in self.fields if field.key == key]


def find_bounds(
    buf: bytes | bytearray, *, final: bool, search_from: int = 0
) -> HeaderBounds | None:
    """Locate the mbox line, the end of the header and the start of the body in BUF.

    With FINAL false, BUF is a prefix of the message and None means "need more data".
    SEARCH_FROM lets a streaming caller skip the part already searched for a blank line.
    """
    mbox_end = 0
    if buf.startswith(b"From "):
        if not final and _UNDECIDED_FROM_RE.match(buf) is not None:
            return None
        if not _HEADER_FROM_RE.match(buf):
            newline = buf.find(b"\n")
            if newline < 0:
                if not final:
                    return None
                return HeaderBounds(len(buf), len(buf), len(buf))
            mbox_end = newline + 1
    elif not final and len(buf) < 5 and b"From "[: len(buf)] == bytes(buf):
        return None
    if buf.startswith(b"\n", mbox_end):
        return HeaderBounds(mbox_end, mbox_end, mbox_end + 1)
    if buf.startswith(b"\r\n", mbox_end):
        return HeaderBounds(mbox_end, mbox_end, mbox_end + 2)
    if not final and len(buf) - mbox_end < 2:
        return None
    match = _HEADER_END_RE.search(buf, max(mbox_end, search_from))
    if match is not None:
        return HeaderBounds(mbox_end, match.start() + 1, match.end())
    if not final:
        return None
    return HeaderBounds(mbox_end, len(buf), len(buf))


def line_ending(buf: bytes | bytearray, bounds: HeaderBounds) -> bytes:
    """The message's line ending, judged from the first line break of the header."""
    newline = buf.find(b"\n", bounds.mbox_end)
    if newline < 0:
        newline = buf.find(b"\n")
    return b"\r\n" if newline > 0 and buf[newline - 1] == 0x0D else b"\n"


def parse_fields(buf: bytes | bytearray, bounds: HeaderBounds) -> tuple[HeaderField, ...]:
    """Split the header section of BUF into fields; raise MessageFormatError if malformed."""
    start, stop = bounds.mbox_end, bounds.header_end
    if stop - start > MAX_HEADER_BYTES:
        raise MessageFormatError(f"the header section is larger than {MAX_HEADER_BYTES} bytes")
    region = bytes(buf[start:stop])
    if b"\x00" in region:
        raise MessageFormatError("the header contains a NUL byte")
    # Lines are split only when needed: when one can be too long, or the fast path gave up.
    short = len(region) <= MAX_LINE_BYTES + 1
    fields = _split_well_formed(region, start) if short else None
    if fields is not None:
        return fields
    lines = region.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()  # the region ends with a line break
    if lines and max(map(len, lines)) > MAX_LINE_BYTES + 1:
        _raise_long_line(lines)
    if not short:
        fields = _split_well_formed(region, start)
    return fields if fields is not None else _split_reporting_errors(buf, lines, start, stop)


def _split_well_formed(region: bytes, offset: int) -> tuple[HeaderField, ...] | None:
    """The fast path: one regex pass for all fields; None if something between them is not a
    field. (This runs for every message of a batch.)"""
    fields: list[HeaderField] = []
    pos = offset
    for whole, name, line_break in _FIELD_RE.findall(region):
        end = pos + len(whole) + len(line_break)
        raw = whole[:-1] if whole.endswith(b"\r") else whole  # without the CR of a CRLF
        text, key = _field_name(name)
        fields.append(HeaderField(text, key, raw, pos, end))
        pos = end
    # The matches never overlap: they cover the region exactly when their lengths add up.
    return tuple(fields) if pos - offset == len(region) else None


def _split_reporting_errors(
    buf: bytes | bytearray, lines: list[bytes], start: int, stop: int
) -> tuple[HeaderField, ...]:
    """Line by line, so that an error can name the line that is wrong."""
    fields: list[HeaderField] = []
    pos = start
    field_start = -1
    name = b""
    content_end = end = start
    for number, line in enumerate(lines, 1):
        content = line[:-1] if line.endswith(b"\r") else line
        if len(content) > MAX_LINE_BYTES:
            _raise_long_line(lines)
        line_end = pos + len(line)
        next_pos = min(line_end + 1, stop)
        if content[:1] in (b" ", b"\t"):
            if field_start < 0:
                raise MessageFormatError(
                    f"header line {number} is a continuation line before any header field"
                )
            content_end, end = pos + len(content), next_pos
        else:
            if field_start >= 0:
                fields.append(_field(buf, name, field_start, content_end, end))
            colon = content.find(b":")
            name = content[:colon].rstrip(b" \t")
            if colon < 0:
                raise MessageFormatError(f"header line {number} has no colon")
            if not _FIELD_NAME_RE.match(name):
                raise MessageFormatError(f"header line {number} has an invalid field name")
            field_start, content_end, end = pos, pos + len(content), next_pos
        pos = next_pos
    if field_start >= 0:
        fields.append(_field(buf, name, field_start, content_end, end))
    return tuple(fields)


def _field(
    buf: bytes | bytearray, name: bytes, start: int, content_end: int, end: int
) -> HeaderField:
    text, key = _field_name(name)
    return HeaderField(text, key, bytes(buf[start:content_end]), start, end)


_FIELD_NAMES: dict[bytes, tuple[str, str]] = {}


def _field_name(name: bytes) -> tuple[str, str]:
    """The name as text and in lower case; remembered, since a batch repeats a few names."""
    known = _FIELD_NAMES.get(name)
    if known is None:
        if len(_FIELD_NAMES) >= 4096:  # odd names by the thousand: start again, stay small
            _FIELD_NAMES.clear()
        text = name.decode("ascii")
        known = _FIELD_NAMES[name] = (text, text.lower())
    return known


def _raise_long_line(lines: list[bytes]) -> None:
    for number, line in enumerate(lines, 1):
        if len(line.removesuffix(b"\r")) > MAX_LINE_BYTES:
            raise MessageFormatError(
                f"header line {number} is longer than {MAX_LINE_BYTES} bytes ({len(line)})"
            )


def parse_message(data: bytes | bytearray) -> Message:
    """Parse a whole message; raise MessageFormatError for input that is not a message."""
    if not data:
        raise MessageFormatError("the message is empty")
    bounds = find_bounds(data, final=True)
    assert bounds is not None  # final=True always decides
    return Message(fields=parse_fields(data, bounds), bounds=bounds, eol=line_ending(data, bounds))


class MessageStream:
    """Split a message fed in chunks: the header is buffered until it is complete, then parsed
    once; the body passes through. Signer and Verifier share this.

    ``update(chunk)`` returns the part of CHUNK that belongs to the body (empty while the
    header is still arriving); ``message`` is the parsed header once it is complete, and
    ``finish()`` returns it at the end (a message without a blank line is all header).
    """

    __slots__ = ("_head", "_searched", "message")

    def __init__(self) -> None:
        self._head = bytearray()
        self._searched = 0
        self.message: Message | None = None

    def update(self, chunk: bytes | bytearray | memoryview) -> bytes | bytearray | memoryview:
        if self.message is not None:
            return chunk
        if self._head:
            self._head += chunk
            buf: bytes | bytearray = self._head
        else:
            buf = bytes(chunk) if isinstance(chunk, memoryview) else chunk
        bounds = find_bounds(buf, final=False, search_from=self._searched)
        if bounds is None:
            if buf is not self._head:
                self._head += buf
            self._searched = max(0, len(self._head) - 2)
            if len(self._head) > MAX_HEADER_BYTES + 2:
                # Too long to be a header: say why (a long line, or just too much).
                self._take(self._head, find_bounds(self._head, final=True))
            return b""
        self._take(buf, bounds)
        self._head = bytearray()
        return memoryview(buf)[bounds.body_offset :]

    def finish(self) -> Message:
        if self.message is None:
            if not self._head:
                raise MessageFormatError("the message is empty")
            self._take(self._head, find_bounds(self._head, final=True))
            self._head = bytearray()
        assert self.message is not None
        return self.message

    def _take(self, buf: bytes | bytearray, bounds: HeaderBounds | None) -> None:
        assert bounds is not None
        self.message = Message(
            fields=parse_fields(buf, bounds), bounds=bounds, eol=line_ending(buf, bounds)
        )
