"""``--dns-file``: key records from BIND zone-file fragments, instead of DNS.

A fragment is what ``genkey`` writes: TXT records with parentheses, quoted strings,
comments, ``$ORIGIN`` and ``$TTL``. Owner names ending in ``.`` match exactly. A relative
owner takes ``$ORIGIN`` if the file set one before it; otherwise it is completed with the
domain being looked up (the part after ``._domainkey.``), so genkey's output works as is.
A name missing from the files is NXDOMAIN: there is no fallback to DNS. ``$INCLUDE`` and
``$GENERATE`` are refused.

The reader is written here, in plain Python, rather than taken from dnspython: importing
dnspython costs more start-up time than the rest of ``dkimtool verify``. It follows
dnspython's zone reader (the reference, which tests/unit/test_zonefile.py compares it with)
in everything that decides which TXT and CNAME records a fragment holds, quirks included.
On purpose it differs in three ways: records of other types are skipped, their data
tokenized but not checked; a first record without an owner name is an error (dnspython
takes the root); query types such as ANY and OPT are refused, as BIND refuses them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from dkimtool.core.errors import DnsNotFound, RecordFormatError
from dkimtool.core.fileio import read_input
from dkimtool.core.keysource import TxtAnswer

_DOMAINKEY = "._domainkey."

# --------------------------------------------------------------------------------------------
# Record types and classes (as dnspython 2.9 knows them; the test suite checks the table)
# --------------------------------------------------------------------------------------------

_TYPE_TABLE = """
    TYPE0 0 NONE 0 A 1 NS 2 MD 3 MF 4 CNAME 5 SOA 6 MB 7 MG 8 MR 9 NULL 10 WKS 11 PTR 12
    HINFO 13 MINFO 14 MX 15 TXT 16 RP 17 AFSDB 18 X25 19 ISDN 20 RT 21 NSAP 22 NSAP_PTR 23
    SIG 24 KEY 25 PX 26 GPOS 27 AAAA 28 LOC 29 NXT 30 SRV 33 NAPTR 35 KX 36 CERT 37 A6 38
    DNAME 39 OPT 41 APL 42 DS 43 SSHFP 44 IPSECKEY 45 RRSIG 46 NSEC 47 DNSKEY 48 DHCID 49
    NSEC3 50 NSEC3PARAM 51 TLSA 52 SMIMEA 53 HIP 55 NINFO 56 CDS 59 CDNSKEY 60 OPENPGPKEY 61
    CSYNC 62 ZONEMD 63 SVCB 64 HTTPS 65 DSYNC 66 HHIT 67 BRID 68 SPF 99 UNSPEC 103 NID 104
    L32 105 L64 106 LP 107 EUI48 108 EUI64 109 NXNAME 128 TKEY 249 TSIG 250 IXFR 251 AXFR 252
    MAILB 253 MAILA 254 ANY 255 URI 256 CAA 257 AVC 258 AMTRELAY 260 RESINFO 261 WALLET 262
    TA 32768 DLV 32769
