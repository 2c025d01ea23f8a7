"""Sign messages (RFC 6376 5, RFC 8463): a streaming ``Signer`` and ``sign_message`` on top.

The body is canonicalized and hashed as it streams in, once for all keys; only the header is
buffered. The signer never changes a byte of the message: it returns the new fields and where
they go (``SignResult.output_parts``).
"""

from __future__ import annotations

import functools
from typing import Literal, NamedTuple, TypeAlias

from dkimtool.core.canonicalize import (
    BodyCanonicalizer,
    BodyHash,
    BodyHashName,
    canonicalize_header,
    header_hash_input,
    select_fields,
)
from dkimtool.core.errors import SigningError
from dkimtool.core.keys import RSA_MIN_BITS, LoadedKey
from dkimtool.core.message import HeaderField, MessageStream
from dkimtool.core.names import (
    InvalidName,
    is_same_or_subdomain,
    normalize_domain,
    normalize_selector,
)
from dkimtool.core.signature import (
    ALGORITHMS,
    fold_field,
    header_digest,
    lenient_tags,
    sign_digest,
    verify_digest,
)
from dkimtool.core.tags import b64encode

Algorithm: TypeAlias = Literal["rsa-sha256", "ed25519-sha256", "rsa-sha1"]

DEFAULT_SIGNED_HEADERS: tuple[str, ...] = (
    # RFC 6376 5.4.1
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Resent-Date",
    "Resent-From",
    "Resent-Sender",
    "Resent-To",
    "Resent-Cc",
    "In-Reply-To",
    "References",
    "List-Id",
    "List-Help",
    "List-Unsubscribe",
    "List-Subscribe",
    "List-Post",
    "List-Owner",
    "List-Archive",
    # and the fields whose change would change what the reader sees
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
)
DEFAULT_OVERSIGN: tuple[str, ...] = (
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Message-ID",
)

SHA1_WARNING = "rsa-sha1 is obsolete (RFC 8301): most receivers treat it as unsigned"
BODY_LENGTH_WARNING = "l= lets others append content to the signed message"


# NamedTuples rather than dataclasses: cheaper to create at import (see core/message.py).


class SigningKey(NamedTuple):
    selector: str
    key: LoadedKey  # must hold the private key
    algorithm: Algorithm


class SignOptions(NamedTuple):
    domain: str
    keys: tuple[SigningKey, ...]  # one signature each, all made in one pass over the body
    header_canonicalization: Literal["simple", "relaxed"] = "relaxed"
    body_canonicalization: Literal["simple", "relaxed"] = "relaxed"
    headers: tuple[str, ...] | None = None
    # headers: names to sign (None: DEFAULT_SIGNED_HEADERS); only those present are signed.
    # From is always signed.
    oversign: tuple[str, ...] = DEFAULT_OVERSIGN
    # oversign: names listed in h= once more than they occur (once when absent)
    identity: str | None = None  # i=: [local]@domain, in d= or a subdomain of it
    expire: int | None = None  # x= is t= plus this many seconds
    body_length: bool = False  # add l= (the whole canonical body length)
    timestamp: int | None = None  # t=; None means now


class SignatureInfo(NamedTuple):
    domain: str
    selector: str
    algorithm: str
    field: bytes
    # field: "DKIM-Signature: ..." folded, in the message's line ending, ending with one


class SignResult(NamedTuple):
    insert_at: int
    # insert_at: offset in the input where the new fields go: 0, or after a leading mbox From line
    fields: bytes
    # fields: all new DKIM-Signature fields, topmost first, in the message's own line ending
    signatures: list[SignatureInfo]
    warnings: list[str]

    def output_parts(self, data: bytes) -> tuple[memoryview, bytes, memoryview]:
        """``data[:insert_at]``, the new fields, ``data[insert_at:]``, without copying DATA."""
        view = memoryview(data)
        return view[: self.insert_at], self.fields, view[self.insert_at :]


class _Prepared(NamedTuple):
    """One key, checked, with its names normalized."""

    selector: str
    key: LoadedKey
    algorithm: Algorithm
    hash_name: BodyHashName


