"""Key records: build, tag order, n= encoding, 255-byte strings, BIND rendering, parsing."""

from __future__ import annotations

import base64
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given
from hypothesis import strategies as st

from dkimtool.core.errors import EX_DATAERR, EX_USAGE, RecordFormatError, UsageError
from dkimtool.core.keys import LoadedKey, keys_match
from dkimtool.core.record import (
    KeyRecord,
    encode_note,
    is_dkim_key_record,
    parse_hash_list,
    render_bind,
    split_strings,
    zone_quote,
)
from tests.conftest import pooled_rsa_key


def decode_note(encoded: str) -> str:
    """dkim-quoted-printable (RFC 6376 2.11) back to text."""
    assert re.fullmatch(r"(?:[!-:<>-~]|=[0-9A-F]{2})*", encoded), encoded
    raw = re.sub(rb"=([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]), encoded.encode())
    return raw.decode("utf-8")


@pytest.fixture(scope="module")
def rsa_key() -> LoadedKey:
    private = pooled_rsa_key(1024)
    return LoadedKey(public=private.public_key(), private=private)


def test_for_key_rsa_defaults(rsa_key: LoadedKey) -> None:
    record = KeyRecord.for_key(rsa_key)
    spki = rsa_key.public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert record.to_text() == "v=DKIM1; k=rsa; p=" + base64.b64encode(spki).decode()
    assert not record.revoked and not record.testing and not record.strict_subdomains


def test_for_key_ed25519_p_is_the_raw_32_bytes(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    public = ed25519_key.public_key()
    record = KeyRecord.for_key(LoadedKey(public=public, private=ed25519_key))
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert record.to_text() == "v=DKIM1; k=ed25519; p=" + base64.b64encode(raw).decode()


def test_tag_order_is_v_h_k_n_s_t_p(rsa_key: LoadedKey) -> None:
    record = KeyRecord.for_key(
        rsa_key,
        testing=True,
        no_subdomains=True,
        restrict_email=True,
        hashes=("sha256",),
        note="hi",
    )
    assert list(record.tags()) == ["v", "h", "k", "n", "s", "t", "p"]
    assert record.to_text().startswith("v=DKIM1; h=sha256; k=rsa; n=hi; s=email; t=y:s; p=MI")


@pytest.mark.parametrize(
    ("testing", "no_subdomains", "t_value"),
    [(True, False, "y"), (False, True, "s"), (True, True, "y:s"), (False, False, None)],
)
def test_flags(rsa_key: LoadedKey, testing: bool, no_subdomains: bool, t_value: str | None) -> None:
    record = KeyRecord.for_key(rsa_key, testing=testing, no_subdomains=no_subdomains)
    assert record.tags().get("t") == t_value
    assert record.testing is testing
    assert record.strict_subdomains is no_subdomains


def test_revocation_record() -> None:
    record = KeyRecord.for_key(None)
    assert record.to_text() == "v=DKIM1; p="
    assert record.revoked
    parsed = KeyRecord.parse(record.to_text())
    assert parsed.revoked and parsed.p == ""
    with pytest.raises(RecordFormatError, match="revoked"):
        parsed.public_key()


def test_a_revoked_ed25519_record_keeps_its_k() -> None:
    assert KeyRecord.parse("v=DKIM1; k=ed25519; p=").to_text() == "v=DKIM1; k=ed25519; p="


@pytest.mark.parametrize(
    ("note", "encoded"),
    [
        ("plain", "plain"),
        ("two words", "two=20words"),
        ("a;b=c", "a=3Bb=3Dc"),
        ('quote " and \\ backslash', 'quote=20"=20and=20\\=20backslash'),
        ("bücher", "b=C3=BCcher"),
        ("", ""),
    ],
)
def test_encode_note(note: str, encoded: str) -> None:
    assert encode_note(note) == encoded
    assert decode_note(encoded) == note


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "tab\there", "\x00", "del\x7f", "nel\x85", "\x9f"])
def test_encode_note_refuses_control_characters(bad: str) -> None:
    with pytest.raises(UsageError, match="control character") as info:
        encode_note(bad)
    assert info.value.exit_code == EX_USAGE


@given(st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=80))
def test_any_note_survives_encoding_and_parsing(note: str) -> None:
    encoded = encode_note(note)
    assert decode_note(encoded) == note
    record = KeyRecord(p="", n=encoded)
    assert KeyRecord.parse(record.to_text()).n == encoded


def test_split_strings_at_255_bytes() -> None:
    value = "x" * 600
    chunks = split_strings(value)
    assert [len(chunk) for chunk in chunks] == [255, 255, 90]
    assert "".join(chunks) == value
    assert split_strings("") == [""]
    assert split_strings("y" * 255) == ["y" * 255]