"""
_TYPE_WORDS = _TYPE_TABLE.split()
_TYPES = dict(zip(_TYPE_WORDS[::2], map(int, _TYPE_WORDS[1::2]), strict=True))
_CLASSES = {"IN": 1, "INTERNET": 1, "CH": 3, "CHAOS": 3, "HS": 4, "HESIOD": 4, "NONE": 254}
_CLASSES |= {"ANY": 255, "RESERVED0": 0}
_IN = 1
_CNAME = 5
_TXT = 16
_RRSIG = 46
_NEUTRAL = frozenset({25, 47, 50})  # KEY, NSEC, NSEC3: allowed beside a CNAME (RFC 4035 2.5)
_MAX_TTL = 2**32 - 1
_TTL_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DIGITS = frozenset("0123456789")


def _is_digits(text: str) -> bool:
    """Only ASCII digits, at least one (str.isdigit() also takes other scripts' digits)."""
    return bool(text) and all(c in _DIGITS for c in text)


def _is_meta(rdtype: int) -> bool:
    """Meta and query types (RFC 6895 3.1: 0, OPT, 128-255): no zone file holds them."""
    return rdtype in (0, 41) or 128 <= rdtype <= 255


def _type(text: str) -> int | None:
    """A type mnemonic or TYPEnnn (RFC 3597), any case; None if it is neither."""
    upper = text.upper()
    value = _TYPES.get(upper)
    if value is None and "-" in upper:
        value = _TYPES.get(upper.replace("-", "_"))  # NSAP-PTR
    if value is None and upper.startswith("TYPE") and _is_digits(upper[4:]):
        value = int(upper[4:])
    return value if value is not None and value <= 0xFFFF else None


def _class(text: str) -> int | None:
    """A class mnemonic or CLASSnnn, any case; None if it is neither."""
    upper = text.upper()
    value = _CLASSES.get(upper)
    if value is None and upper.startswith("CLASS") and _is_digits(upper[5:]):
        value = int(upper[5:])
    return value if value is not None and value <= 0xFFFF else None


def _ttl(text: str) -> int | None:
    """Seconds, or BIND's units (1h30m, 1w); None if TEXT is no TTL."""
    if _is_digits(text):
        total = int(text)
    else:
        total = current = 0
        need_digit = True
        for char in text:
            if char in _DIGITS:
                current = current * 10 + int(char)
                need_digit = False
                continue
            unit = _TTL_UNITS.get(char.lower())
            if need_digit or unit is None:
                return None
            total += current * unit
            current = 0
            need_digit = True
        if not need_digit:
            return None  # digits without a unit at the end
    return total if total <= _MAX_TTL else None


# --------------------------------------------------------------------------------------------
# Tokens: a fragment as logical lines (parentheses joined) of words and quoted strings
# --------------------------------------------------------------------------------------------


class _ZoneSyntaxError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _Token(NamedTuple):
    quoted: bool
    text: str  # as written, escapes included, without the quotes
    line: int


class _Line(NamedTuple):
    number: int  # of the first token
    indented: bool  # starts with a blank: no owner field
    tokens: list[_Token]
    end: int  # the line number at its end, for "missing ..." errors


# A word ends at a blank, a line end, ';', '(', ')' or '"'; "\X" puts any X in it but a line
# end. In a quoted string only '"', a backslash and a line feed are special; a CR is text
# there, as in dnspython (outside quotes a CR, or CR LF, ends the line).
_WORD = re.compile(r'(?:[^ \t\r\n;()"\\]|\\[^\r\n])+')
_QUOTED = re.compile(r'(?:[^"\\\n]|\\[\s\S])*')
_BLANKS = re.compile(r"[ \t]+")
_COMMENT = re.compile(r";[^\r\n]*")


def _match_end(pattern: re.Pattern[str], text: str, pos: int) -> int:
    match = pattern.match(text, pos)
    assert match is not None
    return match.end()


def _logical_lines(text: str) -> Iterator[_Line]:
    """The lines of a fragment, one at a time: errors further down come only when reached."""
    pos, size, line, depth, paren_line = 0, len(text), 1, 0, 0
    tokens: list[_Token] = []
    indented = text[:1] in (" ", "\t")
    early_comment = False  # "(; comment" before the owner: refused, as dnspython does
    while pos < size:
        char = text[pos]
        if char in " \t":
            pos = _match_end(_BLANKS, text, pos)
        elif char in "\r\n":
            pos += 2 if text.startswith("\r\n", pos) else 1
            line += 1
            if depth == 0:
                if tokens:
                    yield _line(indented, tokens, line - 1, early_comment)
                tokens = []
                indented = text[pos : pos + 1] in (" ", "\t")
                early_comment = False
        elif char == ";":
            early_comment = early_comment or (depth > 0 and not tokens and not indented)
            pos = _match_end(_COMMENT, text, pos)
        elif char == "(":
            if depth == 0:
                paren_line = line
            depth += 1
            pos += 1
        elif char == ")":
            if depth == 0:
                raise _ZoneSyntaxError(line, "')' without '('")
            depth -= 1
            pos += 1
        elif char == '"':
            body = _QUOTED.match(text, pos + 1)
            assert body is not None  # the pattern matches the empty string
            end = body.end()
            if end < size and text[end] == "\n":
                raise _ZoneSyntaxError(line, "line ends inside a quoted string (missing '\"')")
            if end >= size or text[end] != '"':
                raise _ZoneSyntaxError(line, "the file ends inside a quoted string")
            tokens.append(_Token(True, body.group(), line))
            line += body.group().count("\n")  # escaped line feeds
            pos = end + 1
        else:
            word = _WORD.match(text, pos)
            if word is None:  # a backslash before a line end, or at the end of the file
                raise _ZoneSyntaxError(line, "a backslash at the end of a line escapes nothing")
            tokens.append(_Token(False, word.group(), line))
            pos = word.end()
    if depth:
        raise _ZoneSyntaxError(paren_line, "'(' without ')'")
    if tokens:
        yield _line(indented, tokens, line, early_comment)


def _line(indented: bool, tokens: list[_Token], end: int, early_comment: bool) -> _Line:
    if early_comment:
        raise _ZoneSyntaxError(
            tokens[0].line, "a comment between '(' and the owner name (write the owner first)"
        )
    return _Line(tokens[0].line, indented, tokens, end)


# --------------------------------------------------------------------------------------------
# Escapes and names
# --------------------------------------------------------------------------------------------


_ESCAPE = re.compile(r"\\(?:([0-9]{3})|([^0-9]))", re.DOTALL)


def _pieces(text: str) -> Iterator[str | int]:
    r"""TEXT's characters (str), with \X as X and \DDD as the number DDD (int).

    ValueError for a backslash that starts no escape (\1, \12x) or for \DDD above 255.
    """
    pos = 0
    for match in _ESCAPE.finditer(text):
        yield from _plain(text[pos : match.start()])
        if match.group(1) is None:
            yield match.group(2)
        elif int(match.group(1)) > 255:
            raise ValueError(f"bad escape \\{match.group(1)} (\\DDD goes up to 255)")
        else:
            yield int(match.group(1))
        pos = match.end()
    yield from _plain(text[pos:])


def _plain(text: str) -> str:
    if "\\" in text:
        bad = text[text.index("\\") :][:4]
        raise ValueError(f"bad escape {bad} (use \\DDD, three digits)")
    return text


def _unescape_bytes(text: str) -> bytes:
    r"""A character-string's bytes: the text in UTF-8, each \DDD one byte."""
    if "\\" not in text:
        return text.encode("utf-8")
    return b"".join(
        bytes((piece,)) if isinstance(piece, int) else piece.encode("utf-8")
        for piece in _pieces(text)
    )


def _unescape_text(text: str) -> str:
    r"""TEXT with escapes applied, \DDD as code point DDD (as dnspython reads numbers)."""
    return "".join(chr(piece) if isinstance(piece, int) else piece for piece in _pieces(text))


class _Name(NamedTuple):
    """Wire-format labels (no root label) and whether the name ends at the root.

    A relative name stays relative when no ``$ORIGIN`` was set: lookups complete it.
    """

    labels: tuple[bytes, ...]
    absolute: bool

    def under(self, origin: _Name) -> _Name:
        """This name, or this relative name followed by ORIGIN; ValueError if too long."""
        if self.absolute:
            return _checked(self)
        return _checked(_Name(self.labels + origin.labels, origin.absolute))

    def key(self) -> str:
        """Lower-case text form: absolute names end with '.', relative ones do not.

        As dnspython writes names, so keys match those of the reader this one replaced
        (the empty relative name, ``@`` with no ``$ORIGIN``, is "@").
        """
        text = ".".join(_escape_label(label) for label in self.labels)
        if self.absolute:
            return f"{text}."
        return text or "@"


_NO_ORIGIN = _Name((), False)
_SPECIAL = frozenset(b'"().;\\@$')


def _escape_label(label: bytes) -> str:
    """A label as dnspython writes it, lower-cased: \\X for specials, \\DDD for the rest."""
    parts = []
    for byte in label.lower():
        if byte in _SPECIAL:
            parts.append("\\" + chr(byte))
        elif 0x20 < byte < 0x7F:
            parts.append(chr(byte))
        else:
            parts.append(f"\\{byte:03d}")
    return "".join(parts)


def _checked(name: _Name) -> _Name:
    for label in name.labels:
        if len(label) > 63:
            raise ValueError("a label is longer than 63 bytes")
    # Relative names are measured as if under the root: the domain they get is not known yet.
    if sum(len(label) + 1 for label in name.labels) + 1 > 255:
        raise ValueError("the name is longer than 255 bytes")
    return name


# A label as written: up to an unescaped dot (dnspython also splits U-labels on 3 other dots).
_LABEL = re.compile(r"(?:[^.\u3002\uff0e\uff61\\]|\\[\s\S])*")


def _parse_name(text: str, origin: _Name) -> _Name:
    r"""A name as written (``@``, ``\.``, ``\DDD``, U-labels), completed with ORIGIN.

    ValueError if it is no name.
    """
    if text == "@":
        return origin
    if text in (".", "\u3002", "\uff0e", "\uff61"):
        return _Name((), True)
    written: list[str] = []
    pos = 0
    while True:
        label = _LABEL.match(text, pos)
        assert label is not None  # the pattern matches the empty string
        pos = label.end()
        if pos == len(text):
            if label.group():
                written.append(label.group())
            break
        if text[pos] == "\\":
            raise ValueError("a name ends with a backslash")
        if not label.group():
            raise ValueError(f"empty label in {text!r}")
        written.append(label.group())
        pos += 1
    absolute = not label.group()
    if text.isascii():
        labels = tuple(_unescape_bytes(part) for part in written)
    else:  # dnspython's rule: \DDD is a code point here, and U-labels become A-labels
        labels = tuple(_a_label(_unescape_text(part)) for part in written)
    return _Name(labels, absolute).under(origin)


def _a_label(label: str) -> bytes:
    if label.isascii():
        return label.encode("ascii")
    import idna  # lazy: only non-ASCII names need it

    try:
        return idna.alabel(idna.uts46_remap(label, std3_rules=False, transitional=False))
    except UnicodeError as exc:  # idna.IDNAError is one
        raise ValueError(f"{label!r} is not a valid internationalized label ({exc})") from None


# --------------------------------------------------------------------------------------------
# The generic form of RFC 3597: \# LENGTH HEX...
# --------------------------------------------------------------------------------------------

_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})*")


