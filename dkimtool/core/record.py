"""DKIM key records (RFC 6376 3.6.1): build, render as DNS text or a BIND stub, and parse."""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import NamedTuple

from dkimtool.core.errors import KeyFormatError, RecordFormatError, UsageError
from dkimtool.core.keys import LoadedKey, p_value, public_key_from_record
from dkimtool.core.tags import (
    TagSyntaxError,
    b64decode,
    parse_tag_list,
    split_colon_list,
    strip_fws,
)

MAX_STRING_BYTES = 255
KNOWN_HASHES = ("sha1", "sha256")
KNOWN_KEY_TYPES = ("rsa", "ed25519")
_TAG_ORDER = ("v", "h", "k", "n", "s", "t")
_BASE64_CHARS_RE = re.compile(r"[A-Za-z0-9+/]*={0,2}\Z")
_HASH_MISTAKES = {"rsa-sha256": "sha256", "rsa-sha1": "sha1", "ed25519-sha256": "sha256"}


class KeyRecord(NamedTuple):
    """A key record's tags. ``p`` is base64 text; an empty ``p`` means the key is revoked.

    (A NamedTuple, not a dataclass: cheaper to create when verify starts.)
    """

    p: str
    v: str | None = "DKIM1"
    k: str = "rsa"
    h: tuple[str, ...] | None = None
    n: str | None = None
    s: tuple[str, ...] | None = None
    t: tuple[str, ...] = ()
    extra: tuple[tuple[str, str], ...] = ()

    @property
    def revoked(self) -> bool:
        return self.p == ""

    @property
    def testing(self) -> bool:
        return "y" in self.t

    @property
    def strict_subdomains(self) -> bool:
        return "s" in self.t

    def allows_hash(self, hash_name: str) -> bool:
        return self.h is None or hash_name in self.h

    def allows_email(self) -> bool:
        return self.s is None or "*" in self.s or "email" in self.s

    def tags(self) -> dict[str, str]:
        """The tags in the canonical order: v= first, then h, k, n, s, t, others, p= last."""
        out: dict[str, str] = {}
        if self.v is not None:
            out["v"] = self.v
        if self.h is not None:
            out["h"] = ":".join(self.h)
        if not (self.revoked and self.k == "rsa"):
            out["k"] = self.k  # a revocation reads "v=DKIM1; p=": k=rsa is the default anyway
        if self.n is not None:
            out["n"] = self.n
        if self.s is not None:
            out["s"] = ":".join(self.s)
        if self.t:
            out["t"] = ":".join(self.t)
        out.update(self.extra)
        out["p"] = self.p
        return out

    def to_text(self) -> str:
        """The record as one string: ``v=DKIM1; k=rsa; p=...``."""
        return "; ".join(f"{name}={value}" for name, value in self.tags().items())

    def public_key(self) -> LoadedKey:
        """Decode ``p=``; raise RecordFormatError if it is empty, not base64, or not a key."""
        if self.revoked:
            raise RecordFormatError("the key is revoked (empty p=)")
        return _decode_public_key(self.k, self.p)

    @classmethod
    def for_key(
        cls,
        key: LoadedKey | None,
        *,
        testing: bool = False,
        no_subdomains: bool = False,
        restrict_email: bool = False,
        hashes: tuple[str, ...] | None = None,
        note: str | None = None,
    ) -> KeyRecord:
        """The record to publish for KEY; None gives the revocation record ``v=DKIM1; p=``."""
        flags = tuple(flag for flag, on in (("y", testing), ("s", no_subdomains)) if on)
        return cls(
            p="" if key is None else p_value(key.public),
            k="rsa" if key is None else key.key_type,
            h=hashes,
            n=None if note is None else encode_note(note),
            s=("email",) if restrict_email else None,
            t=flags,
        )

    @classmethod
    def parse(cls, text: str) -> KeyRecord:
        """Parse a record strictly (syntax, v= first, k=, h=, p=); raise RecordFormatError."""
        try:
            tags = parse_tag_list(text)
        except TagSyntaxError as exc:
            raise RecordFormatError(exc.message) from None
        version = tags.get("v")
        if version is not None:
            if next(iter(tags)) != "v":
                raise RecordFormatError("v= must be the first tag")
            if version != "DKIM1":
                raise RecordFormatError(f"unknown version v={version} (expected DKIM1)")
        if "p" not in tags:
            raise RecordFormatError("no p= tag (a key record needs one)")
        p_text = strip_fws(tags["p"])
        if not _BASE64_CHARS_RE.match(p_text):
            raise RecordFormatError("p= is not valid base64")
        key_type = tags.get("k", "rsa").strip()
        if key_type not in KNOWN_KEY_TYPES:
            raise RecordFormatError(f"unknown key type k={key_type}")
        hashes = tuple(split_colon_list(tags["h"])) if "h" in tags else None
        services = tuple(split_colon_list(tags["s"])) if "s" in tags else None
        flags = tuple(split_colon_list(tags["t"])) if "t" in tags else ()
        extra = tuple((k, v) for k, v in tags.items() if k not in (*_TAG_ORDER, "p"))
        return cls(
            p=p_text,
            v=version,
            k=key_type,
            h=hashes,
            n=tags.get("n"),
            s=services,
            t=flags,
            extra=extra,
        )


