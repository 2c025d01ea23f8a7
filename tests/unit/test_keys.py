"""Keys: size policy, serialization formats, and every key form the contract lists."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from dkimtool.core import keys
from dkimtool.core.errors import EX_DATAERR, EX_NOINPUT, KeyFormatError, NoInputError, UsageError
from tests.conftest import pooled_rsa_key

Enc = serialization.Encoding
Priv = serialization.PrivateFormat
Pub = serialization.PublicFormat
NONE = serialization.NoEncryption()


@pytest.mark.parametrize("bits", [512, 1023, 4097, 8192, 0, -2048])
def test_rsa_sizes_out_of_range_are_usage_errors(bits: int) -> None:
    with pytest.raises(UsageError, match=f"RSA key size {bits} is out of range") as info:
        keys.check_rsa_bits(bits)
    assert info.value.exit_code == 2


def test_rsa_size_warnings() -> None:
    assert "RFC 8301" in " ".join(keys.check_rsa_bits(1024))
    assert keys.check_rsa_bits(2047) != []
    assert keys.check_rsa_bits(2048) == []
    assert keys.check_rsa_bits(4096) == []


def test_generate_makes_fresh_keys_of_the_right_kind() -> None:
    first = keys.generate("ed25519")
    second = keys.generate("ed25519")
    assert first.key_type == "ed25519" and first.bits == 256 and first.is_private
    assert not keys.keys_match(first.public, second.public)
    rsa_key = keys.generate("rsa", 1024)
    assert rsa_key.key_type == "rsa" and rsa_key.bits == 1024
    assert isinstance(rsa_key.public, rsa.RSAPublicKey)
    assert rsa_key.public.public_numbers().e == 65537
    with pytest.raises(UsageError):
        keys.generate("rsa", 1000)


def test_default_key_formats() -> None:
    assert keys.default_key_format("rsa") == "pkcs1"
    assert keys.default_key_format("ed25519") == "pkcs8"


def test_serialize_rsa(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    private = pooled_rsa_key(1024)
    pkcs1 = keys.serialize_private(private, "pkcs1")
    assert pkcs1.startswith(b"-----BEGIN RSA PRIVATE KEY-----\n")
    pkcs8 = keys.serialize_private(private, "pkcs8")
    assert pkcs8.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    for blob in (pkcs1, pkcs8):
        loaded = keys.load_key(blob)
        assert loaded.private is not None and keys.keys_match(loaded.public, private.public_key())
    with pytest.raises(UsageError, match="Ed25519"):
        keys.serialize_private(private, "raw")
    with pytest.raises(UsageError, match="RSA"):
        keys.serialize_private(ed25519_key, "pkcs1")


def test_serialize_ed25519(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    pkcs8 = keys.serialize_private(ed25519_key, "pkcs8")
    assert pkcs8.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    raw = keys.serialize_private(ed25519_key, "raw")
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    seed = ed25519_key.private_bytes(Enc.Raw, Priv.Raw, NONE)
    assert base64.b64decode(raw.strip(), validate=True) == seed


def test_p_value() -> None:
    public = pooled_rsa_key(1024).public_key()
    spki = public.public_bytes(Enc.DER, Pub.SubjectPublicKeyInfo)
    assert keys.p_value(public) == base64.b64encode(spki).decode()


def _rsa_forms() -> dict[str, bytes]:
    private = pooled_rsa_key(1024)
    public = private.public_key()
    return {
        "pem-pkcs1": private.private_bytes(Enc.PEM, Priv.TraditionalOpenSSL, NONE),
        "der-pkcs1": private.private_bytes(Enc.DER, Priv.TraditionalOpenSSL, NONE),
        "pem-pkcs8": private.private_bytes(Enc.PEM, Priv.PKCS8, NONE),
        "der-pkcs8": private.private_bytes(Enc.DER, Priv.PKCS8, NONE),
        "pem-spki": public.public_bytes(Enc.PEM, Pub.SubjectPublicKeyInfo),
        "der-spki": public.public_bytes(Enc.DER, Pub.SubjectPublicKeyInfo),
        "pem-pkcs1-public": public.public_bytes(Enc.PEM, Pub.PKCS1),
        "pem-pkcs1-crlf": private.private_bytes(Enc.PEM, Priv.TraditionalOpenSSL, NONE).replace(
            b"\n", b"\r\n"
        ),
    }


@pytest.mark.parametrize("form", sorted(_rsa_forms()))
def test_load_rsa_forms(form: str) -> None:
    loaded = keys.load_key(_rsa_forms()[form])
    assert loaded.key_type == "rsa" and loaded.bits == 1024
    assert keys.keys_match(loaded.public, pooled_rsa_key(1024).public_key())
    assert loaded.is_private == ("public" not in form and "spki" not in form)


def _ed25519_forms(key: ed25519.Ed25519PrivateKey) -> dict[str, bytes]:
    public = key.public_key()
    seed = key.private_bytes(Enc.Raw, Priv.Raw, NONE)
    public_raw = public.public_bytes(Enc.Raw, Pub.Raw)
    return {
        "pem-pkcs8": key.private_bytes(Enc.PEM, Priv.PKCS8, NONE),
        "der-pkcs8": key.private_bytes(Enc.DER, Priv.PKCS8, NONE),
        "pem-spki": public.public_bytes(Enc.PEM, Pub.SubjectPublicKeyInfo),
        "der-spki": public.public_bytes(Enc.DER, Pub.SubjectPublicKeyInfo),
        "dkimpy-seed": base64.b64encode(seed) + b"\n",
        "rspamd-seed-public": base64.b64encode(seed + public_raw),
        "rspamd-wrapped": base64.encodebytes(seed + public_raw),  # 76-column lines
    }


@pytest.mark.parametrize(
    "form",
    [
        "pem-pkcs8",
        "der-pkcs8",
        "pem-spki",
        "der-spki",
        "dkimpy-seed",
        "rspamd-seed-public",
        "rspamd-wrapped",
    ],
)
def test_load_ed25519_forms(form: str, ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    loaded = keys.load_key(_ed25519_forms(ed25519_key)[form])
    assert loaded.key_type == "ed25519" and loaded.bits == 256
    assert keys.keys_match(loaded.public, ed25519_key.public_key())
    assert loaded.is_private == ("spki" not in form)


def test_32_bytes_of_base64_are_always_a_seed(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    public_raw = ed25519_key.public_key().public_bytes(Enc.Raw, Pub.Raw)
    loaded = keys.load_key(base64.b64encode(public_raw))
    assert loaded.is_private  # read as a seed, so it is a *different* key
    assert not keys.keys_match(loaded.public, ed25519_key.public_key())


def test_rspamd_halves_that_disagree(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    seed = ed25519_key.private_bytes(Enc.Raw, Priv.Raw, NONE)
    other = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(Enc.Raw, Pub.Raw)
    with pytest.raises(KeyFormatError, match="does not match") as info:
        keys.load_key(base64.b64encode(seed + other))
    assert info.value.exit_code == EX_DATAERR


@pytest.mark.parametrize(
    ("encoding", "fmt"),
    [
        (Enc.PEM, Priv.PKCS8),  # BEGIN ENCRYPTED PRIVATE KEY
        (Enc.DER, Priv.PKCS8),
        (Enc.PEM, Priv.TraditionalOpenSSL),  # Proc-Type: 4,ENCRYPTED
    ],
)
def test_encrypted_keys_are_refused(encoding: Enc, fmt: Priv) -> None:
    blob = pooled_rsa_key(1024).private_bytes(
        encoding, fmt, serialization.BestAvailableEncryption(b"secret")
    )
    with pytest.raises(KeyFormatError, match="encrypted private keys are not supported"):
        keys.load_key(blob)


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "empty"),
        (b"  \n\t", "empty"),
        (b"garbage", "not a key"),
        (b"\x00\x01\x02\x03", "not a key"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a valid PEM"),
        (b"v=DKIM1; k=rsa; p=MIGfMA0", "DNS record"),
        (base64.b64encode(b"x" * 48), "not a key"),  # base64, but neither 32 nor 64 bytes
    ],
)
def test_garbage_is_a_data_error(blob: bytes, message: str) -> None:
    with pytest.raises(KeyFormatError, match=message) as info:
        keys.load_key(blob)
    assert info.value.exit_code == EX_DATAERR


def test_non_dkim_key_types_are_refused() -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(KeyFormatError, match="RSA or Ed25519"):
        keys.load_key(ec_key.private_bytes(Enc.PEM, Priv.PKCS8, NONE))


def test_public_key_from_record_accepts_spki_and_bare_pkcs1() -> None:
    public = pooled_rsa_key(1024).public_key()
    for fmt in (Pub.SubjectPublicKeyInfo, Pub.PKCS1):
        loaded = keys.public_key_from_record("rsa", public.public_bytes(Enc.DER, fmt))
        assert keys.keys_match(loaded, public)
    with pytest.raises(KeyFormatError, match="32 bytes"):
        keys.public_key_from_record("ed25519", b"x" * 31)
    with pytest.raises(KeyFormatError, match="unknown key type"):
        keys.public_key_from_record("dsa", b"")
    ed_spki = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(Enc.DER, Pub.SubjectPublicKeyInfo)
    )
    with pytest.raises(KeyFormatError, match="different kind"):
        keys.public_key_from_record("rsa", ed_spki)


def test_keys_match_needs_same_type_and_bytes(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    a = pooled_rsa_key(1024).public_key()
    assert keys.keys_match(a, a)
    assert not keys.keys_match(a, pooled_rsa_key(2048).public_key())
    assert not keys.keys_match(a, ed25519_key.public_key())


def test_read_key_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.key"
    bad.write_bytes(b"garbage")
    bad.chmod(0o600)
    with pytest.raises(KeyFormatError, match=f"^{bad}: not a key"):
        keys.read_key(str(bad))
    with pytest.raises(NoInputError) as info:
        keys.read_key(str(tmp_path / "missing.key"))
    assert info.value.exit_code == EX_NOINPUT


def test_read_key_warns_about_readable_keys(tmp_path: Path) -> None:
    path = tmp_path / "k.private"
    path.write_bytes(keys.serialize_private(pooled_rsa_key(1024), "pkcs1"))
    path.chmod(0o644)
    _, warnings = keys.read_key(str(path))
    assert len(warnings) == 1 and "readable by group or others" in warnings[0]
    _, warnings = keys.read_key(str(path), safety_checks=False)
    assert warnings == []
    path.chmod(0o600)
    _, warnings = keys.read_key(str(path))
    assert warnings == []


def test_record_keys_load_like_cryptographys_public_loader() -> None:
    """public_key_from_record takes cryptography's DER loader from its binding (to keep the
    serialization package off verify's start-up): it must accept and refuse exactly what
    serialization.load_der_public_key does, SubjectPublicKeyInfo and bare PKCS#1 alike."""
    public = pooled_rsa_key(2048).public_key()
    spki = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pkcs1 = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    for der in (spki, pkcs1):
        loaded = keys.public_key_from_record("rsa", der)
        reference = serialization.load_der_public_key(der)
        assert isinstance(loaded, rsa.RSAPublicKey) and isinstance(reference, rsa.RSAPublicKey)
        assert loaded.public_numbers() == reference.public_numbers()
    for damaged in (spki[:-1], spki[1:], b"", b"\x30\x00", spki[:30] + b"\x00" + spki[31:]):
        try:
            serialization.load_der_public_key(damaged)
        except ValueError:
            with pytest.raises(KeyFormatError):
                keys.public_key_from_record("rsa", damaged)


def test_is_rsa_tells_the_kinds_apart_every_time() -> None:
    """is_rsa remembers its answer per class: each class must keep its own answer."""
    rsa_private = pooled_rsa_key(1024)
    ed_private = ed25519.Ed25519PrivateKey.generate()
    for _ in range(2):
        assert keys.is_rsa(rsa_private) and keys.is_rsa(rsa_private.public_key())
        assert not keys.is_rsa(ed_private) and not keys.is_rsa(ed_private.public_key())
