"""The milter's decisions, independent of the milter protocol (``dkimtool milter``).

Everything here is pure: settings built from a dkim.conf/opendkim.conf and command-line
overrides, host lists (InternalHosts, ExternalIgnoreList), which keys sign for which From
domain (Domain/Selector/KeyFile, KeyTable + SigningTable, SubDomains), the decision to sign,
verify or leave a message alone, the SMTP reply for each On-* condition, and the plan of
header edits (forged Authentication-Results removed, new fields inserted at the top).

The only I/O is reading the small data files a setting names (``load_settings``); the
adapter in ``dkimtool.milter`` carries out the plans.
"""

from __future__ import annotations

import email.utils
import enum
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dkimtool.core.config import DkimConfig
from dkimtool.core.errors import ConfigError, DkimtoolError, UsageError
from dkimtool.core.keytable import content_lines, parse_entries
from dkimtool.core.names import InvalidName, is_same_or_subdomain, normalize_domain
from dkimtool.core.results import AuthResult
from dkimtool.core.signature import SignatureFormatError, parse_canonicalization

Canon = Literal["simple", "relaxed"]
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_INTERNAL_HOSTS = ("127.0.0.1",)
DEFAULT_SOCKET = "inet:8891@localhost"
# The milter's own keys; the rest of opendkim.conf(5) is accepted and reported as ignored.
MILTER_KEYS = frozenset(
    key.lower()
    for key in (
        "Socket",
        "Mode",
        "Domain",
        "Selector",
        "KeyFile",
        "KeyTable",
        "SigningTable",
        "MultipleSignatures",
        "Canonicalization",
        "SignatureAlgorithm",
        "SignHeaders",
        "OversignHeaders",
        "InternalHosts",
        "ExternalIgnoreList",
        "MTA",
        "AuthservID",
        "X-Header",
        "SoftwareHeader",
        "Syslog",
        "SyslogFacility",
        "UserID",
        "PidFile",
        "MinimumKeyBits",
        "MaximumSignaturesToVerify",
        "AllowSHA1Only",
        "SubDomains",
        "Nameservers",
        "DNSTimeout",
        "On-Default",
        "On-BadSignature",
        "On-DNSError",
        "On-InternalError",
        "On-KeyNotFound",
        "On-NoSignature",
        "On-SignatureError",
        "On-Security",
    )
)


class MilterUnavailable(DkimtoolError):
    """The milter extra (pymilter) is not installed: EX_UNAVAILABLE (69), sysexits(3)."""

    exit_code = 69


# --- actions and replies -----------------------------------------------------------------


class Action(enum.StrEnum):
    """What the On-* settings may ask for (opendkim.conf(5) words)."""

    ACCEPT = "accept"
    REJECT = "reject"
    TEMPFAIL = "tempfail"
    QUARANTINE = "quarantine"
    DISCARD = "discard"


class Condition(enum.StrEnum):
    """The outcomes an On-* key configures; the value is the key without ``On-``."""

    DEFAULT = "Default"
    BAD_SIGNATURE = "BadSignature"
    DNS_ERROR = "DNSError"
    INTERNAL_ERROR = "InternalError"
    KEY_NOT_FOUND = "KeyNotFound"
    NO_SIGNATURE = "NoSignature"
    SIGNATURE_ERROR = "SignatureError"
    SECURITY = "Security"


# opendkim's defaults: mail flows unless retrying can help or we could not do our job.
DEFAULT_ACTIONS: Mapping[Condition, Action] = {
    Condition.DEFAULT: Action.ACCEPT,
    Condition.BAD_SIGNATURE: Action.ACCEPT,
    Condition.DNS_ERROR: Action.TEMPFAIL,
    Condition.INTERNAL_ERROR: Action.TEMPFAIL,
    Condition.KEY_NOT_FOUND: Action.ACCEPT,
    Condition.NO_SIGNATURE: Action.ACCEPT,
    Condition.SIGNATURE_ERROR: Action.REJECT,
    Condition.SECURITY: Action.TEMPFAIL,
}

