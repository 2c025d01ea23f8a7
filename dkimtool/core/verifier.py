"""Verify every DKIM-Signature of a message (RFC 6376 6, RFC 8301, RFC 8463).

Each signature gets its own result value; nothing here raises for a bad signature. The message
is parsed once, and the body is canonicalized once per distinct ``c=`` body algorithm, feeding
one hash per distinct (hash, l=) pair. DNS comes from the caller's ``TxtSource``; the caller
caches. The signature clock is ``now``; the DNS time budget is measured with ``monotonic``.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

from dkimtool.core.canonicalize import (
    BodyCanonicalizer,
    BodyHash,
    BodyHashName,
    Canonicalization,
    canonical_headers,
    select_fields,
)
from dkimtool.core.errors import DnsNotFound, DnsTempError, RecordFormatError
from dkimtool.core.keys import LoadedKey
from dkimtool.core.message import HeaderField, Message, MessageStream, parse_message
from dkimtool.core.names import InvalidName, key_record_name, normalize_domain
from dkimtool.core.record import KeyRecord, is_dkim_key_record
from dkimtool.core.results import AuthResult
from dkimtool.core.signature import (
    ALGORITHMS,
    DkimSignature,
    SignatureFormatError,
    header_digest,
    lenient_tags,
    strip_b_value,
    verify_digest,
)
from dkimtool.core.tags import strip_fws

# The overall verdict when nothing passes: the first of these present (the contract's order).
VERDICT_ORDER = (
    AuthResult.TEMPERROR,
    AuthResult.POLICY,
    AuthResult.FAIL,
    AuthResult.PERMERROR,
    AuthResult.NEUTRAL,
    AuthResult.NONE,
)


class TxtAnswerLike(Protocol):
    @property
    def records(self) -> Sequence[bytes]:
        """Each TXT RR's character-strings joined."""
        ...


class TxtSource(Protocol):
    def lookup_txt(self, name: str) -> TxtAnswerLike:
        """Raise DnsNotFound (NXDOMAIN, no TXT) or DnsTempError (timeout, SERVFAIL)."""
        ...


class VerifyPolicy(NamedTuple):
    min_key_bits: int = 1024
    allow_sha1: bool = False
    require_domain: str | None = None
    strict_body_length: bool = False
    max_signatures: int = 10
    clock_skew: int = 300
    lookup_budget: float | None = None
    # lookup_budget: total seconds of DNS for one message; once spent, the remaining lookups
    # are temperrors


class SignatureResult(NamedTuple):
    """One signature's verdict: an RFC 8601 result word, a reason, and what the signature said.

    A NamedTuple, not a frozen dataclass: a batch makes one per signature, and a frozen
    dataclass takes about three times as long to build.
    """

    result: AuthResult
    reason: str
    # reason: empty for pass; otherwise short and lower-case. Values from the message or DNS
    # are not escaped here.
    position: int  # 0 for the topmost DKIM-Signature field
    domain: str | None = None
    selector: str | None = None
    algorithm: str | None = None
    canonicalization: str | None = None
    identity: str | None = None
    key_bits: int | None = None
    testing: bool = False
    signed_headers: tuple[str, ...] = ()
    body_length: int | None = None
    timestamp: int | None = None
    expiration: int | None = None
    b_prefix: str | None = None  # the first 8 characters of b= (RFC 6008 header.b)
    unsigned_body_bytes: int | None = None
    # unsigned_body_bytes: with l=, the canonical body bytes the signature does not cover
    warnings: tuple[str, ...] = ()
    evaluated: bool = True
    # evaluated: False for the signatures past ``max_signatures`` (neutral, "not evaluated")


class VerifyReport(NamedTuple):
    result: AuthResult  # the overall verdict
    signatures: list[SignatureResult]


class _Verdict(NamedTuple):
    result: AuthResult
    reason: str


class _Outcome(Exception):
    """A signature's final word, raised from the checks before the key records are tried."""

    def __init__(self, result: AuthResult, reason: str) -> None:
        super().__init__(reason)
        self.verdict = _Verdict(result, reason)


def verify_message(
    data: bytes,
    *,
    keys: TxtSource,
    policy: VerifyPolicy,
    now: float,
    monotonic: Callable[[], float] = time.monotonic,
) -> VerifyReport:
    """Verify DATA's DKIM-Signatures, topmost first; raise MessageFormatError for non-mail.

    The whole message is at hand, so it is parsed in one go, not streamed through a Verifier
    (the same steps, without the buffering; this runs for every message of a batch).
    """
    message = parse_message(data)
    run = _Run(message, keys, policy, now, monotonic)
    if message.body_offset < len(data):
        run.hash_body(memoryview(data)[message.body_offset :])
    run.finish_bodies()
    return run.verdict()


