"""``testkey``: the checks in core (fake record sources) and the CLI with --dns-file fragments."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import cast

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from dkimtool.core.dns import DnsResolver, DnsServerFailure, TxtAnswer
from dkimtool.core.errors import ConfigError, DnsNotFound
from dkimtool.core.keys import LoadedKey
from dkimtool.core.testkey import (
    KeyTestReport,
    PrivateKeyInput,
    check_key,
    dnssec_words,
    key_table_path,
    parse_key_table,
    summary_line,
)
from tests.conftest import CliResult, RunCli, assert_error, pooled_rsa_key
from tests.unit.test_config import DEBIAN_OPENDKIM_CONF

NAME = "mail._domainkey.example.com"
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def p_of(key: PrivateKey) -> str:
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        der = public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:
        der = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(der).decode()


def rsa_record(bits: int = 2048, tags: str = "") -> str:
    return f"v=DKIM1; k=rsa; {tags}p={p_of(pooled_rsa_key(bits))}"


def private(
    key: PrivateKey, path: str = "mail.private", warnings: list[str] | None = None
) -> PrivateKeyInput:
    return PrivateKeyInput(path, LoadedKey(key.public_key(), key), warnings or [])


class FakeSource:
    """A TxtSource answering from a dict; a missing name is NXDOMAIN."""

    def __init__(self, records: dict[str, list[bytes]], chain: list[str] | None = None) -> None:
        self.records = records
        self.chain = chain or []

    def lookup_txt(self, name: str) -> TxtAnswer:
        if name not in self.records:
            raise DnsNotFound(f"{name}: no such name (NXDOMAIN)")
        return TxtAnswer(name, list(self.records[name]), list(self.chain), None)


class FakeValidatingResolver:
    """Stands in for DnsResolver with a validating resolver behind it."""

    def __init__(self, records: list[bytes], *, ad: bool = False, bogus: bool = False) -> None:
        self.records, self.ad, self.bogus = records, ad, bogus
        self.cd_lookups = 0

    def lookup_txt(self, name: str, *, checking_disabled: bool = False) -> TxtAnswer:
        if self.bogus and not checking_disabled:
            raise DnsServerFailure(f"{name}: DNS lookup failed (SERVFAIL)")
        self.cd_lookups += checking_disabled
        if not self.records:
            raise DnsNotFound(f"{name}: no such name (NXDOMAIN)")
        return TxtAnswer(name, list(self.records), [], self.ad and not checking_disabled)

    def check_bogus(self, name: str) -> bool:
        return self.bogus


def check(*records: str | bytes, key: PrivateKeyInput | None = None) -> KeyTestReport:
    raw = [r.encode() if isinstance(r, str) else r for r in records]
    return check_key(
        selector="mail", domain="example.com", source=FakeSource({NAME: raw}), private_key=key
    )


# --- core: the record checks ------------------------------------------------------------------


@pytest.mark.parametrize("bits", [1024, 2048, 4096])
def test_rsa_key_that_matches(bits: int) -> None:
    key = pooled_rsa_key(bits)
    report = check(rsa_record(bits), key=private(key))
    assert report.ok and report.problems == []
    assert (report.key_type, report.key_bits, report.matches_private_key) == ("rsa", bits, True)
    assert report.record == {"v": "DKIM1", "k": "rsa", "p": p_of(key)}
    if bits < 2048:
        assert report.warnings == [f"RSA key of {bits} bits: RFC 8301 recommends 2048"]
    else:
        assert report.warnings == []


def test_rsa_under_1024_bits_is_a_problem() -> None:
    # No library makes such keys any more: a 768-bit modulus is enough for a public key.
    n = (1 << 767) | 1 | (0xABCDEF << 300)
    public = rsa.RSAPublicNumbers(65537, n).public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    report = check(f"v=DKIM1; p={base64.b64encode(der).decode()}")
    assert not report.ok
    assert report.key_bits == 768
    assert report.problems == [
        "RSA key of 768 bits: receivers ignore keys under 1024 bits (RFC 8301)"
    ]


def test_ed25519_match_and_mismatch(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    record = f"v=DKIM1; k=ed25519; p={p_of(ed25519_key)}"
    report = check(record, key=private(ed25519_key, "ed.private"))
    assert report.ok and report.matches_private_key is True
    assert (report.key_type, report.key_bits) == ("ed25519", 256)
    other = ed25519.Ed25519PrivateKey.generate()
    report = check(record, key=private(other, "/keys/ed.private"))
    assert not report.ok and report.matches_private_key is False
    assert report.problems == ["the published key does not match ed.private"]
    report = check(record, key=private(pooled_rsa_key(2048), "rsa.private"))
    assert report.problems == [
        "the published key does not match rsa.private (ed25519 key, rsa key file)"
    ]


def test_revoked_key() -> None:
    report = check("v=DKIM1; p=", key=private(pooled_rsa_key(2048)))
    assert not report.ok
    assert report.problems == ["the key is revoked (empty p=)"]
    assert report.matches_private_key is None and report.key_bits is None
    assert report.record == {"v": "DKIM1", "p": ""}


@pytest.mark.parametrize(
    ("tags", "problem"),
    [
        ("h=sha1; ", "h=sha1 does not allow sha256"),
        ("h=sha512; ", "h=sha512 does not allow sha256"),
        ("s=tlsrpt; ", "s=tlsrpt does not allow email"),
    ],
)
def test_h_and_s_that_exclude_dkim_email(tags: str, problem: str) -> None:
    report = check(rsa_record(tags=tags))
    assert not report.ok and report.problems == [problem]


@pytest.mark.parametrize("tags", ["h=sha1:sha256; ", "h=sha256; ", "s=email; ", "s=*; ", "t=s; "])
def test_h_and_s_that_allow_it(tags: str) -> None:
    report = check(rsa_record(tags=tags))
    assert report.ok, report.problems
    assert report.testing is False


@pytest.mark.parametrize("flags", ["y", "y:s", "s:y"])
def test_testing_mode(flags: str) -> None:
    report = check(rsa_record(tags=f"t={flags}; "))
    assert report.ok and report.testing is True
    assert ", testing mode, " in summary_line(report)


def test_several_records_and_other_txt_at_the_name() -> None:
    spf = "v=spf1 -all"
    assert check(rsa_record(), spf).ok  # SPF next to the key is ignored
    two = check(rsa_record(), rsa_record(1024))
    assert two.problems == ["2 DKIM key records at the name: publish exactly one per selector"]
    only_spf = check(spf)
    assert only_spf.problems == [
        "no DKIM key record: 1 TXT record(s) at the name, none with v=DKIM1 or a p= tag"
    ]
    # a record without v= but with p= is a key record too (RFC 6376 3.6.1: v= is optional)
    assert check(f"k=rsa; p={p_of(pooled_rsa_key(2048))}").ok


def test_non_utf8() -> None:
    bad = b"v=DKIM1; n=caf\xe9; p=" + p_of(pooled_rsa_key(2048)).encode()
    assert check(bad).problems == ["the key record is not valid UTF-8 text"]
    assert check(b"\xff\xfe binary junk", rsa_record()).ok  # not a key record: ignored


def test_record_over_8_kib() -> None:
    record = rsa_record(tags="n=" + "x" * 8200 + "; ")
    report = check(record)
    assert report.problems == [f"the key record is {len(record)} bytes, over the 8 KiB limit"]


@pytest.mark.parametrize(
    ("record", "fragment"),
    [
        ("v=DKIM1; k=rsa; p=MIIB; =oops", "malformed key record: "),
        ("v=DKIM1; p=not*base64!", "malformed key record: p= is not valid base64"),
        ("v=DKIM1; p=AAAA====", "malformed key record: p= is not valid base64"),
        ("v=DKIM1; k=dsa; p=AAAA", "malformed key record: unknown key type k=dsa"),
        ("k=rsa; v=DKIM1; p=AAAA", "malformed key record: v= must be the first tag"),
        ("v=DKIM1; k=rsa", "malformed key record: no p= tag"),
        ("v=DKIM1; p=AAAA; p=BBBB", "malformed key record: "),
        ("v=DKIM1; p=QUJDRA==", "unusable key in p=: p= is not a valid RSA public key"),
        ("v=DKIM1; k=ed25519; p=QUJDRA==", "unusable key in p=: an Ed25519 key is 32 bytes"),
    ],
)
def test_malformed_records(record: str, fragment: str) -> None:
    report = check(record, key=private(pooled_rsa_key(2048)))
    assert not report.ok
    assert len(report.problems) == 1 and report.problems[0].startswith(fragment), report.problems
    assert report.matches_private_key is None


def test_key_file_warnings_are_carried() -> None:
    warning = "mail.private: key file is readable by group or others (mode 0644)"
    report = check(rsa_record(), key=private(pooled_rsa_key(2048), warnings=[warning]))
    assert report.ok and report.warnings == [warning]


def test_no_record() -> None:
    report = check_key(selector="mail", domain="example.com", source=FakeSource({}))
    assert not report.ok and report.record is None
    assert report.problems == [f"no key record: {NAME}: no such name (NXDOMAIN)"]
    assert summary_line(report) == f"{NAME}: key NOT usable (DNSSEC: not checked (--dns-file))"


def test_cname_chain_in_the_summary() -> None:
    source = FakeSource({NAME: [rsa_record().encode()]}, chain=["real._domainkey.example.net"])
    report = check_key(selector="mail", domain="example.com", source=source)
    assert report.cname_chain == ["real._domainkey.example.net"]
    assert summary_line(report) == (
        f"{NAME}: key OK (rsa, 2048 bits, via CNAME real._domainkey.example.net, "
        "DNSSEC: not checked (--dns-file))"
    )


# --- core: DNSSEC -------------------------------------------------------------------------------


def dnssec_check(resolver: FakeValidatingResolver) -> KeyTestReport:
    return check_key(
        selector="mail",
        domain="example.com",
        source=FakeSource({}),  # never used when a resolver is given
        dnssec_resolver=cast("DnsResolver", resolver),
    )


def test_dnssec_secure_and_unvalidated() -> None:
    secure = dnssec_check(FakeValidatingResolver([rsa_record().encode()], ad=True))
    assert secure.ok and secure.dnssec == "secure"
    assert summary_line(secure).endswith(", DNSSEC: secure)")
    plain = dnssec_check(FakeValidatingResolver([rsa_record().encode()], ad=False))
    assert plain.ok and plain.dnssec == "unvalidated"
    assert summary_line(plain).endswith(", DNSSEC: not validated)")


def test_dnssec_bogus_is_a_problem_but_the_record_is_still_checked() -> None:
    resolver = FakeValidatingResolver([rsa_record(tags="t=y; ").encode()], bogus=True)
    report = dnssec_check(resolver)
    assert resolver.cd_lookups == 1
    assert not report.ok and report.dnssec == "bogus"
    assert report.testing and report.key_bits == 2048
    assert report.problems == [
        "DNSSEC validation failed (bogus): validating resolvers will not see this record"
    ]


def test_servfail_that_is_not_bogus_propagates() -> None:
    class Failing(FakeValidatingResolver):
        def check_bogus(self, name: str) -> bool:
            return False

    with pytest.raises(DnsServerFailure):
        dnssec_check(Failing([rsa_record().encode()], bogus=True))


def test_dnssec_without_a_record_does_not_blame_dns_file() -> None:
    report = dnssec_check(FakeValidatingResolver([]))
    assert report.dnssec is None
    assert summary_line(report) == f"{NAME}: key NOT usable (DNSSEC: unknown (no record))"


def test_dnssec_words_never_look_like_file_permissions() -> None:
    words = [dnssec_words(s) for s in ("secure", "unvalidated", "bogus", None)]
    assert words == [
        "secure",
        "not validated",
        "bogus (validation failed)",
        "not checked (--dns-file)",
    ]
    for word in words:
        assert "key" not in word and "file is" not in word


# --- core: KeyTable ------------------------------------------------------------------------------


def test_parse_key_table(tmp_path: Path) -> None:
    table = tmp_path / "KeyTable"
    text = (
        "# comment\n"
        "\n"
        "k1  example.com:mail:/etc/dkimkeys/mail.private\n"
        "k2\tExample.NET:ed.2025:keys/ed.private   # relative path\n"
    )
    entries = parse_key_table(text, table)
    assert [(e.name, e.domain, e.selector, e.key_file, e.line) for e in entries] == [
        ("k1", "example.com", "mail", "/etc/dkimkeys/mail.private", 3),
        ("k2", "Example.NET", "ed.2025", str(tmp_path / "keys/ed.private"), 4),
    ]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("k1 example.com:mail\n", 1, "expected 'NAME DOMAIN:SELECTOR:KEYFILE'"),
        ("# c\nk1\n", 2, "expected 'NAME DOMAIN:SELECTOR:KEYFILE'"),
        ("k1 example.com::/k\n", 1, "expected 'NAME DOMAIN:SELECTOR:KEYFILE'"),
        ("k1 exa/mple.com:mail:/k\n", 1, "exa/mple"),
        ("# nothing\n", None, "the KeyTable has no entries"),
    ],
)
def test_bad_key_tables(text: str, line: int | None, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_key_table(text, Path("/etc/opendkim/KeyTable"))
    assert info.value.line == line
    assert info.value.path == "/etc/opendkim/KeyTable"
    assert fragment in str(info.value)


def test_key_table_path_forms() -> None:
    base = Path("/etc/opendkim")
    assert key_table_path("/etc/kt", base) == Path("/etc/kt")
    assert key_table_path("file:/etc/kt", base) == Path("/etc/kt")
    assert key_table_path("refile:kt", base) == Path("/etc/opendkim/kt")
    assert key_table_path("kt", base) == Path("/etc/opendkim/kt")
    for value in ("db:/etc/kt.db", "ldap://ldap.example/", "dsn:mysql://u@h/db"):
        with pytest.raises(ValueError, match="is not supported"):
            key_table_path(value, base)


# --- CLI with --dns-file -------------------------------------------------------------------------


@pytest.fixture
def mail(run_cli: RunCli, fast_keygen: None) -> CliResult:
    """genkey's mail.private + mail.txt for example.com, in the current directory."""
    result = run_cli("genkey", "-d", "example.com", "-s", "mail")
    assert result.code == 0, result
    return result


