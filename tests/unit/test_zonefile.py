"""The ``--dns-file`` zone-fragment reader (dkimtool.core.zonefile).

Targeted cases for each rule, then differential tests against dnspython's zone reader, set
up as the module used it before it had a reader of its own: hand-written tricky fragments and
Hypothesis-made ones must give the same TXT and CNAME records, and what dnspython rejects
must be rejected too, apart from the deliberate differences listed in DIFFERENCES.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.tokenizer
import dns.zonefile
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dkimtool.core import zonefile
from dkimtool.core.errors import DnsNotFound, RecordFormatError
from dkimtool.core.keysource import TxtAnswer
from dkimtool.core.zonefile import ZoneFileSource, parse_zone_fragment
from tests.conftest import RunCli

Records = list[tuple[str, str, list[bytes]]]

# What the reader does on purpose otherwise than dnspython's zone reader:
DIFFERENCES = {
    # dnspython takes the root as the owner; BIND says "no current owner name".
    "no owner": "a first record that starts with a blank is an error",
    # dnspython reads them with the \# form; BIND refuses them ("meta RR type").
    "query type": "TYPE0, OPT and types 128-255 cannot be records",
    # The reader skips other types unchecked: "x A not-an-address" is no error.
    "skipped": "the data of records other than TXT and CNAME is not checked",
}


# --------------------------------------------------------------------------------------------
# The two readers
# --------------------------------------------------------------------------------------------

_SENTINEL = dns.name.from_text("dkimtool-relative.invalid.")


def _dnspython_key(name: dns.name.Name) -> str:
    if name.is_subdomain(_SENTINEL):
        return str(name.relativize(_SENTINEL).to_text().lower())
    return str(name.to_text().lower())


def dnspython_records(text: str) -> Records:
    """dnspython's reading of TEXT, as dkimtool's old zonefile module did it."""
    manager = dns.zonefile.RRSetsReaderManager(dns.name.root, False, dns.rdataclass.IN)
    with manager.writer(True) as txn:  # type: ignore[no-untyped-call]
        reader = dns.zonefile.Reader(
            dns.tokenizer.Tokenizer(text, "f"),
            dns.rdataclass.IN,
            txn,
            allow_directives={"$ORIGIN", "$TTL"},
            default_ttl=3600,
        )
        reader.current_origin = _SENTINEL
        reader.read()
    records: Records = []
    for rrset in manager.rrsets:
        owner = _dnspython_key(rrset.name)
        if rrset.rdtype == dns.rdatatype.TXT:
            records.append((owner, "TXT", [b"".join(rd.strings) for rd in rrset]))
        elif rrset.rdtype == dns.rdatatype.CNAME:
            records.append((owner, "CNAME", [_dnspython_key(rd.target).encode() for rd in rrset]))
    return records


class Outcome(NamedTuple):
    records: Records | None
    error: str | None
    skipped: int = 0  # records of other types (ours only)


def theirs(text: str) -> Outcome:
    try:
        return Outcome(dnspython_records(text), None)
    # ValueError: e.g. an SOA away from the zone origin, which the old module let through.
    except (dns.exception.DNSException, ValueError) as exc:
        return Outcome(None, f"{type(exc).__name__}: {exc}")


def ours(text: str) -> Outcome:
    reader = zonefile._Reader()
    try:
        reader.read(text)
    except zonefile._ZoneSyntaxError as exc:
        return Outcome(None, exc.message)
    return Outcome(reader.records(), None, len(reader.skipped))


def check_against_dnspython(text: str) -> None:
    """Both accept with the same records, or both reject (bar the DIFFERENCES)."""
    mine, reference = ours(text), theirs(text)
    if mine.error is not None and reference.error is None:
        assert any(word in mine.error for word in ("no owner", "query type")), (text, mine)
    elif mine.error is None and reference.error is not None:
        assert mine.skipped, (text, reference.error)  # an unchecked record of another type
    else:
        assert mine.records == reference.records, text


def records(text: str) -> Records:
    return parse_zone_fragment(text, "f")


def error(text: str) -> str:
    with pytest.raises(RecordFormatError) as info:
        parse_zone_fragment(text, "f")
    return info.value.message


# --------------------------------------------------------------------------------------------
# Targeted cases: what is read
# --------------------------------------------------------------------------------------------

LONGEST = "a" * 255

ACCEPTED: list[tuple[str, str, Records]] = [
    (
        "comments-blank-lines",
        '; head\n\n \t \n  ; indented comment\nmail._domainkey IN TXT "v=DKIM1" ; tail\n',
        [("mail._domainkey", "TXT", [b"v=DKIM1"])],
    ),
    (
        "genkey-parentheses",
        'mail._domainkey\tIN\tTXT\t( "v=DKIM1; k=rsa; "\n\t  "p=MIIB" ; part two\n\t  "AQAB" )\n',
        [("mail._domainkey", "TXT", [b"v=DKIM1; k=rsa; p=MIIBAQAB"])],
    ),
    (
        "quoted-escapes",
        r'x TXT "a\"b\\c\;d\065\255\000"',
        [("x", "TXT", [b'a"b\\c;dA\xff\x00'])],
    ),
    ("unquoted-escapes", r"x TXT a\ b\;c\(\)\"\100", [("x", "TXT", [b'a b;c()"d'])]),
    ("several-strings", 'x TXT "a" b "" "c"', [("x", "TXT", [b"abc"])]),
    ("strings-touching", 'x TXT a"b"c', [("x", "TXT", [b"abc"])]),
    ("utf-8", 'x TXT "café ✓"', [("x", "TXT", ["café ✓".encode()])]),
    ("255-bytes", f'x TXT "{LONGEST}" {LONGEST}', [("x", "TXT", [LONGEST.encode() * 2])]),
    (
        "escaped-line-feed",
        'x TXT "a\\\nb"\ny TXT c',
        [("x", "TXT", [b"a\nb"]), ("y", "TXT", [b"c"])],
    ),
    ("semicolon-quoted", 'x TXT "a;b" ; c', [("x", "TXT", [b"a;b"])]),
    (
        "comment-with-quote",
        'x TXT a ; "unclosed ( \ny TXT b',
        [("x", "TXT", [b"a"]), ("y", "TXT", [b"b"])],
    ),
    (
        "cr-and-crlf",
        'x TXT "a\rb"\r\ny TXT (c\r\n d) ; e\rz TXT f\r\n',
        [("x", "TXT", [b"a\rb"]), ("y", "TXT", [b"cd"]), ("z", "TXT", [b"f"])],
    ),
    ("nested-parentheses", "x TXT ((a)\n(b))", [("x", "TXT", [b"ab"])]),
    ("parenthesis-first", "(x TXT\n a)", [("x", "TXT", [b"a"])]),
    ("parenthesis-comment-only", "(; c\n)\n ( ; c\n ) ; c\n", []),
    ("comment-after-owner", "(x ; c\n TXT a) ; c", [("x", "TXT", [b"a"])]),
    (
        "previous-owner",
        "x TXT a\n  TXT b\n\tIN TXT c\ny TXT d",
        [("x", "TXT", [b"a", b"b", b"c"]), ("y", "TXT", [b"d"])],
    ),
    ("at-without-origin", "@ TXT a", [("@", "TXT", [b"a"])]),
    ("at-with-origin", "$ORIGIN example.com.\n@ TXT a", [("example.com.", "TXT", [b"a"])]),
    (
        "absolute-case",
        "Mail._DomainKey.Example.COM. TXT a",
        [("mail._domainkey.example.com.", "TXT", [b"a"])],
    ),
    (
        "origin",
        "$ORIGIN example.com.\nmail._domainkey TXT a",
        [("mail._domainkey.example.com.", "TXT", [b"a"])],
    ),
    (
        "origin-relative-to-origin",
        "$ORIGIN com.\n$origin example\nmail TXT a",
        [("mail.example.com.", "TXT", [b"a"])],
    ),
    ("origin-relative-alone", "$ORIGIN example\nmail TXT a", [("mail.example", "TXT", [b"a"])]),
    ("origin-root", "$ORIGIN .\nmail TXT a", [("mail.", "TXT", [b"a"])]),
    ("case-insensitive-owner", "X TXT a\nx TXT b", [("x", "TXT", [b"a", b"b"])]),
    ("escaped-dot-space", r"a\.b\032c\065 TXT q", [(r"a\.b\032ca", "TXT", [b"q"])]),
    ("escaped-specials", r"\@x\$y\(z TXT q", [(r"\@x\$y\(z", "TXT", [b"q"])]),
    ("escaped-letters", r"\097\B\099. TXT q", [("abc.", "TXT", [b"q"])]),
    ("escaped-high-byte", r"\255\200x TXT q", [(r"\255\200x", "TXT", [b"q"])]),
    ("idna-owner", "bücher._domainkey TXT q", [("xn--bcher-kva._domainkey", "TXT", [b"q"])]),
    (
        "ttl-and-class-orders",
        (
            "a 300 IN TXT q\nb IN 300 TXT q\nc 1h30m TXT q\nd in 1W txt q\n"
            "e CLASS1 TYPE16 q\nf INTERNET 2d3h TXT q\ng 4294967295 TXT q"
        ),
        [(owner, "TXT", [b"q"]) for owner in "abcdefg"],
    ),
    (
        "type-words-as-owner",
        "TXT TXT IN\nIN IN TXT x",
        [("txt", "TXT", [b"IN"]), ("in", "TXT", [b"x"])],
    ),
    (
        "other-types-skipped",
        (
            'x A 192.0.2.1\nx MX ( 10\n mail ) ; c\nx HINFO "a;b" "(c"\nx TXT v\n'
            'x TYPE999 \\# 2 abcd\nx SPF "v=spf1 -all"\nx NSAP-PTR foo.'
        ),
        [("x", "TXT", [b"v"])],
    ),
    (
        "cname",
        "alias CNAME real\nabs CNAME Real.Example.\n$ORIGIN example.com.\nb CNAME @",
        [
            ("alias", "CNAME", [b"real"]),
            ("abs", "CNAME", [b"real.example."]),
            ("b.example.com.", "CNAME", [b"example.com."]),
        ],
    ),
    ("cname-type-number", "x TYPE5 y", [("x", "CNAME", [b"y"])]),
    ("cname-last-wins", "x CNAME a\nx CNAME b", [("x", "CNAME", [b"b"])]),
    ("cname-beside-nsec", "x CNAME y\nx NSEC y A", [("x", "CNAME", [b"y"])]),
    (
        "cname-beside-its-rrsig",
        "x RRSIG CNAME 8 1 300 20300101000000 20200101000000 1 x. AAAA\nx CNAME y",
        [("x", "CNAME", [b"y"])],
    ),
    ("duplicates-dropped", 'x TXT a\nx TXT "a"\nx TXT a ""', [("x", "TXT", [b"a", b"a"])]),
    ("generic-txt", "x TXT \\# 6 02616201 6300", [("x", "TXT", [b"abc"])]),
    ("generic-cname", "x CNAME \\# 5 0161016200", [("x", "CNAME", [b"a.b."])]),
    ("ttl-directive", "$TTL 1h\n$ttl 60\nx TXT a", [("x", "TXT", [b"a"])]),
    ("no-final-newline", "x TXT a ; c", [("x", "TXT", [b"a"])]),
    ("empty", "", []),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED]
)
def test_accepted(text: str, expected: Records) -> None:
    assert records(text) == expected
    assert dnspython_records(text) == expected  # the reference agrees


# --------------------------------------------------------------------------------------------
# Targeted cases: what is refused, and where
# --------------------------------------------------------------------------------------------

REJECTED: list[tuple[str, str, int, str]] = [
    ("unclosed-parenthesis", "x TXT ( a\n b", 1, "'(' without ')'"),
    ("stray-parenthesis", "x TXT a )", 1, "')' without '('"),
    ("unterminated-quote", 'x TXT "abc', 1, "ends inside a quoted string"),
    ("newline-in-quote", 'x TXT "ab\nc"', 1, "line ends inside a quoted string"),
    ("backslash-at-end", "x TXT a\\\ny TXT b", 1, "backslash at the end of a line"),
    ("string-too-long", f'x TXT "{LONGEST}a"', 1, "a TXT string of 256 bytes"),
    ("escape-too-big", r'x TXT "\256"', 1, r"bad escape \256"),
    ("escape-short", r'x TXT "\12"', 1, r"bad escape \12"),
    ("escape-not-digits", r"x TXT \1a2", 1, r"bad escape \1a2"),
    ("txt-without-strings", "x TXT", 1, "at least one string"),
    ("owner-alone", "x", 1, "record without a type"),
    ("class-without-type", "x IN ; c", 1, "record without a type"),
    ("unknown-type", "x IN BOGUSTYPE 1 2 3", 1, "unknown record type 'BOGUSTYPE'"),
    ("not-a-zone-file", "this is not a zone file at all", 1, "unknown record type 'is'"),
    ("two-ttls", "x 300 300 TXT a", 1, "unknown record type '300'"),
    ("ttl-too-big", "x 4294967296 TXT a", 1, "unknown record type '4294967296'"),
    ("class-ch", "x CH TXT a", 1, "class CH is not IN"),
    ("class-number", "x 60 CLASS3 TXT a", 1, "class CLASS3 is not IN"),
    ("quoted-type", 'x IN "TXT" a', 1, '"TXT" where a TTL, class or type goes'),
    ("quoted-owner", '"x" TXT a', 1, "an owner name cannot be a quoted string"),
    ("cname-without-target", "x CNAME ; c", 1, "needs a target name"),
    ("cname-two-targets", "x CNAME a\n  CNAME a b", 2, "one target name"),
    ("cname-quoted", 'x CNAME "a"', 1, "cannot be a quoted string"),
    ("cname-and-txt", "x TXT a\nX CNAME b", 2, "a CNAME and other records"),
    ("cname-and-a", "x CNAME b\nx A 192.0.2.1", 2, "a CNAME and other records"),
    ("include", "$INCLUDE /etc/passwd", 1, "$INCLUDE is not supported"),
    ("generate", "$GENERATE 1-3 sel$._domainkey TXT x", 1, "$GENERATE is not supported"),
    ("unknown-directive", "x TXT a\n$FOO bar", 2, "unknown directive $FOO"),
    ("origin-without-name", "$ORIGIN", 1, "$ORIGIN takes one value"),
    ("origin-two-names", "$ORIGIN a. b.", 1, "$ORIGIN takes one value"),
    ("origin-bad-name", "$ORIGIN a..b.", 1, "empty label"),
    ("ttl-directive-bad", "$TTL 1h30", 1, "bad $TTL value '1h30'"),
    ("empty-label", "a..b TXT x", 1, "empty label"),
    ("leading-dot", ".a TXT x", 1, "empty label"),
    ("name-escape-too-big", r"a\256 TXT x", 1, r"bad escape \256"),
    ("label-too-long", "a" * 64 + " TXT x", 1, "longer than 63 bytes"),
    ("name-too-long", ".".join(["a" * 63] * 4) + ". TXT x", 1, "longer than 255 bytes"),
    ("idna-invalid", "-bücher TXT q", 1, "not a valid internationalized label"),
    ("generic-length", "x TXT \\# 3 6162", 1, "says 3 bytes but gives 2"),
    ("generic-odd-hex", "x TXT \\# 2 616", 1, "even number of hexadecimal digits"),
    ("generic-no-length", "x TXT \\#", 1, "followed by the length"),
    ("generic-txt-empty", "x TXT \\# 0", 1, "at least one character-string"),
    ("generic-txt-truncated", "x TXT \\# 2 0561", 1, "ends inside a character-string"),
    ("generic-cname-pointer", "x CNAME \\# 2 c000", 1, "compressed"),
    ("generic-cname-trailing", "x CNAME \\# 4 01610000", 1, "left over"),
    ("error-line", 'a TXT b\n\n; c\nd TXT ( e\n f\n "g', 6, "ends inside a quoted string"),
    ("error-line-after-parentheses", "a TXT (b\n c)\nd CH TXT e", 3, "class CH is not IN"),
    ("error-line-crlf", "a TXT b\r\nc TXT\r\n", 2, "at least one string"),
    ("comment-before-owner", "x TXT a\n(; c\n y TXT b)", 3, "between '(' and the owner"),
]


@pytest.mark.parametrize(
    ("text", "line", "message"), [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED]
)
def test_rejected(text: str, line: int, message: str) -> None:
    got = error(text)
    assert got.startswith(f"--dns-file f:{line}: ")
    assert message in got
    assert theirs(text).error is not None  # dnspython refuses it too


@pytest.mark.parametrize(
    ("text", "difference"),
    [
        ("  TXT a", "no owner"),
        ("$ORIGIN example.com.\n\tTXT a", "no owner"),
        ("x IN ANY \\# 0", "query type"),
        ("x TYPE0 \\# 0", "query type"),
        ("x OPT \\# 0", "query type"),
        ("x TYPE200 \\# 0", "query type"),
    ],
)
def test_refused_on_purpose(text: str, difference: str) -> None:
    assert difference in DIFFERENCES
    assert difference in error(text)
    assert theirs(text).error is None  # dnspython reads it


@pytest.mark.parametrize("text", ["x A not-an-address", "x MX ten mail", "x SOA a"])
def test_other_types_are_not_checked(text: str) -> None:
    assert records(text) == []
    assert theirs(text).error is not None


def test_error_names_the_file() -> None:
    with pytest.raises(RecordFormatError, match=r"^--dns-file keys/mail\.txt:2: "):
        parse_zone_fragment("x TXT a\ny TXT", "keys/mail.txt")


# --------------------------------------------------------------------------------------------
# ZoneFileSource: lookups over files
# --------------------------------------------------------------------------------------------


def source(tmp_path: Path, *texts: str | bytes) -> ZoneFileSource:
    paths = []
    for index, text in enumerate(texts):
        path = tmp_path / f"z{index}.txt"
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        paths.append(str(path))
    return ZoneFileSource(paths)


def test_lookup_relative_absolute_and_cname(tmp_path: Path) -> None:
    zone = source(
        tmp_path,
        'mail._domainkey IN TXT "v=DKIM1; p=" ; relative\n'
        'abs._domainkey.example.org. TXT "k=abs"\n'
        "alias._domainkey CNAME mail._domainkey\n"
        "far._domainkey CNAME abs._domainkey.example.org.\n",
        "MAIL._domainkey TXT second-file\n",
    )
    assert zone.lookup_txt("mail._domainkey.example.com") == TxtAnswer(
        name="mail._domainkey.example.com",
        records=[b"v=DKIM1; p=", b"second-file"],
        cname_chain=[],
        authenticated=None,
    )
    assert zone.lookup_txt("abs._domainkey.example.org.").records == [b"k=abs"]
    alias = zone.lookup_txt("alias._domainkey.example.net")
    assert alias.records == [b"v=DKIM1; p=", b"second-file"]
    assert alias.cname_chain == ["mail._domainkey.example.net"]
    assert zone.lookup_txt("far._domainkey.example.com").cname_chain == [
        "abs._domainkey.example.org"
    ]


def test_lookup_missing_name_is_nxdomain(tmp_path: Path) -> None:
    zone = source(tmp_path, "$ORIGIN example.com.\nmail._domainkey TXT a\n")
    with pytest.raises(DnsNotFound) as info:
        zone.lookup_txt("mail._domainkey.example.org")
    assert info.value.message == (
        f"mail._domainkey.example.org: no such name in --dns-file {tmp_path / 'z0.txt'}"
        " (no DNS lookup is made)"
    )
    assert zone.lookup_txt("MAIL._domainkey.example.COM").records == [b"a"]


def test_not_utf8_and_bad_file(tmp_path: Path) -> None:
    with pytest.raises(RecordFormatError, match=r"z0\.txt: not UTF-8 text$"):
        source(tmp_path, b'x TXT "caf\xe9"\n')
    with pytest.raises(RecordFormatError, match=r"z1\.txt:1: '\(' without '\)'$"):
        source(tmp_path, "x TXT a\n", "y TXT (\n")


# --------------------------------------------------------------------------------------------
# The tables of types and classes are dnspython's
# --------------------------------------------------------------------------------------------


def test_type_and_class_tables_match_dnspython() -> None:
    theirs_types = {name: int(value) for name, value in dns.rdatatype.RdataType.__members__.items()}
    assert theirs_types == zonefile._TYPES, "update _TYPE_TABLE from dns.rdatatype"
    theirs_classes = {
        name: int(value) for name, value in dns.rdataclass.RdataClass.__members__.items()
    }
    assert theirs_classes == zonefile._CLASSES


@pytest.mark.parametrize(
    "word", ["txt", "TYPE16", "type016", "NSAP-PTR", "nsap_ptr", "TYPE65535", "TYPE65536", "TYPE"]
)
def test_type_words_like_dnspython(word: str) -> None:
    try:
        expected: int | None = int(dns.rdatatype.from_text(word))
    except (dns.rdatatype.UnknownRdatatype, ValueError):
        expected = None
    assert zonefile._type(word) == expected


@pytest.mark.parametrize(
    "word", ["0", "3600", "1h30m", "1W2D", "1h30", "h", "1x", "4294967295", "4294967296", "1h1h"]
)
def test_ttl_words_like_dnspython(word: str) -> None:
    import dns.ttl

    try:
        expected: int | None = dns.ttl.from_text(word)
    except dns.ttl.BadTTL:
        expected = None
    assert zonefile._ttl(word) == expected


# --------------------------------------------------------------------------------------------
# Differential: a hand-written corpus
# --------------------------------------------------------------------------------------------

CORPUS = [text for _, text, _ in ACCEPTED] + [
    # genkey's own output, both forms
    (
        'mail._domainkey\tIN\tTXT\t( "v=DKIM1; k=ed25519; "\n'
        '\t  "p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=" )'
        "  ; ----- DKIM key mail for example.com\n"
    ),
    'mail._domainkey.example.com.\tIN\tTXT\t( "v=DKIM1; k=rsa; "\n\t  "p=MIIBIjAN" )\n',
    # owners, origins, escapes
    "$ORIGIN Example.COM.\nsel._domainkey 60 IN TXT x\n  IN 60 TXT y\n$ORIGIN sub\nz TXT w",
    "$ORIGIN a\\.b.\n@ TXT x\nc CNAME @\n",
    "a.b.c. TXT x\nA.B.C. TXT y\na.B.c TXT z",
    '\\(x\\) TXT "(" ( ")" )',
    "x\\;y TXT a\\;b ; c",
    'x\\ y TXT "\\ "',
    "@ CNAME @\n",
    "bücher.例え. CNAME Bücher\nmail._domainkey.bücher TXT q",
    "x. CNAME \\# 1 00",
    # TTLs, classes, types
    "x 0 in TXT a\ny IN 0 TXT a\nz 1w2d3h4m5s TXT a\nw 1S TXT a\nv TYPE16 a\nu txt a",
    'x IN A 192.0.2.1 ; an address\nx IN TXT "v=spf1 -all"\nx IN MX 10 mx\nx NS ns1\n',
    'x HINFO "PC ( ; " "Linux"\nx TXT a\nx CAA 0 issue "ca;x"',
    "x SRV ( 0 5\n 5060 ; port\n sip.example. )\ny TXT b",
    # quoting and parentheses
    'x TXT "" "" ""',
    'x TXT ""a""b',
    'x TXT "a" ; comment "\ny TXT b',
    "x TXT (\n\n; only a comment\n a\n\n)\n",
    "x TXT ( a ) b ( c\n) d",
    'x TXT "\\\\" \\\\ "\\"" \\"',
    'x TXT "\\\r"\n',
    'x TXT a\ty\t"z"\n',
    "x TXT \\# 2 0100\ny TXT \\# 1 00",
    'x TXT \\#x\ny TXT "\\#"',
    "x TXT \\\\#",
    "\n\n\nx TXT a\n\n\n",
    "x TXT a\n\r\n\ry TXT b",
]


@pytest.mark.parametrize("text", CORPUS)
def test_corpus_same_as_dnspython(text: str) -> None:
    mine, reference = ours(text), theirs(text)
    assert reference.error is None, reference.error  # the corpus is of valid fragments
    assert mine.error is None, mine.error
    assert mine.records == reference.records


# --------------------------------------------------------------------------------------------
# Differential: made-up fragments
# --------------------------------------------------------------------------------------------

_LABEL_CHARS = "abcdefxyzABCXYZ0129-_"
_LABEL_UNICODE = "éüÉ例"
_NAME_SPECIALS = '.;()"\\@$ #'
_STRING_CHARS = 'abcXYZ019 ;()"\\\t#@$=é✓'
_OTHER_RECORDS = [
    ["A", "192.0.2.1"],
    ["AAAA", "2001:db8::1"],
    ["MX", "10", "mail"],
    ["NS", "ns1.example."],
    ["HINFO", '"PC;(x"', '"Linux )"'],
    ["CAA", "0", "issue", '"ca.example"'],
    ["SRV", "0", "5", "5060", "sip.example."],
    ["SPF", '"v=spf1 -all"'],
    ["PTR", "host"],
    ["TYPE999", "\\#", "2", "abcd"],
    ["NSEC", "next.example.", "A", "TXT"],
]


@st.composite
def label(draw: st.DrawFn, unicode: bool = False) -> str:
    if unicode:  # a U-label: IDNA, with the same idna package calls as dnspython
        return draw(st.text(_LABEL_UNICODE + "abc-", min_size=1, max_size=5))
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["plain"] * 6 + ["ddd", "escaped"]))
        if kind == "plain":
            parts.append(draw(st.sampled_from(_LABEL_CHARS)))
        elif kind == "ddd":
            parts.append(f"\\{draw(st.integers(0, 255)):03d}")
        else:
            parts.append("\\" + draw(st.sampled_from(_NAME_SPECIALS + "aZ")))
    return "".join(parts)


@st.composite
def name(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:
        return "@"
    unicode = draw(st.integers(0, 9)) == 0
    text = ".".join(draw(st.lists(label(unicode), min_size=1, max_size=3)))
    return text + "." if draw(st.booleans()) else text


@st.composite
def character_string(draw: st.DrawFn) -> str:
    """One TXT character-string as written: quoted or not, with escapes."""
    if draw(st.integers(0, 19)) == 0:
        size = draw(st.integers(250, 258))  # around the 255-byte limit
        return '"' + "a" * size + '"'
    quoted = draw(st.booleans())
    parts = []
    for _ in range(draw(st.integers(0 if quoted else 1, 12))):
        char = draw(st.sampled_from(_STRING_CHARS))
        how = draw(st.sampled_from(["raw"] * 4 + ["escaped", "ddd"]))
        must_escape = char in '"\\' or (not quoted and char in ' \t;()"')
        if (how == "ddd" and len(char.encode()) == 1) or (how == "escaped" and char.isdigit()):
            parts.append(f"\\{ord(char):03d}")
        elif how == "escaped" or must_escape:
            parts.append("\\" + char)
        else:
            parts.append(char)
    if draw(st.integers(0, 9)) == 0:
        parts.append("\\\n" if quoted else "\\010")  # a line feed in the string
    text = "".join(parts)
    if not quoted and text == "\\#":
        text = "#"  # would be the generic form
    return f'"{text}"' if quoted else text


def _join(draw: st.DrawFn, tokens: list[str]) -> str:
    """TOKENS with blanks between, maybe some of them in parentheses across lines."""
    if len(tokens) > 1 and draw(st.booleans()):
        start = draw(st.integers(0, len(tokens) - 1))
        end = draw(st.integers(start + 1, len(tokens)))
        inner = [tokens[start]]
        for token in tokens[start + 1 : end]:
            gap = draw(st.sampled_from([" ", "\t", "\n ", ' ; c "(\n\t', "\n\n  "]))
            inner.append(gap + token)
        opened = "(" if draw(st.booleans()) else "( "
        tokens = [*tokens[:start], opened + "".join(inner) + " )", *tokens[end:]]
    gaps = [draw(st.sampled_from([" ", "\t", "  "])) for _ in tokens[1:]]
    return tokens[0] + "".join(gap + token for gap, token in zip(gaps, tokens[1:], strict=True))


@st.composite
def record(draw: st.DrawFn, owner: str | None, other_types: bool) -> str:
    ttl = draw(st.sampled_from([None, "300", "0", "1h30m", "1W", "2d", "4294967295"]))
    rdclass = draw(st.sampled_from([None, "IN", "in", "CLASS1", "INTERNET"]))
    fields = [f for f in (ttl, rdclass) if f is not None]
    if draw(st.booleans()):
        fields.reverse()
    kind = draw(st.sampled_from(["TXT"] * 6 + ["CNAME"] + (["other"] * 2 if other_types else [])))
    if kind == "TXT":
        fields.append(draw(st.sampled_from(["TXT", "txt", "TYPE16"])))
        fields += draw(st.lists(character_string(), min_size=1, max_size=4))
    elif kind == "CNAME":
        fields += [draw(st.sampled_from(["CNAME", "cname", "TYPE5"])), draw(name())]
    else:
        fields += draw(st.sampled_from(_OTHER_RECORDS))
    line = _join(draw, fields)
    if owner is None:
        return draw(st.sampled_from([" ", "\t", "  "])) + line
    return f"{owner} {line}"


@st.composite
def fragment(draw: st.DrawFn, other_types: bool = True) -> str:
    lines: list[str] = []
    has_owner = False
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["record"] * 5 + ["continued", "origin", "ttl", "filler"]))
        if kind == "record" or (kind == "continued" and not has_owner):
            lines.append(draw(record(draw(name()), other_types)))
            has_owner = True
        elif kind == "continued":
            lines.append(draw(record(None, other_types)))
        elif kind == "origin":
            lines.append(f"$ORIGIN {draw(name())}")
        elif kind == "ttl":
            lines.append(draw(st.sampled_from(["$TTL 60", "$ttl 1h", "$TTL ( 2d )"])))
        else:
            lines.append(draw(st.sampled_from(["", "  ", "; comment", '\t; ("comment', "()"])))
        if draw(st.integers(0, 3)) == 0:
            lines[-1] += ' ; note "( )'
    newline = draw(st.sampled_from(["\n", "\n", "\r\n"]))
    return newline.join(lines) + draw(st.sampled_from(["", newline]))


@settings(max_examples=400)
@given(fragment())
def test_fragments_same_as_dnspython(text: str) -> None:
    check_against_dnspython(text)


_MUTATIONS = list('()";\\ \t\n\r0@$.#')


@settings(max_examples=400)
@given(fragment(other_types=False), st.data())
def test_damaged_fragments_same_as_dnspython(text: str, data: st.DataObject) -> None:
    """Random damage (a stray quote, parenthesis, backslash...): rejected where dnspython
    rejects, read the same where it reads."""
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        how = data.draw(st.sampled_from(["insert", "insert", "delete"]))
        if how == "insert":
            text = text[:at] + data.draw(st.sampled_from(_MUTATIONS)) + text[at:]
        else:
            text = text[:at] + text[at + 1 :]
    check_against_dnspython(text)


_WORDS = [
    *(["x", "Mail._domainkey", "a.b.", "@", "a\\.b", "\\065", "\\256", "bü", "$ORIGIN"]),
    *(["300", "1h", "IN", "in", "CH", "CLASS1", "TXT", "txt", "TXT", "TYPE16", "CNAME", "A"]),
    *(['"q"', '""', '"a b;("', '"\\""', "q\\ r", "\\#", "2", "6162", "192.0.2.1", "$TTL"]),
    *(['"', "\\", "(", ")", "; c", "\n", "\r\n", "\r", "$INCLUDE"]),
]


@st.composite
def word_lines(draw: st.DrawFn) -> str:
    """Lines of zone-file words in any order: mostly wrong, some right."""
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        words = draw(st.lists(st.sampled_from(_WORDS), max_size=7))
        lines.append(draw(st.sampled_from(["", " ", "\t"])) + " ".join(words))
    return "\n".join(lines)


@settings(max_examples=400)
@given(word_lines())
def test_word_lines_same_as_dnspython(text: str) -> None:
    check_against_dnspython(text)


# --------------------------------------------------------------------------------------------
# No dnspython on the --dns-file path
# --------------------------------------------------------------------------------------------


def _dns_modules(probe: str, cwd: Path | None = None) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=cwd
    ).stdout
    loaded: list[str] = json.loads(out.splitlines()[-1])
    return loaded


_LOADED = "print(json.dumps([m for m in sys.modules if m == 'dns' or m.startswith('dns.')]))"


def test_zonefile_imports_no_dnspython() -> None:
    probe = (
        "import json, sys\n"
        "from dkimtool.core.zonefile import parse_zone_fragment\n"
        "parse_zone_fragment('x TXT ( \"a\" ) ; c\\ny CNAME x\\n', 'f')\n" + _LOADED
    )
    assert _dns_modules(probe) == []


def test_verify_and_testkey_with_dns_file_import_no_dnspython(
    run_cli: RunCli, tmp_path: Path
) -> None:
    assert run_cli("genkey", "-d", "example.com", "-s", "sel", "-a", "ed25519").code == 0
    message = "From: a@example.com\r\nSubject: x\r\n\r\nhi\r\n"
    signed = run_cli("sign", "-d", "example.com", "-s", "sel", "-k", "sel.private", input=message)
    assert signed.code == 0, signed
    (tmp_path / "signed.eml").write_text(signed.stdout)
    probe = (
        "import json, sys\n"
        "from dkimtool.cli import main\n"
        "for args in (['verify', '--dns-file', 'sel.txt', 'signed.eml'],\n"
        "             ['testkey', '--dns-file', 'sel.txt', '-d', 'example.com', '-s', 'sel']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, (args, exc.code)\n" + _LOADED
    )
    assert _dns_modules(probe, cwd=tmp_path) == []
