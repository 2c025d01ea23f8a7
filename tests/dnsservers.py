"""Real DNS servers for the test suite: knotd (authoritative), unbound (validating), a silent one.

Everything runs on 127.0.0.1 on a free high port, keeps its files (config, rundir, storage,
zone files, pidfile, log) in a directory the caller gives, and is stopped by PID. Nothing here
touches a system service. The quickest way in is the whole lab as a session fixture::

    from tests.dnsservers import DnsLab, dns_lab_session

    @pytest.fixture(scope="session")
    def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsLab]:
        yield from dns_lab_session(tmp_path_factory)

    def test_something(lab: DnsLab) -> None:
        name = lab.secure.zone.name("multi")      # multi._domainkey.secure.test
        expected = lab.secure.zone.txt[name]      # [b"v=DKIM1; k=rsa; p=..."]
        ...  # ask 127.0.0.1:lab.resolver_port (validating) or lab.auth_port (knotd)

(A conftest may instead ``from tests.dnsservers import dns_lab`` to share one lab, fixture
name ``dns_lab``, across the whole session.) The building blocks work on their own too::

    zone = standard_zone("example.")
    signed = sign_zone(standard_zone("secure.test."))
    with AuthoritativeServer(workdir / "knot", {zone.origin: zone.text,
                                                signed.origin: signed.text}) as auth:
        with ValidatingResolver(workdir / "unbound", auth.port,
                                {zone.origin: None, signed.origin: signed.trust_anchor}) as vr:
            ...  # a DO query to 127.0.0.1:vr.port for a secure.test. name gets the AD flag

Zones are signed offline with dnspython (``sign_zone``): one ECDSA P-256 key (flags 257) that
signs every RRset, an NSEC chain, and signature times the caller controls, so a deliberately
broken zone (expired or corrupted RRSIGs) is one argument away. knotd serves the signed text
as it is; unbound validates it against the DS trust anchor, independently of the signer.

Binaries are located with ``require_binary``: a missing one skips the test, except under
``CI=true`` where it fails, so CI can never pass by skipping.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal, NoReturn, Self

import pytest

HOST = "127.0.0.1"
_SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin")
_START_TIMEOUT = 10.0


# --------------------------------------------------------------------------------------------
# Binaries and the skip/fail policy
# --------------------------------------------------------------------------------------------


def in_ci() -> bool:
    """True when running under CI (``CI`` set to a true-ish value)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def _missing(reason: str) -> NoReturn:
    if in_ci():
        pytest.fail(
            f"{reason} (CI=true: peer tools must be installed; see scripts/install-peers.sh)"
        )
    pytest.skip(reason)


def find_binary(name: str) -> str | None:
    """Return the path of ``name`` on PATH or in the sbin directories, or None."""
    found = shutil.which(name)
    if found:
        return found
    extra = os.pathsep.join(d for d in _SBIN_DIRS if os.path.isdir(d))
    return shutil.which(name, path=extra) if extra else None


def require_binary(name: str) -> str:
    """Return the path of ``name``; skip the test if it is missing, fail instead under CI=true."""
    path = find_binary(name)
    if path is None:
        _missing(f"{name} not found (install it with scripts/install-peers.sh)")
    return path


