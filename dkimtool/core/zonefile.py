"""``--dns-file``: key records from BIND zone-file fragments, instead of DNS.

A fragment is what ``genkey`` writes: TXT records with parentheses, quoted strings,
comments, ``$ORIGIN`` and ``$TTL``. Owner names ending in ``.`` match exactly. A relative
owner takes ``$ORIGIN`` if the file set one before it; otherwise it is completed with the
domain being looked up (the part after ``._domainkey.``), so genkey's output works as is.
A name missing from the files is NXDOMAIN: there is no fallback to DNS. ``$INCLUDE`` and
``$GENERATE`` are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.tokenizer
import dns.zonefile

from dkimtool.core.dns import TxtAnswer
from dkimtool.core.errors import DnsNotFound, RecordFormatError
from dkimtool.core.fileio import read_input

# Relative owners are read under this name, then completed at lookup time. ".invalid" can
# never be a real domain (RFC 2606).
_RELATIVE = dns.name.from_text("dkimtool-relative.invalid.")
_DEFAULT_TTL = 3600
_DOMAINKEY = "._domainkey."


@dataclass(slots=True)
class _Names:
    txt: dict[str, list[bytes]] = field(default_factory=dict)
    cname: dict[str, str] = field(default_factory=dict)


def _key(name: dns.name.Name) -> str:
    """Lower-case text form: absolute names end with '.', relative ones do not."""
    if name.is_subdomain(_RELATIVE):
        return name.relativize(_RELATIVE).to_text().lower()
    return name.to_text().lower()


def parse_zone_fragment(text: str, source: str) -> list[tuple[str, str, list[bytes]]]:
    """Read TXT and CNAME records: (owner, "TXT"|"CNAME", values). RecordFormatError on errors."""
    manager = dns.zonefile.RRSetsReaderManager(dns.name.root, False, dns.rdataclass.IN)
    try:
        with manager.writer(True) as txn:  # type: ignore[no-untyped-call]
            tokenizer = dns.tokenizer.Tokenizer(text, source)
            reader = dns.zonefile.Reader(
                tokenizer,
                dns.rdataclass.IN,
                txn,
                allow_directives={"$ORIGIN", "$TTL"},
                default_ttl=_DEFAULT_TTL,
            )
            # Every name is under the root "zone", but relative ones get the sentinel.
            reader.current_origin = _RELATIVE
            reader.read()
    except dns.exception.DNSException as exc:
        raise RecordFormatError(f"--dns-file {_describe(exc, source)}") from None
    except UnicodeError as exc:
        raise RecordFormatError(f"--dns-file {source}: not valid text ({exc})") from None
    records: list[tuple[str, str, list[bytes]]] = []
    for rrset in manager.rrsets:
        owner = _key(rrset.name)
        if rrset.rdtype == dns.rdatatype.TXT:
            records.append((owner, "TXT", [b"".join(rd.strings) for rd in rrset]))
        elif rrset.rdtype == dns.rdatatype.CNAME:
            records.append((owner, "CNAME", [_key(rd.target).encode() for rd in rrset]))
    return records


def _describe(exc: Exception, source: str) -> str:
    text = str(exc)
    return text if text.startswith(source) else f"{source}: {text}"


class ZoneFileSource:
    """A TXT source over one or more zone-file fragments (the ``--dns-file`` option)."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = list(paths)
        self._names = _Names()
        for path in self.paths:
            data = read_input(path)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise RecordFormatError(f"--dns-file {path}: not UTF-8 text") from None
            for owner, rdtype, values in parse_zone_fragment(text, path):
                if rdtype == "TXT":
                    self._names.txt.setdefault(owner, []).extend(values)
                else:
                    self._names.cname[owner] = values[0].decode()

    def _candidates(self, name: str) -> list[str]:
        """The file keys that can stand for NAME: absolute, or relative to its domain."""
        absolute = name.lower().rstrip(".") + "."
        keys = [absolute]
        index = absolute.find(_DOMAINKEY)
        if index >= 0:
            keys.append(absolute[: index + len(_DOMAINKEY) - 1])
        return keys

    def lookup_txt(self, name: str) -> TxtAnswer:
        chain: list[str] = []
        current = name
        for _ in range(8):
            for key in self._candidates(current):
                if key in self._names.txt:
                    return TxtAnswer(
                        name=name,
                        records=list(self._names.txt[key]),
                        cname_chain=chain,
                        authenticated=None,
                    )
                if key in self._names.cname:
                    target = self._names.cname[key]
                    current = target if target.endswith(".") else f"{target}.{_domain_of(current)}"
                    chain.append(current.rstrip("."))
                    break
            else:
                break
        files = ", ".join(self.paths)
        raise DnsNotFound(f"{name}: no such name in --dns-file {files} (no DNS lookup is made)")


def _domain_of(name: str) -> str:
    index = name.find(_DOMAINKEY)
    return name[index + len(_DOMAINKEY) :] if index >= 0 else name
