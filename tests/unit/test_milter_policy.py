"""dkimtool.core.milter_policy: settings, host lists, keys per From domain, decisions,
On-* replies and the header plan. Pure: no milter, no network."""

from __future__ import annotations

from pathlib import Path

import pytest

from dkimtool.core.config import load_config, parse_config
from dkimtool.core.errors import ConfigError, UsageError
from dkimtool.core.milter_policy import (
    DEFAULT_ACTIONS,
    Action,
    Client,
    Condition,
    DeleteHeader,
    HostList,
    InsertHeader,
    KeyPlan,
    KeyRef,
    MilterSettings,
    Overrides,
    SigningSetup,
    Verdict,
    authserv_id_of,
    from_address,
    header_plan,
    load_settings,
    parse_action,
    parse_socket,
    reply_for,
    verify_condition,
    x_dkim_value,
)
from dkimtool.core.results import AuthResult


def settings_from(tmp_path: Path, text: str, cli: Overrides | None = None) -> MilterSettings:
    path = tmp_path / "dkim.conf"
    path.write_text(text)
    return load_settings(load_config(str(path)), cli or Overrides())


# --- host lists ------------------------------------------------------------------------------


def test_hosts_ips_networks_and_names() -> None:
    hosts = HostList.parse(
        ["127.0.0.1", "10.0.0.0/8", "[2001:db8::]/32", "::1", "host1.example.com", ".corp.example"]
    )
    assert hosts.matches(None, "127.0.0.1")
    assert hosts.matches(None, "10.200.3.4")
    assert not hosts.matches(None, "11.0.0.1")
    assert hosts.matches(None, "2001:db8::25")
    assert hosts.matches(None, "IPv6:::1")
    assert hosts.matches(None, "::ffff:127.0.0.1")  # v4-mapped
    assert hosts.matches("HOST1.example.com.", "192.0.2.1")
    assert hosts.matches("a.b.corp.example", "192.0.2.1")
    assert not hosts.matches("corp.example", "192.0.2.1")  # ".x" means under x only
    assert not hosts.matches("[host1.example.com]", "192.0.2.1")  # unverified name


def test_hosts_exclusions_win() -> None:
    hosts = HostList.parse(["10.0.0.0/8", "!10.9.0.0/16", ".example.com", "!bad.example.com"])
    assert hosts.matches(None, "10.1.1.1")
    assert not hosts.matches(None, "10.9.1.1")
    assert hosts.matches("good.example.com", None)
    assert not hosts.matches("bad.example.com", "10.1.1.1")


@pytest.mark.parametrize("entry", ["", "!", "bad host", "a/b/c", "-x.example"])
def test_hosts_bad_entries(entry: str) -> None:
    with pytest.raises(ValueError):
        HostList.parse([entry])


def test_default_internal_hosts_is_loopback_v4_only() -> None:
    settings = load_settings(None, Overrides())
    assert settings.internal_hosts.matches(None, "127.0.0.1")
    assert not settings.internal_hosts.matches(None, "127.0.0.2")
    assert not settings.internal_hosts.matches("localhost", None)


def test_internal_hosts_file_with_names_ips_cidrs_and_comments(tmp_path: Path) -> None:
    (tmp_path / "internal").write_text(
        "# the guide's file\nhost1.my_domain_name.com\n127.0.0.1\n192.0.2.0/24  # lab\n"
    )
    settings = settings_from(tmp_path, "InternalHosts internal\n")
    assert settings.internal_hosts.matches("host1.my_domain_name.com", "198.51.100.1")
    assert settings.internal_hosts.matches(None, "192.0.2.77")


def test_internal_hosts_bad_line_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "internal").write_text("127.0.0.1\n\nnot a host\n")
    with pytest.raises(ConfigError, match=r"internal:3: .*not a host"):
        settings_from(tmp_path, "InternalHosts /" + str(tmp_path / "internal").lstrip("/"))


def test_internal_hosts_inline_list(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, "InternalHosts 127.0.0.1, 10.0.0.0/8\n")
    assert settings.internal_hosts.matches(None, "10.1.2.3")


# --- sockets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "libmilter"),
    [
        ("inet:8891@localhost", "inet:8891@localhost"),
        ("inet:8891", "inet:8891"),
        ("inet6:8891@[::1]", "inet6:8891@::1"),
        ("unix:/run/dkimtool/milter.sock", "unix:/run/dkimtool/milter.sock"),
        ("local:/run/x.sock", "unix:/run/x.sock"),
        ("/run/x.sock", "unix:/run/x.sock"),
    ],
)
def test_socket_forms(value: str, libmilter: str) -> None:
    assert parse_socket(value).libmilter == libmilter


