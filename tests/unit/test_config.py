"""The dkim.conf/opendkim.conf parser."""

from __future__ import annotations

from pathlib import Path

import pytest

from dkimtool.core.config import DkimConfig, load_config, parse_config
from dkimtool.core.errors import EX_CONFIG, ConfigError

# Debian 12's stock /etc/opendkim.conf (opendkim 2.11.0~beta2-8+deb12u1), verbatim.
DEBIAN_OPENDKIM_CONF = """\
# This is a basic configuration for signing and verifying. It can easily be
# adapted to suit a basic installation. See opendkim.conf(5) and
# /usr/share/doc/opendkim/examples/opendkim.conf.sample for complete
# documentation of available configuration parameters.

Syslog			yes
SyslogSuccess		yes
#LogWhy			no

# Common signing and verification parameters. In Debian, the "From" header is
# oversigned, because it is often the identity key used by reputation systems
# and thus somewhat security sensitive.
Canonicalization	relaxed/simple
#Mode			sv
#SubDomains		no
OversignHeaders		From

# Signing domain, selector, and key (required). For example, perform signing
# for domain "example.com" with selector "2020" (2020._domainkey.example.com),
# using the private key stored in /etc/dkimkeys/example.private. More granular
# setup options can be found in /usr/share/doc/opendkim/README.opendkim.
#Domain			example.com
#Selector		2020
#KeyFile		/etc/dkimkeys/example.private

# In Debian, opendkim runs as user "opendkim". A umask of 007 is required when
# using a local socket with MTAs that access the socket as a non-privileged
# user (for example, Postfix). You may need to add user "postfix" to group
# "opendkim" in that case.
UserID			opendkim
UMask			007

# Socket for the MTA connection (required). If the MTA is inside a chroot jail,
# it must be ensured that the socket is accessible. In Debian, Postfix runs in
# a chroot in /var/spool/postfix, therefore a Unix socket would have to be
# configured as shown on the last line below.
Socket			local:/run/opendkim/opendkim.sock
#Socket			inet:8891@localhost
#Socket			inet:8891
#Socket			local:/var/spool/postfix/opendkim/opendkim.sock

PidFile			/run/opendkim/opendkim.pid

# Hosts for which to sign rather than verify, default is 127.0.0.1. See the
# OPERATION section of opendkim(8) for more information.
#InternalHosts		192.168.0.0/16, 10.0.0.0/8, 172.16.0.0/12

# The trust anchor enables DNSSEC. In Debian, the trust anchor file is provided
# by the package dns-root-data.
TrustAnchorFile		/usr/share/dns/root.key
#Nameservers		127.0.0.1
"""


def parse(text: str, path: str = "/etc/dkim/dkim.conf") -> DkimConfig:
    return parse_config(text, Path(path))


def config_error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text)
    assert info.value.exit_code == EX_CONFIG
    return info.value


def test_keys_values_and_comments() -> None:
    config = parse(
        "# a comment\n"
        "\n"
        "   # an indented comment\n"
        "Domain\texample.com   # trailing comment\n"
        "selector   mail\n"
        "KEYFILE /etc/dkim/mail.private\n"
        "Socket inet:8891@localhost\n"
        "X-Header yes\n"
        "On-BadSignature reject\n"
    )
    assert config.get("Domain") == "example.com"
    assert config.get("domain") == config.get("DOMAIN") == "example.com"
    assert config.get("Selector") == "mail"
    assert config.get("KeyFile") == "/etc/dkim/mail.private"
    assert config.get("socket") == "inet:8891@localhost"
    assert config.get("Mode") is None
    entry = config.entry("keyfile")
    assert entry is not None and entry.key == "KeyFile" and entry.line == 6


def test_hash_inside_a_value_is_not_a_comment() -> None:
    config = parse("KeyFile /etc/dkim/a#b.private\n")
    assert config.get("KeyFile") == "/etc/dkim/a#b.private"


def test_crlf_line_ends() -> None:
    assert parse("Domain example.com\r\nSelector s\r\n").get("Selector") == "s"


def test_a_later_line_wins() -> None:
    config = parse("Selector one\nSelector two\n")
    entry = config.entry("Selector")
    assert entry is not None and (entry.value, entry.line) == ("two", 2)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("yes", True),
        ("YES", True),
        ("Yes", True),
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("1", True),
        ("no", False),
        ("No", False),
        ("NO", False),
        ("false", False),
        ("False", False),
        ("FALSE", False),
        ("0", False),
    ],
)
def test_booleans_in_any_case(value: str, expected: bool) -> None:
    assert parse(f"SubDomains {value}\n").get_bool("SubDomains") is expected


