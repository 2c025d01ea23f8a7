"""DNS lookups of TXT records (key records): the one module that asks DNS, with dnspython.

Only verify and testkey import this module; signing never touches DNS.

Every temp-versus-permanent decision about a DNS outcome is made here, once:

* NXDOMAIN, and NOERROR without a TXT record (e.g. only an A record): ``DnsNotFound``
  (permanent: "no key");
* a CNAME loop or a chain longer than ``MAX_CNAMES``: ``DnsNotFound`` too (a broken name);
* SERVFAIL, REFUSED or another error code (or a referral) from every server:
  ``DnsServerFailure``;
* no answer in time: ``DnsTimeout``; no nameserver configured, or network errors:
  ``DnsTempError``. All three are temporary (exit 75, temperror), never "no key".

``timeout`` is the total time of one lookup: every retry, every nameserver, the TCP fallback
and every CNAME hop share one deadline. Queries use EDNS0 with a 1232-byte payload (the DNS
flag day 2020 value), fall back to TCP when an answer is truncated, and carry the DO bit (and
AD, RFC 6840 5.7) when DNSSEC status is wanted, so a validating resolver's AD flag can be read.
Values from DNS stay bytes; callers decode and escape them.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from dkimtool.core.errors import DnsNotFound, DnsTempError
from dkimtool.core.keysource import DEFAULT_TIMEOUT, TxtAnswer, TxtSource

__all__ = [
    "DEFAULT_TIMEOUT",
    "EDNS_PAYLOAD",
    "MAX_CNAMES",
    "DnsResolver",
    "DnsServerFailure",
    "DnsTimeout",
    "KeyCache",
    "Nameserver",
    "Transport",
    "TxtAnswer",
    "parse_nameserver",
    "system_nameservers",
]

log = logging.getLogger(__name__)

EDNS_PAYLOAD = 1232
MAX_CNAMES = 8
_ROUNDS = 2  # each nameserver is tried at most twice per query (UDP loss)
_PORT_RE = re.compile(r"[0-9]{1,5}\Z")


class DnsTimeout(DnsTempError):
    """No nameserver answered within the lookup's time budget."""


class DnsServerFailure(DnsTempError):
    """Every nameserver that answered said SERVFAIL, REFUSED or another error code."""

    def __init__(self, message: str, *, rcode: str = "SERVFAIL", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.rcode = rcode


# --------------------------------------------------------------------------------------------
# Nameservers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Nameserver:
    """A nameserver address: an IP address (no host names) and a port."""

    host: str
    port: int = 53

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_nameserver(text: str) -> Nameserver:
    """Parse ``IP``, ``IP:PORT``, ``IPv6`` or ``[IPv6]:PORT``; ValueError with the reason."""
    raw = text.strip()
    usage = "use IP, IP:PORT, IPv6 or [IPv6]:PORT"
    if not raw:
        raise ValueError(f"empty nameserver address ({usage})")
    port_text: str | None = None
    bracketed = raw.startswith("[")
    if bracketed:
        end = raw.find("]")
        if end < 0:
            raise ValueError(f"nameserver {text!r}: missing ']' after the IPv6 address")
        host, rest = raw[1:end], raw[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"nameserver {text!r}: expected ':PORT' after ']' ({usage})")
            port_text = rest[1:]
    elif raw.count(":") == 1:
        host, port_text = raw.split(":")
    else:
        host = raw  # IPv4 without a port, or a bare IPv6 address
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"nameserver {text!r}: {host!r} is not an IP address ({usage}; host names are not"
            " accepted)"
        ) from None
    if bracketed and address.version != 6:
        raise ValueError(f"nameserver {text!r}: only IPv6 addresses go in brackets")
    port = 53
    if port_text is not None:
        if not _PORT_RE.match(port_text) or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"nameserver {text!r}: port must be a number from 1 to 65535")
        port = int(port_text)
    return Nameserver(str(address), port)