# SMTP replies (RFC 3463 / RFC 7372 enhanced codes) for each condition, when it is refused.
_REPLY_TEXT: Mapping[Condition, tuple[str, str]] = {
    Condition.DEFAULT: ("7.0", "message refused by the DKIM filter"),
    Condition.BAD_SIGNATURE: ("7.20", "no passing DKIM signature found"),
    Condition.DNS_ERROR: ("4.3", "DKIM key lookup failed (DNS); try again later"),
    Condition.INTERNAL_ERROR: ("3.0", "internal error in the DKIM filter"),
    Condition.KEY_NOT_FOUND: ("7.20", "DKIM key not found"),
    Condition.NO_SIGNATURE: ("7.20", "no DKIM signature found"),
    Condition.SIGNATURE_ERROR: ("7.0", "the message cannot be DKIM-signed"),
    Condition.SECURITY: ("7.0", "message refused by the DKIM filter (security)"),
}


@dataclass(frozen=True, slots=True)
class Reply:
    """The milter's answer for a message: its action and, unless accepted, an SMTP reply."""

    action: Action
    rcode: str | None = None  # "550", "451"
    xcode: str | None = None  # "5.7.20"
    text: str | None = None
    condition: Condition | None = None


def parse_action(value: str) -> Action:
    """An On-* value; like opendkim, the first letter is enough (``a``, ``r``, ``t``, ...)."""
    word = value.strip().lower()
    for action in Action:
        if word and action.value.startswith(word):
            return action
    raise ValueError(f"expected accept, reject, tempfail, quarantine or discard, got {value!r}")


def reply_for(condition: Condition, actions: Mapping[Condition, Action]) -> Reply:
    action = actions.get(condition, actions.get(Condition.DEFAULT, Action.ACCEPT))
    detail, text = _REPLY_TEXT[condition]
    if action == Action.REJECT:
        return Reply(action, "550", f"5.{detail}", text, condition)
    if action == Action.TEMPFAIL:
        return Reply(action, "451", f"4.{detail}", text, condition)
    return Reply(action, None, None, text if action == Action.QUARANTINE else None, condition)


