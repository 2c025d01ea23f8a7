"""Key pairs: generate, load in every form the contract lists, serialize, derive ``p=``.

All private-key arithmetic happens inside OpenSSL through ``cryptography``.
"""

from __future__ import annotations

import binascii
from typing import Literal, NamedTuple, TypeAlias, cast

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from dkimtool.core.errors import KeyFormatError, UsageError
from dkimtool.core.tags import b64decode, b64encode

KeyType: TypeAlias = Literal["rsa", "ed25519"]
KeyFormat: TypeAlias = Literal["pkcs1", "pkcs8", "raw"]
PrivateKey: TypeAlias = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ed25519.Ed25519PublicKey

RSA_MIN_BITS = 1024
RSA_MAX_BITS = 4096
RSA_RECOMMENDED_BITS = 2048
ED25519_BITS = 256


_RSA_BY_CLASS: dict[type, bool] = {}


def is_rsa(key: PublicKey | PrivateKey) -> bool:
    """Whether KEY is an RSA key (public or private), remembered per class: isinstance with
    cryptography's abstract key classes runs Python-level ABC code (about 0.4 us each), and
    sign and verify ask several times per message."""
    kind = type(key)
    known = _RSA_BY_CLASS.get(kind)
    if known is None:
        known = _RSA_BY_CLASS[kind] = isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey)
    return known


class LoadedKey(NamedTuple):
    """A key read from a file or DNS: the public half always, the private half when known."""

    public: PublicKey
    private: PrivateKey | None = None

    @property
    def key_type(self) -> KeyType:
        return "rsa" if is_rsa(self.public) else "ed25519"

    @property
    def bits(self) -> int:
        return (
            cast("rsa.RSAPublicKey", self.public).key_size if is_rsa(self.public) else ED25519_BITS
        )

    @property
    def is_private(self) -> bool:
        return self.private is not None


def check_rsa_bits(bits: int) -> list[str]:
    """Validate an RSA size for a new key; return warnings. Raises UsageError when out of range."""
    if not RSA_MIN_BITS <= bits <= RSA_MAX_BITS:
        raise UsageError(
            f"RSA key size {bits} is out of range",
            hint=f"use {RSA_MIN_BITS}..{RSA_MAX_BITS} bits; {RSA_RECOMMENDED_BITS} is the default",
        )
    if bits < RSA_RECOMMENDED_BITS:
        return [f"{bits}-bit RSA keys are weak; RFC 8301 says signers SHOULD use at least 2048"]
    return []


def generate(key_type: KeyType, bits: int = RSA_RECOMMENDED_BITS) -> LoadedKey:
    """Generate a new key pair."""
    private: PrivateKey
    if key_type == "rsa":
        check_rsa_bits(bits)
        private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    else:
        private = ed25519.Ed25519PrivateKey.generate()
    return LoadedKey(public=private.public_key(), private=private)


def default_key_format(key_type: KeyType) -> KeyFormat:
    return "pkcs1" if key_type == "rsa" else "pkcs8"


def serialize_private(key: PrivateKey, key_format: KeyFormat) -> bytes:
    """Encode a private key: PEM PKCS#1 (RSA), PEM PKCS#8, or dkimpy's raw base64 Ed25519 seed."""
    from cryptography.hazmat.primitives import serialization  # not on verify's path

    if key_format == "raw":
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise UsageError("--key-format raw is for Ed25519 keys only")
        seed = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return binascii.b2a_base64(seed)
    if key_format == "pkcs1":
        if not isinstance(key, rsa.RSAPrivateKey):
            raise UsageError("--key-format pkcs1 is for RSA keys only", hint="use pkcs8 or raw")
        fmt = serialization.PrivateFormat.TraditionalOpenSSL
    else:
        fmt = serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


def public_key_bytes(key: PublicKey) -> bytes:
    """The bytes behind ``p=``: DER SubjectPublicKeyInfo for RSA, the raw 32 bytes for Ed25519."""
    from cryptography.hazmat.primitives import serialization  # not on verify's path

    if isinstance(key, rsa.RSAPublicKey):
        return key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def p_value(key: PublicKey) -> str:
    """The base64 text of ``p=``."""
    return b64encode(public_key_bytes(key))