def test_zone_quote_escapes_quote_and_backslash() -> None:
    assert zone_quote('a"b\\c') == '"a\\"b\\\\c"'


def test_render_bind_layout(rsa_key: LoadedKey) -> None:
    record = KeyRecord.for_key(rsa_key)
    text = render_bind(record, selector="mail", domain="example.com")
    assert text == (
        f'mail._domainkey\tIN\tTXT\t( "{record.to_text()}" )  '
        "; ----- DKIM key mail for example.com\n"
    )
    qualified = render_bind(record, selector="mail", domain="example.com", fully_qualified=True)
    assert qualified.startswith("mail._domainkey.example.com.\tIN\tTXT\t( ")


def test_render_bind_splits_long_records_into_quoted_strings() -> None:
    record = KeyRecord(p="A" * 700)
    text = render_bind(record, selector="s", domain="example.com")
    strings = re.findall(r'"([^"]*)"', text)
    assert [len(s) for s in strings] == [255, 255, 208]
    assert "".join(strings) == record.to_text()
    assert text.count("\n") == 3  # one line per string


def test_parse_round_trips_everything(rsa_key: LoadedKey) -> None:
    record = KeyRecord.for_key(
        rsa_key, testing=True, restrict_email=True, hashes=("sha1", "sha256"), note="x y"
    )
    parsed = KeyRecord.parse(record.to_text())
    assert parsed == record
    assert keys_match(parsed.public_key().public, rsa_key.public)


def test_parse_is_lenient_about_whitespace_and_keeps_unknown_tags() -> None:
    parsed = KeyRecord.parse("v=DKIM1; k = ed25519 ; x=1; h=sha1 : sha256; p=AB CD\r\n\tEF==")
    assert parsed.k == "ed25519"
    assert parsed.h == ("sha1", "sha256")
    assert parsed.p == "ABCDEF=="
    assert parsed.extra == (("x", "1"),)
    assert parsed.allows_hash("sha1") and parsed.allows_email()


def test_parse_without_v_and_k_defaults() -> None:
    parsed = KeyRecord.parse("p=")
    assert parsed.v is None and parsed.k == "rsa" and parsed.revoked
    assert parsed.allows_email() and parsed.allows_hash("sha256")


def test_services_and_hashes_restrict() -> None:
    record = KeyRecord.parse("v=DKIM1; h=sha1; s=other; p=")
    assert not record.allows_hash("sha256")
    assert not record.allows_email()
    assert KeyRecord.parse("s=*; p=").allows_email()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("k=rsa; v=DKIM1; p=", "first"),
        ("v=DKIM2; p=", "version"),
        ("v=DKIM1; k=rsa", "no p="),
        ("v=DKIM1; p=ab!c", "base64"),
        ("v=DKIM1; k=dsa; p=", "unknown key type"),
        ("v=DKIM1; p=a; p=b", "duplicate"),
        ("v=DKIM1; p", "no '='"),
    ],
)
def test_parse_refuses_bad_records(text: str, message: str) -> None:
    with pytest.raises(RecordFormatError, match=message) as info:
        KeyRecord.parse(text)
    assert info.value.exit_code == EX_DATAERR


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("v=DKIM1; p=QUJD", "not a valid RSA public key"),
        ("v=DKIM1; k=ed25519; p=QUJD", "32 bytes"),
        ("v=DKIM1; p=QUJ", "base64"),
    ],
)
def test_public_key_refuses_bad_p(text: str, message: str) -> None:
    with pytest.raises(RecordFormatError, match=message):
        KeyRecord.parse(text).public_key()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v=DKIM1; p=abc", True),
        ("  v = DKIM1 ;p=", True),
        ("v=DKIM1", True),
        ("k=rsa; p=abc", True),
        ("p=abc", True),
        ("v=spf1 include:example.com -all", False),
        ("v=DKIM10; p=abc", False),
        ("google-site-verification=abc", False),
        ("k=rsa", False),
    ],
)
def test_is_dkim_key_record(text: str, expected: bool) -> None:
    assert is_dkim_key_record(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sha256", ("sha256",)),
        ("sha1:sha256", ("sha1", "sha256")),
        ("SHA256", ("sha256",)),
        ("sha256:sha256", ("sha256",)),
    ],
)
def test_parse_hash_list(text: str, expected: tuple[str, ...]) -> None:
    assert parse_hash_list(text) == expected


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("rsa-sha256", "use sha256"),
        ("ed25519-sha256", "use sha256"),
        ("sha256:rsa-sha1", "use sha1"),
        ("md5", "use sha256"),
        ("sha256:", "use sha256"),
    ],
)
def test_parse_hash_list_refuses_with_a_hint(text: str, hint: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_hash_list(text)
    assert info.value.hint is not None and hint in info.value.hint
    assert info.value.exit_code == EX_USAGE