def system_nameservers() -> list[Nameserver]:
    """The nameservers of the system resolver (/etc/resolv.conf); DnsTempError if none."""
    import dns.resolver  # only for reading resolv.conf

    try:
        resolver = dns.resolver.Resolver(configure=True)
    except dns.resolver.NoResolverConfiguration as exc:
        raise DnsTempError(
            f"no nameservers: cannot read the system resolver configuration ({exc})",
            hint="check /etc/resolv.conf or give --nameserver",
        ) from None
    servers: list[Nameserver] = []
    for entry in resolver.nameservers:
        if isinstance(entry, str):
            servers.append(Nameserver(entry, resolver.port))
        else:  # a dns.nameserver.Nameserver object (dnspython 2.4+)
            try:
                servers.append(parse_nameserver(entry.answer_nameserver()))
            except ValueError:
                log.debug("ignoring system nameserver %s (not plain DNS over UDP/TCP)", entry)
    if not servers:
        raise DnsTempError(
            "no nameservers: the system resolver configuration lists none",
            hint="check /etc/resolv.conf or give --nameserver",
        )
    return servers


# --------------------------------------------------------------------------------------------
# Transports (TxtAnswer is in dkimtool.core.keysource, re-exported here)
# --------------------------------------------------------------------------------------------


class Transport(Protocol):
    """Sends one query to one server. Raises dns.exception.Timeout, OSError or DNSException."""

    def udp(
        self, query: dns.message.Message, server: Nameserver, timeout: float
    ) -> dns.message.Message:
        """UDP; raises dns.message.Truncated if the answer has the TC bit."""
        ...

    def tcp(
        self, query: dns.message.Message, server: Nameserver, timeout: float
    ) -> dns.message.Message: ...


class _DnspythonTransport:
    def udp(
        self, query: dns.message.Message, server: Nameserver, timeout: float
    ) -> dns.message.Message:
        return dns.query.udp(
            query,
            server.host,
            timeout=timeout,
            port=server.port,
            ignore_unexpected=True,
            raise_on_truncation=True,
        )

    def tcp(
        self, query: dns.message.Message, server: Nameserver, timeout: float
    ) -> dns.message.Message:
        return dns.query.tcp(query, server.host, timeout=timeout, port=server.port)


def _text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True)


# --------------------------------------------------------------------------------------------
# The resolver
# --------------------------------------------------------------------------------------------