# --------------------------------------------------------------------------------------------
# Ports and process helpers
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    """A high port on 127.0.0.1 that is free for both UDP and TCP right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((HOST, 0))
            port: int = udp.getsockname()[1]
            if port < 1024:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((HOST, port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free UDP+TCP port found on 127.0.0.1")


def _die_with_parent(argv: list[str]) -> list[str]:
    """Prefix ``setpriv --pdeathsig TERM`` (Linux util-linux) when available, so a daemon gets
    SIGTERM if the test process dies, even by SIGKILL. setpriv execs the daemon: same PID."""
    setpriv = find_binary("setpriv") if sys.platform.startswith("linux") else None
    return [setpriv, "--pdeathsig", "TERM", "--", *argv] if setpriv else argv


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


class _Daemon:
    """A child process started in the foreground, stopped by PID."""

    name = "daemon"
    _recursive = False
    _fatal_markers: tuple[str, ...] = ()  # log lines that mean "will never become ready"

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"{self.name}.log"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _spawn(self, argv: list[str]) -> None:
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                _die_with_parent(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
            )

    def _wait_ready(self, probe: Iterable[str], deadline: float) -> bool:
        """Poll until every name in ``probe`` gets an answer; False if the process died."""
        import dns.exception
        import dns.flags
        import dns.message
        import dns.query
        import dns.rcode

        pending = list(probe)
        while pending:
            if not self.running:
                return False
            if time.monotonic() > deadline:
                return False
            query = dns.message.make_query(pending[0], "SOA")
            if self._recursive:
                query.flags |= dns.flags.CD  # a deliberately bogus zone still counts as up
            else:
                query.flags &= ~dns.flags.RD
            try:
                resp = dns.query.udp(query, HOST, port=self.port, timeout=0.2)
            except (OSError, dns.exception.Timeout):
                time.sleep(0.02)
                continue
            if resp.rcode() == dns.rcode.NOERROR and resp.answer:
                pending.pop(0)
            elif self._fatal_markers and any(
                m in _tail(self.log_path) for m in self._fatal_markers
            ):
                return False
            else:
                time.sleep(0.02)
        return True

    def _port_race(self) -> bool:
        """True if the last start failed because someone took the port meanwhile."""
        log = _tail(self.log_path, 20).lower()
        return any(
            s in log
            for s in ("address already in use", "could not bind", "cannot bind", "failed to bind")
        )

    def stop(self) -> None:
        """Terminate the process by PID and wait for it (SIGKILL after 5 s)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __del__(self) -> None:  # last resort; fixtures should call stop()
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(OSError):
                os.kill(proc.pid, signal.SIGKILL)


# --------------------------------------------------------------------------------------------
# knotd: the authoritative server
# --------------------------------------------------------------------------------------------


def _absolute(name: str) -> str:
    return name if name.endswith(".") else name + "."


class AuthoritativeServer(_Daemon):
    """knotd serving ``zones`` (origin -> zone file text) on 127.0.0.1:``port`` (UDP and TCP).

    UDP answers are capped at knot's default EDNS payload, 1232 bytes (the lowest knot
    accepts): a bigger answer is truncated and must be asked again over TCP. Zones are served
    as given: a signed zone text (see ``sign_zone``) is served with its RRSIGs, knot does no
    signing of its own.
    """

    name = "knotd"
    _fatal_markers = ("zone event 'load' failed", "failed to load zone")

    def __init__(
        self,
        workdir: Path,
        zones: Mapping[str, str],
        *,
        start: bool = True,
    ) -> None:
        super().__init__(workdir)
        if not zones:
            raise ValueError("AuthoritativeServer needs at least one zone")
        self.zones = {_absolute(k).lower(): v for k, v in zones.items()}
        self.binary = require_binary("knotd")
        if start:
            self.start()

    def _write_config(self) -> Path:
        zonedir = self.workdir / "zones"
        for sub in ("run", "db", "zones"):
            (self.workdir / sub).mkdir(exist_ok=True)
        lines = [
            "server:",
            f'    rundir: "{self.workdir / "run"}"',
            f"    listen: {HOST}@{self.port}",
            "    udp-workers: 1",
            "    tcp-workers: 1",
            "    background-workers: 1",
        ]
        lines += [
            "log:",
            "  - target: stderr",
            "    any: info",
            "database:",
            f'    storage: "{self.workdir / "db"}"',
            "template:",
            "  - id: default",
            f'    storage: "{zonedir}"',
            '    file: "%s.zone"',
            "    zonefile-sync: -1",
            "    zonefile-load: whole",
            "    journal-content: none",
            "    semantic-checks: off",
            "zone:",
        ]
        for origin, text in self.zones.items():
            (zonedir / f"{origin[:-1] or 'root'}.zone").write_text(text)
            lines.append(f'  - domain: "{origin}"')
            if origin == ".":
                lines.append('    file: "root.zone"')
        conf = self.workdir / "knot.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self) -> None:
        """Start knotd and wait until it answers SOA for every zone (retries on a port race)."""
        for _attempt in range(3):
            self.port = free_port()
            conf = self._write_config()
            self._spawn([self.binary, "-c", str(conf)])
            if self._wait_ready(self.zones, time.monotonic() + _START_TIMEOUT):
                return
            self.stop()
            if not self._port_race():
                break
        raise RuntimeError(f"knotd did not start; log {self.log_path}:\n{_tail(self.log_path)}")


