"""The DNS test servers themselves: knotd answers, unbound validates, the silent server is silent."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import pytest

from tests.dnsservers import (
    HOST,
    AuthoritativeServer,
    DnsLab,
    SilentServer,
    TestZone,
    dns_lab_session,
    require_binary,
    standard_zone,
    txt_rdata,
)

pytestmark = pytest.mark.peer


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsLab]:
    yield from dns_lab_session(tmp_path_factory)


def ask(
    port: int,
    name: str,
    *,
    rdtype: str = "TXT",
    dnssec: bool = False,
    cd: bool = False,
    rd: bool = True,
    edns: bool = True,
) -> dns.message.Message:
    """One query, UDP first and TCP on truncation (the way a stub resolver does it)."""
    q = dns.message.make_query(
        name, rdtype, use_edns=0 if edns else False, payload=1232, want_dnssec=dnssec
    )
    if cd:
        q.flags |= dns.flags.CD
    if not rd:
        q.flags &= ~dns.flags.RD
    try:
        return dns.query.udp(q, HOST, port=port, timeout=3, raise_on_truncation=True)
    except dns.message.Truncated:
        return dns.query.tcp(q, HOST, port=port, timeout=3)


def txt_values(resp: dns.message.Message, name: str) -> list[bytes]:
    """The TXT records at the end of ``name``'s CNAME chain, strings joined."""
    owner = dns.name.from_text(name)
    for _ in range(10):
        cname = resp.get_rrset(resp.answer, owner, dns.rdataclass.IN, dns.rdatatype.CNAME)
        if cname is None:
            break
        owner = cname[0].target
    rrset = resp.get_rrset(resp.answer, owner, dns.rdataclass.IN, dns.rdatatype.TXT)
    if rrset is None:
        return []
    return sorted(b"".join(rd.strings) for rd in rrset)


# --- policy and zone text helpers ------------------------------------------------------------


def test_require_binary_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="no-such-daemon-xyz not found"):
        require_binary("no-such-daemon-xyz")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_binary("no-such-daemon-xyz")


def test_txt_rdata_splits_into_255_byte_strings_and_escapes() -> None:
    value = bytes(range(256)) * 3  # every byte value, 768 bytes, not UTF-8
    text = txt_rdata(value)
    rdata = dns.rdata.from_text("IN", "TXT", text)
    assert isinstance(rdata, dns.rdtypes.ANY.TXT.TXT)
    assert [len(s) for s in rdata.strings] == [255, 255, 255, 3]
    assert b"".join(rdata.strings) == value
    assert txt_rdata('say "hi" \\') == r'"say \"hi\" \\"'


# --- knotd, authoritative ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role", ["multi", "big", "over512", "huge", "binary", "two", "target", "wildcard", "spf"]
)
def test_knot_serves_every_txt_of_the_standard_zone(lab: DnsLab, role: str) -> None:
    zone = lab.plain
    name = zone.name(role)
    resp = ask(lab.auth_port, name, rd=False)
    assert resp.rcode() == dns.rcode.NOERROR
    assert resp.flags & dns.flags.AA
    assert txt_values(resp, name) == sorted(zone.txt[name])


def test_multi_string_record_arrives_as_255_byte_strings(lab: DnsLab) -> None:
    name = lab.plain.name("multi")
    resp = ask(lab.auth_port, name, rd=False)
    (rd,) = resp.answer[0]
    assert [len(s) for s in rd.strings] == [255, 155]


def test_big_record_is_truncated_over_udp_and_complete_over_tcp(lab: DnsLab) -> None:
    name = lab.plain.name("big")
    q = dns.message.make_query(name, "TXT", use_edns=0, payload=1232)
    udp = dns.query.udp(q, HOST, port=lab.auth_port, timeout=3)
    assert udp.flags & dns.flags.TC
    tcp = dns.query.tcp(q, HOST, port=lab.auth_port, timeout=3)
    assert not tcp.flags & dns.flags.TC
    assert txt_values(tcp, name) == lab.plain.txt[name]
    assert len(tcp.to_wire()) > 1232


def test_over512_record_needs_tcp_without_edns_only(lab: DnsLab) -> None:
    name = lab.plain.name("over512")
    plain = dns.message.make_query(name, "TXT", use_edns=False)
    assert dns.query.udp(plain, HOST, port=lab.auth_port, timeout=3).flags & dns.flags.TC
    edns = dns.message.make_query(name, "TXT", use_edns=0, payload=1232)
    resp = dns.query.udp(edns, HOST, port=lab.auth_port, timeout=3)
    assert not resp.flags & dns.flags.TC
    assert txt_values(resp, name) == lab.plain.txt[name]


def test_huge_record_is_over_8_kib(lab: DnsLab) -> None:
    name = lab.plain.name("huge")
    (value,) = txt_values(ask(lab.auth_port, name, rd=False), name)
    assert len(value) > 8192


def test_binary_record_is_not_utf8(lab: DnsLab) -> None:
    name = lab.plain.name("binary")
    (value,) = txt_values(ask(lab.auth_port, name, rd=False), name)
    with pytest.raises(UnicodeDecodeError):
        value.decode("utf-8")


def test_a_only_name_has_no_txt(lab: DnsLab) -> None:
    name = lab.plain.name("aonly")
    resp = ask(lab.auth_port, name, rd=False)
    assert resp.rcode() == dns.rcode.NOERROR
    assert resp.answer == []
    assert ask(lab.auth_port, name, rdtype="A", rd=False).answer[0][0].address == "192.0.2.1"


