"""dkimtool.core.dns against a fake transport and a fake clock (no sockets)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.resolver
import dns.rrset
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dkimtool.core.dns import (
    EDNS_PAYLOAD,
    MAX_CNAMES,
    DnsResolver,
    DnsServerFailure,
    DnsTimeout,
    KeyCache,
    Nameserver,
    TxtAnswer,
    parse_nameserver,
)
from dkimtool.core.errors import DnsNotFound, DnsTempError

NS1 = Nameserver("192.0.2.1")
NS2 = Nameserver("192.0.2.2", 5353)
NS3 = Nameserver("2001:db8::3")

Reply = Callable[[dns.message.Message], dns.message.Message]


# --- fakes ---------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Call:
    transport: str
    server: Nameserver
    timeout: float
    query: dns.message.Message


@dataclass
class FakeTransport:
    """Answers per server: a Reply, "timeout" (uses up the timeout), "oserror", or "truncate"."""

    clock: Clock
    behaviour: dict[Nameserver, Reply | str] = field(default_factory=dict)
    tcp_reply: Reply | None = None
    calls: list[Call] = field(default_factory=list)

    def udp(
        self, query: dns.message.Message, server: Nameserver, timeout: float
    ) -> dns.message.Message:
        self.calls.append(Call("udp", server, timeout, query))
        action = self.behaviour.get(server, "timeout")
        if action == "timeout":
            self.clock.now += timeout
            raise dns.exception.Timeout
        if action == "oserror":
            raise ConnectionRefusedError(111, "Connection refused")
        if action == "truncate":
            resp = dns.message.make_response(query)
            resp.flags |= dns.flags.TC
            raise dns.message.Truncated(message=resp)  # type: ignore[no-untyped-call]
        assert callable(action)
        self.clock.now += 0.01
        return wire(action(query))

    def tcp(
        self, query: dns.message.Message, server: Nameserver, timeout: float
    ) -> dns.message.Message:
        self.calls.append(Call("tcp", server, timeout, query))
        assert self.tcp_reply is not None
        return wire(self.tcp_reply(query))


def wire(resp: dns.message.Message) -> dns.message.Message:
    """What the network would deliver: the response rendered and parsed again."""
    return dns.message.from_wire(resp.to_wire())


def answer(
    *records: tuple[str, str, str], rcode: dns.rcode.Rcode = dns.rcode.NOERROR, ad: bool = False
) -> Reply:
    """A Reply with answer RRs given as (owner, type, rdata text)."""

    def reply(query: dns.message.Message) -> dns.message.Message:
        resp = dns.message.make_response(query)
        resp.set_rcode(rcode)
        if ad:
            resp.flags |= dns.flags.AD
        grouped: dict[tuple[str, str], list[str]] = {}
        for owner, rdtype, rdata in records:
            absolute = owner if owner.endswith(".") else owner + "."
            grouped.setdefault((absolute, rdtype), []).append(rdata)
        for (owner, rdtype), rdatas in grouped.items():
            resp.answer.append(dns.rrset.from_text_list(owner, 300, "IN", rdtype, rdatas))
        return resp

    return reply


def by_qname(table: dict[str, Reply]) -> Reply:
    def reply(query: dns.message.Message) -> dns.message.Message:
        return table[query.question[0].name.to_text(omit_final_dot=True)](query)

    return reply


def make(
    behaviour: dict[Nameserver, Reply | str],
    *,
    timeout: float = 5.0,
    dnssec: bool = False,
    tcp_reply: Reply | None = None,
) -> tuple[DnsResolver, FakeTransport, Clock]:
    clock = Clock()
    transport = FakeTransport(clock, behaviour, tcp_reply)
    resolver = DnsResolver(
        list(behaviour), timeout=timeout, want_dnssec=dnssec, transport=transport, clock=clock
    )
    return resolver, transport, clock


NAME = "sel._domainkey.example.com"


# --- parse_nameserver ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.1", Nameserver("192.0.2.1", 53)),
        ("192.0.2.1:5353", Nameserver("192.0.2.1", 5353)),
        (" 127.0.0.1:53 ", Nameserver("127.0.0.1", 53)),
        ("2001:db8::1", Nameserver("2001:db8::1", 53)),
        ("2001:DB8:0::1", Nameserver("2001:db8::1", 53)),
        ("[2001:db8::1]:5300", Nameserver("2001:db8::1", 5300)),
        ("[::1]", Nameserver("::1", 53)),
        ("::1", Nameserver("::1", 53)),
    ],
)
def test_parse_nameserver_accepts(text: str, expected: Nameserver) -> None:
    assert parse_nameserver(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("ns.example.com", "not an IP address"),
        ("ns.example.com:53", "not an IP address"),
        ("192.0.2.1:0", "port must be"),
        ("192.0.2.1:65536", "port must be"),
        ("192.0.2.1:", "port must be"),
        ("192.0.2.1:x", "port must be"),
        ("192.0.2.1:\u0663", "port must be"),  # an Arabic-Indic digit is not a port
        ("[192.0.2.1]:53", "only IPv6"),
        ("[::1", "missing ']'"),
        ("[::1]53", "expected ':PORT'"),
        ("300.1.1.1", "not an IP address"),
    ],
)
def test_parse_nameserver_rejects_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_nameserver(text)


def test_nameserver_str() -> None:
    assert str(Nameserver("192.0.2.1")) == "192.0.2.1:53"
    assert str(Nameserver("::1", 5353)) == "[::1]:5353"


@given(
    st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)),
    st.integers(min_value=1, max_value=65535),
)
def test_nameserver_str_round_trips(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int
) -> None:
    server = Nameserver(str(address), port)
    assert parse_nameserver(str(server)) == server


# --- answers -------------------------------------------------------------------------------------


def test_multi_string_txt_is_joined_and_stays_bytes() -> None:
    resolver, _, _ = make({NS1: answer((NAME, "TXT", '"v=DKIM1; p=abc" "def" "\\255\\000"'))})
    result = resolver.lookup_txt(NAME)
    assert result == TxtAnswer(NAME, [b"v=DKIM1; p=abcdef\xff\x00"], [], None)


def test_two_txt_records_stay_separate() -> None:
    resolver, _, _ = make({NS1: answer((NAME, "TXT", '"one"'), (NAME, "TXT", '"two"'))})
    assert sorted(resolver.lookup_txt(NAME).records) == [b"one", b"two"]


def test_nxdomain_is_not_found() -> None:
    resolver, _, _ = make({NS1: answer(rcode=dns.rcode.NXDOMAIN)})
    with pytest.raises(DnsNotFound, match=r"no such name \(NXDOMAIN\)"):
        resolver.lookup_txt(NAME)


def test_noerror_without_txt_says_there_is_no_txt_record() -> None:
    resolver, _, _ = make({NS1: answer()})
    with pytest.raises(DnsNotFound, match="no TXT record"):
        resolver.lookup_txt(NAME)


def test_txt_of_another_owner_is_ignored() -> None:
    resolver, _, _ = make({NS1: answer(("other.example.com", "TXT", '"x"'))})
    with pytest.raises(DnsNotFound, match="no TXT record"):
        resolver.lookup_txt(NAME)


def test_invalid_name_is_not_found() -> None:
    resolver, transport, _ = make({NS1: answer()})
    with pytest.raises(DnsNotFound, match="not a valid DNS name"):
        resolver.lookup_txt("a" * 64 + ".example")
    assert transport.calls == []


def test_trailing_dot_and_name_as_asked() -> None:
    resolver, _, _ = make({NS1: answer((NAME, "TXT", '"x"'))})
    assert resolver.lookup_txt(NAME + ".").name == NAME + "."


# --- rcodes and servers --------------------------------------------------------------------------


@pytest.mark.parametrize("rcode", [dns.rcode.SERVFAIL, dns.rcode.REFUSED])
def test_error_rcodes_from_every_server_are_temporary(rcode: dns.rcode.Rcode) -> None:
    resolver, transport, _ = make({NS1: answer(rcode=rcode), NS2: answer(rcode=rcode)})
    with pytest.raises(DnsServerFailure) as info:
        resolver.lookup_txt(NAME)
    assert isinstance(info.value, DnsTempError)
    assert info.value.rcode == dns.rcode.to_text(rcode)
    assert [c.server for c in transport.calls] == [NS1, NS2]  # an rcode is not retried


def test_servfail_then_a_good_server_answers() -> None:
    resolver, _, _ = make(
        {NS1: answer(rcode=dns.rcode.SERVFAIL), NS2: answer((NAME, "TXT", '"ok"'))}
    )
    assert resolver.lookup_txt(NAME).records == [b"ok"]


def test_a_referral_is_not_an_answer() -> None:
    def referral(query: dns.message.Message) -> dns.message.Message:
        resp = dns.message.make_response(query)
        resp.flags &= ~dns.flags.AA
        resp.authority.append(dns.rrset.from_text("example.com.", 300, "IN", "NS", "ns.example."))
        return resp

    resolver, _, _ = make({NS1: referral})
    with pytest.raises(DnsServerFailure, match="referral") as info:
        resolver.lookup_txt(NAME)
    assert info.value.rcode == "REFERRAL"
    resolver, _, _ = make({NS1: referral, NS2: answer((NAME, "TXT", '"ok"'))})
    assert resolver.lookup_txt(NAME).records == [b"ok"]


def test_authoritative_nodata_with_soa_is_no_txt_record() -> None:
    def nodata(query: dns.message.Message) -> dns.message.Message:
        resp = dns.message.make_response(query)
        resp.flags |= dns.flags.AA
        resp.authority.append(
            dns.rrset.from_text("example.com.", 300, "IN", "SOA", "ns. h. 1 2 3 4 5")
        )
        return resp

    resolver, _, _ = make({NS1: nodata})
    with pytest.raises(DnsNotFound, match="no TXT record"):
        resolver.lookup_txt(NAME)


def test_network_error_is_temporary_and_not_a_timeout() -> None:
    resolver, transport, _ = make({NS1: "oserror"})
    with pytest.raises(DnsTempError, match="Connection refused") as info:
        resolver.lookup_txt(NAME)
    assert not isinstance(info.value, DnsTimeout | DnsServerFailure)
    assert len(transport.calls) == 1


def test_timeout_of_the_first_server_moves_on_to_the_next() -> None:
    resolver, transport, _ = make({NS1: "timeout", NS2: answer((NAME, "TXT", '"ok"'))})
    assert resolver.lookup_txt(NAME).records == [b"ok"]
    assert [c.server for c in transport.calls] == [NS1, NS2]


@pytest.mark.parametrize(("servers", "timeout"), [(1, 1.0), (2, 5.0), (3, 3.0), (3, 0.5)])
def test_timeout_is_the_total_budget_over_retries_and_servers(servers: int, timeout: float) -> None:
    behaviour: dict[Nameserver, Reply | str] = {
        Nameserver(f"192.0.2.{i + 1}"): "timeout" for i in range(servers)
    }
    resolver, transport, clock = make(behaviour, timeout=timeout)
    with pytest.raises(DnsTimeout, match=f"timed out after {timeout:g} s"):
        resolver.lookup_txt(NAME)
    assert clock.now - 1000.0 == pytest.approx(timeout)
    assert sum(c.timeout for c in transport.calls) == pytest.approx(timeout)
    assert {c.server for c in transport.calls} == set(behaviour)  # every server was tried
    assert len(transport.calls) == 2 * servers


def test_truncated_answer_is_asked_again_over_tcp_with_the_rest_of_the_budget() -> None:
    big = '"' + "a" * 250 + '" ' + '"' + "b" * 250 + '"'
    resolver, transport, _ = make(
        {NS1: "truncate"}, timeout=4.0, tcp_reply=answer((NAME, "TXT", big))
    )
    assert resolver.lookup_txt(NAME).records == [b"a" * 250 + b"b" * 250]
    assert [c.transport for c in transport.calls] == ["udp", "tcp"]
    assert transport.calls[1].timeout == pytest.approx(4.0)


def test_formerr_to_edns_is_retried_without_edns() -> None:
    def old_server(query: dns.message.Message) -> dns.message.Message:
        if query.edns >= 0:
            return answer(rcode=dns.rcode.FORMERR)(query)
        return answer((NAME, "TXT", '"old"'))(query)

    resolver, transport, _ = make({NS1: old_server})
    assert resolver.lookup_txt(NAME).records == [b"old"]
    assert [c.query.edns for c in transport.calls] == [0, -1]


# --- query flags and DNSSEC ----------------------------------------------------------------------


def test_query_uses_edns_1232_and_no_do_bit_by_default() -> None:
    resolver, transport, _ = make({NS1: answer((NAME, "TXT", '"x"'), ad=True)})
    assert resolver.lookup_txt(NAME).authenticated is None
    query = transport.calls[0].query
    assert query.edns == 0
    assert query.payload == EDNS_PAYLOAD >= 1232
    assert not query.ednsflags & dns.flags.DO
    assert query.flags & dns.flags.RD
    assert not query.flags & dns.flags.CD


@pytest.mark.parametrize("ad", [True, False])
def test_want_dnssec_sets_do_and_reports_ad(ad: bool) -> None:
    resolver, transport, _ = make({NS1: answer((NAME, "TXT", '"x"'), ad=ad)}, dnssec=True)
    assert resolver.lookup_txt(NAME).authenticated is ad
    query = transport.calls[0].query
    assert query.ednsflags & dns.flags.DO
    assert query.flags & dns.flags.AD


def test_checking_disabled_sets_cd() -> None:
    resolver, transport, _ = make({NS1: answer((NAME, "TXT", '"x"'))}, dnssec=True)
    resolver.lookup_txt(NAME, checking_disabled=True)
    assert transport.calls[0].query.flags & dns.flags.CD


def servfail_unless_cd(query: dns.message.Message) -> dns.message.Message:
    if query.flags & dns.flags.CD:
        return answer((NAME, "TXT", '"bogus"'))(query)
    return answer(rcode=dns.rcode.SERVFAIL)(query)


def test_check_bogus_true_when_only_cd_resolves() -> None:
    resolver, transport, _ = make({NS1: servfail_unless_cd})
    assert resolver.check_bogus(NAME) is True
    assert [bool(c.query.flags & dns.flags.CD) for c in transport.calls] == [False, True]
    assert all(c.query.ednsflags & dns.flags.DO for c in transport.calls)


def test_check_bogus_false_when_the_answer_is_fine_or_fails_with_cd_too() -> None:
    ok, _, _ = make({NS1: answer((NAME, "TXT", '"x"'), ad=True)})
    assert ok.check_bogus(NAME) is False
    broken, _, _ = make({NS1: answer(rcode=dns.rcode.SERVFAIL)})
    assert broken.check_bogus(NAME) is False
    refused, _, _ = make({NS1: answer(rcode=dns.rcode.REFUSED)})
    assert refused.check_bogus(NAME) is False


def test_check_bogus_timeout_is_temporary() -> None:
    resolver, _, _ = make({NS1: "timeout"}, timeout=1.0)
    with pytest.raises(DnsTimeout):
        resolver.check_bogus(NAME)


# --- CNAMEs --------------------------------------------------------------------------------------


def test_cname_chain_in_one_answer_is_reported_in_order() -> None:
    resolver, transport, _ = make(
        {
            NS1: answer(
                (NAME, "CNAME", "b.example.net."),
                ("b.example.net", "CNAME", "c.example.org."),
                ("c.example.org", "TXT", '"v=DKIM1; p="'),
            )
        }
    )
    result = resolver.lookup_txt(NAME)
    assert result.cname_chain == ["b.example.net", "c.example.org"]
    assert result.records == [b"v=DKIM1; p="]
    assert len(transport.calls) == 1


def test_cname_target_is_asked_when_the_server_stops_at_the_cname() -> None:
    resolver, transport, _ = make(
        {
            NS1: by_qname(
                {
                    NAME: answer((NAME, "CNAME", "key.example.net.")),
                    "key.example.net": answer(("key.example.net", "TXT", '"k"'), ad=False),
                }
            )
        },
        dnssec=True,
    )
    result = resolver.lookup_txt(NAME)
    assert (result.records, result.cname_chain) == ([b"k"], ["key.example.net"])
    assert [c.query.question[0].name.to_text() for c in transport.calls] == [
        NAME + ".",
        "key.example.net.",
    ]


def test_ad_must_hold_on_every_hop() -> None:
    resolver, _, _ = make(
        {
            NS1: by_qname(
                {
                    NAME: answer((NAME, "CNAME", "key.example.net."), ad=True),
                    "key.example.net": answer(("key.example.net", "TXT", '"k"'), ad=False),
                }
            )
        },
        dnssec=True,
    )
    assert resolver.lookup_txt(NAME).authenticated is False


def test_cname_to_nxdomain_names_the_target() -> None:
    resolver, _, _ = make(
        {NS1: answer((NAME, "CNAME", "gone.example.net."), rcode=dns.rcode.NXDOMAIN)}
    )
    with pytest.raises(DnsNotFound, match=r"gone\.example\.net: no such name .*via CNAME"):
        resolver.lookup_txt(NAME)


def test_cname_to_a_name_without_txt() -> None:
    resolver, transport, _ = make(
        {
            NS1: by_qname(
                {
                    NAME: answer((NAME, "CNAME", "a.example.net.")),
                    "a.example.net": answer(),
                }
            )
        }
    )
    with pytest.raises(DnsNotFound, match=r"a\.example\.net: no TXT record"):
        resolver.lookup_txt(NAME)
    assert len(transport.calls) == 2


def test_cname_loop_is_detected() -> None:
    resolver, _, _ = make(
        {NS1: answer((NAME, "CNAME", "x.example.net."), ("x.example.net", "CNAME", NAME + "."))}
    )
    with pytest.raises(DnsNotFound, match="CNAME loop"):
        resolver.lookup_txt(NAME)


def test_cname_loop_over_several_queries_is_detected() -> None:
    resolver, transport, _ = make(
        {
            NS1: by_qname(
                {
                    NAME: answer((NAME, "CNAME", "x.example.net.")),
                    "x.example.net": answer(("x.example.net", "CNAME", NAME + ".")),
                }
            )
        }
    )
    with pytest.raises(DnsNotFound, match="CNAME loop"):
        resolver.lookup_txt(NAME)
    assert len(transport.calls) == 2


def test_too_many_cnames() -> None:
    hops = [(f"h{i}.example", "CNAME", f"h{i + 1}.example.") for i in range(MAX_CNAMES + 2)]
    resolver, _, _ = make({NS1: answer(*hops)})
    with pytest.raises(DnsNotFound, match=f"more than {MAX_CNAMES} CNAMEs"):
        resolver.lookup_txt("h0.example")


def test_cname_hops_share_the_deadline() -> None:
    clock = Clock()

    def slow_second_hop(query: dns.message.Message) -> dns.message.Message:
        if query.question[0].name.to_text(omit_final_dot=True) == NAME:
            clock.now += 1.5  # the first hop uses most of the budget
            return answer((NAME, "CNAME", "slow.example.net."))(query)
        clock.now += 10
        raise dns.exception.Timeout

    transport = FakeTransport(clock, {NS1: slow_second_hop})
    resolver = DnsResolver([NS1], timeout=2.0, transport=transport, clock=clock)
    with pytest.raises(DnsTimeout):
        resolver.lookup_txt(NAME)
    assert transport.calls[1].timeout == pytest.approx(0.5 / 2, abs=0.01)  # what is left / 2 tries


# --- system resolver and arguments ---------------------------------------------------------------


def test_no_nameservers_uses_the_system_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeSystem:
        nameservers: ClassVar[list[str]] = ["192.0.2.53", "2001:db8::53"]
        port = 53

        def __init__(self, configure: bool = True) -> None:
            assert configure

    monkeypatch.setattr(dns.resolver, "Resolver", FakeSystem)
    resolver = DnsResolver()
    assert resolver.servers() == (Nameserver("192.0.2.53"), Nameserver("2001:db8::53"))


def test_missing_system_configuration_is_temporary(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(configure: bool = True) -> None:
        raise dns.resolver.NoResolverConfiguration("no /etc/resolv.conf")  # type: ignore[no-untyped-call]

    monkeypatch.setattr(dns.resolver, "Resolver", broken)
    with pytest.raises(DnsTempError, match="no nameservers"):
        DnsResolver(timeout=1).lookup_txt(NAME)


@pytest.mark.parametrize("timeout", [0, -1.0])
def test_timeout_must_be_positive(timeout: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        DnsResolver([NS1], timeout=timeout)


# --- KeyCache ------------------------------------------------------------------------------------


@dataclass
class CountingSource:
    outcomes: dict[str, TxtAnswer | Exception]
    calls: list[str] = field(default_factory=list)

    def lookup_txt(self, name: str) -> TxtAnswer:
        self.calls.append(name)
        outcome = self.outcomes[name.rstrip(".").lower()]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def test_cache_keeps_answers_case_insensitively() -> None:
    source = CountingSource({"a.example": TxtAnswer("a.example", [b"k"], [], None)})
    cache = KeyCache(source)
    assert cache.lookup_txt("a.example").records == [b"k"]
    again = cache.lookup_txt("A.Example.")
    assert again.records == [b"k"]
    assert again.name == "A.Example."
    assert source.calls == ["a.example"]
    assert (cache.hits, cache.misses, len(cache)) == (1, 1, 1)


def test_cache_keeps_not_found() -> None:
    source = CountingSource({"gone.example": DnsNotFound("gone.example: no such name")})
    cache = KeyCache(source)
    for _ in range(3):
        with pytest.raises(DnsNotFound, match="no such name"):
            cache.lookup_txt("gone.example")
    assert source.calls == ["gone.example"]


@pytest.mark.parametrize(
    "error", [DnsTempError("x"), DnsTimeout("x"), DnsServerFailure("x", rcode="SERVFAIL")]
)
def test_cache_never_keeps_temporary_errors(error: DnsTempError) -> None:
    source = CountingSource({"flaky.example": error})
    cache = KeyCache(source)
    for _ in range(2):
        with pytest.raises(DnsTempError):
            cache.lookup_txt("flaky.example")
    assert len(source.calls) == 2
    assert len(cache) == 0


def test_cache_returns_copies_and_evicts_least_recently_used() -> None:
    names = ["a.example", "b.example", "c.example"]
    source = CountingSource({n: TxtAnswer(n, [n.encode()], [], None) for n in names})
    cache = KeyCache(source, max_entries=2)
    cache.lookup_txt("a.example").records.append(b"mutated")
    assert cache.lookup_txt("a.example").records == [b"a.example"]
    cache.lookup_txt("b.example")
    cache.lookup_txt("a.example")  # a is now the most recent
    cache.lookup_txt("c.example")  # evicts b
    assert len(cache) == 2
    cache.lookup_txt("b.example")
    assert source.calls == ["a.example", "b.example", "c.example", "b.example"]
    cache.clear()
    assert len(cache) == 0


def test_cache_wraps_a_resolver() -> None:
    resolver, transport, _ = make({NS1: answer((NAME, "TXT", '"x"'))})
    cache = KeyCache(resolver)
    assert cache.lookup_txt(NAME) == cache.lookup_txt(NAME)
    assert len(transport.calls) == 1