class DnsResolver:
    """TXT lookups against given nameservers, or the system resolver's when none are given."""

    def __init__(
        self,
        nameservers: Sequence[Nameserver] = (),
        timeout: float = DEFAULT_TIMEOUT,
        want_dnssec: bool = False,
        *,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not timeout > 0:
            raise ValueError("the DNS timeout must be a positive number of seconds")
        self.nameservers: tuple[Nameserver, ...] = tuple(nameservers)
        self.timeout = float(timeout)
        self.want_dnssec = want_dnssec
        self._transport: Transport = transport or _DnspythonTransport()
        self._clock = clock
        self._system: tuple[Nameserver, ...] | None = None

    def servers(self) -> tuple[Nameserver, ...]:
        """The nameservers asked: the given ones, or the system resolver's (read once)."""
        if self.nameservers:
            return self.nameservers
        if self._system is None:
            self._system = tuple(system_nameservers())
        return self._system

    # -- public lookups -------------------------------------------------------------------------

    def lookup_txt(self, name: str, *, checking_disabled: bool = False) -> TxtAnswer:
        """The TXT records at ``name``, following CNAMEs; DnsNotFound or DnsTempError.

        ``checking_disabled`` sets the CD bit: a validating resolver then returns data that
        failed validation (use it only to show a bogus record, never to trust it).
        """
        deadline = self._clock() + self.timeout
        qname = _qname(name)
        chain: list[str] = []
        seen = {qname}
        authenticated: bool | None = True if self.want_dnssec else None
        current = qname
        while True:
            resp = self._exchange(
                current, name, deadline, dnssec=self.want_dnssec, cd=checking_disabled
            )
            if authenticated is not None:
                authenticated = authenticated and bool(resp.flags & dns.flags.AD)
            owner = current
            while True:
                txt = resp.get_rrset(resp.answer, owner, dns.rdataclass.IN, dns.rdatatype.TXT)
                if txt is not None:
                    records = [b"".join(rd.strings) for rd in txt]
                    return TxtAnswer(name, records, chain, authenticated)
                cname = resp.get_rrset(resp.answer, owner, dns.rdataclass.IN, dns.rdatatype.CNAME)
                if cname is None:
                    break
                target: dns.name.Name = cname[0].target
                if target in seen:
                    raise DnsNotFound(f"{name}: CNAME loop at {_text(target)}")
                seen.add(target)
                chain.append(_text(target))
                if len(chain) > MAX_CNAMES:
                    raise DnsNotFound(f"{name}: more than {MAX_CNAMES} CNAMEs")
                owner = target
            via = f" (via CNAME {' -> '.join(chain)})" if chain else ""
            if resp.rcode() == dns.rcode.NXDOMAIN:
                raise DnsNotFound(f"{_text(owner)}: no such name (NXDOMAIN){via}")
            if owner == current:
                raise DnsNotFound(f"{_text(owner)}: no TXT record (the name exists){via}")
            current = owner  # the server stopped at a CNAME target: ask for the target

    def check_bogus(self, name: str) -> bool:
        """True if a validating resolver says SERVFAIL for ``name`` but answers with CD set.

        That is DNSSEC "bogus": the data exists but fails validation. False when the normal
        query succeeds, or when it fails even with CD. DnsTempError if nothing answers.
        """
        deadline = self._clock() + self.timeout
        qname = _qname(name)
        try:
            self._exchange(qname, name, deadline, dnssec=True, cd=False)
        except DnsServerFailure as exc:
            if exc.rcode != "SERVFAIL":
                return False
        else:
            return False
        try:
            self._exchange(qname, name, deadline, dnssec=True, cd=True)
        except DnsServerFailure:
            return False
        return True

    # -- one query, all servers, one deadline ------------------------------------------------------

    def _make_query(
        self, qname: dns.name.Name, *, dnssec: bool, cd: bool, edns: bool
    ) -> dns.message.Message:
        query = dns.message.make_query(
            qname,
            dns.rdatatype.TXT,
            use_edns=0 if edns else False,
            payload=EDNS_PAYLOAD,
            want_dnssec=dnssec and edns,
        )
        if dnssec:
            query.flags |= dns.flags.AD
        if cd:
            query.flags |= dns.flags.CD
        return query

    def _exchange(
        self, qname: dns.name.Name, asked: str, deadline: float, *, dnssec: bool, cd: bool
    ) -> dns.message.Message:
        """The first NOERROR or NXDOMAIN answer from any server before ``deadline``."""
        servers = self.servers()
        plan = [s for _ in range(_ROUNDS) for s in servers]
        done: set[Nameserver] = set()  # gave a final error: not asked again
        problems: list[str] = []
        failures: list[str] = []  # rcode names
        timeouts = 0
        query = self._make_query(qname, dnssec=dnssec, cd=cd, edns=True)
        for index, server in enumerate(plan):
            if server in done:
                continue
            remaining = deadline - self._clock()
            if remaining <= 0:
                break
            left = sum(1 for s in plan[index:] if s not in done)
            try:
                resp = self._ask(query, server, remaining / left, deadline)
                if resp.rcode() in (dns.rcode.FORMERR, dns.rcode.NOTIMP) and query.edns >= 0:
                    log.debug(
                        "%s: %s to EDNS; asking without", server, dns.rcode.to_text(resp.rcode())
                    )
                    plain = self._make_query(qname, dnssec=False, cd=cd, edns=False)
                    resp = self._ask(plain, server, max(deadline - self._clock(), 0.0), deadline)
            except dns.exception.Timeout:
                log.debug("%s: no answer for %s", server, qname)
                problems.append(f"{server} timed out")
                timeouts += 1
                continue
            except (OSError, EOFError) as exc:
                log.debug("%s: network error %s", server, exc)
                problems.append(f"{server}: {getattr(exc, 'strerror', None) or exc}")
                done.add(server)
                continue
            except dns.exception.DNSException as exc:
                log.debug("%s: bad answer %s", server, exc)
                problems.append(f"{server}: malformed answer ({exc})")
                done.add(server)
                continue
            rcode = resp.rcode()
            if rcode == dns.rcode.NOERROR and _is_referral(resp):
                log.debug("%s: referral for %s", server, qname)
                problems.append(f"{server} sent a referral (not a recursive resolver?)")
                failures.append("REFERRAL")
                done.add(server)
                continue
            if rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                return resp
            text = dns.rcode.to_text(rcode)
            log.debug("%s: %s for %s", server, text, qname)
            problems.append(f"{server} said {text}")
            failures.append(text)
            done.add(server)
        detail = _summarize(problems)
        if failures:
            worst = "SERVFAIL" if "SERVFAIL" in failures else failures[0]
            raise DnsServerFailure(f"{asked}: DNS lookup failed ({detail})", rcode=worst)
        if timeouts == len(problems):
            raise DnsTimeout(f"{asked}: DNS lookup timed out after {self.timeout:g} s ({detail})")
        raise DnsTempError(f"{asked}: DNS lookup failed ({detail})")

    def _ask(
        self, query: dns.message.Message, server: Nameserver, timeout: float, deadline: float
    ) -> dns.message.Message:
        """UDP, then TCP with the rest of the budget if the answer is truncated."""
        try:
            return self._transport.udp(query, server, timeout)
        except dns.message.Truncated:
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise dns.exception.Timeout from None
            log.debug("%s: truncated answer, retrying over TCP", server)
            return self._transport.tcp(query, server, remaining)


def _is_referral(resp: dns.message.Message) -> bool:
    """A non-authoritative NOERROR with no answer and NS records in the authority section.

    A recursive resolver never sends one; an authoritative server sends one for a name it has
    delegated. It says nothing about the name, so it is no "no TXT record".
    """
    if resp.answer or resp.flags & dns.flags.AA:
        return False
    kinds = {rrset.rdtype for rrset in resp.authority}
    return dns.rdatatype.NS in kinds and dns.rdatatype.SOA not in kinds


def _summarize(problems: list[str]) -> str:
    """'a; a; b' -> 'a (2 tries); b'."""
    counts: dict[str, int] = {}
    for problem in problems:
        counts[problem] = counts.get(problem, 0) + 1
    parts = [p if n == 1 else f"{p} ({n} tries)" for p, n in counts.items()]
    return "; ".join(parts) or "no time left"


def _qname(name: str) -> dns.name.Name:
    text = name.strip()
    try:
        return dns.name.from_text(text if text.endswith(".") else text + ".")
    except (dns.exception.DNSException, UnicodeError) as exc:
        raise DnsNotFound(f"{name!r} is not a valid DNS name ({exc})") from None


# --------------------------------------------------------------------------------------------
# The per-process key cache
# --------------------------------------------------------------------------------------------


class KeyCache:
    """Caches final answers of a TxtSource for the life of the process (a batch verifier).

    A TxtAnswer and a DnsNotFound are final and cached; a DnsTempError never is, so the next
    lookup of that name asks again. Names compare case-insensitively, with or without the
    final dot. At most ``max_entries`` names are kept (least recently used go first).
    """

    def __init__(self, source: TxtSource, *, max_entries: int = 4096) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.source = source
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, TxtAnswer | DnsNotFound] = OrderedDict()
        self._lock = threading.Lock()

    def lookup_txt(self, name: str) -> TxtAnswer:
        key = name.strip().rstrip(".").lower()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self.hits += 1
        if isinstance(entry, DnsNotFound):
            raise entry.with_traceback(None)
        if entry is not None:
            return _copy(entry, name)
        try:
            answer = self.source.lookup_txt(name)
        except DnsNotFound as exc:
            self._store(key, exc)
            raise
        self._store(key, _copy(answer, answer.name))
        return answer

    def _store(self, key: str, entry: TxtAnswer | DnsNotFound) -> None:
        with self._lock:
            self.misses += 1
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def _copy(answer: TxtAnswer, name: str) -> TxtAnswer:
    """A copy whose lists a caller can change without touching the cache."""
    return answer._replace(
        name=name, records=list(answer.records), cname_chain=list(answer.cname_chain)
    )