def test_bad_boolean_names_file_and_line() -> None:
    config = parse("Domain example.com\nSubDomains maybe\n")
    with pytest.raises(ConfigError, match=r"^/etc/dkim/dkim.conf:2: .*maybe") as info:
        config.get_bool("subdomains")
    assert info.value.exit_code == EX_CONFIG
    assert config.get_bool("Mode") is None


def test_numbers_and_lists() -> None:
    config = parse("DNSTimeout 7\nMinimumKeyBits x\nNameservers 192.0.2.1, [2001:db8::1]:53 ,\n")
    assert config.get_int("DNSTimeout") == 7
    assert config.get_int("Selector") is None
    with pytest.raises(ConfigError, match=":2: "):
        config.get_int("MinimumKeyBits")
    assert config.get_list("Nameservers") == ["192.0.2.1", "[2001:db8::1]:53"]
    assert config.get_list("Domain") is None


def test_relative_paths_are_relative_to_the_config_file() -> None:
    config = parse("KeyFile keys/mail.private\nKeyTable /abs/key.table\n", "/etc/dkim/dkim.conf")
    assert config.get_path("KeyFile") == "/etc/dkim/keys/mail.private"
    assert config.get_path("KeyTable") == "/abs/key.table"
    assert config.get_path("Domain") is None


def test_relative_config_path_resolves_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "dkim.conf").write_text("KeyFile mail.private\n")
    monkeypatch.chdir(tmp_path)
    key_path = load_config("conf/dkim.conf").get_path("KeyFile")
    assert key_path is not None
    assert Path(key_path).resolve() == tmp_path / "conf" / "mail.private"


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("Domain example.com\nNoSuchKey 1\n", 2, "unknown key 'NoSuchKey'"),
        ("Domain example.com\n\n= value\n", 3, "malformed line"),
        ("Domain example.com\n9Lives yes\n", 2, "malformed line"),
        ("Selector\n", 1, "Selector has no value"),
        ("Domain example.com\nSelector   # only a comment\n", 2, "no value"),
    ],
)
def test_bad_lines_name_file_and_line(text: str, line: int, fragment: str) -> None:
    error = config_error(text)
    assert error.line == line
    assert str(error).startswith(f"/etc/dkim/dkim.conf:{line}: ")
    assert fragment in str(error)


def test_every_documented_key_is_accepted() -> None:
    keys = [
        "Domain",
        "Selector",
        "KeyFile",
        "Canonicalization",
        "SignatureAlgorithm",
        "SignHeaders",
        "OversignHeaders",
        "MinimumKeyBits",
        "Nameservers",
        "DNSTimeout",
        "Socket",
        "Mode",
        "InternalHosts",
        "X-Header",
        "Syslog",
        "Userid",
        "MTA",
        "KeyTable",
        "SigningTable",
        "UMask",
        "SubDomains",
        "TrustAnchorFile",
    ]
    config = parse("".join(f"{key} 1\n" for key in keys))
    assert all(config.get(key) == "1" for key in keys)


def test_ignored_keys_are_the_non_cli_ones() -> None:
    config = parse("Domain example.com\nSocket inet:8891\nsyslog yes\nKeyFile k\n")
    assert config.ignored_keys() == ["Socket", "Syslog"]


def test_debian_stock_opendkim_conf_is_accepted() -> None:
    config = parse(DEBIAN_OPENDKIM_CONF, "/etc/opendkim.conf")
    assert config.get("Canonicalization") == "relaxed/simple"
    assert config.get("OversignHeaders") == "From"
    assert config.get("Domain") is None  # commented out in the stock file
    assert config.get_bool("Syslog") is True


def test_the_installed_opendkim_conf_if_any() -> None:
    installed = Path("/etc/opendkim.conf")
    if not installed.is_file():
        pytest.skip("no /etc/opendkim.conf on this machine (the embedded copy is tested)")
    assert load_config(str(installed)).path == installed


def test_error_objects_name_the_key_line() -> None:
    config = parse("Domain example.com\nSelector bad/one\n")
    error = config.error("Selector", "invalid selector")
    assert (error.path, error.line) == ("/etc/dkim/dkim.conf", 2)
    assert str(error) == "/etc/dkim/dkim.conf:2: invalid selector"


def test_unreadable_and_undecodable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read") as info:
        load_config(str(tmp_path / "missing.conf"))
    assert info.value.exit_code == EX_CONFIG
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(str(tmp_path))
    latin1 = tmp_path / "latin1.conf"
    latin1.write_bytes(b"Domain b\xfccher.example\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(str(latin1))