# --- host lists ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HostList:
    """InternalHosts/ExternalIgnoreList: IPs, CIDRs, host names, ``.domain`` suffixes.

    A ``!`` before an entry excludes what it matches, and exclusions win. Names match the
    client's (PTR-verified) host name from the MTA, case-insensitively; ``.example.com`` and
    ``*.example.com`` match every name under example.com (not example.com itself).
    """

    networks: tuple[IpNetwork, ...] = ()
    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()
    excluded_networks: tuple[IpNetwork, ...] = ()
    excluded_names: frozenset[str] = frozenset()
    excluded_suffixes: tuple[str, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> HostList:
        """Entries (one host each); ValueError names the first bad one."""
        parts: dict[bool, tuple[list[IpNetwork], set[str], list[str]]] = {
            False: ([], set(), []),
            True: ([], set(), []),
        }
        for raw in entries:
            entry = raw.strip()
            excluded = entry.startswith("!")
            entry = entry.removeprefix("!").strip()
            if not entry:
                raise ValueError(f"empty host entry {raw!r}")
            networks, names, suffixes = parts[excluded]
            network = _parse_network(entry)
            if network is not None:
                networks.append(network)
                continue
            name = entry.lower().rstrip(".")
            if name.startswith("*."):
                name = name[1:]
            label = name.removeprefix(".")
            if not label or not re.fullmatch(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?", label):
                raise ValueError(f"not an IP address, network or host name: {raw.strip()!r}")
            (suffixes.append(name) if name.startswith(".") else names.add(name))
        inc, exc = parts[False], parts[True]
        return cls(
            tuple(inc[0]),
            frozenset(inc[1]),
            tuple(inc[2]),
            tuple(exc[0]),
            frozenset(exc[1]),
            tuple(exc[2]),
        )

    def __bool__(self) -> bool:
        return bool(self.networks or self.names or self.suffixes)

    def matches(self, hostname: str | None, address: str | None) -> bool:
        ip = _parse_ip(address)
        name = (hostname or "").lower().rstrip(".")
        if name.startswith("[") and name.endswith("]"):
            name = ""  # an unverified client: the MTA shows its address in brackets
        if _hits(ip, name, self.excluded_networks, self.excluded_names, self.excluded_suffixes):
            return False
        return _hits(ip, name, self.networks, self.names, self.suffixes)


def _hits(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None,
    name: str,
    networks: Sequence[IpNetwork],
    names: frozenset[str],
    suffixes: Sequence[str],
) -> bool:
    if ip is not None and any(ip.version == n.version and ip in n for n in networks):
        return True
    return bool(name and (name in names or any(name.endswith(s) for s in suffixes)))


def _parse_network(entry: str) -> IpNetwork | None:
    text = entry
    if text.startswith("["):
        text = text[1:].replace("]", "", 1)
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _parse_ip(address: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not address:
        return None
    text = address.strip().removeprefix("IPv6:").strip("[]")
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


# --- sockets -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SocketSpec:
    """A libmilter socket: ``inet:PORT@HOST``, ``inet6:PORT@HOST``, ``unix:/path``."""

    family: Literal["inet", "inet6", "unix"]
    port: int | None = None
    host: str | None = None
    path: str | None = None

    @property
    def libmilter(self) -> str:
        """The spelling libmilter's smfi_setconn() takes."""
        if self.family == "unix":
            return f"unix:{self.path}"
        return f"{self.family}:{self.port}" + (f"@{self.host}" if self.host else "")

    def __str__(self) -> str:
        return self.libmilter


def parse_socket(value: str) -> SocketSpec:
    """Validate a Socket value; ValueError with a hint for the usual mistakes."""
    text = value.strip()
    kind, sep, rest = text.partition(":")
    kind = kind.lower()
    if not sep:
        if text.startswith("/"):
            return SocketSpec("unix", path=text)
        raise ValueError(f"{value!r}: expected inet:PORT@HOST, inet6:PORT@HOST or unix:/PATH")
    if kind in ("unix", "local"):
        if not rest.startswith("/"):
            raise ValueError(f"{value!r}: a unix socket needs an absolute path")
        return SocketSpec("unix", path=rest)
    if kind not in ("inet", "inet6"):
        raise ValueError(f"{value!r}: unknown socket type {kind!r} (use inet, inet6 or unix)")
    port_text, at, host = rest.partition("@")
    if not port_text.isdigit():
        hint = ""
        if ":" in rest and rest.rsplit(":", 1)[1].isdigit():
            host_part, port_part = rest.rsplit(":", 1)
            hint = f" (that is Postfix's spelling; here it is {kind}:{port_part}@{host_part})"
        raise ValueError(f"{value!r}: expected {kind}:PORT@HOST{hint}")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"{value!r}: port {port} out of range")
    if at and not host:
        raise ValueError(f"{value!r}: empty host after @")
    return SocketSpec(kind, port=port, host=host.strip("[]") or None)  # type: ignore[arg-type]


# --- keys and domains ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyRef:
    """One signing key: d=, s= and the key file (loaded by the adapter at start-up)."""

    name: str  # KeyTable name, or "Selector" for the Domain/Selector/KeyFile form
    domain: str  # "%" means the From domain (KeyTable)
    selector: str
    key_file: str

    @property
    def slot(self) -> tuple[str, str]:
        """What identifies a loaded key: (selector, key file)."""
        return self.selector, self.key_file


@dataclass(frozen=True, slots=True)
class SigningRule:
    pattern: str  # lower-case; "refile" patterns may hold "*"
    key_names: tuple[str, ...]
    line: int


@dataclass(frozen=True, slots=True)
class KeyPlan:
    """The keys that sign one message, grouped per d= (one DKIM-Signature per key)."""

    domain: str
    keys: tuple[KeyRef, ...]


@dataclass(frozen=True, slots=True)
class SigningSetup:
    """Who signs what: either tables, or the Domain list with Selector/KeyFile pairs."""

    domains: tuple[str, ...] = ()
    selector_keys: tuple[tuple[str, str], ...] = ()  # (selector, key file) pairs
    key_table: Mapping[str, KeyRef] = field(default_factory=dict)
    signing_table: tuple[SigningRule, ...] = ()
    signing_table_regex: bool = False
    has_signing_table: bool = False
    subdomains: bool = False
    multiple: bool = False

    def all_keys(self) -> list[KeyRef]:
        if self.key_table:
            return list(self.key_table.values())
        return [KeyRef(s, "", s, k) for s, k in self.selector_keys]

    def keys_for(self, address: str | None, domain: str | None) -> list[KeyPlan]:
        """The keys that sign mail whose From address is ADDRESS (domain DOMAIN)."""
        if not domain:
            return []
        if self.has_signing_table:
            names = self._table_matches((address or "").lower(), domain)
            refs = [self.key_table[n] for n in names if n in self.key_table]
            return _group(refs, domain)
        if self.key_table:
            refs = [
                ref
                for ref in self.key_table.values()
                if ref.domain == "%" or self._domain_fits(domain, ref.domain)
            ]
            if not refs:
                return []
            return _group(refs if self.multiple else refs[:1], domain)
        for configured in self.domains:
            if self._domain_fits(domain, configured):
                return [
                    KeyPlan(
                        configured,
                        tuple(KeyRef(s, configured, s, k) for s, k in self.selector_keys),
                    )
                ]
        return []

    def near_miss(self, domain: str | None) -> str | None:
        """A configured domain that DOMAIN falls under when SubDomains is off (for logs)."""
        if not domain or self.subdomains:
            return None
        candidates = list(self.domains) + [r.domain for r in self.key_table.values()]
        for configured in candidates:
            if configured != "%" and is_same_or_subdomain(domain, configured):
                return configured
        return None

    def _domain_fits(self, domain: str, configured: str) -> bool:
        if domain == configured:
            return True
        return self.subdomains and is_same_or_subdomain(domain, configured)

    def _table_matches(self, address: str, domain: str) -> list[str]:
        found: list[str] = []
        if self.signing_table_regex:
            for rule in self.signing_table:
                if _glob(rule.pattern, address) or _glob(rule.pattern, domain):
                    found.extend(rule.key_names)
                    if not self.multiple:
                        break
            return found
        local = address.rpartition("@")[0]
        candidates = [address, domain]
        if self.subdomains:
            labels = domain.split(".")
            for i in range(1, len(labels)):
                parent = ".".join(labels[i:])
                candidates += [f"{local}@.{parent}", f".{parent}", parent]
        candidates += [f"{local}@*", "*"]
        for candidate in candidates:
            for rule in self.signing_table:
                if rule.pattern == candidate:
                    found.extend(rule.key_names)
                    if not self.multiple:
                        return found
        return found


def _group(refs: Sequence[KeyRef], from_domain: str) -> list[KeyPlan]:
    plans: dict[str, list[KeyRef]] = {}
    for ref in refs:
        domain = from_domain if ref.domain == "%" else ref.domain
        plans.setdefault(domain, []).append(ref)
    return [KeyPlan(domain, tuple(keys)) for domain, keys in plans.items()]


def _glob(pattern: str, text: str) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, text) is not None


def from_address(value: str | None) -> tuple[str | None, str | None]:
    """The first author address of a From field value, and its domain (an A-label)."""
    if value is None:
        return None, None
    unfolded = re.sub(r"\r?\n", "", value)
    try:
        pairs = email.utils.getaddresses([unfolded])
    except Exception:  # noqa: BLE001 - a malformed From is simply "no domain"
        return None, None
    for _name, address in pairs:
        local, at, domain = address.strip().rpartition("@")
        if not at or not local or not domain:
            continue
        try:
            return address.strip(), normalize_domain(domain.strip().rstrip(".")).lower()
        except InvalidName:
            return address.strip(), None
    return None, None


# --- authentication-results ----------------------------------------------------------------


def authserv_id_of(value: str) -> str | None:
    """The authserv-id of an Authentication-Results field value (RFC 8601 2.2), lower-case."""
    from dkimtool.core.authres import authserv_id_of as parse

    found = parse(value.encode("utf-8", "surrogateescape"))
    return None if found is None else found.lower()


# --- the per-message decision --------------------------------------------------------------


class Verdict(enum.StrEnum):
    SIGN = "sign"
    VERIFY = "verify"
    IGNORE = "ignore"


@dataclass(frozen=True, slots=True)
class Client:
    """What the MTA told us about the SMTP client and the message's envelope."""

    hostname: str | None = None
    address: str | None = None  # None for a unix socket or non-SMTP (pickup) mail
    auth_authen: str | None = None  # {auth_authen}: the SASL login, if any
    daemon_name: str | None = None  # {daemon_name}: which MTA daemon received it


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    plans: tuple[KeyPlan, ...] = ()
    why: str = ""
    log_external: bool = False  # an external host sent as one of our domains


@dataclass(frozen=True, slots=True)
class MilterSettings:
    socket: SocketSpec = field(default_factory=lambda: parse_socket(DEFAULT_SOCKET))
    sign: bool = True
    verify: bool = True
    signing: SigningSetup = field(default_factory=SigningSetup)
    header_canonicalization: Canon = "relaxed"
    body_canonicalization: Canon = "relaxed"
    algorithm: str | None = None  # None: from each key's type (rsa-sha256, ed25519-sha256)
    sign_headers: tuple[str, ...] | None = None
    oversign_headers: tuple[str, ...] | None = None
    internal_hosts: HostList = field(default_factory=lambda: HostList.parse(DEFAULT_INTERNAL_HOSTS))
    external_ignore: HostList = field(default_factory=HostList)
    mta_names: frozenset[str] = frozenset()
    authserv_id: str | None = None
    x_header: bool = False
    syslog: bool = False
    syslog_facility: str = "mail"
    userid: str | None = None
    pidfile: str | None = None
    min_key_bits: int = 1024
    allow_sha1: bool = False
    max_signatures: int = 10
    nameservers: tuple[str, ...] = ()
    dns_timeout: float | None = None
    actions: Mapping[Condition, Action] = field(default_factory=lambda: dict(DEFAULT_ACTIONS))
    warnings: tuple[str, ...] = ()
    ignored_keys: tuple[str, ...] = ()

    def decide(self, client: Client, from_value: str | None) -> Decision:
        """Sign (internal or authenticated, and a key for the From domain), else verify."""
        address, domain = from_address(from_value)
        trusted, how = self.is_trusted(client)
        if self.sign and trusted:
            plans = self.signing.keys_for(address, domain)
            if plans:
                return Decision(Verdict.SIGN, tuple(plans), f"{how}; From domain {domain}")
            why = f"{how}, but no key for the From domain {domain or '(none)'}"
            parent = self.signing.near_miss(domain)
            if parent:
                why += f" (it is under {parent}: set 'SubDomains yes' to sign for it)"
            if not self.verify:
                return Decision(Verdict.IGNORE, why=why)
            return Decision(Verdict.VERIFY, why=why)
        if not self.verify:
            return Decision(Verdict.IGNORE, why="external client and Mode has no 'v'")
        ours = bool(self.sign and self.signing.keys_for(address, domain))
        ignored = self.external_ignore.matches(client.hostname, client.address)
        return Decision(
            Verdict.VERIFY,
            why="external client",
            log_external=ours and not ignored,
        )

    def is_trusted(self, client: Client) -> tuple[bool, str]:
        if self.internal_hosts.matches(client.hostname, client.address):
            return True, f"internal host {client.address or client.hostname}"
        if client.auth_authen:
            return True, f"authenticated as {client.auth_authen}"
        if client.daemon_name and client.daemon_name.lower() in self.mta_names:
            return True, f"received by MTA {client.daemon_name}"
        return False, "external"


# --- verification outcome ------------------------------------------------------------------

_KEY_NOT_FOUND_RE = re.compile(
    r"no key|key not found|nxdomain|no (dkim )?key record", re.IGNORECASE
)


def verify_condition(results: Sequence[tuple[AuthResult, str]]) -> Condition | None:
    """The On-* condition for a message's signature results (result, reason), or None: pass.

    One passing signature is enough. Otherwise a temporary error wins (retrying may pass),
    then a missing key, then a bad signature.
    """
    if not results:
        return Condition.NO_SIGNATURE
    words = [result for result, _ in results]
    if AuthResult.PASS in words:
        return None
    if AuthResult.TEMPERROR in words:
        return Condition.DNS_ERROR
    if all(
        result == AuthResult.PERMERROR and _KEY_NOT_FOUND_RE.search(reason or "")
        for result, reason in results
    ):
        return Condition.KEY_NOT_FOUND
    if words == [AuthResult.NONE] * len(words):
        return Condition.NO_SIGNATURE
    return Condition.BAD_SIGNATURE


# --- header edits --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeleteHeader:
    name: str  # as received
    index: int  # 1-based among fields of this name (case-insensitive), as smfi_chgheader


@dataclass(frozen=True, slots=True)
class InsertHeader:
    name: str
    value: str  # without the leading space; folded lines joined by "\n\t" or "\n "
    index: int = 0  # smfi_insheader position: 0 is the very top


HeaderOp = DeleteHeader | InsertHeader


def header_plan(
    received: Sequence[tuple[str, str]],
    authserv_id: str,
    new_fields: Sequence[tuple[str, str]],
) -> list[HeaderOp]:
    """Deletions of forged A-R fields (last first, so indices stay valid), then insertions.

    RECEIVED is every header field as the MTA gave it; NEW_FIELDS is in final top-down order
    and each goes to index 0, so they are inserted bottom-up.
    """
    ours = authserv_id.lower()
    ops: list[HeaderOp] = []
    seen = 0
    forged: list[int] = []
    for name, value in received:
        if name.lower() != "authentication-results":
            continue
        seen += 1
        if authserv_id_of(value) == ours:
            forged.append(seen)
    for index in reversed(forged):  # MTAs match the name case-insensitively
        ops.append(DeleteHeader("Authentication-Results", index))
    for name, value in reversed(new_fields):
        ops.append(InsertHeader(name, value, 0))
    return ops


def x_dkim_value(version: str, host: str, queue_id: str | None) -> str:
    """``X-DKIM: dkimtool VERSION HOST QUEUE-ID``, as the classic dkim-filter's X-Header."""
    return " ".join(part for part in ("dkimtool", version, host, queue_id or "") if part)


# --- settings ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Overrides:
    """The long command line (dkim-filter's flags); each beats its config key."""

    socket: str | None = None
    domains: tuple[str, ...] = ()
    selectors: tuple[str, ...] = ()
    key_files: tuple[str, ...] = ()
    canonicalization: str | None = None
    algorithm: str | None = None
    userid: str | None = None
    mta_names: tuple[str, ...] = ()
    internal_hosts: str | None = None
    syslog: bool = False
    x_header: bool = False
    mode: str | None = None
    authserv_id: str | None = None
    pidfile: str | None = None
    allow_sha1: bool = False


def load_settings(config: DkimConfig | None, cli: Overrides) -> MilterSettings:
    """Build and validate everything; ConfigError (78) names the file and line."""
    b = _Builder(config)
    warnings: list[str] = []
    socket_spec = _socket_setting(b, "Socket", cli.socket, DEFAULT_SOCKET)
    mode = (cli.mode or b.get("Mode") or "sv").lower()
    if not mode or set(mode) - {"s", "v"}:
        raise b.error("Mode", f"Mode must be s, v or sv, not {mode!r}", cli.mode is not None)
    header_c, body_c = _canonicalization(b, cli.canonicalization)
    allow_sha1 = cli.allow_sha1 or bool(b.get_bool("AllowSHA1Only"))
    algorithm = (cli.algorithm or b.get("SignatureAlgorithm") or "rsa-sha256").lower()
    if algorithm not in ("rsa-sha256", "rsa-sha1", "ed25519-sha256"):
        raise b.error(
            "SignatureAlgorithm", f"unknown algorithm {algorithm!r}", cli.algorithm is not None
        )
    if algorithm == "rsa-sha1" and not allow_sha1:
        warnings.append(
            "SignatureAlgorithm rsa-sha1: signing with rsa-sha256 instead (RFC 8301: receivers "
            "treat rsa-sha1 as unsigned); set AllowSHA1Only yes to keep rsa-sha1"
        )
        algorithm = "rsa-sha256"
    signing = _signing_setup(b, cli)
    if "s" in mode and not signing.all_keys():
        if cli.mode is not None or b.get("Mode"):
            raise b.error(
                "Mode",
                "Mode has 's' but no key is configured (KeyFile/Selector, or KeyTable)",
                False,
            )
        mode = mode.replace("s", "")  # the default Mode sv with no keys: verify only
    internal = _hosts(b, "InternalHosts", cli.internal_hosts, DEFAULT_INTERNAL_HOSTS)
    external = _hosts(b, "ExternalIgnoreList", None, ())
    mta = {m.lower() for m in cli.mta_names} or {
        m.lower() for m in (b.config.get_list("MTA") if b.config else None) or []
    }
    actions = dict(DEFAULT_ACTIONS)
    for condition in Condition:
        key = f"On-{condition.value}"
        value = b.get(key)
        if value is not None:
            try:
                actions[condition] = parse_action(value)
            except ValueError as exc:
                raise b.error(key, f"{key}: {exc}", False) from None
    if b.get("On-Default"):  # the default for every condition not set on its own
        for condition in Condition:
            if b.get(f"On-{condition.value}") is None:
                actions[condition] = actions[Condition.DEFAULT]
    min_bits = b.get_int("MinimumKeyBits")
    if min_bits is not None and min_bits < 1024:
        raise b.error("MinimumKeyBits", "MinimumKeyBits below 1024 is not allowed (RFC 8301)")
    max_sigs = b.get_int("MaximumSignaturesToVerify")
    if max_sigs is not None and max_sigs < 1:
        raise b.error("MaximumSignaturesToVerify", "must be at least 1")
    dns_timeout = b.get_int("DNSTimeout")
    if dns_timeout is not None and dns_timeout <= 0:
        raise b.error("DNSTimeout", "DNSTimeout must be a positive number of seconds")
    authserv = cli.authserv_id or b.get("AuthservID")
    if authserv is not None and not re.fullmatch(r"[!-~]+", authserv):
        raise b.error("AuthservID", f"AuthservID {authserv!r} must be one token", False)
    ignored = tuple(
        e.key for k, e in (b.config.entries.items() if b.config else []) if k not in MILTER_KEYS
    )
    return MilterSettings(
        socket=socket_spec,
        sign="s" in mode,
        verify="v" in mode,
        signing=signing,
        header_canonicalization=header_c,
        body_canonicalization=body_c,
        algorithm=algorithm if (cli.algorithm or b.get("SignatureAlgorithm")) else None,
        sign_headers=_colon_or_comma(b.get("SignHeaders")),
        oversign_headers=_colon_or_comma(b.get("OversignHeaders")),
        internal_hosts=internal,
        external_ignore=external,
        mta_names=frozenset(mta),
        authserv_id=authserv,
        x_header=cli.x_header or bool(b.get_bool("X-Header")) or bool(b.get_bool("SoftwareHeader")),
        syslog=cli.syslog or bool(b.get_bool("Syslog")),
        syslog_facility=(b.get("SyslogFacility") or "mail").lower(),
        userid=cli.userid or b.get("UserID"),
        pidfile=cli.pidfile or (b.config.get_path("PidFile") if b.config else None),
        min_key_bits=min_bits or 1024,
        allow_sha1=allow_sha1,
        max_signatures=max_sigs or 10,
        nameservers=tuple((b.config.get_list("Nameservers") if b.config else None) or ()),
        dns_timeout=float(dns_timeout) if dns_timeout is not None else None,
        actions=actions,
        warnings=tuple(warnings),
        ignored_keys=ignored,
    )


class _Builder:
    def __init__(self, config: DkimConfig | None) -> None:
        self.config = config

    def get(self, key: str) -> str | None:
        return None if self.config is None else self.config.get(key)

    def get_bool(self, key: str) -> bool | None:
        return None if self.config is None else self.config.get_bool(key)

    def get_int(self, key: str) -> int | None:
        return None if self.config is None else self.config.get_int(key)

    def error(self, key: str, message: str, from_cli: bool = False) -> DkimtoolError:
        if from_cli or self.config is None or self.config.entry(key) is None:
            return UsageError(message) if from_cli else ConfigError(message)
        return self.config.error(key, message)

    def base(self) -> Path:
        return Path.cwd() if self.config is None else self.config.path.parent


def _socket_setting(b: _Builder, key: str, cli_value: str | None, default: str) -> SocketSpec:
    value = cli_value or b.get(key) or default
    try:
        return parse_socket(value)
    except ValueError as exc:
        raise b.error(key, f"{key}: {exc}", cli_value is not None) from None


def _canonicalization(b: _Builder, cli_value: str | None) -> tuple[Canon, Canon]:
    value = cli_value or b.get("Canonicalization") or "relaxed/relaxed"
    try:
        return parse_canonicalization(value)
    except SignatureFormatError:
        raise b.error(
            "Canonicalization",
            f"invalid canonicalization {value!r} (use simple or relaxed, or header/body)",
            cli_value is not None,
        ) from None


def _colon_or_comma(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(item.strip() for item in re.split(r"[:,]", value) if item.strip())


def _dataset(b: _Builder, key: str, value: str) -> tuple[list[tuple[int, str]], str | None]:
    """opendkim's dataset: a file (absolute path, ``file:``, or an existing relative path),
    else a comma-separated list. Returns (line number, entry) pairs and the file name."""
    text = value.strip()
    is_file = text.startswith(("/", "file:", "refile:"))
    path_text = text.split(":", 1)[1] if text.startswith(("file:", "refile:")) else text
    path = Path(path_text) if path_text.startswith("/") else b.base() / path_text
    if not is_file and "," not in text and path.is_file():
        is_file = True
    if not is_file:
        return [(0, item.strip()) for item in text.split(",") if item.strip()], None
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise b.error(key, f"{key}: cannot read {path}: {reason}") from None
    return content_lines(content), str(path)


def _hosts(b: _Builder, key: str, cli_file: str | None, default: Sequence[str]) -> HostList:
    value = cli_file if cli_file is not None else b.get(key)
    if value is None:
        return HostList.parse(default)
    if cli_file is not None and not cli_file.startswith(("/", "file:")):
        value = str(Path.cwd() / cli_file) if Path(cli_file).exists() else cli_file
    entries, path = _dataset(b, key, value)
    hosts: list[str] = []
    for number, line in entries:
        for item in [line]:  # one host per line (file) or per comma (list)
            try:
                HostList.parse([item])
            except ValueError as exc:
                if path:
                    raise ConfigError(str(exc), path=path, line=number) from None
                raise b.error(key, f"{key}: {exc}", cli_file is not None) from None
            hosts.append(item)
    return HostList.parse(hosts)


def _domain(text: str, where: tuple[str | None, int | None], b: _Builder, key: str) -> str:
    try:
        return normalize_domain(text.strip().rstrip(".")).lower()
    except InvalidName as exc:
        path, line = where
        if path:
            raise ConfigError(f"{key}: {exc}", path=path, line=line) from None
        raise b.error(key, f"{key}: {exc}") from None


def _signing_setup(b: _Builder, cli: Overrides) -> SigningSetup:
    subdomains = bool(b.get_bool("SubDomains"))
    multiple = bool(b.get_bool("MultipleSignatures"))
    key_table_value = b.get("KeyTable")
    if key_table_value and not (cli.selectors or cli.key_files):
        key_table = _key_table(b, key_table_value)
        rules: tuple[SigningRule, ...] = ()
        regex = False
        table_value = b.get("SigningTable")
        if table_value:
            regex = table_value.startswith("refile:")
            rules = _signing_table(b, table_value, key_table)
        return SigningSetup(
            key_table=key_table,
            signing_table=rules,
            signing_table_regex=regex,
            has_signing_table=bool(table_value),
            subdomains=subdomains,
            multiple=multiple,
        )
    if b.get("SigningTable") and not key_table_value:
        raise b.error("SigningTable", "SigningTable needs a KeyTable")
    domains: list[str] = []
    if cli.domains:
        for item in cli.domains:
            for part in item.split(","):
                if part.strip():
                    domains.append(_domain(part, (None, None), b, "Domain"))
    elif b.get("Domain"):
        entries, path = _dataset(b, "Domain", b.get("Domain") or "")
        for number, line in entries:
            for part in line.replace(",", " ").split():
                domains.append(_domain(part, (path, number), b, "Domain"))
    selectors: tuple[str, ...] = cli.selectors or ((b.get("Selector") or "").strip(),)
    keys: tuple[str, ...] = cli.key_files or (
        ((b.config.get_path("KeyFile") if b.config else None) or "").strip(),
    )
    selectors = tuple(s for s in selectors if s)
    keys = tuple(k for k in keys if k)
    if not selectors and not keys:
        if domains:
            raise b.error("Domain", "Domain is set but Selector and KeyFile are not")
        return SigningSetup(subdomains=subdomains, multiple=multiple)
    if len(selectors) != len(keys):
        raise b.error(
            "KeyFile" if selectors else "Selector",
            f"{len(selectors)} selector(s) but {len(keys)} key file(s): give them in pairs",
            bool(cli.selectors or cli.key_files),
        )
    from dkimtool.core.names import normalize_selector

    checked = []
    for selector in selectors:
        try:
            checked.append(normalize_selector(selector))
        except InvalidName as exc:
            raise b.error("Selector", f"Selector: {exc}", bool(cli.selectors)) from None
    if not domains:
        raise b.error("Selector", "Selector/KeyFile given but no Domain", bool(cli.selectors))
    return SigningSetup(
        domains=tuple(domains),
        selector_keys=tuple(zip(checked, keys, strict=True)),
        subdomains=subdomains,
        multiple=multiple,
    )


def _key_table(b: _Builder, value: str) -> dict[str, KeyRef]:
    entries, path = _dataset(b, "KeyTable", value if ":" in value[:8] else f"file:{value}")
    return {
        entry.name.lower(): KeyRef(
            entry.name.lower(), entry.domain.lower(), entry.selector, entry.key_file
        )
        for entry in parse_entries(entries, path, allow_any_domain=True)
    }


def _signing_table(
    b: _Builder, value: str, key_table: Mapping[str, KeyRef]
) -> tuple[SigningRule, ...]:
    entries, path = _dataset(b, "SigningTable", value if ":" in value[:8] else f"file:{value}")
    rules = []
    for number, line in entries:
        parts = line.split()
        if len(parts) < 2:
            raise ConfigError("expected 'PATTERN KEYNAME'", path=path, line=number or None)
        names = tuple(n.lower() for part in parts[1:] for n in part.split(",") if n)
        for name in names:
            if name not in key_table:
                raise ConfigError(
                    f"key name {name!r} is not in the KeyTable", path=path, line=number or None
                )
        rules.append(SigningRule(parts[0].lower(), names, number))
    if not rules:
        raise b.error("SigningTable", "the SigningTable has no entries")
    return tuple(rules)
