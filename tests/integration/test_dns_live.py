"""dkimtool.core.dns against real servers: knotd (authoritative) and unbound (validating)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from dkimtool.core.dns import (
    DnsResolver,
    DnsServerFailure,
    DnsTimeout,
    KeyCache,
    Nameserver,
    parse_nameserver,
)
from dkimtool.core.errors import DnsNotFound, DnsTempError
from tests.dnsservers import DnsLab, dns_lab_session

pytestmark = pytest.mark.peer


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsLab]:
    yield from dns_lab_session(tmp_path_factory)


@pytest.fixture
def knot(lab: DnsLab) -> DnsResolver:
    """Straight to the authoritative server, parsed from IP:PORT as --nameserver does."""
    return DnsResolver([parse_nameserver(f"127.0.0.1:{lab.auth_port}")], timeout=3)


@pytest.fixture
def unbound(lab: DnsLab) -> DnsResolver:
    return DnsResolver(
        [parse_nameserver(f"127.0.0.1:{lab.resolver_port}")], timeout=3, want_dnssec=True
    )


def test_ip_port_parsing_is_used_for_real(lab: DnsLab) -> None:
    server = parse_nameserver(f"127.0.0.1:{lab.auth_port}")
    assert server == Nameserver("127.0.0.1", lab.auth_port)
    name = lab.plain.name("target")
    assert DnsResolver([server]).lookup_txt(name).records == lab.plain.txt[name]


@pytest.mark.parametrize("role", ["multi", "over512", "binary", "target", "spf", "wildcard"])
def test_records_arrive_whole_as_bytes(knot: DnsResolver, lab: DnsLab, role: str) -> None:
    name = lab.plain.name(role)
    answer = knot.lookup_txt(name)
    assert answer.records == lab.plain.txt[name]
    assert answer.name == name
    assert answer.cname_chain == []
    assert answer.authenticated is None


def test_multi_string_record_is_reassembled(knot: DnsResolver, lab: DnsLab) -> None:
    name = lab.plain.name("multi")
    (record,) = knot.lookup_txt(name).records
    assert len(record) == 410  # served as a 255-byte and a 155-byte string


@pytest.mark.parametrize("role", ["big", "huge"])
def test_big_records_come_over_tcp_after_truncation(
    knot: DnsResolver, lab: DnsLab, role: str, caplog: pytest.LogCaptureFixture
) -> None:
    name = lab.plain.name(role)
    with caplog.at_level(logging.DEBUG, logger="dkimtool.core.dns"):
        (record,) = knot.lookup_txt(name).records
    assert record == lab.plain.txt[name][0]
    assert len(record) > 1232
    assert "retrying over TCP" in caplog.text


def test_two_records_at_one_name(knot: DnsResolver, lab: DnsLab) -> None:
    name = lab.plain.name("two")
    assert sorted(knot.lookup_txt(name).records) == sorted(lab.plain.txt[name])


def test_nxdomain(knot: DnsResolver, lab: DnsLab) -> None:
    with pytest.raises(DnsNotFound, match="NXDOMAIN"):
        knot.lookup_txt(lab.plain.name("missing"))


def test_a_only_name_has_no_txt_record(knot: DnsResolver, lab: DnsLab) -> None:
    with pytest.raises(DnsNotFound, match="no TXT record"):
        knot.lookup_txt(lab.plain.name("aonly"))


@pytest.mark.parametrize("role", ["cname", "alias"])
def test_cname_chain_is_followed_and_reported(
    lab: DnsLab, knot: DnsResolver, unbound: DnsResolver, role: str
) -> None:
    name = lab.plain.name(role)
    for resolver in (knot, unbound):
        answer = resolver.lookup_txt(name)
        assert answer.records == lab.plain.txt[name]
        assert answer.cname_chain == lab.plain.cname_chain[name]


def test_dangling_cname_is_nxdomain_of_the_target(knot: DnsResolver, lab: DnsLab) -> None:
    with pytest.raises(DnsNotFound, match=r"nowhere\._domainkey\.example: no such name"):
        knot.lookup_txt(lab.plain.name("dangling"))


def test_cname_loop_from_the_authoritative_server_is_not_found(
    knot: DnsResolver, lab: DnsLab
) -> None:
    with pytest.raises(DnsNotFound, match="CNAME loop"):
        knot.lookup_txt(lab.plain.name("loop"))


# --- DNSSEC through unbound ----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["multi", "huge", "cname", "two"])
def test_secure_zone_is_authenticated(unbound: DnsResolver, lab: DnsLab, role: str) -> None:
    zone = lab.secure.zone
    name = zone.name(role)
    answer = unbound.lookup_txt(name)
    assert answer.authenticated is True
    assert sorted(answer.records) == sorted(zone.txt[name])
    assert unbound.check_bogus(name) is False


def test_unsigned_zone_is_not_authenticated(unbound: DnsResolver, lab: DnsLab) -> None:
    name = lab.plain.name("multi")
    assert unbound.lookup_txt(name).authenticated is False
    assert unbound.check_bogus(name) is False


def test_authoritative_server_never_sets_ad(lab: DnsLab) -> None:
    resolver = DnsResolver([Nameserver("127.0.0.1", lab.auth_port)], want_dnssec=True)
    assert resolver.lookup_txt(lab.secure.zone.name("multi")).authenticated is False


@pytest.mark.parametrize("which", ["bogus", "corrupt"])
def test_bogus_zone_is_servfail_then_detected(
    unbound: DnsResolver, lab: DnsLab, which: str
) -> None:
    zone = lab.bogus.zone if which == "bogus" else lab.corrupt.zone
    name = zone.name("multi")
    with pytest.raises(DnsServerFailure) as info:
        unbound.lookup_txt(name)
    assert info.value.rcode == "SERVFAIL"
    assert unbound.check_bogus(name) is True
    unchecked = unbound.lookup_txt(name, checking_disabled=True)
    assert unchecked.records == zone.txt[name]
    assert unchecked.authenticated is False


def test_nxdomain_in_secure_zone(unbound: DnsResolver, lab: DnsLab) -> None:
    with pytest.raises(DnsNotFound, match="NXDOMAIN"):
        unbound.lookup_txt(lab.secure.zone.name("missing"))


# --- timeouts ------------------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [0.5, 1.0])
def test_silent_server_times_out_within_the_budget(lab: DnsLab, timeout: float) -> None:
    resolver = DnsResolver([parse_nameserver(f"127.0.0.1:{lab.silent.port}")], timeout=timeout)
    start = time.monotonic()
    with pytest.raises(DnsTimeout):
        resolver.lookup_txt(lab.plain.name("multi"))
    elapsed = time.monotonic() - start
    assert timeout * 0.9 <= elapsed <= timeout + 0.3


def test_two_silent_servers_share_one_budget(lab: DnsLab) -> None:
    silent = Nameserver("127.0.0.1", lab.silent.port)
    resolver = DnsResolver([silent, silent], timeout=1.0)
    start = time.monotonic()
    with pytest.raises(DnsTempError):
        resolver.lookup_txt(lab.plain.name("multi"))
    assert time.monotonic() - start <= 1.3


def test_check_bogus_against_a_silent_server_is_temporary(lab: DnsLab) -> None:
    resolver = DnsResolver([Nameserver("127.0.0.1", lab.silent.port)], timeout=0.5)
    start = time.monotonic()
    with pytest.raises(DnsTimeout):
        resolver.check_bogus(lab.secure.zone.name("multi"))
    assert time.monotonic() - start <= 0.8


def test_a_silent_first_server_falls_back_to_a_working_one(lab: DnsLab) -> None:
    resolver = DnsResolver(
        [Nameserver("127.0.0.1", lab.silent.port), Nameserver("127.0.0.1", lab.auth_port)],
        timeout=2.0,
    )
    start = time.monotonic()
    name = lab.plain.name("big")  # UDP on the silent one, then UDP+TCP on knot
    assert resolver.lookup_txt(name).records == lab.plain.txt[name]
    assert time.monotonic() - start < 1.0  # the silent server got 2 s / 4 tries


# --- cache ---------------------------------------------------------------------------------------


def test_cache_over_the_real_resolver(knot: DnsResolver, lab: DnsLab) -> None:
    cache = KeyCache(knot)
    name = lab.plain.name("multi")
    assert cache.lookup_txt(name).records == cache.lookup_txt(name.upper()).records
    for _ in range(2):
        with pytest.raises(DnsNotFound):
            cache.lookup_txt(lab.plain.name("missing"))
    assert (cache.hits, cache.misses) == (2, 2)