def test_socket_postfix_spelling_gets_a_hint() -> None:
    with pytest.raises(ValueError, match=r"Postfix's spelling; here it is inet:8891@localhost"):
        parse_socket("inet:localhost:8891")


@pytest.mark.parametrize("value", ["inet:0@x", "inet:70000@x", "tcp:1@x", "unix:rel", "inet:1@"])
def test_socket_errors(value: str) -> None:
    with pytest.raises(ValueError):
        parse_socket(value)


def test_bad_socket_in_config_is_78_with_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"dkim.conf:2: Socket: "):
        settings_from(tmp_path, "Mode v\nSocket inet:localhost:8891\n")


def test_bad_socket_on_command_line_is_usage() -> None:
    with pytest.raises(UsageError):
        load_settings(None, Overrides(socket="bogus"))


# --- actions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "action"),
    [("accept", Action.ACCEPT), ("r", Action.REJECT), ("Tempfail", Action.TEMPFAIL),
     ("q", Action.QUARANTINE), ("discard", Action.DISCARD)],
)  # fmt: skip
def test_parse_action(word: str, action: Action) -> None:
    assert parse_action(word) == action


def test_parse_action_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        parse_action("bounce")


def test_replies() -> None:
    actions = dict(DEFAULT_ACTIONS)
    dns = reply_for(Condition.DNS_ERROR, actions)
    assert (dns.action, dns.rcode, dns.xcode) == (Action.TEMPFAIL, "451", "4.4.3")
    internal = reply_for(Condition.INTERNAL_ERROR, actions)
    assert (internal.rcode, internal.xcode) == ("451", "4.3.0")
    assert reply_for(Condition.BAD_SIGNATURE, actions).action == Action.ACCEPT
    actions[Condition.BAD_SIGNATURE] = Action.REJECT
    bad = reply_for(Condition.BAD_SIGNATURE, actions)
    assert (bad.rcode, bad.xcode) == ("550", "5.7.20")


def test_on_keys_in_config(tmp_path: Path) -> None:
    settings = settings_from(
        tmp_path,
        "On-BadSignature reject\nOn-DNSError accept\nOn-KeyNotFound q\nOn-InternalError t\n",
    )
    assert settings.actions[Condition.BAD_SIGNATURE] == Action.REJECT
    assert settings.actions[Condition.DNS_ERROR] == Action.ACCEPT
    assert settings.actions[Condition.KEY_NOT_FOUND] == Action.QUARANTINE
    assert settings.actions[Condition.INTERNAL_ERROR] == Action.TEMPFAIL


def test_on_default_fills_the_rest(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, "On-Default reject\nOn-DNSError tempfail\n")
    assert settings.actions[Condition.BAD_SIGNATURE] == Action.REJECT
    assert settings.actions[Condition.DNS_ERROR] == Action.TEMPFAIL


def test_bad_on_value_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"dkim.conf:3: On-BadSignature: expected accept"):
        settings_from(tmp_path, "Mode v\n\nOn-BadSignature bounce\n")


# --- From addresses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "address", "domain"),
    [
        (" User <user@Example.COM>", "user@Example.COM", "example.com"),
        (' "Doe, Jane" <jane@example.org> (work)', "jane@example.org", "example.org"),
        (" root@host1.example.com\r\n", "root@host1.example.com", "host1.example.com"),
        (" a@one.example, b@two.example", "a@one.example", "one.example"),
        (" <user@bücher.example>", "user@bücher.example", "xn--bcher-kva.example"),
        (" undisclosed-recipients:;", None, None),
        (" no-at-sign", None, None),
    ],
)
def test_from_address(value: str, address: str | None, domain: str | None) -> None:
    assert from_address(value) == (address, domain)


def test_from_address_missing() -> None:
    assert from_address(None) == (None, None)


# --- which keys sign -----------------------------------------------------------------------


def simple_setup(**kw: object) -> SigningSetup:
    return SigningSetup(domains=("example.com",), selector_keys=(("mail", "/k"),), **kw)  # type: ignore[arg-type]


def test_domain_form_signs_exact_domain_only() -> None:
    setup = simple_setup()
    assert setup.keys_for("u@example.com", "example.com") == [
        KeyPlan("example.com", (KeyRef("mail", "example.com", "mail", "/k"),))
    ]
    assert setup.keys_for("u@host1.example.com", "host1.example.com") == []
    assert setup.near_miss("host1.example.com") == "example.com"