def tk_args(*extra: str) -> tuple[str, ...]:
    return ("testkey", "-d", "example.com", "-s", "mail", *extra)


def test_cli_good_key_human_json_quiet(run_cli: RunCli, mail: CliResult) -> None:
    args = tk_args("-k", "mail.private", "--dns-file", "mail.txt")
    result = run_cli(*args)
    assert result == (
        0,
        f"{NAME}: key OK (rsa, 2048 bits, matches mail.private, DNSSEC: not checked (--dns-file))\n",
        "",
    )
    assert run_cli(*args, "-q") == (0, "", "")
    assert run_cli("-q", *args) == (0, "", "")
    as_json = run_cli(*args, "--json")
    assert as_json.code == 0 and as_json.stderr == ""
    report = json.loads(as_json.stdout)
    p = (Path("mail.txt").read_text().split("p=", 1)[1]).split('"')[0]
    assert set(report) >= {
        "name",
        "ok",
        "record",
        "key_type",
        "key_bits",
        "testing",
        "dnssec",
        "matches_private_key",
        "problems",
        "warnings",
    }
    assert report["record"]["p"].startswith(p)
    assert {k: v for k, v in report.items() if k != "record"} == {
        "name": NAME,
        "ok": True,
        "key_type": "rsa",
        "key_bits": 2048,
        "testing": False,
        "dnssec": None,
        "matches_private_key": True,
        "cname_chain": [],
        "problems": [],
        "warnings": [],
    }