def test_missing_name_is_nxdomain_but_wildcard_covers_other_names(lab: DnsLab) -> None:
    assert ask(lab.auth_port, lab.plain.name("missing"), rd=False).rcode() == dns.rcode.NXDOMAIN
    wild = lab.plain.name("wildcard")
    assert txt_values(ask(lab.auth_port, wild, rd=False), wild) == [b"v=spf1 -all"]


def test_cname_chain_is_in_the_answer(lab: DnsLab) -> None:
    zone = lab.plain
    name = zone.name("cname")
    resp = ask(lab.auth_port, name, rd=False)
    cnames = [str(r[0].target).rstrip(".") for r in resp.answer if r.rdtype == dns.rdatatype.CNAME]
    assert cnames == zone.cname_chain[name]
    assert txt_values(resp, name) == zone.txt[zone.name("target")]


def test_dangling_cname_is_nxdomain(lab: DnsLab) -> None:
    resp = ask(lab.auth_port, lab.plain.name("dangling"), rd=False)
    assert resp.rcode() == dns.rcode.NXDOMAIN
    assert resp.answer[0].rdtype == dns.rdatatype.CNAME


def test_knot_direct_answers_are_authoritative_without_ad(lab: DnsLab) -> None:
    name = lab.secure.zone.name("multi")
    resp = ask(lab.auth_port, name, dnssec=True, rd=False)
    assert resp.flags & dns.flags.AA
    assert not resp.flags & dns.flags.AD
    assert any(r.rdtype == dns.rdatatype.RRSIG for r in resp.answer)


# --- unbound, validating -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["multi", "huge", "cname", "wildcard", "two"])
def test_secure_zone_answers_have_ad(lab: DnsLab, role: str) -> None:
    zone = lab.secure.zone
    name = zone.name(role)
    resp = ask(lab.resolver_port, name, dnssec=True)
    assert resp.rcode() == dns.rcode.NOERROR
    assert resp.flags & dns.flags.AD
    assert txt_values(resp, name) == sorted(zone.txt[name])


def test_secure_zone_nxdomain_and_nodata_are_authenticated(lab: DnsLab) -> None:
    zone = lab.secure.zone
    nx = ask(lab.resolver_port, zone.name("missing"), dnssec=True)
    assert nx.rcode() == dns.rcode.NXDOMAIN
    assert nx.flags & dns.flags.AD
    nodata = ask(lab.resolver_port, zone.name("aonly"), dnssec=True)
    assert nodata.rcode() == dns.rcode.NOERROR
    assert nodata.answer == []
    assert nodata.flags & dns.flags.AD


def test_unsigned_zone_resolves_without_ad(lab: DnsLab) -> None:
    name = lab.plain.name("multi")
    resp = ask(lab.resolver_port, name, dnssec=True)
    assert resp.rcode() == dns.rcode.NOERROR
    assert not resp.flags & dns.flags.AD
    assert txt_values(resp, name) == lab.plain.txt[name]


@pytest.mark.parametrize("which", ["bogus", "corrupt"])
def test_bogus_zone_is_servfail_and_resolves_only_with_cd(lab: DnsLab, which: str) -> None:
    zone: TestZone = getattr(lab, which).zone
    name = zone.name("multi")
    resp = ask(lab.resolver_port, name, dnssec=True)
    assert resp.rcode() == dns.rcode.SERVFAIL
    with_cd = ask(lab.resolver_port, name, dnssec=True, cd=True)
    assert with_cd.rcode() == dns.rcode.NOERROR
    assert not with_cd.flags & dns.flags.AD
    assert txt_values(with_cd, name) == zone.txt[name]


def test_resolver_refuses_names_outside_the_test_zones(lab: DnsLab) -> None:
    assert ask(lab.resolver_port, "example.com").rcode() == dns.rcode.REFUSED


# --- the silent server ---------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_silent_server_times_out(lab: DnsLab, transport: str) -> None:
    q = dns.message.make_query("example.", "SOA")
    start = time.monotonic()
    with pytest.raises(dns.exception.Timeout):
        if transport == "udp":
            dns.query.udp(q, HOST, port=lab.silent.port, timeout=0.3)
        else:
            dns.query.tcp(q, HOST, port=lab.silent.port, timeout=0.3)
    assert 0.25 < time.monotonic() - start < 1.0


def test_silent_server_context_manager_releases_the_port() -> None:
    with SilentServer() as silent:
        port = silent.port
        assert port >= 1024
    with SilentServer():  # a fresh one starts fine afterwards
        pass
    assert port


# --- lifecycle -----------------------------------------------------------------------------------


def test_knot_starts_fast_and_stops_by_pid(tmp_path: Path) -> None:
    zone = standard_zone("life.test.")
    start = time.monotonic()
    with AuthoritativeServer(tmp_path, {zone.origin: zone.text}) as auth:
        elapsed = time.monotonic() - start
        pid = auth.pid
        assert auth.running
        assert ask(auth.port, zone.name("multi"), rd=False).rcode() == dns.rcode.NOERROR
        assert (tmp_path / "run").is_dir()
        assert (tmp_path / "db").is_dir()
    assert elapsed < 3.0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_broken_config_fails_at_once_with_the_log(tmp_path: Path) -> None:
    require_binary("knotd")
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="knotd did not start"):
        AuthoritativeServer(tmp_path, {"bad.test.": "this is not a zone file\n"})
    assert time.monotonic() - start < 5.0
