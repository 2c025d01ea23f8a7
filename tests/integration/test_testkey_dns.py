"""``dkimtool testkey`` against real DNS servers: knotd, a validating unbound, a silent server.

One module fixture builds the keys (with ``cryptography``, so ``p=`` is not made by the code
under test), three zones and the servers:

* ``tk.example.``   unsigned, served by knotd: good RSA 1024/2048/4096 and Ed25519 records
  (2048/4096 split into 255-byte strings), a revoked key, a malformed record, a key that
  matches no private key, two DKIM records at one name, h=sha1 only, t=y, a CNAME, an SPF TXT
  next to a key, a wildcard SPF, a record that needs TCP, one over 8 KiB, an A-only name,
  a non-UTF-8 record and a p= that is not base64;
* ``sec.example.``  signed (unbound has its trust anchor): answers are ``secure``;
* ``bogus.example.`` signed, TXT RRSIGs corrupted: ``bogus`` (a problem, exit 1).

Agreement with ``opendkim-testkey`` (Debian opendkim-tools) is checked against the same
knotd; see ``_opendkim_testkey`` for how it is pointed there.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from tests.conftest import CliResult, RunCli
from tests.dnsservers import (
    HOST,
    AuthoritativeServer,
    Record,
    SignedZone,
    SilentServer,
    TestZone,
    ValidatingResolver,
    dkim_like,
    make_zone,
    require_binary,
    sign_zone,
    txt_rdata,
)

pytestmark = pytest.mark.peer

PLAIN = "tk.example"
SECURE = "sec.example"
BOGUS = "bogus.example"
UNVAL = "DNSSEC: not validated"
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def _p(key: PrivateKey) -> str:
    """p= built independently of dkimtool: DER SPKI (RSA) or the 32 raw bytes (Ed25519)."""
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        der = public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:
        der = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(der).decode()


def _record(key: PrivateKey, tags: str = "") -> str:
    kind = "rsa" if isinstance(key, rsa.RSAPrivateKey) else "ed25519"
    return f"v=DKIM1; k={kind}; {tags}p={_p(key)}"


def _write_key(path: Path, key: PrivateKey) -> Path:
    fmt = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if isinstance(key, rsa.RSAPrivateKey)
        else serialization.PrivateFormat.PKCS8
    )
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
    )
    path.chmod(0o600)
    return path


@dataclass(frozen=True)
class Lab:
    auth: AuthoritativeServer
    resolver: ValidatingResolver
    silent: SilentServer
    keydir: Path
    bits: dict[str, int]  # selector -> RSA size of its good key

    @property
    def knot(self) -> str:
        return f"{HOST}:{self.auth.port}"

    @property
    def unbound(self) -> str:
        return f"{HOST}:{self.resolver.port}"

    def key(self, name: str) -> str:
        return str(self.keydir / f"{name}.private")


def _plain_zone(keys: dict[str, PrivateKey], other: PrivateKey) -> str:
    rsa2048 = keys["rsa2048"]
    txt: list[tuple[str, str | bytes]] = [
        ("rsa1024", _record(keys["rsa1024"])),
        ("rsa2048", _record(rsa2048)),
        ("rsa4096", _record(keys["rsa4096"])),
        ("ed", _record(keys["ed"])),
        ("revoked", "v=DKIM1; p="),
        ("malformed", "v=DKIM1; k=rsa; p=MIIB; =oops"),
        ("mismatch", _record(other)),
        ("two", _record(rsa2048)),
        ("two", _record(other)),
        ("sha1", _record(rsa2048, "h=sha1; ")),
        ("testing", _record(rsa2048, "t=y; ")),
        ("withspf", _record(rsa2048)),
        ("withspf", "v=spf1 -all"),
        # A note pads the record past 1232 bytes: no UDP answer can hold it, TCP must.
        ("big", _record(rsa2048, "n=" + "padding" * 180 + "; ")),
        ("huge", dkim_like(9000)),
        ("binary", b"v=DKIM1; n=caf\xe9; p=" + _p(rsa2048).encode()),
        ("badb64", "v=DKIM1; k=rsa; p=not*base64!"),
    ]
    records = [Record(f"{sel}._domainkey", "TXT", txt_rdata(value)) for sel, value in txt]
    records += [
        Record("alias._domainkey", "CNAME", "rsa2048._domainkey"),
        Record("aonly._domainkey", "A", "192.0.2.1"),
        Record("*._domainkey", "TXT", txt_rdata("v=spf1 -all")),
    ]
    return make_zone(PLAIN + ".", records)


def _signed(origin: str, key: PrivateKey, *, broken: bool) -> SignedZone:
    text = make_zone(origin + ".", [Record("rsa2048._domainkey", "TXT", txt_rdata(_record(key)))])
    zone = TestZone(origin + ".", text, {}, {})
    return sign_zone(zone, breakage="corrupt" if broken else "none")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    require_binary("knotd")
    require_binary("unbound")
    work = tmp_path_factory.mktemp("testkey-dns")
    keydir = work / "keys"
    keydir.mkdir()
    bits = {"rsa1024": 1024, "rsa2048": 2048, "rsa4096": 4096}
    keys: dict[str, PrivateKey] = {
        sel: rsa.generate_private_key(public_exponent=65537, key_size=size)
        for sel, size in bits.items()
    }
    keys["ed"] = ed25519.Ed25519PrivateKey.generate()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for name, key in keys.items():
        _write_key(keydir / f"{name}.private", key)
    _write_key(keydir / "other.private", other)
    secure = _signed(SECURE, keys["rsa2048"], broken=False)
    bogus = _signed(BOGUS, keys["rsa2048"], broken=True)
    zones = {PLAIN + ".": _plain_zone(keys, other), secure.origin: secure.text}
    zones[bogus.origin] = bogus.text
    anchors = {PLAIN + ".": None, secure.origin: secure.trust_anchor}
    anchors[bogus.origin] = bogus.trust_anchor
    with (
        AuthoritativeServer(work / "knot", zones) as auth,
        ValidatingResolver(work / "unbound", auth.port, anchors) as resolver,
        SilentServer() as silent,
    ):
        yield Lab(auth, resolver, silent, keydir, bits)


def run_testkey(run_cli: RunCli, *args: str) -> CliResult:
    return run_cli("testkey", *args)


def as_json(result: CliResult) -> dict[str, Any]:
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result
    obj = json.loads(lines[0])
    assert isinstance(obj, dict)
    return obj


def txt_strings(lab: Lab, name: str) -> list[list[bytes]]:
    """The character-strings of each TXT record at NAME, straight from knotd (TCP)."""
    query = dns.message.make_query(name, "TXT")
    resp = dns.query.tcp(query, HOST, port=lab.auth.port, timeout=3)
    rrset = resp.find_rrset(
        resp.answer, query.question[0].name, dns.rdataclass.IN, dns.rdatatype.TXT
    )
    return [list(rd.strings) for rd in rrset]


# --- good keys --------------------------------------------------------------------------------


@pytest.mark.parametrize("selector", ["rsa1024", "rsa2048", "rsa4096", "ed"])
def test_good_keys_are_ok(lab: Lab, run_cli: RunCli, selector: str) -> None:
    name = f"{selector}._domainkey.{PLAIN}"
    args = ("-d", PLAIN, "-s", selector, "-k", lab.key(selector), "--nameserver", lab.knot)
    result = run_testkey(run_cli, *args, "--json")
    assert result.code == 0, result
    report = as_json(result)
    bits = lab.bits.get(selector, 256)
    assert report["name"] == name
    assert report["ok"] is True
    assert report["key_type"] == ("ed25519" if selector == "ed" else "rsa")
    assert report["key_bits"] == bits
    assert report["matches_private_key"] is True
    assert report["problems"] == []
    assert report["dnssec"] == "unvalidated"  # knotd is authoritative: it never sets AD
    assert report["testing"] is False
    if selector == "rsa1024":
        assert report["warnings"] == ["RSA key of 1024 bits: RFC 8301 recommends 2048"]
    else:
        assert report["warnings"] == []

    human = run_testkey(run_cli, *args)
    assert human.code == 0 and human.stderr == ""
    first, *rest = human.stdout.splitlines()
    kind = "ed25519" if selector == "ed" else "rsa"
    assert first == (
        f"{name}: key OK ({kind}, {bits} bits, matches {selector}.private, DNSSEC: not validated)"
    )
    assert len(rest) == len(report["warnings"])
    assert run_testkey(run_cli, *args, "-q") == (0, "", "")


@pytest.mark.parametrize("selector", ["rsa2048", "rsa4096"])
def test_big_rsa_records_really_are_split(lab: Lab, selector: str) -> None:
    """The premise of the test above: the zone holds several strings, dkimtool joins them."""
    (strings,) = txt_strings(lab, f"{selector}._domainkey.{PLAIN}")
    assert len(strings) >= 2
    assert all(len(s) <= 255 for s in strings)


def test_record_over_512_bytes_and_one_needing_tcp(lab: Lab, run_cli: RunCli) -> None:
    name = f"big._domainkey.{PLAIN}"
    (strings,) = txt_strings(lab, name)
    assert sum(map(len, strings)) > 1232
    query = dns.message.make_query(name, "TXT", use_edns=0, payload=1232)
    with pytest.raises(dns.message.Truncated):  # so dkimtool had to ask again over TCP
        dns.query.udp(query, HOST, port=lab.auth.port, timeout=3, raise_on_truncation=True)
    for selector in ("big", "rsa4096"):  # rsa4096: over 512 bytes, within EDNS's 1232
        result = run_testkey(
            run_cli,
            "-d",
            PLAIN,
            "-s",
            selector,
            "-k",
            lab.key("rsa2048" if selector == "big" else "rsa4096"),
            "--nameserver",
            lab.knot,
        )
        assert result.code == 0, result
        assert ": key OK (rsa, " in result.stdout


def test_cname_is_followed_and_shown(lab: Lab, run_cli: RunCli) -> None:
    args = ("-d", PLAIN, "-s", "alias", "-k", lab.key("rsa2048"), "--nameserver", lab.knot)
    result = run_testkey(run_cli, *args)
    assert result.code == 0, result
    assert f"via CNAME rsa2048._domainkey.{PLAIN}" in result.stdout
    report = as_json(run_testkey(run_cli, *args, "--json"))
    assert report["cname_chain"] == [f"rsa2048._domainkey.{PLAIN}"]
    assert report["matches_private_key"] is True


def test_spf_record_next_to_the_key_is_ignored(lab: Lab, run_cli: RunCli) -> None:
    assert len(txt_strings(lab, f"withspf._domainkey.{PLAIN}")) == 2
    result = run_testkey(run_cli, "-d", PLAIN, "-s", "withspf", "--nameserver", lab.knot, "--json")
    assert result.code == 0, result
    assert as_json(result)["record"] == {"v": "DKIM1", "k": "rsa", "p": _p_of(lab, "rsa2048")}


def _p_of(lab: Lab, name: str) -> str:
    key = serialization.load_pem_private_key(Path(lab.key(name)).read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey)
    return _p(key)


def test_testing_mode_is_reported(lab: Lab, run_cli: RunCli) -> None:
    args = ("-d", PLAIN, "-s", "testing", "-k", lab.key("rsa2048"), "--nameserver", lab.knot)
    result = run_testkey(run_cli, *args)
    assert result.code == 0, result
    assert "matches rsa2048.private, testing mode, DNSSEC: not validated)" in result.stdout
    report = as_json(run_testkey(run_cli, *args, "--json"))
    assert report["testing"] is True and report["ok"] is True


# --- problems: exit 1 -------------------------------------------------------------------------

PROBLEMS = {
    # selector: (key file, a fragment of the problem line)
    "revoked": ("rsa2048", "the key is revoked (empty p=)"),
    "malformed": ("rsa2048", "malformed key record"),
    "mismatch": ("rsa2048", "the published key does not match rsa2048.private"),
    "two": ("rsa2048", "2 DKIM key records at the name"),
    "sha1": ("rsa2048", "h=sha1 does not allow sha256"),
    "huge": (None, "over the 8 KiB limit"),
    "binary": (None, "not valid UTF-8"),
    "badb64": (None, "p= is not valid base64"),
    "aonly": (None, "no TXT record (the name exists)"),
    "nosuch": (None, "none with v=DKIM1 or a p= tag"),  # only the wildcard SPF matches
}


@pytest.mark.parametrize("selector", sorted(PROBLEMS))
def test_problems_exit_1(lab: Lab, run_cli: RunCli, selector: str) -> None:
    key, fragment = PROBLEMS[selector]
    args = ["-d", PLAIN, "-s", selector, "--nameserver", lab.knot]
    if key is not None:
        args += ["-k", lab.key(key)]
    result = run_testkey(run_cli, *args)
    assert result.code == 1, result
    assert result.stderr == ""
    first, *rest = result.stdout.splitlines()
    assert first.startswith(f"{selector}._domainkey.{PLAIN}: key NOT usable (")
    assert any(line.startswith("  problem: ") and fragment in line for line in rest), rest
    report = as_json(run_testkey(run_cli, *args, "--json"))
    assert report["ok"] is False
    assert any(fragment in p for p in report["problems"])
    # -q does not hide a problem
    assert run_testkey(run_cli, *args, "-q").stdout == result.stdout


def test_nxdomain_is_no_key(lab: Lab, run_cli: RunCli) -> None:
    domain = f"nx.{PLAIN}"  # below no wildcard
    result = run_testkey(run_cli, "-d", domain, "-s", "mail", "--nameserver", lab.knot)
    assert result.code == 1, result
    assert result.stdout.splitlines() == [
        f"mail._domainkey.{domain}: key NOT usable (DNSSEC: unknown (no record))",
        f"  problem: no key record: mail._domainkey.{domain}: no such name (NXDOMAIN)",
    ]


def test_mismatch_details(lab: Lab, run_cli: RunCli) -> None:
    args = ("-d", PLAIN, "-s", "mismatch", "-k", lab.key("rsa2048"), "--nameserver", lab.knot)
    report = as_json(run_testkey(run_cli, *args, "--json"))
    assert report["matches_private_key"] is False
    assert report["key_type"] == "rsa" and report["key_bits"] == 2048
    # and the mismatched record is fine with its own key
    result = run_testkey(
        run_cli, "-d", PLAIN, "-s", "mismatch", "-k", lab.key("other"), "--nameserver", lab.knot
    )
    assert result.code == 0, result


# --- temporary failures: exit 75 ---------------------------------------------------------------


def test_silent_server_times_out_within_the_budget(lab: Lab, tmp_path: Path) -> None:
    """The whole process, start-up included, ends within --timeout plus a little."""
    timeout = 1.5
    argv = [sys.executable, "-m", "dkimtool", "testkey", "-d", PLAIN, "-s", "rsa2048"]
    argv += ["--nameserver", f"{HOST}:{lab.silent.port}", "--timeout", str(timeout)]
    start = time.monotonic()
    proc = subprocess.run(
        argv, check=False, capture_output=True, text=True, cwd=tmp_path, timeout=30
    )
    elapsed = time.monotonic() - start
    assert proc.returncode == 75, proc
    assert proc.stdout == ""
    assert proc.stderr.startswith("dkimtool: error: ")
    assert "timed out" in proc.stderr
    assert timeout - 0.1 <= elapsed <= timeout + 1.5, elapsed


def test_two_silent_servers_share_one_budget(lab: Lab, run_cli: RunCli) -> None:
    with SilentServer() as second:
        start = time.monotonic()
        result = run_testkey(
            run_cli,
            "-d",
            PLAIN,
            "-s",
            "rsa2048",
            "--timeout",
            "1",
            "--nameserver",
            f"{HOST}:{lab.silent.port}",
            "--nameserver",
            f"{HOST}:{second.port}",
        )
        elapsed = time.monotonic() - start
    assert result.code == 75, result
    assert elapsed <= 1 + 1.0, elapsed
    assert str(second.port) in result.stderr  # both were asked


def test_refused_is_temporary(lab: Lab, run_cli: RunCli) -> None:
    """knotd is not authoritative for other.invalid: REFUSED, not "no key"."""
    result = run_testkey(run_cli, "-d", "other.invalid", "-s", "mail", "--nameserver", lab.knot)
    assert result.code == 75, result
    assert "REFUSED" in result.stderr
    assert result.stdout == ""


def test_ipv6_bracket_form_is_parsed(lab: Lab, run_cli: RunCli) -> None:
    """Nothing listens on [::1]:PORT (or there is no IPv6): the address was still parsed."""
    port = lab.silent.port
    result = run_testkey(
        run_cli, "-d", PLAIN, "-s", "rsa2048", "--timeout", "0.5", "--nameserver", f"[::1]:{port}"
    )
    assert result.code == 75, result
    assert f"[::1]:{port}" in result.stderr


# --- DNSSEC through the validating resolver ---------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "status", "words", "code"),
    [
        (SECURE, "secure", "DNSSEC: secure", 0),
        (PLAIN, "unvalidated", "DNSSEC: not validated", 0),
        (BOGUS, "bogus", "DNSSEC: bogus (validation failed)", 1),
    ],
)
def test_dnssec_status(
    lab: Lab, run_cli: RunCli, domain: str, status: str, words: str, code: int
) -> None:
    args = ("-d", domain, "-s", "rsa2048", "-k", lab.key("rsa2048"), "--nameserver", lab.unbound)
    report = as_json(run_testkey(run_cli, *args, "--json"))
    assert report["dnssec"] == status
    assert report["matches_private_key"] is True  # bogus data is still shown (asked with CD)
    bogus_problems = [p for p in report["problems"] if "DNSSEC" in p]
    assert bool(bogus_problems) == (status == "bogus")
    human = run_testkey(run_cli, *args)
    assert human.code == code, human
    assert words + ")" in human.stdout.splitlines()[0]
    assert "key file" not in human.stdout  # DNSSEC words must not read like file permissions


def test_dnssec_bogus_proof_the_resolver_refuses_it(lab: Lab) -> None:
    """The premise: unbound says SERVFAIL for the bogus zone, and answers with CD set."""
    name = f"rsa2048._domainkey.{BOGUS}"
    query = dns.message.make_query(name, "TXT", want_dnssec=True)
    resp = dns.query.tcp(query, HOST, port=lab.resolver.port, timeout=3)
    assert resp.rcode() == dns.rcode.SERVFAIL
    query.flags |= dns.flags.CD
    resp = dns.query.tcp(query, HOST, port=lab.resolver.port, timeout=3)
    assert resp.rcode() == dns.rcode.NOERROR and resp.answer


# --- configuration: KeyTable and Nameservers from the file ------------------------------------


def test_key_table_tests_every_entry(lab: Lab, run_cli: RunCli, tmp_path: Path) -> None:
    table = tmp_path / "KeyTable"
    table.write_text(
        f"rsa  {PLAIN}:rsa2048:{lab.key('rsa2048')}\n# a comment\ned   {PLAIN}:ed:{lab.key('ed')}\n"
    )
    conf = tmp_path / "opendkim.conf"
    conf.write_text(
        f"Syslog yes\nKeyTable refile:{table}\nSigningTable refile:/nonexistent\n"
        f"Nameservers {lab.knot}\nDNSTimeout 3\n"
    )
    result = run_testkey(run_cli, "-x", str(conf))
    assert result.code == 0, result
    assert result.stdout.splitlines() == [
        f"rsa2048._domainkey.{PLAIN}: key OK (rsa, 2048 bits, matches rsa2048.private, {UNVAL})",
        f"ed._domainkey.{PLAIN}: key OK (ed25519, 256 bits, matches ed.private, {UNVAL})",
    ]
    # one bad entry makes the run fail, and the good ones are still reported
    table.write_text(table.read_text() + f"bad {PLAIN}:mismatch:{lab.key('rsa2048')}\n")
    result = run_testkey(run_cli, "-x", str(conf), "--json")
    assert result.code == 1, result
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["ok"] for r in reports] == [True, True, False]
    # -s picks entries from the table
    result = run_testkey(run_cli, "-x", str(conf), "-s", "ed")
    assert result.code == 0 and result.stdout.startswith(f"ed._domainkey.{PLAIN}: key OK")
    assert len(result.stdout.splitlines()) == 1


# --- agreement with opendkim-testkey ------------------------------------------------------------


def _opendkim_testkey(lab: Lab, workdir: Path, selector: str, key: str) -> tuple[int, str]:
    """Run opendkim-testkey against the same knotd.

    Its libunbound resolver needs an unbound config (``ResolverConfiguration``), because the
    ``Nameservers`` setting alone cannot work here: libunbound refuses to query 127.0.0.1 by
    default (``do-not-query-localhost``), so it would answer "record not found" without sending
    a packet. The config stubs tk.example. to knotd; no trust anchor, so no validation.
    """
    binary = require_binary("opendkim-testkey")
    ub = workdir / "libunbound.conf"
    ub.write_text(
        'server:\n    do-not-query-localhost: no\n    module-config: "iterator"\n'
        f'    local-zone: "{PLAIN}." transparent\n'
        f'stub-zone:\n    name: "{PLAIN}."\n    stub-addr: {HOST}@{lab.auth.port}\n'
    )
    conf = workdir / "opendkim-testkey.conf"
    conf.write_text(f"ResolverConfiguration {ub}\n")
    proc = subprocess.run(
        [binary, "-x", str(conf), "-d", PLAIN, "-s", selector, "-k", lab.key(key), "-vvv"],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "LC_ALL": "C"},
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("selector", "key", "ours", "theirs"),
    [
        ("rsa1024", "rsa1024", 0, 0),
        ("rsa2048", "rsa2048", 0, 0),
        ("rsa4096", "rsa4096", 0, 0),
        ("mismatch", "rsa2048", 1, 65),
        # Differences, each asserted so that a change on either side is noticed:
        # opendkim-testkey checks no h= (sha1-only passes there; receivers using sha256 fail);
        ("sha1", "rsa2048", 1, 0),
        # it cannot load an Ed25519 public key for the comparison (EVP_PKEY_get1_RSA fails);
        ("ed", "ed", 0, 69),
        # and several records are its "multiple DNS replies", ours "2 DKIM key records".
        ("two", "rsa2048", 1, 69),
    ],
)
def test_agreement_with_opendkim_testkey(
    lab: Lab, run_cli: RunCli, tmp_path: Path, selector: str, key: str, ours: int, theirs: int
) -> None:
    code, output = _opendkim_testkey(lab, tmp_path, selector, key)
    result = run_testkey(
        run_cli, "-d", PLAIN, "-s", selector, "-k", lab.key(key), "--nameserver", lab.knot
    )
    assert result.code == ours, result
    assert code == theirs, output
    if theirs == 0:
        assert "key OK" in output
    if selector == "mismatch":
        assert "keys do not match" in output
    if selector == "rsa1024":  # no key-size opinion there; a warning here
        assert "bits" not in output
        assert "warning: RSA key of 1024 bits" in result.stdout
    if selector == "ed":
        assert "expecting an rsa key" in output