def test_subdomains_sign_with_the_parent_domain() -> None:
    setup = simple_setup(subdomains=True)
    [plan] = setup.keys_for("root@host1.example.com", "host1.example.com")
    assert plan.domain == "example.com"
    assert setup.near_miss("host1.example.com") is None
    assert setup.keys_for("u@notexample.com", "notexample.com") == []


def write_tables(tmp_path: Path, signing: str, multiple: bool = True) -> MilterSettings:
    (tmp_path / "keytable").write_text(
        "rsa-ex example.com:rsa:/keys/ex-rsa.private\n"
        "ed-ex  example.com:ed:/keys/ex-ed.private\n"
        "other  other.example:mail:keys/other.private\n"
    )
    (tmp_path / "signingtable").write_text(signing)
    return settings_from(
        tmp_path,
        "KeyTable file:keytable\n"
        f"SigningTable {'refile:' if '*' in signing else ''}signingtable\n"
        f"MultipleSignatures {'yes' if multiple else 'no'}\n",
    )


def test_key_and_signing_tables_dual_signing(tmp_path: Path) -> None:
    settings = write_tables(
        tmp_path, "example.com rsa-ex\nexample.com ed-ex\nother.example other\n"
    )
    [plan] = settings.signing.keys_for("u@example.com", "example.com")
    assert plan.domain == "example.com"
    assert [k.selector for k in plan.keys] == ["rsa", "ed"]
    [other] = settings.signing.keys_for("x@other.example", "other.example")
    assert other.keys[0].key_file == str(tmp_path / "keys/other.private")
    assert settings.signing.keys_for("u@nobody.example", "nobody.example") == []


def test_signing_table_first_match_without_multiple(tmp_path: Path) -> None:
    settings = write_tables(tmp_path, "example.com rsa-ex\nexample.com ed-ex\n", multiple=False)
    [plan] = settings.signing.keys_for("u@example.com", "example.com")
    assert [k.selector for k in plan.keys] == ["rsa"]


def test_refile_signing_table(tmp_path: Path) -> None:
    settings = write_tables(tmp_path, "*@example.com rsa-ex,ed-ex\n*@*.other.example other\n")
    [plan] = settings.signing.keys_for("u@example.com", "example.com")
    assert len(plan.keys) == 2
    [other] = settings.signing.keys_for("u@mx.other.example", "mx.other.example")
    assert other.domain == "other.example"


def test_signing_table_unknown_key_name(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"signingtable:2: key name 'nope' is not in the KeyTable"
    ):
        write_tables(tmp_path, "example.com rsa-ex\nexample.com nope\n")


def test_key_table_bad_line(tmp_path: Path) -> None:
    (tmp_path / "kt").write_text("good example.com:s:/k\nbad example.com/s/k\n")
    with pytest.raises(ConfigError, match=r"kt:2: expected 'NAME DOMAIN:SELECTOR:KEYFILE'"):
        settings_from(tmp_path, "KeyTable kt\n")


def test_key_table_without_signing_table_uses_the_domain(tmp_path: Path) -> None:
    (tmp_path / "kt").write_text("a example.com:rsa:/a\nb example.com:ed:/b\n")
    settings = settings_from(tmp_path, "KeyTable kt\nMultipleSignatures yes\n")
    [plan] = settings.signing.keys_for("u@example.com", "example.com")
    assert [k.selector for k in plan.keys] == ["rsa", "ed"]


def test_missing_key_table_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"dkim.conf:1: KeyTable: cannot read"):
        settings_from(tmp_path, "KeyTable /nonexistent/keytable\n")


def test_domain_file_and_list(tmp_path: Path) -> None:
    (tmp_path / "domains").write_text("example.com\n# c\nexample.org other.example\n")
    settings = settings_from(tmp_path, "Domain domains\nSelector mail\nKeyFile /k\n")
    assert settings.signing.domains == ("example.com", "example.org", "other.example")
    settings = settings_from(tmp_path, "Domain a.example, b.example\nSelector s\nKeyFile k\n")
    assert settings.signing.domains == ("a.example", "b.example")
    assert settings.signing.selector_keys == (("s", str(tmp_path / "k")),)


def test_bad_domain_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"dkim.conf:2: Domain: "):
        settings_from(tmp_path, "Selector s\nDomain bad/domain\nKeyFile k\n")