def _generic_data(tokens: list[_Token]) -> bytes:
    """The RDATA bytes of ``\\# LENGTH HEX...`` (TOKENS start at the ``\\#``)."""
    if len(tokens) < 2 or tokens[1].quoted or not _is_digits(_unescape_text(tokens[1].text)):
        raise ValueError("\\# must be followed by the length of the data")
    length = int(_unescape_text(tokens[1].text))
    if any(token.quoted for token in tokens[2:]):
        raise ValueError("the data of \\# must be hexadecimal digits, not a quoted string")
    digits = "".join(_unescape_text(token.text) for token in tokens[2:])
    if not _HEX.fullmatch(digits):
        raise ValueError("the data of \\# must be an even number of hexadecimal digits")
    data = bytes.fromhex(digits)
    if len(data) != length:
        raise ValueError(f"\\# says {length} bytes but gives {len(data)}")
    return data


def _txt_from_wire(data: bytes) -> tuple[bytes, ...]:
    strings: list[bytes] = []
    pos = 0
    while pos < len(data):
        end = pos + 1 + data[pos]
        if end > len(data):
            raise ValueError("the TXT data ends inside a character-string")
        strings.append(data[pos + 1 : end])
        pos = end
    if not strings:
        raise ValueError("a TXT record needs at least one character-string")
    return tuple(strings)