# --------------------------------------------------------------------------------------------
# unbound: the validating resolver
# --------------------------------------------------------------------------------------------


class ValidatingResolver(_Daemon):
    """unbound on 127.0.0.1:``port``, a stub resolver for ``zones`` at 127.0.0.1:``upstream_port``.

    ``zones`` maps an origin to its trust anchor (a DS or DNSKEY line such as
    ``SignedZone.trust_anchor``) or None for an unsigned zone (``domain-insecure``). Every
    other name is refused: there are no root hints and no network access.
    """

    name = "unbound"
    _recursive = True

    def __init__(
        self,
        workdir: Path,
        upstream_port: int,
        zones: Mapping[str, str | None],
        *,
        start: bool = True,
    ) -> None:
        super().__init__(workdir)
        if not zones:
            raise ValueError("ValidatingResolver needs at least one zone")
        self.upstream_port = upstream_port
        self.zones = {_absolute(k).lower(): v for k, v in zones.items()}
        self.binary = require_binary("unbound")
        if start:
            self.start()

    def _write_config(self) -> Path:
        wd = self.workdir
        lines = [
            "server:",
            "    verbosity: 1",
            "    val-log-level: 2",
            f"    interface: {HOST}@{self.port}",
            f"    port: {self.port}",
            "    interface-automatic: no",
            f"    outgoing-interface: {HOST}",
            "    do-ip4: yes",
            "    do-ip6: no",
            "    do-udp: yes",
            "    do-tcp: yes",
            "    access-control: 127.0.0.0/8 allow",
            "    do-not-query-localhost: no",
            "    do-daemonize: no",
            '    chroot: ""',
            '    username: ""',
            f'    directory: "{wd}"',
            f'    pidfile: "{wd / "unbound.pid"}"',
            '    logfile: ""',
            "    use-syslog: no",
            "    num-threads: 1",
            "    so-reuseport: no",
            "    outgoing-range: 64",
            "    num-queries-per-thread: 32",
            '    module-config: "validator iterator"',
            '    target-fetch-policy: "0 0 0 0 0"',
            "    qname-minimisation: no",
            "    prefetch: no",
            "    prefetch-key: no",
            "    harden-dnssec-stripped: yes",
            "    val-permissive-mode: no",
            "    minimal-responses: no",
            "    edns-buffer-size: 1232",
            '    local-zone: "." refuse',
        ]
        for origin, anchor in self.zones.items():
            lines.append(f'    local-zone: "{origin}" transparent')
            if anchor is None:
                lines.append(f'    domain-insecure: "{origin}"')
            else:
                lines.append(f'    trust-anchor: "{anchor}"')
        lines += ["remote-control:", "    control-enable: no"]
        for origin in self.zones:
            lines += [
                "stub-zone:",
                f'    name: "{origin}"',
                f"    stub-addr: {HOST}@{self.upstream_port}",
                "    stub-prime: no",
            ]
        conf = wd / "unbound.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self) -> None:
        """Start unbound and wait until it resolves every zone's SOA (retries on a port race)."""
        for _attempt in range(3):
            self.port = free_port()
            conf = self._write_config()
            self._spawn([self.binary, "-d", "-c", str(conf)])
            if self._wait_ready(self.zones, time.monotonic() + _START_TIMEOUT):
                return
            self.stop()
            if not self._port_race():
                break
        raise RuntimeError(f"unbound did not start; log {self.log_path}:\n{_tail(self.log_path)}")


# --------------------------------------------------------------------------------------------
# A server that never answers
# --------------------------------------------------------------------------------------------


class SilentServer:
    """A UDP socket and a TCP listener on 127.0.0.1:``port`` that never reply.

    UDP datagrams are accepted by the kernel and never read (no ICMP port unreachable), TCP
    connections complete the handshake in the backlog and are never served.
    """

    def __init__(self) -> None:
        self.port = 0
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        for _ in range(50):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((HOST, 0))
            port = udp.getsockname()[1]
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                tcp.bind((HOST, port))
                tcp.listen(64)
            except OSError:
                udp.close()
                tcp.close()
                continue
            self.port, self._udp, self._tcp = port, udp, tcp
            return
        raise RuntimeError("no free UDP+TCP port for SilentServer")

    def stop(self) -> None:
        for sock in (self._udp, self._tcp):
            if sock is not None:
                sock.close()
        self._udp = self._tcp = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------