def is_dkim_key_record(text: str) -> bool:
    """The contract's definition: ``v=DKIM1`` first, or no v= and a p= tag.

    Other TXT records at the name (an SPF wildcard, say) are not key records.
    """
    stripped = text.lstrip(" \t")
    if re.match(r"v[ \t]*=", stripped):
        return bool(re.match(r"v[ \t]*=[ \t]*DKIM1[ \t]*(;|\Z)", stripped))
    return bool(re.search(r"(^|;)[ \t]*p[ \t]*=", stripped))


def parse_hash_list(text: str) -> tuple[str, ...]:
    """Validate a ``-h`` value: colon-separated sha1/sha256. UsageError with a hint otherwise."""
    items = [item.strip().lower() for item in text.split(":")]
    for item in items:
        if item in _HASH_MISTAKES:
            raise UsageError(
                f"invalid hash algorithm {item!r}",
                hint=f"h= lists hashes, not signing algorithms: use {_HASH_MISTAKES[item]}",
            )
        if item not in KNOWN_HASHES:
            raise UsageError(f"invalid hash algorithm {item!r}", hint="use sha256, or sha1:sha256")
    return tuple(dict.fromkeys(items))


def encode_note(note: str) -> str:
    """Encode an ``n=`` note as dkim-quoted-printable (RFC 6376 2.11).

    Control characters are refused; ';', '=', spaces and non-ASCII become =XX, so no note can
    end the tag or the record.
    """
    out = []
    for char in note:
        if unicodedata.category(char) == "Cc":  # C0, DEL and C1 (U+0080..U+009F)
            raise UsageError("the note contains a control character", hint="use plain text")
        for byte in char.encode("utf-8"):
            safe = 0x21 <= byte <= 0x7E and byte not in (0x3B, 0x3D)
            out.append(chr(byte) if safe else f"={byte:02X}")
    return "".join(out)


def split_strings(value: str) -> list[str]:
    """Split a record into DNS character-strings of at most 255 bytes each."""
    data = value.encode("utf-8")
    return [
        data[i : i + MAX_STRING_BYTES].decode("utf-8", "surrogateescape")
        for i in range(0, len(data), MAX_STRING_BYTES)
    ] or [""]


def zone_quote(chunk: str) -> str:
    """Quote one character-string for a zone file: backslash and double quote escaped."""
    return '"' + chunk.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_bind(
    record: KeyRecord, *, selector: str, domain: str, fully_qualified: bool = False
) -> str:
    """One BIND resource record, as dkim-genkey/opendkim-genkey write it."""
    owner = f"{selector}._domainkey" + (f".{domain}." if fully_qualified else "")
    strings = [zone_quote(chunk) for chunk in split_strings(record.to_text())]
    body = "\n\t  ".join(strings)
    return f"{owner}\tIN\tTXT\t( {body} )  ; ----- DKIM key {selector} for {domain}\n"


@functools.lru_cache(maxsize=256)
def _decode_public_key(key_type: str, p: str) -> LoadedKey:
    try:
        raw = b64decode(p)
    except ValueError:
        raise RecordFormatError("p= is not valid base64") from None
    try:
        return LoadedKey(public=public_key_from_record(key_type, raw))
    except KeyFormatError as exc:
        raise RecordFormatError(exc.message) from None
