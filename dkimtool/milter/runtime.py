"""The milter's per-message work, without the milter protocol (no pymilter here).

``Engine`` is built once at start-up (keys loaded, the key-record source and its cache made);
each SMTP transaction gets a ``MessageSession`` that is fed the header fields exactly as the
MTA sent them, then body chunks, and returns at end of message what to reply and which
header edits to make (``milter_policy.header_plan``).

Both directions stream: the header block and each body chunk go straight into one ``Signer``
per signing domain, or into one ``Verifier``, so a large message is never held in memory.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from dkimtool import __version__
from dkimtool.core.authres import render_authres
from dkimtool.core.errors import ConfigError, DkimtoolError
from dkimtool.core.keys import LoadedKey, read_key
from dkimtool.core.keysource import DEFAULT_TIMEOUT, TxtSource, make_source, parse_nameservers
from dkimtool.core.milter_policy import (
    Client,
    Condition,
    Decision,
    HeaderOp,
    KeyRef,
    MilterSettings,
    Reply,
    Verdict,
    authserv_id_of,
    header_plan,
    reply_for,
    verify_condition,
    x_dkim_value,
)
from dkimtool.core.signer import DEFAULT_OVERSIGN, Algorithm, Signer, SigningKey, SignOptions
from dkimtool.core.verifier import Verifier, VerifyPolicy

log = logging.getLogger("dkimtool.milter")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Values from messages and DNS are logged with control characters escaped."""
    return _CONTROL_RE.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


@dataclass(slots=True)
class Engine:
    settings: MilterSettings
    signing_keys: Mapping[tuple[str, str], SigningKey]  # by KeyRef.slot
    source: TxtSource | None
    policy: VerifyPolicy | None
    host: str = field(default_factory=socket.getfqdn)
    version: str = __version__
    clock: Callable[[], float] = time.time


def load_signing_keys(
    settings: MilterSettings,
) -> tuple[dict[tuple[str, str], SigningKey], list[str]]:
    """Read every configured private key now, so a bad key stops the start (not mail)."""
    loaded: dict[tuple[str, str], SigningKey] = {}
    warnings: list[str] = []
    cache: dict[str, LoadedKey] = {}
    for ref in settings.signing.all_keys():
        if ref.key_file not in cache:
            key, key_warnings = read_key(
                ref.key_file, safety_checks=True, skip_rsa_validation=False
            )
            warnings += [f"{ref.key_file}: {w}" for w in key_warnings]
            if key.private is None:
                raise ConfigError(f"{ref.key_file}: is a public key; signing needs the private key")
            cache[ref.key_file] = key
        key = cache[ref.key_file]
        algorithm = _algorithm_for(settings, key.key_type, ref)
        loaded[ref.slot] = SigningKey(selector=ref.selector, key=key, algorithm=algorithm)
    return loaded, warnings


def _algorithm_for(settings: MilterSettings, key_type: str, ref: KeyRef) -> Algorithm:
    configured = settings.algorithm
    if key_type == "ed25519":
        if configured not in (None, "ed25519-sha256") and not settings.signing.key_table:
            raise ConfigError(
                f"SignatureAlgorithm {configured} does not fit {ref.key_file}, an Ed25519 key"
            )
        return "ed25519-sha256"
    if configured == "ed25519-sha256":
        if not settings.signing.key_table:
            raise ConfigError(
                f"SignatureAlgorithm ed25519-sha256 does not fit {ref.key_file}, an RSA key"
            )
        return "rsa-sha256"
    return "rsa-sha1" if configured == "rsa-sha1" else "rsa-sha256"


def build_engine(
    settings: MilterSettings,
    *,
    dns_files: Sequence[str] = (),
    nameservers: Sequence[str] = (),
    timeout: float | None = None,
) -> tuple[Engine, list[str]]:
    keys, warnings = load_signing_keys(settings)
    source = None
    policy = None
    if settings.verify:
        lookup_timeout = timeout or settings.dns_timeout or DEFAULT_TIMEOUT
        servers = parse_nameservers(list(nameservers) or list(settings.nameservers))
        source = make_source(dns_files=dns_files, nameservers=servers, timeout=lookup_timeout)
        policy = VerifyPolicy(
            min_key_bits=settings.min_key_bits,
            allow_sha1=settings.allow_sha1,
            max_signatures=settings.max_signatures,
            lookup_budget=2 * lookup_timeout,
        )
    return Engine(settings=settings, signing_keys=keys, source=source, policy=policy), warnings