# Zone text
# --------------------------------------------------------------------------------------------


def txt_rdata(value: bytes | str, chunk: int = 255) -> str:
    """Zone-file RDATA for one TXT record: ``value`` split into quoted <=``chunk``-byte strings.

    Bytes outside printable ASCII, ``"`` and ``\\`` are escaped (``\\DDD`` / ``\\"``), so any
    byte string, including non-UTF-8, round-trips.
    """
    data = value.encode() if isinstance(value, str) else value
    if not 1 <= chunk <= 255:
        raise ValueError("a TXT character-string holds 1..255 bytes")
    parts = [data[i : i + chunk] for i in range(0, len(data), chunk)] or [b""]
    return " ".join(_quote(p) for p in parts)


def _quote(data: bytes) -> str:
    out = []
    for b in data:
        if b in (0x22, 0x5C):
            out.append("\\" + chr(b))
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\{b:03d}")
    return '"' + "".join(out) + '"'


@dataclass(frozen=True)
class Record:
    """One resource record; ``name`` relative to the origin ("@" for the apex) or absolute."""

    name: str
    rtype: str
    rdata: str
    ttl: int = 300


def make_zone(origin: str, records: Iterable[Record], *, serial: int = 1, ttl: int = 300) -> str:
    """Zone file text: SOA and NS (ns.ORIGIN at 127.0.0.1) plus ``records``."""
    origin = _absolute(origin)
    lines = [
        f"$ORIGIN {origin}",
        f"$TTL {ttl}",
        f"@ {ttl} IN SOA ns.{origin} hostmaster.{origin} {serial} 3600 600 86400 60",
        f"@ {ttl} IN NS ns.{origin}",
        f"ns {ttl} IN A {HOST}",
    ]
    lines += [f"{r.name} {r.ttl} IN {r.rtype} {r.rdata}" for r in records]
    return "\n".join(lines) + "\n"


def dkim_like(length: int, prefix: bytes = b"v=DKIM1; k=rsa; p=") -> bytes:
    """A DKIM-looking ASCII value of exactly ``length`` bytes (a deterministic base64-ish key)."""
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    body = bytes(alphabet[(i * 7 + 3) % 64] for i in range(max(0, length - len(prefix))))
    return (prefix + body)[:length]


@dataclass(frozen=True)
class TestZone:
    """A zone text and the facts tests assert about it (absolute names, no trailing dot)."""

    __test__ = False  # not a pytest test class

    origin: str
    text: str
    txt: Mapping[str, list[bytes]]  # name -> expected TXT records (joined strings)
    names: Mapping[str, str]  # role -> absolute name without trailing dot
    cname_chain: Mapping[str, list[str]] = field(default_factory=dict)

    def name(self, role: str) -> str:
        return self.names[role]