def test_selector_without_domain(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no Domain"):
        settings_from(tmp_path, "Selector s\nKeyFile k\n")


def test_command_line_overrides(tmp_path: Path) -> None:
    settings = settings_from(
        tmp_path,
        "Domain example.com\nSelector mail\nKeyFile k\nSocket inet:1@localhost\n",
        Overrides(
            socket="inet:2@127.0.0.1",
            domains=("example.org",),
            selectors=("s1", "s2"),
            key_files=("/a", "/b"),
            canonicalization="simple",
            mta_names=("MSA",),
            x_header=True,
        ),
    )
    assert settings.socket.port == 2
    assert settings.signing.domains == ("example.org",)
    assert settings.signing.selector_keys == (("s1", "/a"), ("s2", "/b"))
    assert (settings.header_canonicalization, settings.body_canonicalization) == (
        "simple",
        "simple",
    )
    assert settings.mta_names == {"msa"}
    assert settings.x_header


def test_unequal_selectors_and_keys() -> None:
    with pytest.raises(UsageError, match="pairs"):
        load_settings(None, Overrides(domains=("e.com",), selectors=("a", "b"), key_files=("k",)))


def test_guide_config_loads_with_sha1_warning(tmp_path: Path) -> None:
    """The dkim.conf of the classic setup guide, as is."""
    (tmp_path / "dkim-internal-hosts").write_text("host1.my_domain_name.com\n127.0.0.1\n")
    settings = settings_from(
        tmp_path,
        "Canonicalization simple\nDomain host1.my_domain_name.com\n"
        "KeyFile /var/db/dkim/mail.key.pem\nMTA MSA\nSelector mail\n"
        "Socket inet:8891@localhost\nSignatureAlgorithm rsa-sha1\nSyslog Yes\nUserid dkim\n"
        f"X-Header Yes\nMode sv\nInternalHosts {tmp_path}/dkim-internal-hosts\n",
    )
    assert settings.sign and settings.verify
    assert settings.algorithm == "rsa-sha256"
    assert any("rsa-sha1" in w for w in settings.warnings)
    assert (settings.header_canonicalization, settings.body_canonicalization) == (
        "simple",
        "simple",
    )
    assert settings.userid == "dkim" and settings.syslog and settings.x_header
    assert settings.mta_names == {"msa"}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("Mode x", "Mode must be s, v or sv"),
        ("Canonicalization fancy", "invalid canonicalization"),
        ("SignatureAlgorithm rsa-md5", "unknown algorithm"),
        ("MinimumKeyBits 512", "below 1024"),
        ("AuthservID two words", "one token"),
        ("DNSTimeout 0", "positive"),
    ],
)
def test_config_errors_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"dkim.conf:2: .*{message}"):
        settings_from(tmp_path, f"Syslog no\n{line}\n")


def test_mode_s_without_keys_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no key is configured"):
        settings_from(tmp_path, "Mode s\n")


def test_default_mode_without_keys_verifies_only() -> None:
    settings = load_settings(None, Overrides())
    assert (settings.sign, settings.verify) == (False, True)


def test_other_opendkim_keys_are_reported_as_ignored(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, "AutoRestart yes\nMode v\n")
    assert settings.ignored_keys == ("AutoRestart",)


def test_unknown_key_is_78(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"dkim.conf:1: unknown key 'Sockett'"):
        parse_config("Sockett inet:1@x\n", tmp_path / "dkim.conf")


# --- the decision ----------------------------------------------------------------------------


@pytest.fixture
def signer_settings() -> MilterSettings:
    return load_settings(
        None,
        Overrides(
            domains=("example.com",), selectors=("mail",), key_files=("/k",), mta_names=("MSA",)
        ),
    )


def test_internal_host_with_key_signs(signer_settings: MilterSettings) -> None:
    decision = signer_settings.decide(Client("localhost", "127.0.0.1"), " <a@example.com>")
    assert decision.verdict == Verdict.SIGN
    assert decision.plans[0].domain == "example.com"


def test_authenticated_sender_signs(signer_settings: MilterSettings) -> None:
    client = Client("dyn.isp.example", "198.51.100.9", auth_authen="alice")
    decision = signer_settings.decide(client, " a@example.com")
    assert decision.verdict == Verdict.SIGN
    assert "alice" in decision.why


def test_msa_daemon_signs(signer_settings: MilterSettings) -> None:
    client = Client("x", "198.51.100.9", daemon_name="MSA")
    assert signer_settings.decide(client, " a@example.com").verdict == Verdict.SIGN


def test_internal_without_key_verifies_and_explains(signer_settings: MilterSettings) -> None:
    decision = signer_settings.decide(Client(None, "127.0.0.1"), " root@host1.example.com")
    assert decision.verdict == Verdict.VERIFY
    assert "SubDomains yes" in decision.why