def _name_from_wire(data: bytes) -> _Name:
    labels: list[bytes] = []
    pos = 0
    while True:
        if pos >= len(data):
            raise ValueError("the name in the data does not end")
        size = data[pos]
        if size == 0:
            break
        if size > 63:
            raise ValueError("compressed or unknown label type in the data")
        labels.append(data[pos + 1 : pos + 1 + size])
        pos += 1 + size
        if pos > len(data):
            raise ValueError("the data ends inside a label")
    if pos + 1 != len(data):
        raise ValueError("data left over after the name")
    return _checked(_Name(tuple(labels), True))


# --------------------------------------------------------------------------------------------
# The reader
# --------------------------------------------------------------------------------------------

_REGULAR, _CNAME_KIND, _NEUTRAL_KIND = "regular", "cname", "neutral"


class _Reader:
    """Reads one fragment. ``records()`` keeps the order of each (owner, type)'s first record.

    Like a DNS RRset, a name's TXT records hold no duplicates, and a name has one CNAME.
    """

    def __init__(self) -> None:
        self.origin = _NO_ORIGIN  # relative names stay relative until $ORIGIN
        self.owner: _Name | None = None
        self.txt: dict[str, dict[tuple[bytes, ...], None]] = {}  # an ordered set per owner
        self.cname: dict[str, str] = {}
        self.order: dict[tuple[str, str], None] = {}
        self.kinds: dict[str, set[str]] = {}
        self.skipped: list[tuple[str, int]] = []  # (owner, type) of other records, for tests

    def read(self, text: str) -> None:
        for line in _logical_lines(text):
            first = line.tokens[0]
            if not line.indented and not first.quoted and first.text.startswith("$"):
                self._directive(line)
            else:
                self._record(line)

    def _directive(self, line: _Line) -> None:
        word = line.tokens[0].text.upper()
        args = line.tokens[1:]
        if word in ("$INCLUDE", "$GENERATE"):
            raise _ZoneSyntaxError(line.number, f"{word} is not supported in --dns-file fragments")
        if word not in ("$ORIGIN", "$TTL"):
            raise _ZoneSyntaxError(line.number, f"unknown directive {word}")
        if len(args) != 1 or args[0].quoted:
            raise _ZoneSyntaxError(line.number, f"{word} takes one value")
        if word == "$TTL":
            if _ttl(args[0].text) is None:
                raise _ZoneSyntaxError(line.number, f"bad $TTL value {args[0].text!r}")
            return
        try:
            self.origin = _parse_name(args[0].text, self.origin)
        except ValueError as exc:
            raise _ZoneSyntaxError(line.number, f"$ORIGIN: {exc}") from None

    def _record(self, line: _Line) -> None:
        tokens = line.tokens
        pos = 0
        if not line.indented:
            owner = tokens[0]
            if owner.quoted:
                raise _ZoneSyntaxError(owner.line, "an owner name cannot be a quoted string")
            try:
                self.owner = _parse_name(owner.text, self.origin)
            except ValueError as exc:
                raise _ZoneSyntaxError(owner.line, f"owner {owner.text!r}: {exc}") from None
            pos = 1
        elif self.owner is None:
            raise _ZoneSyntaxError(line.number, "no owner name (the first record starts blank)")
        owner_key = self.owner.key()

        def word(index: int) -> str:
            if index >= len(tokens):
                raise _ZoneSyntaxError(line.end, "record without a type")
            if tokens[index].quoted:
                raise _ZoneSyntaxError(
                    tokens[index].line, f'"{tokens[index].text}" where a TTL, class or type goes'
                )
            return tokens[index].text

        # [TTL] [class] type, or [class] [TTL] type, as BIND and dnspython read them.
        has_ttl = _ttl(word(pos)) is not None
        pos += has_ttl
        rdclass = _class(word(pos))
        if rdclass is not None:
            if rdclass != _IN:
                raise _ZoneSyntaxError(tokens[pos].line, f"class {tokens[pos].text} is not IN")
            pos += 1
        if not has_ttl and _ttl(word(pos)) is not None:
            pos += 1
        rdtype = _type(word(pos))
        if rdtype is None:
            raise _ZoneSyntaxError(tokens[pos].line, f"unknown record type {tokens[pos].text!r}")
        if _is_meta(rdtype):
            raise _ZoneSyntaxError(
                tokens[pos].line, f"{tokens[pos].text} is a query type, not a record type"
            )
        data = tokens[pos + 1 :]
        where = data[0].line if data else line.end
        try:
            if rdtype == _TXT:
                strings = self._txt(data, line)
                self._add(owner_key, "TXT", _REGULAR, where)
                self.txt.setdefault(owner_key, {})[strings] = None  # no duplicates, as in DNS
            elif rdtype == _CNAME:
                target = self._cname(data, line).key()
                self._add(owner_key, "CNAME", _CNAME_KIND, where)
                self.cname[owner_key] = target  # one CNAME per name: the last one stays
            else:
                self._add(owner_key, None, _kind(rdtype, data), where)
                self.skipped.append((owner_key, rdtype))
        except ValueError as exc:
            raise _ZoneSyntaxError(where, str(exc)) from None

    def _txt(self, data: list[_Token], line: _Line) -> tuple[bytes, ...]:
        if not data:
            raise _ZoneSyntaxError(line.end, "a TXT record needs at least one string")
        if not data[0].quoted and data[0].text == "\\#":
            return _txt_from_wire(_generic_data(data))
        strings = []
        for token in data:
            value = _unescape_bytes(token.text)
            if len(value) > 255:
                raise _ZoneSyntaxError(
                    token.line,
                    f"a TXT string of {len(value)} bytes (255 at most: split it into several"
                    ' quoted strings, "..." "...")',
                )
            strings.append(value)
        return tuple(strings)

    def _cname(self, data: list[_Token], line: _Line) -> _Name:
        if not data:
            raise _ZoneSyntaxError(line.end, "a CNAME record needs a target name")
        if not data[0].quoted and data[0].text == "\\#":
            return _name_from_wire(_generic_data(data))
        if data[0].quoted:
            raise _ZoneSyntaxError(data[0].line, "a CNAME target cannot be a quoted string")
        if len(data) > 1:
            raise _ZoneSyntaxError(data[1].line, "a CNAME record has one target name")
        return _parse_name(data[0].text, self.origin)

    def _add(self, owner: str, rdtype: str | None, kind: str, line: int) -> None:
        """Note a record; a CNAME beside other data is an error (RFC 1034 3.6.2)."""
        kinds = self.kinds.setdefault(owner, set())
        if (kind == _REGULAR and _CNAME_KIND in kinds) or (
            kind == _CNAME_KIND and _REGULAR in kinds
        ):
            raise _ZoneSyntaxError(line, f"{owner}: a CNAME and other records at the same name")
        kinds.add(kind)
        if rdtype is not None:
            self.order[(owner, rdtype)] = None

    def records(self) -> list[tuple[str, str, list[bytes]]]:
        out: list[tuple[str, str, list[bytes]]] = []
        for owner, rdtype in self.order:
            if rdtype == "TXT":
                out.append((owner, "TXT", [b"".join(strings) for strings in self.txt[owner]]))
            else:
                out.append((owner, "CNAME", [self.cname[owner].encode()]))
        return out


