"""Where key records come from: DNS (with a per-process cache) or --dns-file fragments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol

from dkimtool.core.errors import UsageError

if TYPE_CHECKING:
    from dkimtool.core.config import DkimConfig
    from dkimtool.core.dns import Nameserver

DEFAULT_TIMEOUT = 5.0
"""Seconds for one key lookup, retries and TCP fallback included (--timeout, DNSTimeout)."""


# TxtAnswer lives here, not in dkimtool.core.dns (which re-exports it), so that --dns-file
# (dkimtool.core.zonefile) can build answers without importing dnspython. A NamedTuple: the
# dataclasses module would be the only import of a --dns-file run to need it.
class TxtAnswer(NamedTuple):
    """The TXT records at a name (after CNAMEs), each RR's character-strings joined, as bytes."""

    name: str  # the name asked
    records: list[bytes]
    cname_chain: list[str]  # CNAME targets followed, in order, without the final dot
    authenticated: bool | None  # AD seen on every answer (DNSSEC secure); None: not asked


class TxtSource(Protocol):
    """Anything that answers TXT lookups the way DnsResolver does (e.g. --dns-file)."""

    def lookup_txt(self, name: str) -> TxtAnswer: ...


def parse_nameservers(values: Sequence[str]) -> list[Nameserver]:
    if not values:
        return []  # without importing dnspython: --dns-file runs never need it
    from dkimtool.core.dns import parse_nameserver

    servers = []
    for value in values:
        try:
            servers.append(parse_nameserver(value))
        except ValueError as exc:
            raise UsageError(f"--nameserver {value}: {exc}") from None
    return servers


def resolve_dns_settings(
    config: DkimConfig | None, nameservers: Sequence[str], timeout: float | None
) -> tuple[list[Nameserver], float]:
    """Command-line values, else Nameservers/DNSTimeout from the config, else defaults."""
    if not nameservers and config is not None and config.get("Nameservers"):
        try:
            servers = parse_nameservers(config.get_list("Nameservers") or [])
        except UsageError as exc:
            raise config.error("Nameservers", exc.message) from None
    else:
        servers = parse_nameservers(nameservers)
    if timeout is None and config is not None:
        configured = config.get_int("DNSTimeout")
        if configured is not None and configured <= 0:
            raise config.error("DNSTimeout", "DNSTimeout must be a positive number of seconds")
        timeout = float(configured) if configured is not None else None
    return servers, DEFAULT_TIMEOUT if timeout is None else timeout


def make_source(
    *,
    dns_files: Sequence[str],
    nameservers: Sequence[Nameserver],
    timeout: float,
    want_dnssec: bool = False,
    cached: bool = True,
) -> TxtSource:
    if dns_files:
        from dkimtool.core.zonefile import ZoneFileSource

        return ZoneFileSource(dns_files)
    from dkimtool.core.dns import DnsResolver, KeyCache

    resolver = DnsResolver(nameservers, timeout=timeout, want_dnssec=want_dnssec)
    return KeyCache(resolver) if cached else resolver