def test_external_verifies_and_flags_our_domain(signer_settings: MilterSettings) -> None:
    decision = signer_settings.decide(Client("evil.example", "127.0.0.2"), " a@example.com")
    assert decision.verdict == Verdict.VERIFY
    assert decision.log_external
    other = signer_settings.decide(Client("x", "127.0.0.2"), " a@example.net")
    assert not other.log_external


def test_external_ignore_list_silences_the_flag(tmp_path: Path) -> None:
    settings = settings_from(
        tmp_path,
        "Domain example.com\nSelector s\nKeyFile k\nExternalIgnoreList 192.0.2.0/24\n",
    )
    decision = settings.decide(Client(None, "192.0.2.5"), " a@example.com")
    assert decision.verdict == Verdict.VERIFY and not decision.log_external


def test_sign_only_mode_ignores_external(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, "Mode s\nDomain example.com\nSelector s\nKeyFile k\n")
    assert settings.decide(Client(None, "127.0.0.2"), " a@x.example").verdict == Verdict.IGNORE
    assert settings.decide(Client(None, "127.0.0.1"), " a@example.com").verdict == Verdict.SIGN


def test_verify_only_mode_never_signs(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, "Mode v\nDomain example.com\nSelector s\nKeyFile k\n")
    assert settings.decide(Client(None, "127.0.0.1"), " a@example.com").verdict == Verdict.VERIFY


def test_no_from_is_verified_not_signed(signer_settings: MilterSettings) -> None:
    assert signer_settings.decide(Client(None, "127.0.0.1"), None).verdict == Verdict.VERIFY


# --- verification outcome ---------------------------------------------------------------------


P, F, T, E, N = (
    AuthResult.PASS,
    AuthResult.FAIL,
    AuthResult.TEMPERROR,
    AuthResult.PERMERROR,
    AuthResult.NEUTRAL,
)


@pytest.mark.parametrize(
    ("results", "condition"),
    [
        ([], Condition.NO_SIGNATURE),
        ([(P, "")], None),
        ([(F, "body hash did not verify"), (P, "")], None),
        ([(F, "x"), (T, "temporary dns failure: timeout")], Condition.DNS_ERROR),
        ([(E, "no key record")], Condition.KEY_NOT_FOUND),
        ([(E, "no key record"), (F, "signature did not verify")], Condition.BAD_SIGNATURE),
        ([(E, "malformed key record (x)")], Condition.BAD_SIGNATURE),
        ([(AuthResult.POLICY, "rsa-sha1 not allowed")], Condition.BAD_SIGNATURE),
        ([(N, "not evaluated")], Condition.BAD_SIGNATURE),
    ],
)
def test_verify_condition(
    results: list[tuple[AuthResult, str]], condition: Condition | None
) -> None:
    assert verify_condition(results) == condition


# --- header plan -----------------------------------------------------------------------------


def test_authserv_id_of() -> None:
    assert authserv_id_of(" mx.example.com; dkim=pass") == "mx.example.com"
    assert authserv_id_of(" (comment) MX.Example.COM 1; none") == "mx.example.com"
    assert authserv_id_of(' "mx.example.com"; none') == "mx.example.com"
    assert authserv_id_of(" \n\tmx.example.com;\n\tdkim=pass") == "mx.example.com"
    assert authserv_id_of("   ") is None


def test_header_plan_removes_forgeries_last_first_and_inserts_at_top() -> None:
    received = [
        ("Received", " from x"),
        ("Authentication-Results", " mx.example.com; dkim=pass"),
        ("authentication-results", " other.example; dkim=fail"),
        ("From", " a@example.com"),
        ("AUTHENTICATION-RESULTS", " (forged)\n\tMX.EXAMPLE.COM; spf=pass"),
    ]
    ops = header_plan(
        received,
        "mx.example.com",
        [("X-DKIM", " x"), ("DKIM-Signature", " v=1; ...")],
    )
    assert ops == [
        DeleteHeader("Authentication-Results", 3),
        DeleteHeader("Authentication-Results", 1),
        InsertHeader("DKIM-Signature", " v=1; ...", 0),
        InsertHeader("X-DKIM", " x", 0),
    ]


def test_header_plan_nothing_to_do() -> None:
    assert header_plan([("From", " a@b")], "mx", []) == []


def test_x_dkim_value() -> None:
    assert x_dkim_value("1.2.3", "mx.example.com", "4Xyz") == "dkimtool 1.2.3 mx.example.com 4Xyz"
    assert x_dkim_value("1.2.3", "mx.example.com", None) == "dkimtool 1.2.3 mx.example.com"
