"""``testkey``: is the published key record usable, and does it match the private key?

Like opendkim-testkey, plus what it cannot do: key sizes, Ed25519, h=/s= checks, several
records at one name, and DNSSEC status in words that cannot be mistaken for a file problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from dkimtool.core.errors import ConfigError, DnsNotFound, RecordFormatError
from dkimtool.core.keys import RSA_MIN_BITS, RSA_RECOMMENDED_BITS, LoadedKey, keys_match
from dkimtool.core.keytable import KeyTableEntry, content_lines, parse_entries
from dkimtool.core.names import key_record_name
from dkimtool.core.record import KeyRecord, is_dkim_key_record

if TYPE_CHECKING:
    from dkimtool.core.dns import DnsResolver, TxtAnswer
    from dkimtool.core.keysource import TxtSource

DnssecStatus = Literal["secure", "unvalidated", "bogus"]
MAX_RECORD_BYTES = 8192


@dataclass(slots=True, kw_only=True)
class KeyTestReport:
    name: str
    ok: bool = False
    record: dict[str, str] | None = None
    key_type: str | None = None
    key_bits: int | None = None
    testing: bool = False
    dnssec: DnssecStatus | None = None
    matches_private_key: bool | None = None
    key_file: str | None = None
    from_dns: bool = False  # asked DNS (not --dns-file): a None dnssec means "no answer to judge"
    cname_chain: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PrivateKeyInput:
    path: str
    key: LoadedKey
    warnings: list[str]


def check_key(
    *,
    selector: str,
    domain: str,
    source: TxtSource,
    private_key: PrivateKeyInput | None = None,
    dnssec_resolver: DnsResolver | None = None,
) -> KeyTestReport:
    """Check one key record. DnsTempError propagates (a temporary failure, exit 75).

    With DNSSEC_RESOLVER (asked with the DO bit), the AD flag gives ``secure`` or
    ``unvalidated``; a SERVFAIL that resolves with CD set is ``bogus``, a problem.
    """
    report = KeyTestReport(name=key_record_name(selector, domain))
    if private_key is not None:
        report.key_file = private_key.path
        report.warnings.extend(private_key.warnings)
    try:
        answer = _lookup(report, source, dnssec_resolver)
    except DnsNotFound as exc:
        report.problems.append(f"no key record: {exc.message}")
        return report
    report.cname_chain = list(answer.cname_chain)
    record = _the_one_record(answer.records, report)
    if record is None:
        return report
    _check_record(record, report, private_key)
    report.ok = not report.problems
    return report


def _lookup(
    report: KeyTestReport, source: TxtSource, dnssec_resolver: DnsResolver | None
) -> TxtAnswer:
    if dnssec_resolver is None:
        return source.lookup_txt(report.name)
    from dkimtool.core.dns import DnsServerFailure

    report.from_dns = True

    try:
        answer = dnssec_resolver.lookup_txt(report.name)
    except DnsServerFailure:
        if not dnssec_resolver.check_bogus(report.name):
            raise
        report.dnssec = "bogus"
        report.problems.append(
            "DNSSEC validation failed (bogus): validating resolvers will not see this record"
        )
        return dnssec_resolver.lookup_txt(report.name, checking_disabled=True)
    report.dnssec = "secure" if answer.authenticated else "unvalidated"
    return answer


def _the_one_record(records: list[bytes], report: KeyTestReport) -> KeyRecord | None:
    texts: list[str] = []
    for raw in records:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            if is_dkim_key_record(raw.decode("latin-1")):
                report.problems.append("the key record is not valid UTF-8 text")
                return None
            continue
        if is_dkim_key_record(text):
            texts.append(text)
    if not texts:
        report.problems.append(
            f"no DKIM key record: {len(records)} TXT record(s) at the name, "
            "none with v=DKIM1 or a p= tag"
        )
        return None
    if len(texts) > 1:
        report.problems.append(
            f"{len(texts)} DKIM key records at the name: publish exactly one per selector"
        )
        return None
    text = texts[0]
    size = len(text.encode("utf-8"))
    if size > MAX_RECORD_BYTES:
        report.problems.append(f"the key record is {size} bytes, over the 8 KiB limit")
        return None
    try:
        record = KeyRecord.parse(text)
    except RecordFormatError as exc:
        report.problems.append(f"malformed key record: {exc.message}")
        return None
    report.record = record.tags()
    return record


def _check_record(
    record: KeyRecord, report: KeyTestReport, private_key: PrivateKeyInput | None
) -> None:
    report.testing = record.testing
    report.key_type = record.k
    if record.revoked:
        report.problems.append("the key is revoked (empty p=)")
        return
    try:
        public = record.public_key()
    except RecordFormatError as exc:
        report.problems.append(f"unusable key in p=: {exc.message}")
        return
    report.key_bits = public.bits
    if public.key_type == "rsa":
        if public.bits < RSA_MIN_BITS:
            report.problems.append(
                f"RSA key of {public.bits} bits: receivers ignore keys under {RSA_MIN_BITS} "
                "bits (RFC 8301)"
            )
        elif public.bits < RSA_RECOMMENDED_BITS:
            report.warnings.append(
                f"RSA key of {public.bits} bits: RFC 8301 recommends {RSA_RECOMMENDED_BITS}"
            )
    if not record.allows_hash("sha256"):
        report.problems.append(f"h={':'.join(record.h or ())} does not allow sha256")
    if not record.allows_email():
        report.problems.append(f"s={':'.join(record.s or ())} does not allow email")
    if private_key is not None:
        report.matches_private_key = keys_match(public.public, private_key.key.public)
        if not report.matches_private_key:
            name = Path(private_key.path).name
            theirs = private_key.key.key_type
            why = (
                "" if theirs == public.key_type else f" ({public.key_type} key, {theirs} key file)"
            )
            report.problems.append(f"the published key does not match {name}{why}")


def summary_line(report: KeyTestReport) -> str:
    """``NAME: key OK (rsa, 2048 bits, matches mail.private, testing mode, DNSSEC: ...)``."""
    details: list[str] = []
    if report.key_type:
        details.append(report.key_type)
    if report.key_bits:
        details.append(f"{report.key_bits} bits")
    if report.matches_private_key is True and report.key_file:
        details.append(f"matches {Path(report.key_file).name}")
    if report.testing:
        details.append("testing mode")
    if report.cname_chain:
        details.append("via CNAME " + " -> ".join(report.cname_chain))
    details.append(f"DNSSEC: {dnssec_words(report.dnssec, from_dns=report.from_dns)}")
    verdict = "key OK" if report.ok else "key NOT usable"
    return f"{report.name}: {verdict} ({', '.join(details)})"


def dnssec_words(status: DnssecStatus | None, *, from_dns: bool = False) -> str:
    """Words for the DNSSEC status that no one can read as a key-file permission problem."""
    if status is None:
        # From DNS, None means there was no record whose validation could be judged.
        return "unknown (no record)" if from_dns else "not checked (--dns-file)"
    return {
        "secure": "secure",
        "unvalidated": "not validated",
        "bogus": "bogus (validation failed)",
    }[status]


def key_table_path(value: str, base: Path) -> Path:
    """The file a KeyTable value names (``file:`` or ``refile:`` prefix allowed).

    ValueError for the other dataset types of opendkim.conf(5) (``db:``, ``ldap:``...).
    """
    kind = re.match(r"([A-Za-z]+):", value)
    if kind and kind.group(1).lower() not in ("file", "refile"):
        raise ValueError(f"KeyTable type {kind.group(1)}: is not supported (only a flat file)")
    path_text = value.split(":", 1)[1] if kind else value
    return Path(path_text) if path_text.startswith("/") else base / path_text


def parse_key_table(text: str, path: Path) -> list[KeyTableEntry]:
    """The entries of an opendkim KeyTable file; ConfigError (78) naming the line otherwise.

    Relative key paths are relative to the KeyTable's directory.
    """
    return parse_entries(content_lines(text), str(path))


def read_key_table(value: str, base: Path) -> list[KeyTableEntry]:
    """Read and parse the KeyTable VALUE names; OSError if it cannot be read."""
    path = key_table_path(value, base)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("the KeyTable is not UTF-8 text", path=str(path)) from None
    return parse_key_table(text, path)