def public_key_from_record(key_type: str, p_bytes: bytes) -> PublicKey:
    """Decode a key record's ``p=`` (already base64-decoded) for ``k=`` KEY_TYPE.

    RSA records normally hold SubjectPublicKeyInfo; bare PKCS#1 RSAPublicKey is accepted too,
    as OpenDKIM and Mail::DKIM do. Raises KeyFormatError.
    """
    if key_type == "ed25519":
        if len(p_bytes) != 32:
            raise KeyFormatError(f"an Ed25519 key is 32 bytes, p= has {len(p_bytes)}")
        return ed25519.Ed25519PublicKey.from_public_bytes(p_bytes)
    if key_type != "rsa":
        raise KeyFormatError(f"unknown key type k={key_type}")
    try:
        key = _load_der_public_key(p_bytes)
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFormatError("p= is not a valid RSA public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyFormatError("k=rsa but p= holds a different kind of key")
    return key


def _load_der_public_key(data: bytes) -> object:
    """cryptography's ``serialization.load_der_public_key``, without importing serialization.

    That public name is an alias of this function of cryptography's Rust binding; importing
    the serialization package also loads its SSH key code, about 5 ms of every ``verify``
    start (keys from DNS are the only keys verify loads). Should a cryptography release move
    the binding, the public name is used.
    """
    try:
        from cryptography.hazmat.bindings._rust import openssl as rust_openssl

        return rust_openssl.keys.load_der_public_key(data)
    except (ImportError, AttributeError):
        from cryptography.hazmat.primitives.serialization import load_der_public_key

        return load_der_public_key(data)


def _from_seed(seed: bytes) -> LoadedKey:
    private = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    return LoadedKey(public=private.public_key(), private=private)


def _checked(key: object) -> LoadedKey:
    if isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        return LoadedKey(public=key.public_key(), private=key)
    if isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        return LoadedKey(public=key)
    raise KeyFormatError(
        f"unsupported key type {type(key).__name__.lstrip('_')}: DKIM uses RSA or Ed25519 keys"
    )


def _load_base64_form(blob: bytes) -> LoadedKey | None:
    """dkimpy's 32-byte seed or rspamd's 64-byte seed+public; None if BLOB is neither."""
    try:
        raw = b64decode(blob)
    except ValueError:
        return None
    if len(raw) == 32:
        return _from_seed(raw)
    if len(raw) == 64:
        loaded = _from_seed(raw[:32])
        if public_key_bytes(loaded.public) != raw[32:]:
            raise KeyFormatError(
                "the 64-byte Ed25519 key's public half does not match its private half"
            )
        return loaded
    return None


def load_key(data: bytes, *, skip_rsa_validation: bool = False) -> LoadedKey:
    """Load a private or public key from any supported encoding; raise KeyFormatError.

    ``skip_rsa_validation`` skips OpenSSL's costly RSA consistency check; only the sign path
    uses it, because it verifies every signature it makes before writing it.
    """
    from cryptography.hazmat.primitives import serialization  # not on verify's path

    text = data.strip()
    if not text:
        raise KeyFormatError("the key file is empty")
    try:
        if text.startswith(b"-----BEGIN"):
            if b"ENCRYPTED" in text.split(b"\n", 1)[0] or b"Proc-Type: 4,ENCRYPTED" in text:
                raise KeyFormatError("encrypted private keys are not supported")
            if b"PUBLIC KEY-----" in text.split(b"\n", 1)[0]:
                return _checked(serialization.load_pem_public_key(text))
            return _checked(
                serialization.load_pem_private_key(
                    text, password=None, unsafe_skip_rsa_key_validation=skip_rsa_validation
                )
            )
        one_line = b"".join(text.split())
        loaded = _load_base64_form(one_line)
        if loaded is not None:
            return loaded
        try:
            return _checked(
                serialization.load_der_private_key(
                    data, password=None, unsafe_skip_rsa_key_validation=skip_rsa_validation
                )
            )
        except ValueError:
            return _checked(serialization.load_der_public_key(data))
    except TypeError:
        raise KeyFormatError("encrypted private keys are not supported") from None
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFormatError(_describe_load_failure(text)) from None


def _describe_load_failure(text: bytes) -> str:
    if text.startswith(b"-----BEGIN"):
        return "not a valid PEM key (damaged or an unsupported type)"
    if b"v=DKIM1" in text or b"p=" in text:
        return "this looks like a DNS record, not a key file"
    return "not a key: expected PEM or DER (PKCS#1, PKCS#8, SubjectPublicKeyInfo) or base64 Ed25519"


def keys_match(a: PublicKey, b: PublicKey) -> bool:
    """True if two public keys are the same key."""
    same_type = isinstance(a, rsa.RSAPublicKey) == isinstance(b, rsa.RSAPublicKey)
    return same_type and public_key_bytes(a) == public_key_bytes(b)


def read_key(
    path: str, *, safety_checks: bool = True, skip_rsa_validation: bool = False
) -> tuple[LoadedKey, list[str]]:
    """Read and load a key file ('-' is stdin); errors name the file.

    With SAFETY_CHECKS, a key writable by others is refused (66) and one readable by others
    gives a warning (see ``fileio.read_key_file``).
    """
    from dkimtool.core.fileio import read_input, read_key_file

    if safety_checks:
        key_file = read_key_file(path)
        data, warnings = key_file.data, key_file.warnings
    else:
        data, warnings = read_input(path), []
    try:
        return load_key(data, skip_rsa_validation=skip_rsa_validation), warnings
    except KeyFormatError as exc:
        name = "standard input" if path == "-" else path
        raise KeyFormatError(f"{name}: {exc.message}", hint=exc.hint) from None
