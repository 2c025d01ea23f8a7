"""The DKIM-Signature header field (RFC 6376 3.5): strict parsing, and folding for signing."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import NamedTuple, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa, utils

from dkimtool.core.canonicalize import (
    CANONICALIZATIONS,
    BodyHashName,
    Canonicalization,
    new_hash,
)
from dkimtool.core.errors import InputError
from dkimtool.core.keys import PrivateKey, PublicKey, is_rsa
from dkimtool.core.names import (
    InvalidName,
    is_same_or_subdomain,
    normalize_domain,
    normalize_selector,
)
from dkimtool.core.tags import (
    TagSyntaxError,
    b64decode,
    parse_tag_list,
    split_colon_list,
    strip_fws,
)

FIELD_NAME = "DKIM-Signature"
ALGORITHMS: dict[str, tuple[str, BodyHashName]] = {
    "rsa-sha256": ("rsa", "sha256"),
    "ed25519-sha256": ("ed25519", "sha256"),
    "rsa-sha1": ("rsa", "sha1"),
}
REQUIRED_TAGS = ("v", "a", "b", "bh", "d", "h", "s")
_REQUIRED_TAG_SET = frozenset(REQUIRED_TAGS)
MAX_LINE = 78
_FIELD_NAME_RE = re.compile(r"[\x21-\x39\x3b-\x7e]+\Z")
# The start of the b= tag, up to its "=": as the first tag, or after a semicolon.
_FIRST_B_TAG_RE = re.compile(rb"[ \t\r\n]*b[ \t\r\n]*=")
_B_TAG_RE = re.compile(rb";[ \t\r\n]*b[ \t\r\n]*=")
_WSP = " \t\r\n"
_CANONICALIZATIONS: dict[str, Canonicalization] = {name: name for name in CANONICALIZATIONS}


class SignatureFormatError(InputError):
    """A DKIM-Signature that breaks RFC 6376 3.5; ``message`` is a short lower-case reason."""


class DkimSignature(NamedTuple):
    """A parsed, validated DKIM-Signature. (A NamedTuple: cheap to create at import.)"""

    algorithm: str
    key_type: str
    hash_name: BodyHashName
    signature: bytes
    b_text: str
    # b_text: the b= value without folding white space (its first 8 characters are RFC 6008's
    # header.b)
    body_hash: bytes
    header_canonicalization: Canonicalization
    body_canonicalization: Canonicalization
    domain: str  # d= as A-labels (the case as written)
    selector: str
    signed_headers: tuple[str, ...]
    identity: str  # i=, or "@" + d= when the tag is absent (RFC 6376 3.5)
    identity_domain: str
    identity_given: bool
    body_length: int | None
    timestamp: int | None
    expiration: int | None
    tags: dict[str, str]

    @property
    def canonicalization(self) -> str:
        return f"{self.header_canonicalization}/{self.body_canonicalization}"

    @classmethod
    def parse(cls, value: bytes) -> DkimSignature:
        """Parse the value of a DKIM-Signature field; raise SignatureFormatError."""
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            raise SignatureFormatError("the signature is not valid utf-8") from None
        try:
            tags = parse_tag_list(text)
        except TagSyntaxError as exc:
            raise SignatureFormatError(exc.message) from None
        if not tags.keys() >= _REQUIRED_TAG_SET:  # one C-level test; the loop names the tag
            for name in REQUIRED_TAGS:
                if name not in tags:
                    raise SignatureFormatError(f"missing tag {name}=")
        if tags["v"] != "1":
            raise SignatureFormatError(f"unsupported version v={tags['v']}")
        algorithm = tags["a"].lower()
        if algorithm not in ALGORITHMS:
            raise SignatureFormatError(f"unknown algorithm a={tags['a']}")
        key_type, hash_name = ALGORITHMS[algorithm]
        b_text, signature = _base64_tag(tags, "b")
        _, body_hash = _base64_tag(tags, "bh")
        header_canon, body_canon = parse_canonicalization(tags.get("c", "simple"))
        domain = _name(tags["d"], "d")
        selector = _name(tags["s"], "s")
        signed_headers = _signed_headers(tags["h"])
        identity_given = "i" in tags
        identity = tags["i"] if identity_given else "@" + domain
        _, at, id_domain = identity.rpartition("@")
        if not at:
            raise SignatureFormatError("invalid tag i= (no @)")
        id_domain = _name(id_domain, "i")
        if not is_same_or_subdomain(id_domain, domain):
            raise SignatureFormatError("i= is not in d= or a subdomain of it")
        if "q" in tags and "dns/txt" not in (q.lower() for q in split_colon_list(tags["q"])):
            raise SignatureFormatError(f"unsupported query method q={tags['q']}")
        body_length = _number(tags, "l", 76)
        timestamp = _number(tags, "t", 12)
        expiration = _number(tags, "x", 12)
        if timestamp is not None and expiration is not None and expiration <= timestamp:
            raise SignatureFormatError("x= is not after t=")
        return cls(
            algorithm=algorithm,
            key_type=key_type,
            hash_name=hash_name,
            signature=signature,
            b_text=b_text,
            body_hash=body_hash,
            header_canonicalization=header_canon,
            body_canonicalization=body_canon,
            domain=domain,
            selector=selector,
            signed_headers=signed_headers,
            identity=identity,
            identity_domain=id_domain,
            identity_given=identity_given,
            body_length=body_length,
            timestamp=timestamp,
            expiration=expiration,
            tags=tags,
        )


def parse_canonicalization(text: str) -> tuple[Canonicalization, Canonicalization]:
    """``c=``: ``header/body``; one word sets the header algorithm, the body stays simple."""
    header, _, body = text.strip(_WSP).lower().partition("/")
    header_canon = _CANONICALIZATIONS.get(header)
    body_canon = _CANONICALIZATIONS.get(body or "simple")
    if header_canon is None or body_canon is None:
        raise SignatureFormatError(f"unknown canonicalization c={text}")
    return header_canon, body_canon


@functools.lru_cache(maxsize=256)  # a batch from one signer repeats the same h= value
def _signed_headers(text: str) -> tuple[str, ...]:
    names = tuple(split_colon_list(text))
    if not all(_FIELD_NAME_RE.match(name) for name in names):
        raise SignatureFormatError("invalid tag h=")
    if "from" not in (name.lower() for name in names):
        raise SignatureFormatError("h= does not include from")
    return names


def _base64_tag(tags: dict[str, str], name: str) -> tuple[str, bytes]:
    text = strip_fws(tags[name])
    if not text:
        raise SignatureFormatError(f"tag {name}= is empty")
    try:
        return text, b64decode(text)
    except ValueError:
        raise SignatureFormatError(f"tag {name}= is not valid base64") from None


def _name(text: str, tag: str) -> str:
    try:
        if tag == "s":
            return normalize_selector(text)
        return normalize_domain(text)
    except InvalidName as exc:
        raise SignatureFormatError(f"invalid tag {tag}= ({exc})") from None


def _number(tags: dict[str, str], name: str, max_digits: int) -> int | None:
    text = tags.get(name)
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > max_digits:
        raise SignatureFormatError(f"invalid tag {name}=")
    return int(text)


def lenient_tags(value: bytes) -> dict[str, str]:
    """Best-effort tags of a signature that failed to parse, for reporting (first one wins)."""
    tags: dict[str, str] = {}
    for spec in value.decode("utf-8", "replace").split(";"):
        name, eq, tag_value = spec.partition("=")
        name = name.strip(_WSP)
        if eq and name and name not in tags:
            tags[name] = tag_value.strip(_WSP)
    return tags


def strip_b_value(raw: bytes) -> bytes:
    """The field with the value of b= deleted, surrounding white space included (RFC 6376 3.7).

    RAW is the whole field, ``DKIM-Signature: ...``. Tag values cannot contain ';', so a tag
    starts just after the field's colon or just after a semicolon, and ends at the next one.
    """
    colon = raw.index(b":") + 1
    found = _FIRST_B_TAG_RE.match(raw, colon) or _B_TAG_RE.search(raw, colon)
    if found is None:
        return raw
    end = raw.find(b";", found.end())
    return raw[: found.end()] + (raw[end:] if end >= 0 else b"")


def fold_field(tags: Sequence[tuple[str, str]], b_value: str) -> list[str]:
    """The lines of a DKIM-Signature field carrying TAGS and then ``b=B_VALUE``.

    Lines stay within 78 characters where the syntax allows: the field folds between tags, at
    the colons of h=, and inside the base64 of b=. b= always starts a line of its own, so the
    field with the value of b= deleted is the same lines up to a final `` b=``: exactly what
    was hashed.
    """
    line = FIELD_NAME + ":"
    lines: list[str] = []
    for name, value in tags:
        if name == "h":
            items = value.split(":")
            atoms = [f"h={items[0]}:"] + [f"{item}:" for item in items[1:]]
            atoms[-1] = atoms[-1][:-1] + ";"
        else:
            atoms = [f"{name}={value};"]
        for position, atom in enumerate(atoms):
            gap = "" if position else " "
            if len(line) + len(gap) + len(atom) > MAX_LINE and line.strip():
                lines.append(line)
                line = " "
                gap = ""
            line += gap + atom
    lines.append(line)
    line = " b=" + b_value[: MAX_LINE - 3]
    rest = b_value[MAX_LINE - 3 :]
    while True:
        lines.append(line)
        if not rest:
            return lines
        line, rest = " " + rest[: MAX_LINE - 1], rest[MAX_LINE - 1 :]


# Made once: these objects are immutable, and a batch would otherwise make them per message.
_PKCS1 = padding.PKCS1v15()
_PREHASHED: dict[str, utils.Prehashed] = {
    "sha256": utils.Prehashed(hashes.SHA256()),
    "sha1": utils.Prehashed(hashes.SHA1()),
}


def _prehashed(hash_name: BodyHashName) -> utils.Prehashed:
    return _PREHASHED[hash_name]


def header_digest(data: bytes, hash_name: BodyHashName) -> bytes:
    """The hash of the canonical header data (the DKIM-Signature last, b= empty)."""
    digest = new_hash(hash_name)
    digest.update(data)
    return digest.finalize()


def sign_digest(key: PrivateKey, digest: bytes, hash_name: BodyHashName) -> bytes:
    """RSASSA-PKCS1-v1_5 over DIGEST, or Ed25519 over it (RFC 8463 signs the SHA-256 digest)."""
    if is_rsa(key):
        return cast("rsa.RSAPrivateKey", key).sign(digest, _PKCS1, _prehashed(hash_name))
    return cast("ed25519.Ed25519PrivateKey", key).sign(digest)


def verify_digest(key: PublicKey, signature: bytes, digest: bytes, hash_name: BodyHashName) -> bool:
    """True if SIGNATURE is KEY's signature of DIGEST (see ``sign_digest``)."""
    try:
        if is_rsa(key):
            cast("rsa.RSAPublicKey", key).verify(signature, digest, _PKCS1, _prehashed(hash_name))
        else:
            cast("ed25519.Ed25519PublicKey", key).verify(signature, digest)
    except InvalidSignature:
        return False
    return True