def test_cli_ed25519(run_cli: RunCli) -> None:
    assert run_cli("genkey", "-d", "example.com", "-s", "ed", "-a", "ed25519", "-t").code == 0
    result = run_cli(
        "testkey", "-d", "example.com", "-s", "ed", "-k", "ed.private", "--dns-file", "ed.txt"
    )
    assert result.code == 0, result
    assert result.stdout == (
        "ed._domainkey.example.com: key OK (ed25519, 256 bits, matches ed.private, "
        "testing mode, DNSSEC: not checked (--dns-file))\n"
    )


def test_cli_revoked_and_mismatched(run_cli: RunCli, mail: CliResult) -> None:
    Path("revoked.txt").write_text('mail._domainkey IN TXT "v=DKIM1; p="\n')
    result = run_cli(*tk_args("--dns-file", "revoked.txt"))
    assert result.code == 1 and result.stderr == ""
    assert result.stdout.splitlines() == [
        f"{NAME}: key NOT usable (rsa, DNSSEC: not checked (--dns-file))",
        "  problem: the key is revoked (empty p=)",
    ]
    other = pooled_rsa_key(1024)
    Path("other.txt").write_text(f'mail._domainkey IN TXT "v=DKIM1; p={p_of(other)}"\n')
    result = run_cli(*tk_args("-k", "mail.private", "--dns-file", "other.txt"))
    assert result.code == 1 and result.stderr == ""
    assert result.stdout.splitlines() == [
        f"{NAME}: key NOT usable (rsa, 1024 bits, DNSSEC: not checked (--dns-file))",
        "  problem: the published key does not match mail.private",
        "  warning: RSA key of 1024 bits: RFC 8301 recommends 2048",
    ]
    report = json.loads(
        run_cli(*tk_args("-k", "mail.private", "--dns-file", "other.txt", "--json")).stdout
    )
    assert report["ok"] is False and report["matches_private_key"] is False