class Verifier:
    """Verify one message fed in chunks: ``update(chunk)`` any number of times, then
    ``finalize()``. Only the header is buffered; the body is canonicalized and hashed as it
    streams in (one pass per canonicalization), so a milter need not hold the message."""

    def __init__(
        self,
        *,
        keys: TxtSource,
        policy: VerifyPolicy,
        now: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keys = keys
        self._policy = policy
        self._now = now
        self._monotonic = monotonic
        self._stream = MessageStream()
        self._run: _Run | None = None

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        body = self._stream.update(chunk)
        if self._run is None and self._stream.message is not None:
            self._run = self._start(self._stream.message)
        if body and self._run is not None:
            self._run.hash_body(body)

    def finalize(self) -> VerifyReport:
        message = self._stream.finish()
        run = self._run or self._start(message)
        run.finish_bodies()
        return run.verdict()

    def _start(self, message: Message) -> _Run:
        return _Run(message, self._keys, self._policy, self._now, self._monotonic)


class _Run:
    """The state of one verification: the parsed header, the signatures, their body hashes,
    the DNS time spent."""

    def __init__(
        self,
        message: Message,
        keys: TxtSource,
        policy: VerifyPolicy,
        now: float,
        monotonic: Callable[[], float],
    ) -> None:
        self.message = message
        self.keys = keys
        self.policy = policy
        self.now = now
        self.monotonic = monotonic
        self.dns_spent = 0.0
        self.body_hashes: dict[tuple[Canonicalization, BodyHashName, int | None], BodyHash] = {}
        self.body_totals: dict[Canonicalization, int] = {}
        self.from_count = 0
        self.fields: list[HeaderField] = []
        for header_field in message.fields:  # one pass for both (this runs per message)
            if header_field.key == "from":
                self.from_count += 1
            elif header_field.key == "dkim-signature":
                self.fields.append(header_field)
        self.evaluated = self.fields[: max(policy.max_signatures, 0)]
        self.parsed: list[DkimSignature | SignatureResult] = [
            self.parse(index, f) for index, f in enumerate(self.evaluated)
        ]
        self.canonicalizers = self._canonicalizers(
            [sig for sig in self.parsed if isinstance(sig, DkimSignature)]
        )

    def parse(self, index: int, sig_field: HeaderField) -> DkimSignature | SignatureResult:
        try:
            return DkimSignature.parse(sig_field.value)
        except SignatureFormatError as exc:
            return _lenient_result(index, sig_field, AuthResult.PERMERROR, exc.message)

    def _canonicalizers(
        self, signatures: list[DkimSignature]
    ) -> dict[Canonicalization, BodyCanonicalizer]:
        """One canonicalizer per body canonicalization, one hash per (hash, l=)."""
        wanted: dict[Canonicalization, list[BodyHash]] = {}
        for sig in signatures:
            key = (sig.body_canonicalization, sig.hash_name, sig.body_length)
            if key not in self.body_hashes:
                body_hash = self.body_hashes[key] = BodyHash(sig.hash_name, sig.body_length)
                wanted.setdefault(sig.body_canonicalization, []).append(body_hash)
        return {canon: BodyCanonicalizer(canon, hashes) for canon, hashes in wanted.items()}

    def hash_body(self, chunk: bytes | bytearray | memoryview) -> None:
        for canonicalizer in self.canonicalizers.values():
            canonicalizer.update(chunk)

    def finish_bodies(self) -> None:
        for canon, canonicalizer in self.canonicalizers.items():
            canonicalizer.finalize()
            self.body_totals[canon] = canonicalizer.total

    def verdict(self) -> VerifyReport:
        if not self.fields:
            return VerifyReport(AuthResult.NONE, [])
        evaluated = self.evaluated
        results = [
            item
            if isinstance(item, SignatureResult)
            else self.evaluate(index, evaluated[index], item)
            for index, item in enumerate(self.parsed)
        ]
        results += [
            _lenient_result(index, f, AuthResult.NEUTRAL, "not evaluated")._replace(evaluated=False)
            for index, f in enumerate(self.fields[len(evaluated) :], len(evaluated))
        ]
        return _verdict(results, self.policy.require_domain)

    def evaluate(self, index: int, sig_field: HeaderField, sig: DkimSignature) -> SignatureResult:
        """Check SIG against the policy and its key records, then verify it (RFC 6376 6.1)."""
        policy = self.policy
        warnings: list[str] = []
        testing = False
        key_bits: int | None = None
        total = self.body_totals[sig.body_canonicalization]
        unsigned = None if sig.body_length is None else max(total - sig.body_length, 0)
        try:
            if sig.expiration is not None and sig.expiration + policy.clock_skew < self.now:
                raise _Outcome(AuthResult.FAIL, "signature expired")
            if sig.timestamp is not None and sig.timestamp > self.now + policy.clock_skew:
                warnings.append("t= is in the future")
            if self.from_count != 1:
                raise _Outcome(
                    AuthResult.POLICY,
                    f"message has {self.from_count} from fields, not exactly one",
                )
            if sig.algorithm == "rsa-sha1" and not policy.allow_sha1:
                raise _Outcome(AuthResult.POLICY, "rsa-sha1 not allowed")
            if sig.body_length is not None and sig.body_length > total:
                raise _Outcome(AuthResult.PERMERROR, "l= is longer than the body")
            records = self._key_records(sig)
        except _Outcome as outcome:
            return _result(index, sig, outcome.verdict, testing, key_bits, unsigned, warnings)
        first_failure: _Verdict | None = None
        for text in records:  # the first record with which the signature verifies wins
            check = _check_record(text, sig.algorithm)
            if check.testing is not None:
                testing = check.testing
            if check.key_bits is not None:
                key_bits = check.key_bits
            failure = check.failure or self._verify_with(sig_field, sig, check, unsigned)
            if failure is None:
                if unsigned:
                    warnings.append(f"l= leaves {unsigned} body bytes unsigned")
                return _result(index, sig, _PASSED, testing, key_bits, unsigned, warnings)
            first_failure = first_failure or failure
        assert first_failure is not None  # _key_records returns at least one record
        return _result(index, sig, first_failure, testing, key_bits, unsigned, warnings)

    def _verify_with(
        self, sig_field: HeaderField, sig: DkimSignature, check: _RecordCheck, unsigned: int | None
    ) -> _Verdict | None:
        """The checks that depend on the signature as well as the record, then the hashes and
        the signature itself: None if it verifies, else why not."""
        if check.strict_subdomains and sig.identity_domain.lower() != sig.domain.lower():
            return _Verdict(AuthResult.PERMERROR, "key t=s forbids an i= subdomain of d=")
        if check.key is None or check.key_bits is None:
            assert check.key_failure is not None  # a record without a key says why
            return check.key_failure
        min_bits = self.policy.min_key_bits
        if sig.key_type == "rsa" and check.key_bits < min_bits:
            return _Verdict(
                AuthResult.POLICY, f"key too small ({check.key_bits} bits < {min_bits})"
            )
        body_hash = self.body_hashes[(sig.body_canonicalization, sig.hash_name, sig.body_length)]
        if body_hash.digest() != sig.body_hash:
            return _Verdict(AuthResult.FAIL, "body hash did not verify")
        chosen = select_fields(self.message.fields, sig.signed_headers, exclude=sig_field)
        raws = [header_field.raw for header_field in chosen]
        raws.append(strip_b_value(sig_field.raw))  # last, b= empty, without its CRLF
        data = canonical_headers(raws, sig.header_canonicalization)[:-2]
        digest = header_digest(data, sig.hash_name)
        if not verify_digest(check.key.public, sig.signature, digest, sig.hash_name):
            return _Verdict(AuthResult.FAIL, "signature did not verify")
        if unsigned and self.policy.strict_body_length:
            return _Verdict(AuthResult.POLICY, f"l= leaves {unsigned} body bytes unsigned")
        return None

    def _key_records(self, sig: DkimSignature) -> tuple[str, ...]:
        budget = self.policy.lookup_budget
        if budget is not None and self.dns_spent >= budget:
            raise _Outcome(AuthResult.TEMPERROR, "dns lookup time budget spent")
        started = self.monotonic()
        try:
            answer = self.keys.lookup_txt(key_record_name(sig.selector, sig.domain))
        except DnsTempError as exc:
            raise _Outcome(AuthResult.TEMPERROR, f"temporary dns failure: {exc.message}") from None
        except DnsNotFound:
            raise _Outcome(AuthResult.PERMERROR, "no key record") from None
        finally:
            self.dns_spent += self.monotonic() - started
        records = _key_record_texts(tuple(answer.records))
        if not records:
            raise _Outcome(AuthResult.PERMERROR, "no key record")
        return records


_PASSED = _Verdict(AuthResult.PASS, "")


class _RecordCheck(NamedTuple):
    """What a key record says for one kind of signature, signature aside."""

    testing: bool | None  # None: the record did not parse
    failure: _Verdict | None  # revoked, or k=, h= or s= do not allow the signature
    strict_subdomains: bool  # t=s: checked before the key (the order of RFC 6376 6.1.2)
    key: LoadedKey | None  # None after a failure, or with key_failure
    key_bits: int | None  # the key's size, asked once (a property of cryptography's key)
    key_failure: _Verdict | None  # p= is not a key


@functools.lru_cache(maxsize=256)
def _check_record(text: str, algorithm: str) -> _RecordCheck:
    """Remembered: a batch checks the same record for the same a= again and again. (Verdicts
    are values, not exceptions: a cached exception would grow a traceback each time it is
    raised.)"""
    key_type, hash_name = ALGORITHMS[algorithm]
    try:
        record = KeyRecord.parse(text)
    except RecordFormatError as exc:
        bad = _Verdict(AuthResult.PERMERROR, f"malformed key record ({exc.message})")
        return _RecordCheck(None, bad, False, None, None, None)
    failure = None
    if record.revoked:
        failure = _Verdict(AuthResult.FAIL, "key revoked")
    elif record.k != key_type:
        failure = _Verdict(
            AuthResult.PERMERROR, f"key type k={record.k} does not match a={algorithm}"
        )
    elif not record.allows_hash(hash_name):
        failure = _Verdict(AuthResult.PERMERROR, f"key h= excludes {hash_name}")
    elif not record.allows_email():
        failure = _Verdict(AuthResult.PERMERROR, "key s= excludes email")
    if failure is not None:
        return _RecordCheck(record.testing, failure, False, None, None, None)
    try:
        key = record.public_key()
    except RecordFormatError as exc:
        bad_key = _Verdict(AuthResult.PERMERROR, f"malformed key record ({exc.message})")
        return _RecordCheck(record.testing, None, record.strict_subdomains, None, None, bad_key)
    return _RecordCheck(record.testing, None, record.strict_subdomains, key, key.bits, None)


@functools.lru_cache(maxsize=256)
def _key_record_texts(records: tuple[bytes, ...]) -> tuple[str, ...]:
    """The DKIM key records among a name's TXT records, as text. Remembered: a batch gets the
    same answer again and again, and the same str objects then hash once in later caches."""
    texts = (record.decode("utf-8", "replace") for record in records)
    return tuple(text for text in texts if is_dkim_key_record(text))


def _result(
    index: int,
    sig: DkimSignature,
    verdict: _Verdict,
    testing: bool,
    key_bits: int | None,
    unsigned: int | None,
    warnings: list[str],
) -> SignatureResult:
    return SignatureResult(
        result=verdict.result,
        reason=verdict.reason,
        position=index,
        domain=sig.domain,
        selector=sig.selector,
        algorithm=sig.algorithm,
        canonicalization=sig.canonicalization,
        identity=sig.identity if sig.identity_given else None,
        key_bits=key_bits,
        testing=testing,
        signed_headers=sig.signed_headers,
        body_length=sig.body_length,
        timestamp=sig.timestamp,
        expiration=sig.expiration,
        b_prefix=sig.b_text[:8],
        unsigned_body_bytes=unsigned,
        warnings=tuple(warnings),
    )


def _lenient_result(
    index: int, sig_field: HeaderField, result: AuthResult, reason: str
) -> SignatureResult:
    """A result for a signature that was not (or could not be) parsed: what the tags say."""
    tags = lenient_tags(sig_field.value)
    b_text = strip_fws(tags.get("b", ""))
    return SignatureResult(
        result=result,
        reason=reason,
        position=index,
        domain=tags.get("d"),
        selector=tags.get("s"),
        algorithm=tags.get("a"),
        canonicalization=tags.get("c"),
        identity=tags.get("i"),
        b_prefix=b_text[:8] or None,
    )


def _same_domain(domain: str | None, wanted: str) -> bool:
    if domain is None:
        return False
    with contextlib.suppress(InvalidName):
        wanted = normalize_domain(wanted)
    return domain.lower().rstrip(".") == wanted.lower().rstrip(".")


def _verdict(results: list[SignatureResult], require_domain: str | None) -> VerifyReport:
    """Pass if a signature passes (from the required domain); else the contract's order."""
    present = {r.result for r in results}
    if AuthResult.PASS in present:
        if require_domain is None or any(
            r.result == AuthResult.PASS and _same_domain(r.domain, require_domain) for r in results
        ):
            return VerifyReport(AuthResult.PASS, results)
        # Valid signatures, none from the domain local policy asks for.
        present.add(AuthResult.POLICY)
        results = [
            r._replace(warnings=(*r.warnings, f"d={r.domain} is not the required domain"))
            if r.result == AuthResult.PASS
            else r
            for r in results
        ]
    overall = next(word for word in VERDICT_ORDER if word in present or word == AuthResult.NONE)
    return VerifyReport(overall, results)