# Roles of the names in standard_zone (all under ORIGIN):
#   multi      one TXT of two 255-byte-split strings (a 2048-bit RSA key record, ~410 bytes)
#   big        one TXT larger than 1232 bytes: never fits UDP with EDNS 1232, needs TCP
#   over512    one TXT of ~700 bytes: TC over plain 512-byte UDP, fits EDNS 1232
#   huge       one TXT over 8 KiB
#   binary     one TXT with non-UTF-8 bytes
#   aonly      an A record and no TXT
#   cname      CNAME -> alias -> target (two hops); target has a TXT
#   alias      CNAME -> target (one hop)
#   target     the TXT the CNAMEs end at
#   dangling   CNAME to a name that does not exist
#   loop       loop1 -> loop2 -> loop1
#   two        two TXT records at one name
#   wildcard   a name matched only by *.ORIGIN TXT "v=spf1 -all"
#   missing    a name under _domainkey that does not exist (NXDOMAIN)
#   spf        the apex SPF TXT (absolute name = origin)
def standard_zone(origin: str = "example.") -> TestZone:
    """The zone every DNS test uses; see the role list above for what each name holds."""
    origin = _absolute(origin).lower()
    base = origin[:-1]

    def n(rel: str) -> str:
        return f"{rel}.{base}" if base else rel

    values: dict[str, list[bytes]] = {
        "multi._domainkey": [dkim_like(410)],
        "big._domainkey": [dkim_like(1500)],
        "over512._domainkey": [dkim_like(700)],
        "huge._domainkey": [dkim_like(9000)],
        "binary._domainkey": [b'v=DKIM1; n=caf\xe9 \xff\xfe\x00\x01 "q" \\; p='],
        "target._domainkey": [
            b"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
        ],
        "two._domainkey": [b"v=DKIM1; p=first", b"v=DKIM1; p=second"],
        "@": [b"v=spf1 -all"],
    }
    records: list[Record] = []
    for rel, vals in values.items():
        records += [Record(rel, "TXT", txt_rdata(v)) for v in vals]
    records += [
        Record("aonly._domainkey", "A", "192.0.2.1"),
        Record("alias._domainkey", "CNAME", "target._domainkey"),
        Record("cname._domainkey", "CNAME", "alias._domainkey"),
        Record("dangling._domainkey", "CNAME", "nowhere._domainkey"),
        Record("loop1._domainkey", "CNAME", "loop2._domainkey"),
        Record("loop2._domainkey", "CNAME", "loop1._domainkey"),
        Record("*", "TXT", txt_rdata("v=spf1 -all")),
    ]
    names = {
        "multi": n("multi._domainkey"),
        "big": n("big._domainkey"),
        "over512": n("over512._domainkey"),
        "huge": n("huge._domainkey"),
        "binary": n("binary._domainkey"),
        "aonly": n("aonly._domainkey"),
        "cname": n("cname._domainkey"),
        "alias": n("alias._domainkey"),
        "target": n("target._domainkey"),
        "dangling": n("dangling._domainkey"),
        "loop": n("loop1._domainkey"),
        "two": n("two._domainkey"),
        "wildcard": n("mail._domainkey.wild"),
        "missing": n("missing._domainkey"),
        "spf": base,
    }
    txt = {(base if rel == "@" else n(rel)): vals for rel, vals in values.items()}
    txt[names["wildcard"]] = [b"v=spf1 -all"]
    txt[names["cname"]] = values["target._domainkey"]
    txt[names["alias"]] = values["target._domainkey"]
    chains = {
        names["cname"]: [names["alias"], names["target"]],
        names["alias"]: [names["target"]],
    }
    return TestZone(origin, make_zone(origin, records), txt, names, chains)


# --------------------------------------------------------------------------------------------
# DNSSEC: offline signing with dnspython
# --------------------------------------------------------------------------------------------

Breakage = Literal["none", "expired", "corrupt"]


@dataclass(frozen=True)
class SignedZone:
    """A signed zone text and its trust anchor."""

    origin: str
    text: str
    ds: str  # DS RDATA text: "KEYTAG 13 2 HEX"
    dnskey: str  # DNSKEY RDATA text
    breakage: Breakage
    zone: TestZone

    @property
    def trust_anchor(self) -> str:
        """A line for unbound's ``trust-anchor:`` (and similar): ``ORIGIN DS ...``."""
        return f"{self.origin} DS {self.ds}"