def test_cli_cname_in_a_fragment(run_cli: RunCli, mail: CliResult) -> None:
    record = Path("mail.txt").read_text().replace("mail._domainkey", "real._domainkey", 1)
    Path("zone.txt").write_text("alias._domainkey IN CNAME real._domainkey\n" + record)
    result = run_cli(
        "testkey",
        "-d",
        "example.com",
        "-s",
        "alias",
        "-k",
        "mail.private",
        "--dns-file",
        "zone.txt",
    )
    assert result.code == 0, result
    assert "matches mail.private, via CNAME real._domainkey.example.com, DNSSEC" in result.stdout


def test_cli_name_missing_from_the_fragment(run_cli: RunCli, mail: CliResult) -> None:
    result = run_cli("testkey", "-d", "example.org", "-s", "other", "--dns-file", "mail.txt")
    assert result.code == 1 and result.stderr == ""
    assert "no key record: other._domainkey.example.org: no such name in --dns-file" in (
        result.stdout
    )


def test_cli_readable_key_warns(run_cli: RunCli, mail: CliResult) -> None:
    Path("mail.private").chmod(0o644)
    result = run_cli(*tk_args("-k", "mail.private", "--dns-file", "mail.txt"))
    assert result.code == 0, result
    first, warning = result.stdout.splitlines()
    assert first.startswith(f"{NAME}: key OK (rsa, 2048 bits, matches mail.private")
    assert warning.startswith("  warning: mail.private: key file is readable by group or others")