class Signer:
    """Sign one message fed in chunks: ``update(chunk)`` any number of times, ``finalize()``.

    Option and key problems raise SigningError at once, from the constructor.
    """

    def __init__(self, options: SignOptions, *, now: float) -> None:
        self._options = options
        self._domain = _checked_domain(options.domain)
        self._keys = tuple(_prepare(signing_key) for signing_key in options.keys)
        if not self._keys:
            raise SigningError("no signing key given")
        self._identity = _checked_identity(options.identity, self._domain)
        self._timestamp = int(now) if options.timestamp is None else options.timestamp
        if options.timestamp is not None and options.timestamp < 0:
            raise SigningError("the timestamp must not be negative")
        if options.expire is not None and options.expire <= 0:
            raise SigningError("the expiry time must be a positive number of seconds")
        self._body_hashes = {
            name: BodyHash(name) for name in dict.fromkeys(k.hash_name for k in self._keys)
        }
        self._body = BodyCanonicalizer(options.body_canonicalization, self._body_hashes.values())
        self._stream = MessageStream()
        self._finished = False

    def update(self, chunk: bytes | bytearray) -> None:
        if self._finished:
            raise ValueError("update() after finalize()")
        body = self._stream.update(chunk)
        if body:
            self._body.update(body)

    def finalize(self) -> SignResult:
        if self._finished:
            raise ValueError("finalize() called twice")
        self._finished = True
        message = self._stream.finish()
        self._body.finalize()
        fields = message.fields
        if not any(f.key == "from" for f in fields):
            raise SigningError(
                "the message has no From header field",
                hint="RFC 6376 5.4: From must be signed",
            )
        options = self._options
        names = self._header_names(fields)
        canon = options.header_canonicalization
        signed_data = header_hash_input(select_fields(fields, names), canon)
        common = self._common_tags(names)
        infos: list[SignatureInfo] = []
        for prepared in self._keys:
            body_hash = self._body_hashes[prepared.hash_name].digest()
            tags = [
                ("v", "1"),
                ("a", prepared.algorithm),
                ("c", f"{canon}/{options.body_canonicalization}"),
                ("d", self._domain),
                ("s", prepared.selector),
                *common,
                ("bh", b64encode(body_hash)),
            ]
            # b= starts a line of its own: the signed field is these lines, b= and its value.
            head_lines = fold_field(tags, "")
            unsigned = "\r\n".join(head_lines).encode("utf-8")
            data = signed_data + canonicalize_header(unsigned, canon)[:-2]
            digest = header_digest(data, prepared.hash_name)
            assert prepared.key.private is not None
            signature = sign_digest(prepared.key.private, digest, prepared.hash_name)
            if not verify_digest(prepared.key.public, signature, digest, prepared.hash_name):
                raise SigningError(
                    f"the signature for selector {prepared.selector} does not verify with the"
                    " key's public half",
                    hint="the key file may be damaged",
                )
            b_lines = fold_field((), b64encode(signature))[1:]
            lines = head_lines[:-1] + b_lines
            eol = message.eol.decode("ascii")
            text = eol.join(lines) + eol
            infos.append(
                SignatureInfo(
                    domain=self._domain,
                    selector=prepared.selector,
                    algorithm=prepared.algorithm,
                    field=text.encode("utf-8"),
                )
            )
        return SignResult(
            insert_at=message.bounds.mbox_end,
            fields=b"".join(info.field for info in infos),
            signatures=infos,
            warnings=self._warnings(fields),
        )

    def _header_names(self, fields: tuple[HeaderField, ...]) -> list[str]:
        """The h= list: each wanted name as often as it occurs, oversigned ones once more."""
        counts: dict[str, int] = {}
        for f in fields:
            counts[f.key] = counts.get(f.key, 0) + 1
        names: list[str] = []
        headers, oversign = self._options.headers, self._options.oversign
        plan = _name_plan(None if headers is None else tuple(headers), tuple(oversign))
        for name, key, extra in plan:
            names += [name] * (counts.get(key, 0) + extra)
        return names

    def _common_tags(self, names: list[str]) -> list[tuple[str, str]]:
        options = self._options
        tags = [("t", str(self._timestamp))]
        if options.expire is not None:
            tags.append(("x", str(self._timestamp + options.expire)))
        if options.body_length:
            tags.append(("l", str(self._body.total)))
        if self._identity is not None:
            tags.append(("i", self._identity))
        tags.append(("h", ":".join(names)))
        return tags

    def _warnings(self, fields: tuple[HeaderField, ...]) -> list[str]:
        warnings = []
        present = set()
        from_count = sum(1 for f in fields if f.key == "from")
        if from_count > 1:
            warnings.append(
                f"the message has {from_count} From fields (RFC 5322 allows one): "
                "receivers treat its signature as a policy failure"
            )
        for f in fields:
            if f.key == "dkim-signature":
                tags = lenient_tags(f.value)
                present.add((tags.get("d", "").lower(), tags.get("s", "").lower()))
        for prepared in self._keys:
            if (self._domain.lower(), prepared.selector.lower()) in present:
                warnings.append(
                    f"a DKIM-Signature for d={self._domain} s={prepared.selector}"
                    " is already present"
                )
        if self._options.body_length:
            warnings.append(BODY_LENGTH_WARNING)
        if any(prepared.algorithm == "rsa-sha1" for prepared in self._keys):
            warnings.append(SHA1_WARNING)
        return warnings