def _kind(rdtype: int, data: list[_Token]) -> str:
    """CNAME, neutral or regular, for the CNAME-and-other-data rule; RRSIG as its type."""
    if rdtype == _RRSIG and data:
        try:
            covered = _type(_unescape_text(data[0].text))
        except ValueError:
            covered = None
        rdtype = covered if covered is not None else rdtype
    if rdtype == _CNAME:
        return _CNAME_KIND
    return _NEUTRAL_KIND if rdtype in _NEUTRAL else _REGULAR


def parse_zone_fragment(text: str, source: str) -> list[tuple[str, str, list[bytes]]]:
    """Read TXT and CNAME records: (owner, "TXT"|"CNAME", values). RecordFormatError on errors."""
    reader = _Reader()
    try:
        reader.read(text)
    except _ZoneSyntaxError as exc:
        raise RecordFormatError(f"--dns-file {source}:{exc.line}: {exc.message}") from None
    except UnicodeError as exc:
        raise RecordFormatError(f"--dns-file {source}: not valid text ({exc})") from None
    return reader.records()


# --------------------------------------------------------------------------------------------
# Lookups
# --------------------------------------------------------------------------------------------


class ZoneFileSource:
    """A TXT source over one or more zone-file fragments (the ``--dns-file`` option)."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = list(paths)
        self._txt: dict[str, list[bytes]] = {}
        self._cname: dict[str, str] = {}
        self._answers: dict[str, TxtAnswer] = {}
        for path in self.paths:
            data = read_input(path)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise RecordFormatError(f"--dns-file {path}: not UTF-8 text") from None
            for owner, rdtype, values in parse_zone_fragment(text, path):
                if rdtype == "TXT":
                    self._txt.setdefault(owner, []).extend(values)
                else:
                    self._cname[owner] = values[0].decode()

    def _candidates(self, name: str) -> list[str]:
        """The file keys that can stand for NAME: absolute, or relative to its domain."""
        absolute = name.lower().rstrip(".") + "."
        keys = [absolute]
        index = absolute.find(_DOMAINKEY)
        if index >= 0:
            keys.append(absolute[: index + len(_DOMAINKEY) - 1])
        return keys

    def lookup_txt(self, name: str) -> TxtAnswer:
        """The records at NAME (after CNAMEs); DnsNotFound. Answers are kept: a batch asks
        for the same few names again and again (callers do not change them)."""
        answer = self._answers.get(name)
        if answer is None:
            answer = self._answers[name] = self._resolve(name)
        return answer

    def _resolve(self, name: str) -> TxtAnswer:
        chain: list[str] = []
        current = name
        for _ in range(8):
            for key in self._candidates(current):
                if key in self._txt:
                    return TxtAnswer(
                        name=name,
                        records=list(self._txt[key]),
                        cname_chain=chain,
                        authenticated=None,
                    )
                if key in self._cname:
                    target = self._cname[key]
                    current = target if target.endswith(".") else f"{target}.{_domain_of(current)}"
                    chain.append(current.rstrip("."))
                    break
            else:
                break
        files = ", ".join(self.paths)
        raise DnsNotFound(f"{name}: no such name in --dns-file {files} (no DNS lookup is made)")


def _domain_of(name: str) -> str:
    index = name.find(_DOMAINKEY)
    return name[index + len(_DOMAINKEY) :] if index >= 0 else name