def test_cli_escapes_control_characters_from_dns(run_cli: RunCli) -> None:
    Path("esc.txt").write_text('mail._domainkey IN TXT "v=DKIM1; \\027[31m=x; p="\n')
    result = run_cli(*tk_args("--dns-file", "esc.txt"))
    assert result.code == 1
    assert "\x1b" not in result.stdout
    assert "\\x1b" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (("-k", "missing.private", "--dns-file", "mail.txt"), 66, "missing.private"),
        (("--dns-file", "missing.txt"), 66, "missing.txt"),
        (("-k", "mail.txt", "--dns-file", "mail.txt"), 65, "mail.txt"),
        (("--nameserver", "dns.example.com"), 2, "not an IP address"),
        (("--nameserver", "[127.0.0.1]:53"), 2, "only IPv6 addresses go in brackets"),
        (("--nameserver", "192.0.2.1:99999"), 2, "port must be a number"),
        (("--nameserver", "[::1"), 2, "missing ']'"),
        (("--timeout", "0"), 2, "--timeout"),
    ],
)
def test_cli_bad_input(
    run_cli: RunCli, mail: CliResult, args: tuple[str, ...], code: int, fragment: str
) -> None:
    assert_error(run_cli(*tk_args(*args)), code, fragment)


def test_cli_unparseable_dns_file(run_cli: RunCli) -> None:
    Path("bad.txt").write_text('mail._domainkey IN TXT ( "v=DKIM1; p=\n')
    assert_error(run_cli(*tk_args("--dns-file", "bad.txt")), 65, "bad.txt")


def test_cli_public_key_as_k(run_cli: RunCli, mail: CliResult) -> None:
    key = serialization.load_pem_private_key(Path("mail.private").read_bytes(), None)
    Path("mail.pub").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    assert_error(
        run_cli(*tk_args("-k", "mail.pub", "--dns-file", "mail.txt")),
        65,
        "is a public key, not a private key",
    )


def test_cli_needs_domain_and_selector(run_cli: RunCli) -> None:
    assert_error(run_cli("testkey", "-d", "example.com"), 2, "missing -d/--domain and -s")
    assert_error(run_cli("testkey", "-d", "exa mple.com", "-s", "mail"), 2)


# --- CLI with -x -------------------------------------------------------------------------------


def test_cli_config_domain_selector_keyfile(run_cli: RunCli, mail: CliResult) -> None:
    Path("conf").mkdir()
    Path("conf/dkim.conf").write_text(
        "# dkim-filter style\nDomain example.com\nSelector mail\nKeyFile ../mail.private\n"
        "Mode sv\nSubDomains no\n"
    )
    result = run_cli("testkey", "-x", "conf/dkim.conf", "--dns-file", "mail.txt")
    assert result.code == 0, result
    assert result.stdout.startswith(f"{NAME}: key OK (rsa, 2048 bits, matches mail.private,")
    # command-line options override the file
    result = run_cli("testkey", "-x", "conf/dkim.conf", "-s", "nope", "--dns-file", "mail.txt")
    assert result.code == 1
    assert result.stdout.startswith("nope._domainkey.example.com: key NOT usable")


