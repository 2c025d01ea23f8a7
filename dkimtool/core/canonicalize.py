"""RFC 6376 3.4 canonicalization: simple and relaxed, for header fields and bodies.

The body canonicalizer is incremental: feed it chunks of any size and it produces exactly the
bytes the one-shot algorithm would, whatever the chunk boundaries (a CR/LF pair, a run of white
space or trailing blank lines split across chunks). It keeps only a few bytes between chunks, so
memory stays O(chunk). The work is done on whole blocks with ``bytes`` methods and ``re``.

Relaxed body and an unterminated last line: its trailing white space is removed like that of
any other line before the final CRLF is added (``b"abc  "`` gives ``b"abc\\r\\n"``), as RFC 6376
3.4.4 reads ("ignore all whitespace at the end of lines"); dkimpy keeps it (``b"abc \\r\\n"``).
Bodies that end with a line break agree everywhere.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Literal, Protocol, TypeAlias

from cryptography.hazmat.primitives import hashes

from dkimtool.core.message import HeaderField

Canonicalization: TypeAlias = Literal["simple", "relaxed"]
BodyHashName: TypeAlias = Literal["sha256", "sha1"]

CANONICALIZATIONS: tuple[Canonicalization, ...] = ("simple", "relaxed")
_CRLF = b"\r\n"
_BLOCK = 1 << 20  # canonicalize big inputs in 1 MiB blocks
_MAX_CRLF_RUN = 1 << 16
_LINE_BREAK_RE = re.compile(rb"\r?\n")
_LONE_LF_RE = re.compile(rb"(?<!\r)\n")
_WSP_RUN_RE = re.compile(rb"  +")
_SPACE_CRLF_RE = re.compile(rb" \r\n")
_TAB_TO_SPACE = bytes.maketrans(b"\t", b" ")


class Sink(Protocol):
    def update(self, data: bytes, /) -> None: ...


# ---------------------------------------------------------------------------------------------
# Header fields
# ---------------------------------------------------------------------------------------------


def simple_header(raw: bytes) -> bytes:
    """RFC 6376 3.4.1: the field unchanged, with CRLF line breaks and a final CRLF."""
    if b"\n" in raw:
        raw = _LINE_BREAK_RE.sub(_CRLF, raw)
    return raw + _CRLF


def relaxed_header(raw: bytes) -> bytes:
    """RFC 6376 3.4.2: lower-case name, unfolded value, WSP runs as one SP, trimmed, CRLF."""
    name, _, value = raw.partition(b":")
    return _relaxed_field(name, _unfold_and_squeeze(value))


def _unfold_and_squeeze(value: bytes) -> bytes:
    """Relaxed header values: line breaks removed, each run of WSP one SP."""
    if b"\n" in value:  # unfold (bytes.replace: faster than a regex on short values)
        value = value.replace(_CRLF, b"").replace(b"\n", b"")
    if b"\t" in value:
        value = value.translate(_TAB_TO_SPACE)
    if b"  " in value:
        value = _WSP_RUN_RE.sub(b" ", value)
    return value


def _relaxed_field(name: bytes, squeezed_value: bytes) -> bytes:
    return name.rstrip(b" \t").lower() + b":" + squeezed_value.strip(b" ") + _CRLF


def canonicalize_header(raw: bytes, canonicalization: Canonicalization) -> bytes:
    """Canonicalize one header field given as its raw bytes (``Name: value``, folding kept)."""
    return relaxed_header(raw) if canonicalization == "relaxed" else simple_header(raw)


def select_fields(
    fields: Sequence[HeaderField], names: Sequence[str], *, exclude: HeaderField | None = None
) -> list[HeaderField]:
    """The instances that h= NAMES covers (RFC 6376 5.4.2).

    Each name takes the bottom-most instance not yet taken; a name with no instance left takes
    nothing (that is how oversigning works). EXCLUDE, the signature being verified, is skipped.
    """
    keys, wanted = _lowered(tuple(names))
    stacks: dict[str, list[HeaderField]] = {}
    for field in fields:
        if field.key in wanted and field is not exclude:
            stacks.setdefault(field.key, []).append(field)
    chosen = []
    for key in keys:
        stack = stacks.get(key)
        if stack:
            chosen.append(stack.pop())
    return chosen


@functools.lru_cache(maxsize=256)  # h= lists repeat across a batch
def _lowered(names: tuple[str, ...]) -> tuple[tuple[str, ...], frozenset[str]]:
    keys = tuple(name.lower() for name in names)
    return keys, frozenset(keys)


def header_hash_input(fields: Sequence[HeaderField], canonicalization: Canonicalization) -> bytes:
    """The canonical header fields, concatenated in the order given."""
    return canonical_headers([field.raw for field in fields], canonicalization)


def canonical_headers(raws: Sequence[bytes], canonicalization: Canonicalization) -> bytes:
    """Several raw fields canonicalized and concatenated, each ending with CRLF."""
    if canonicalization != "relaxed":
        return b"".join([simple_header(raw) for raw in raws])
    # relaxed_header for all of them at once: the values are joined with NUL (which a parsed
    # header never holds) so that unfolding and white-space collapsing run once, not per field.
    names = []
    values = []
    for raw in raws:
        name, _, value = raw.partition(b":")
        names.append(name)
        values.append(value)
    joined = b"\x00".join(values)
    if joined.count(b"\x00") != len(values) - 1:  # a NUL after all: one field at a time
        return b"".join([relaxed_header(raw) for raw in raws])
    squeezed = _unfold_and_squeeze(joined).split(b"\x00")
    return b"".join(
        [_relaxed_field(name, value) for name, value in zip(names, squeezed, strict=True)]
    )


# ---------------------------------------------------------------------------------------------
# Bodies
# ---------------------------------------------------------------------------------------------


_FRESH_HASHES = {"sha256": hashes.Hash(hashes.SHA256()), "sha1": hashes.Hash(hashes.SHA1())}


def new_hash(algorithm: BodyHashName) -> hashes.Hash:
    """A new hash context (a copy of an empty one: cheaper than building it each time)."""
    return _FRESH_HASHES[algorithm].copy()


class BodyHash:
    """A hash of the canonical body, limited to its first LIMIT bytes for ``l=``."""

    __slots__ = ("_digest", "_hash", "algorithm", "hashed", "limit")

    def __init__(self, algorithm: BodyHashName = "sha256", limit: int | None = None) -> None:
        self.algorithm = algorithm
        self.limit = limit
        self.hashed = 0
        # cryptography's hashes, not hashlib: the sign path then loads one OpenSSL, not two.
        self._hash = new_hash(algorithm)
        self._digest: bytes | None = None

    def update(self, data: bytes, /) -> None:
        if self.limit is not None:
            room = self.limit - self.hashed
            if room <= 0:
                return
            if len(data) > room:
                data = data[:room]
        self.hashed += len(data)
        self._hash.update(data)

    def digest(self) -> bytes:
        """The hash of everything fed so far; no more ``update`` after this."""
        if self._digest is None:
            self._digest = self._hash.finalize()
        return self._digest


class BodyCanonicalizer:
    """Canonicalize a body incrementally and feed the canonical bytes to SINKS.

    ``update(chunk)`` any number of times, then ``finalize()`` once. ``total`` is then the
    length of the whole canonical body (what ``l=`` is compared with).
    """

    __slots__ = ("_carry", "_done", "_pending", "_relaxed", "_sinks", "_started", "total")

    def __init__(self, canonicalization: Canonicalization, sinks: Iterable[Sink]) -> None:
        if canonicalization not in CANONICALIZATIONS:
            raise ValueError(f"unknown canonicalization {canonicalization!r}")
        self._relaxed = canonicalization == "relaxed"
        self._sinks = tuple(sinks)
        self._carry = b""  # a trailing CR (and, relaxed, one SP for a WSP run) held back
        self._pending = 0  # CRLFs held back: they are dropped if nothing but CRLFs follows
        self._started = False  # some non-CRLF content was emitted
        self._done = False
        self.total = 0

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        if self._done:
            raise ValueError("update() after finalize()")
        size = len(chunk)
        if size <= _BLOCK:
            if size:
                self._process(bytes(chunk))
            return
        view = memoryview(chunk).cast("B")
        for offset in range(0, size, _BLOCK):
            self._process(bytes(view[offset : offset + _BLOCK]))

    def finalize(self) -> None:
        if self._done:
            return
        self._done = True
        carry = self._carry
        self._carry = b""
        # Relaxed: a WSP run at the very end is trailing white space of the last line: dropped.
        if carry and not (self._relaxed and carry == b" "):
            self._content(carry)
            self._pending = 0
        if self._started or not self._relaxed:
            # simple: an empty body is one CRLF; otherwise the last line ends with one CRLF.
            self._emit(_CRLF)

    def _process(self, block: bytes) -> None:
        if self._carry:
            block = self._carry + block
            self._carry = b""
        block = self._hold_back(block)
        if not block:
            return
        if b"\r" not in block:
            block = block.replace(b"\n", _CRLF)
        elif block.count(b"\n") != block.count(_CRLF):
            block = _LONE_LF_RE.sub(_CRLF, block)
        if self._relaxed:
            if b"\t" in block:
                block = block.translate(_TAB_TO_SPACE)
            if b"  " in block:
                block = _WSP_RUN_RE.sub(b" ", block)
            # Runs are single spaces now, so trailing white space is one SP. (A regex: with
            # few matches, bytes.replace is slower, as it counts them all first.)
            if b" \r\n" in block:
                block = _SPACE_CRLF_RE.sub(_CRLF, block)
        content_len = len(block) - 2 * _trailing_crlfs(block)
        if content_len:
            self._content(block[:content_len] if content_len < len(block) else block)
        self._pending += (len(block) - content_len) // 2

    def _hold_back(self, block: bytes) -> bytes:
        """Keep a trailing CR (half of a CRLF?) and, relaxed, trailing WSP for the next chunk."""
        last = block[-1]
        if last != 0x0D and not (self._relaxed and last in (0x20, 0x09)):
            return block
        end = len(block) - (last == 0x0D)
        start = end
        if self._relaxed and end and block[end - 1] in (0x20, 0x09):
            start = len(block[:end].rstrip(b" \t"))
        # A WSP run only ever becomes one SP or nothing, so one SP stands for all of it.
        self._carry = (b" " if start < end else b"") + block[end:]
        return block[:start]

    def _content(self, data: bytes) -> None:
        while self._pending:
            run = min(self._pending, _MAX_CRLF_RUN)
            self._emit(_CRLF * run)
            self._pending -= run
        self._started = True
        self._emit(data)

    def _emit(self, data: bytes) -> None:
        self.total += len(data)
        for sink in self._sinks:
            sink.update(data)


def _trailing_crlfs(block: bytes) -> int:
    """How many CRLFs end BLOCK (in which every LF already follows a CR)."""
    tail_len = len(block) - len(block.rstrip(b"\r\n"))
    if not tail_len:
        return 0
    tail = block[-tail_len:]
    if tail_len % 2 == 0 and tail == _CRLF * (tail_len // 2):
        return tail_len // 2
    # A lone CR among the final line breaks: count pairs from the end.
    end = tail_len
    while end >= 2 and tail[end - 2 : end] == _CRLF:
        end -= 2
    return (tail_len - end) // 2


class _Collect:
    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def update(self, data: bytes, /) -> None:
        self.parts.append(data)


def canonicalize_body(data: bytes, canonicalization: Canonicalization) -> bytes:
    """The whole canonical body at once (for tests and small bodies)."""
    sink = _Collect()
    canon = BodyCanonicalizer(canonicalization, (sink,))
    canon.update(data)
    canon.finalize()
    return b"".join(sink.parts)