def _checked_domain(domain: str) -> str:
    try:
        return normalize_domain(domain)
    except InvalidName as exc:
        raise SigningError(str(exc)) from None


def _prepare(signing_key: SigningKey) -> _Prepared:
    try:
        selector = normalize_selector(signing_key.selector)
    except InvalidName as exc:
        raise SigningError(str(exc)) from None
    algorithm = signing_key.algorithm
    if algorithm not in ALGORITHMS:
        raise SigningError(f"unknown signing algorithm {algorithm}")
    key_type, hash_name = ALGORITHMS[algorithm]
    key = signing_key.key
    if key.private is None:
        raise SigningError(f"the key for selector {selector} is a public key")
    if key.key_type != key_type:
        raise SigningError(
            f"algorithm {algorithm} does not fit the {key.key_type} key for selector {selector}"
        )
    if key.key_type == "rsa" and key.bits < RSA_MIN_BITS:
        raise SigningError(
            f"the RSA key for selector {selector} has {key.bits} bits",
            hint=f"RFC 8301: signers must use at least {RSA_MIN_BITS}",
        )
    return _Prepared(selector=selector, key=key, algorithm=algorithm, hash_name=hash_name)


def _checked_identity(identity: str | None, domain: str) -> str | None:
    if identity is None:
        return None
    local, at, id_domain = identity.rpartition("@")
    try:
        id_domain = normalize_domain(id_domain) if at else ""
    except InvalidName as exc:
        raise SigningError(f"invalid identity {identity}: {exc}") from None
    if not at or not is_same_or_subdomain(id_domain, domain):
        raise SigningError(f"the identity (i=) must be [local]@{domain} or @ a subdomain of it")
    if any(ch in local for ch in "; \t\r\n") or not local.isprintable():
        raise SigningError("the identity's local part may not contain ';', spaces or controls")
    return f"{local}@{id_domain}"


def sign_message(data: bytes, options: SignOptions, *, now: float) -> SignResult:
    """Sign a whole message held in memory (a ``Signer`` fed with one chunk)."""
    signer = Signer(options, now=now)
    signer.update(data)
    return signer.finalize()


@functools.lru_cache(maxsize=64)
def _name_plan(
    headers: tuple[str, ...] | None, oversign: tuple[str, ...]
) -> tuple[tuple[str, str, int], ...]:
    """(name, lower-case name, 1 if oversigned) for each name to sign, in h= order.

    Worked out once per set of options, not once per message.
    """
    oversigned = {name.lower() for name in oversign}
    wanted = DEFAULT_SIGNED_HEADERS if headers is None else headers
    if "from" not in (name.lower() for name in wanted):
        wanted = ("From", *wanted)
    plan: list[tuple[str, str, int]] = []
    seen: set[str] = set()
    for name in (*wanted, *oversign):
        key = name.lower()
        if key not in seen:
            seen.add(key)
            plan.append((name, key, int(key in oversigned)))
    return tuple(plan)