def test_cli_debian_stock_config_is_accepted(run_cli: RunCli, mail: CliResult) -> None:
    texts = [DEBIAN_OPENDKIM_CONF]
    stock = Path("/etc/opendkim.conf")
    if stock.is_file():
        texts.append(stock.read_text())
    for text in texts:
        Path("opendkim.conf").write_text(text)
        result = run_cli(
            *tk_args("-x", "opendkim.conf", "-k", "mail.private", "--dns-file", "mail.txt")
        )
        assert result.code == 0, result
        assert result.stderr == ""


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("Domain example.com\nSelector mail\nBogusSetting yes\n", 3, "unknown key 'BogusSetting'"),
        ("Domain example.com\n= nonsense\n", 2, "malformed line"),
        ("Domain exa/mple.com\nSelector mail\n", 1, "exa/mple"),
        ("Selector mail\nNameservers 192.0.2.1:99999\nDomain example.com\n", 2, "port"),
        ("Selector mail\nDomain example.com\nDNSTimeout soon\n", 3, "DNSTimeout"),
    ],
)
def test_cli_bad_config(run_cli: RunCli, text: str, line: int, fragment: str) -> None:
    Path("bad.conf").write_text(text)
    assert_error(run_cli("testkey", "-x", "bad.conf"), 78, f"bad.conf:{line}: ", fragment)


def test_cli_unreadable_config(run_cli: RunCli) -> None:
    assert_error(
        run_cli("testkey", "-x", "nowhere.conf", "-d", "example.com", "-s", "m"), 78, "nowhere.conf"
    )


def test_cli_key_table_two_entries(run_cli: RunCli, fast_keygen: None) -> None:
    assert run_cli("genkey", "-d", "example.com", "-s", "rsa").code == 0
    assert run_cli("genkey", "-d", "example.net", "-s", "ed", "-a", "ed25519").code == 0
    Path("KeyTable").write_text("rsa example.com:rsa:rsa.private\ned example.net:ed:ed.private\n")
    Path("opendkim.conf").write_text("KeyTable file:KeyTable\nSigningTable refile:x\n")
    args = ("testkey", "-x", "opendkim.conf", "--dns-file", "rsa.txt", "--dns-file", "ed.txt")
    result = run_cli(*args)
    assert result.code == 0, result
    assert [line.split(" (")[0] for line in result.stdout.splitlines()] == [
        "rsa._domainkey.example.com: key OK",
        "ed._domainkey.example.net: key OK",
    ]
    assert "matches ed.private" in result.stdout and "matches rsa.private" in result.stdout
    reports = [json.loads(line) for line in run_cli(*args, "--json").stdout.splitlines()]
    assert [(r["key_type"], r["ok"]) for r in reports] == [("rsa", True), ("ed25519", True)]
    # -d narrows the table
    result = run_cli(*args, "-d", "EXAMPLE.net")  # names compare case-insensitively
    assert result.stdout.startswith("ed._domainkey.example.net: key OK")  # the table's entry
    assert len(result.stdout.splitlines()) == 1
    # a missing key file in the table: 66, naming it
    Path("KeyTable").write_text("rsa example.com:rsa:gone.private\n")
    assert_error(run_cli(*args), 66, "gone.private")
    # ... and it does not hide the other entries: they are still checked and reported
    Path("KeyTable").write_text("rsa example.com:rsa:gone.private\ned example.net:ed:ed.private\n")
    result = run_cli(*args)
    assert result.code == 66, result
    assert result.stdout.startswith("ed._domainkey.example.net: key OK"), result
    assert result.stderr.count("dkimtool: error:") == 1 and "gone.private" in result.stderr
    reports = [json.loads(line) for line in run_cli(*args, "--json").stdout.splitlines()]
    assert [(r["name"], r["ok"]) for r in reports] == [
        ("rsa._domainkey.example.com", False),
        ("ed._domainkey.example.net", True),
    ]
    assert "gone.private" in reports[0]["error"]
    # an unsupported dataset: 78 naming the KeyTable line of the config
    Path("opendkim.conf").write_text("Syslog yes\nKeyTable db:/etc/kt.db\n")
    assert_error(run_cli(*args), 78, "opendkim.conf:2: ", "db:")