def sign_zone(test_zone: TestZone, *, breakage: Breakage = "none") -> SignedZone:
    """Sign ``test_zone`` with a fresh ECDSA P-256 key (one key, flags 257) and an NSEC chain.

    ``breakage="expired"``: every RRSIG expired a day ago (the DNSKEY set itself is bogus).
    ``breakage="corrupt"``: valid DNSKEY signatures, but every TXT RRSIG has flipped bytes.
    Either way a validating resolver answers SERVFAIL, and the data with CD set.
    """
    import dns.dnssec
    import dns.dnssectypes
    import dns.name
    import dns.rdataset
    import dns.rdatatype
    import dns.zone
    from cryptography.hazmat.primitives.asymmetric import ec

    origin = dns.name.from_text(test_zone.origin)
    zone = dns.zone.from_text(test_zone.text, origin=origin, relativize=False)
    key = ec.generate_private_key(ec.SECP256R1())
    dnskey = dns.dnssec.make_dnskey(
        key.public_key(), dns.dnssectypes.Algorithm.ECDSAP256SHA256, flags=257
    )
    now = int(time.time())
    if breakage == "expired":
        inception, expiration = now - 3 * 86400, now - 86400
    else:
        inception, expiration = now - 3600, now + 30 * 86400
    dns.dnssec.sign_zone(
        zone, keys=[(key, dnskey)], inception=inception, expiration=expiration, dnskey_ttl=300
    )
    if breakage == "corrupt":
        with zone.writer() as txn:
            for name, node in list(zone.nodes.items()):
                for rds in node.rdatasets:
                    if rds.rdtype != dns.rdatatype.RRSIG or rds.covers != dns.rdatatype.TXT:
                        continue
                    bad = [
                        rd.replace(signature=bytes(b ^ 0x5A for b in rd.signature)) for rd in rds
                    ]
                    txn.replace(name, dns.rdataset.from_rdata_list(rds.ttl, bad))
    ds = dns.dnssec.make_ds(origin, dnskey, "SHA256")
    return SignedZone(
        origin=test_zone.origin,
        text=zone.to_text(relativize=False),
        ds=ds.to_text(),
        dnskey=dnskey.to_text(),
        breakage=breakage,
        zone=test_zone,
    )


# --------------------------------------------------------------------------------------------
# The whole lab: what a session-scoped fixture starts once
# --------------------------------------------------------------------------------------------


class DnsLab:
    """knotd + unbound + a silent server, serving four copies of ``standard_zone``.

    * ``plain``   ``example.``       unsigned (unbound: ``domain-insecure``)
    * ``secure``  ``secure.test.``   signed, trust anchor configured: answers carry AD
    * ``bogus``   ``bogus.test.``    signed, every RRSIG expired: SERVFAIL, data only with CD
    * ``corrupt`` ``corrupt.test.``  signed, TXT RRSIGs corrupted: SERVFAIL, data only with CD

    Ask knotd directly at ``HOST:auth.port`` (authoritative, no AD) or unbound at
    ``HOST:resolver.port`` (recursive, validating). ``silent.port`` never answers.
    """

    def __init__(self, workdir: Path) -> None:
        workdir = Path(workdir)
        self.plain = standard_zone("example.")
        self.secure = sign_zone(standard_zone("secure.test."))
        self.bogus = sign_zone(standard_zone("bogus.test."), breakage="expired")
        self.corrupt = sign_zone(standard_zone("corrupt.test."), breakage="corrupt")
        signed = (self.secure, self.bogus, self.corrupt)
        zones = {self.plain.origin: self.plain.text} | {z.origin: z.text for z in signed}
        anchors: dict[str, str | None] = {self.plain.origin: None}
        anchors |= {z.origin: z.trust_anchor for z in signed}
        self.silent = SilentServer()
        self.auth: AuthoritativeServer | None = None
        self.resolver: ValidatingResolver | None = None
        try:
            self.auth = AuthoritativeServer(workdir / "knot", zones)
            self.resolver = ValidatingResolver(workdir / "unbound", self.auth.port, anchors)
        except BaseException:
            self.stop()
            raise

    @property
    def auth_port(self) -> int:
        assert self.auth is not None
        return self.auth.port

    @property
    def resolver_port(self) -> int:
        assert self.resolver is not None
        return self.resolver.port

    def stop(self) -> None:
        """Stop everything that was started (unbound, knotd, the silent sockets)."""
        for server in (self.resolver, self.auth):
            if server is not None:
                server.stop()
        self.silent.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def dns_lab_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsLab]:
    """Body of a session fixture; ``dns_lab`` below is that fixture, ready to import."""
    require_binary("knotd")
    require_binary("unbound")
    with DnsLab(tmp_path_factory.mktemp("dnslab")) as lab:
        yield lab


dns_lab = pytest.fixture(scope="session", name="dns_lab")(dns_lab_session)


__all__ = [
    "HOST",
    "AuthoritativeServer",
    "DnsLab",
    "Record",
    "SignedZone",
    "SilentServer",
    "TestZone",
    "ValidatingResolver",
    "dkim_like",
    "dns_lab",
    "dns_lab_session",
    "find_binary",
    "free_port",
    "in_ci",
    "make_zone",
    "require_binary",
    "sign_zone",
    "standard_zone",
    "txt_rdata",
]