@dataclass(frozen=True, slots=True)
class Outcome:
    reply: Reply
    ops: list[HeaderOp]
    summary: str  # one log line


class MessageSession:
    """One message: header fields, then body chunks, then ``end_of_message``."""

    def __init__(self, engine: Engine, client: Client, *, leading_space: bool) -> None:
        self.engine = engine
        self.client = client
        self.leading_space = leading_space  # SMFIP_HDR_LEADSPC was negotiated
        self.fields: list[tuple[str, str]] = []  # (name, value as received)
        self.raw_fields: list[bytes] = []  # each field rebuilt exactly, CRLF-terminated
        self.decision: Decision | None = None
        self._signers: list[tuple[str, Signer]] = []  # (d=, its streaming signer)
        self._verifier: Verifier | None = None
        self._verify_error: DkimtoolError | None = None  # raised again at end of message
        self._authserv_id = ""
        self._mta_host: str | None = None

    # -- header ---------------------------------------------------------------------------

    def header(self, name: str, value: bytes) -> None:
        """A field as the MTA passes it: folded lines joined by LF (sendmail, Postfix)."""
        text = value.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        sep = b":" if self.leading_space else b": "
        self.raw_fields.append(name.encode("ascii", "surrogateescape") + sep + text + b"\r\n")
        self.fields.append(
            (
                name,
                value.decode("utf-8", "surrogateescape")
                if self.leading_space
                else " " + value.decode("utf-8", "surrogateescape"),
            )
        )

    def end_of_header(self, mta_host: str | None = None) -> Verdict:
        engine = self.engine
        self._mta_host = mta_host
        self._authserv_id = engine.settings.authserv_id or mta_host or engine.host
        from_value = next((v for n, v in self.fields if n.lower() == "from"), None)
        decision = engine.settings.decide(self.client, from_value)
        self.decision = decision
        forged = self._forged_indices()
        head = b"".join(f for i, f in enumerate(self.raw_fields) if i not in forged) + b"\r\n"
        if decision.verdict == Verdict.SIGN:
            settings = engine.settings
            for plan in decision.plans:
                options = SignOptions(
                    domain=plan.domain,
                    keys=tuple(engine.signing_keys[ref.slot] for ref in plan.keys),
                    header_canonicalization=settings.header_canonicalization,
                    body_canonicalization=settings.body_canonicalization,
                    headers=settings.sign_headers,
                    oversign=DEFAULT_OVERSIGN
                    if settings.oversign_headers is None
                    else settings.oversign_headers,
                )
                signer = Signer(options, now=engine.clock())
                signer.update(head)
                self._signers.append((plan.domain, signer))
        elif decision.verdict == Verdict.VERIFY:
            assert engine.source is not None and engine.policy is not None
            self._verifier = Verifier(keys=engine.source, policy=engine.policy, now=engine.clock())
            self._feed_verifier(head)
        return decision.verdict

    def _feed_verifier(self, data: bytes) -> None:
        if self._verifier is None or self._verify_error is not None:
            return
        try:
            self._verifier.update(data)
        except DkimtoolError as exc:  # a malformed header: answered at end of message
            self._verify_error = exc

    def has_forged_authres(self) -> bool:
        return bool(self._forged_indices())

    def _forged_indices(self) -> set[int]:
        ours = self._authserv_id.lower()
        return {
            i
            for i, (name, value) in enumerate(self.fields)
            if name.lower() == "authentication-results" and authserv_id_of(value) == ours
        }

    # -- body -----------------------------------------------------------------------------

    def body(self, chunk: bytes) -> None:
        if self._signers:
            for _domain, signer in self._signers:
                signer.update(chunk)
        else:
            self._feed_verifier(chunk)

    # -- end of message -------------------------------------------------------------------

    def end_of_message(self, queue_id: str | None = None) -> Outcome:
        decision = self.decision
        assert decision is not None, "end_of_header first"
        qid = queue_id or "NOQUEUE"
        new_fields: list[tuple[str, str]] = []
        if decision.verdict == Verdict.SIGN:
            outcome = self._finish_signing(qid, new_fields)
        elif decision.verdict == Verdict.VERIFY:
            outcome = self._finish_verifying(qid, new_fields)
        else:
            outcome = Outcome(
                reply_for(Condition.DEFAULT, {}), [], f"{qid}: not checked: {decision.why}"
            )
        ops = header_plan(self.fields, self._authserv_id, new_fields)
        if outcome.reply.action.value in ("reject", "tempfail", "discard"):
            ops = []
        removed = sum(1 for op in ops if op.__class__.__name__ == "DeleteHeader")
        summary = outcome.summary
        if removed:
            summary += f"; removed {removed} forged Authentication-Results"
        return replace(outcome, ops=ops, summary=summary)

    def _value(self, text: str) -> str:
        """A new field's value as milter edits take it: LF-folded, leading space if agreed."""
        text = text.replace("\r\n", "\n").rstrip("\n")
        if self.leading_space:
            return text if text[:1] in (" ", "\t") else " " + text
        return text.lstrip(" \t")

    def _finish_signing(self, qid: str, new_fields: list[tuple[str, str]]) -> Outcome:
        engine = self.engine
        decision = self.decision
        assert decision is not None
        described = []
        try:
            results = [signer.finalize() for _domain, signer in self._signers]
        except DkimtoolError as exc:
            reply = reply_for(Condition.SIGNATURE_ERROR, engine.settings.actions)
            return Outcome(reply, [], f"{qid}: not signed: {printable(str(exc))}; {reply.action}")
        if engine.settings.x_header:
            host = self._mta_host or engine.host
            new_fields.append(
                ("X-DKIM", self._value(x_dkim_value(engine.version, host, queue_id_or_none(qid))))
            )
        for result in results:
            for sig in result.signatures:
                name, _, value = sig.field.decode("ascii", "surrogateescape").partition(":")
                new_fields.append((name, self._value(value)))
                described.append(f"d={sig.domain} s={sig.selector} a={sig.algorithm}")
            for warning in result.warnings:
                log.info("%s: warning: %s", qid, printable(warning))
        reply = Reply(reply_for(Condition.DEFAULT, {}).action)
        return Outcome(reply, [], f"{qid}: signed ({decision.why}): {', '.join(described)}")

    def _finish_verifying(self, qid: str, new_fields: list[tuple[str, str]]) -> Outcome:
        engine = self.engine
        assert self._verifier is not None
        if self._verify_error is not None:
            raise self._verify_error
        report = self._verifier.finalize()
        condition = verify_condition([(s.result, s.reason) for s in report.signatures])
        reply = (
            reply_for(condition, engine.settings.actions)
            if condition is not None
            else Reply(reply_for(Condition.DEFAULT, {}).action)
        )
        value = render_authres(report, self._authserv_id)
        new_fields.append(("Authentication-Results", self._value(value)))
        words = (
            "; ".join(
                f"{s.result} d={s.domain or '?'} s={s.selector or '?'}"
                + (f" ({s.reason})" if s.reason and str(s.result) != "pass" else "")
                for s in report.signatures
            )
            or "no signature"
        )
        extra = ""
        if self.decision is not None and self.decision.log_external:
            extra = f"; external host {self.client.address or self.client.hostname} sent mail as one of our domains"
        action = f"; {reply.action}" + (f" ({condition})" if condition else "")
        return Outcome(
            reply, [], f"{qid}: verified: dkim={report.result}: {printable(words)}{action}{extra}"
        )


def queue_id_or_none(qid: str) -> str | None:
    return None if qid == "NOQUEUE" else qid
