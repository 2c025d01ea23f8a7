"""``dkimtool genkey``: every row of the contract's option table, through the CLI."""

from __future__ import annotations

import base64
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from dkimtool.core import keys
from dkimtool.core.record import KeyRecord
from tests.conftest import CliResult, RunCli, assert_error, pooled_rsa_key, zone_strings

pytestmark = pytest.mark.usefixtures("fast_keygen")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def record_of(txt: Path) -> KeyRecord:
    return KeyRecord.parse("".join(zone_strings(txt.read_text())))


def snapshot(directory: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file under DIRECTORY with its bytes, mtime and mode."""
    return {
        str(path.relative_to(directory)): (
            path.read_bytes() if path.is_file() else b"",
            path.lstat().st_mtime_ns,
            path.lstat().st_mode,
        )
        for path in sorted(directory.rglob("*"))
    }


@pytest.fixture
def umask_zero() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_defaults(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("genkey", "-d", "example.com")
    assert result.code == 0, result
    private, txt = tmp_path / "default.private", tmp_path / "default.txt"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["default.private", "default.txt"]
    assert private.read_bytes().startswith(b"-----BEGIN RSA PRIVATE KEY-----\n")
    loaded = keys.load_key(private.read_bytes())
    assert loaded.key_type == "rsa" and loaded.bits == 2048
    assert result.stdout == txt.read_text()  # the record is the payload on stdout
    assert txt.read_text().startswith("default._domainkey\tIN\tTXT\t( ")
    assert txt.read_text().endswith("  ; ----- DKIM key default for example.com\n")
    record = record_of(txt)
    assert record.to_text() == f"v=DKIM1; k=rsa; p={keys.p_value(loaded.public)}"
    assert "default._domainkey.example.com" in result.stderr
    assert "dkimtool: warning" not in result.stderr and "error" not in result.stderr


def test_selector_names_the_files(run_cli: RunCli, tmp_path: Path) -> None:
    assert run_cli("genkey", "-d", "example.com", "-s", "mail.2026").code == 0
    assert (tmp_path / "mail.2026.private").is_file()
    text = (tmp_path / "mail.2026.txt").read_text()
    assert text.startswith("mail.2026._domainkey\t")
    assert text.endswith("; ----- DKIM key mail.2026 for example.com\n")


def test_ed25519(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("genkey", "-d", "example.com", "-s", "ed", "-a", "ed25519", "--json")
    assert result.code == 0, result
    pem = (tmp_path / "ed.private").read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    loaded = keys.load_key(pem)
    assert isinstance(loaded.private, ed25519.Ed25519PrivateKey)
    record = record_of(tmp_path / "ed.txt")
    assert record.k == "ed25519" and record.to_text().startswith("v=DKIM1; k=ed25519; p=")
    assert keys.keys_match(record.public_key().public, loaded.public)
    assert json.loads(result.stdout)["bits"] == 256


def test_keys_are_fresh_each_time(run_cli: RunCli, tmp_path: Path) -> None:
    for selector in ("one", "two"):
        assert run_cli("genkey", "-d", "example.com", "-s", selector, "-a", "ed25519").code == 0
    assert record_of(tmp_path / "one.txt").p != record_of(tmp_path / "two.txt").p


def test_real_rsa_generation(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.undo()  # no pooled keys: this one is made by genkey itself
    monkeypatch.chdir(tmp_path)
    assert run_cli("genkey", "-d", "example.com", "-b", "1024", "-q").code == 0
    loaded = keys.load_key((tmp_path / "default.private").read_bytes())
    assert isinstance(loaded.private, rsa.RSAPrivateKey) and loaded.bits == 1024
    assert not keys.keys_match(loaded.public, pooled_rsa_key(1024).public_key())


@pytest.mark.parametrize("bits", ["512", "1023", "4097", "8192", "0", "-1", "x"])
def test_bits_out_of_range_exit_2(run_cli: RunCli, tmp_path: Path, bits: str) -> None:
    assert_error(run_cli("genkey", "-d", "example.com", "-b", bits), 2, "-b")
    assert list(tmp_path.iterdir()) == []


def test_1024_bits_warn(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("genkey", "-d", "example.com", "-b", "1024", "--json")
    assert result.code == 0
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and warnings[0].startswith("dkimtool: warning: ")
    assert "1024" in warnings[0] and "2048" in warnings[0]
    assert json.loads(result.stdout)["bits"] == 1024


def test_4096_bits(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("genkey", "-d", "example.com", "-b", "4096", "--json")
    assert result.code == 0 and result.stderr == ""
    assert json.loads(result.stdout)["bits"] == 4096
    assert keys.load_key((tmp_path / "default.private").read_bytes()).bits == 4096
    strings = zone_strings((tmp_path / "default.txt").read_text())
    assert len(strings) == 3
    assert all(len(s.encode()) <= 255 for s in strings)


def test_directory_is_created_0700(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("genkey", "-d", "example.com", "-s", "mail", "-D", "keys/example.com")
    assert result.code == 0, result
    target = tmp_path / "keys" / "example.com"
    assert mode_of(target) == 0o700
    assert sorted(p.name for p in target.iterdir()) == ["mail.private", "mail.txt"]
    assert json.loads(run_cli("genkey", "-d", "e.com", "-D", str(target), "--json").stdout)[
        "private_key"
    ] == str(target / "default.private")


def test_existing_directory_keeps_its_mode(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir(mode=0o755)
    (tmp_path / "keys").chmod(0o755)
    assert run_cli("genkey", "-d", "example.com", "-D", "keys").code == 0
    assert mode_of(tmp_path / "keys") == 0o755


def test_files_modes_from_creation_under_umask_000(
    run_cli: RunCli, tmp_path: Path, umask_zero: None
) -> None:
    assert run_cli("genkey", "-d", "example.com", "-D", "out").code == 0
    out = tmp_path / "out"
    assert mode_of(out) == 0o700
    assert mode_of(out / "default.private") == 0o600
    assert mode_of(out / "default.txt") == 0o644
    assert sorted(p.name for p in out.iterdir()) == ["default.private", "default.txt"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["-t"], "v=DKIM1; k=rsa; t=y; p="),
        (["--testmode"], "v=DKIM1; k=rsa; t=y; p="),
        (["-S"], "v=DKIM1; k=rsa; t=s; p="),
        (["--no-subdomains"], "v=DKIM1; k=rsa; t=s; p="),
        (["-t", "-S"], "v=DKIM1; k=rsa; t=y:s; p="),
        (["-S", "-t"], "v=DKIM1; k=rsa; t=y:s; p="),
        (["-r"], "v=DKIM1; k=rsa; s=email; p="),
        (["--restrict"], "v=DKIM1; k=rsa; s=email; p="),
        (["-h", "sha256"], "v=DKIM1; h=sha256; k=rsa; p="),
        (["--hash-algorithms", "sha1:sha256"], "v=DKIM1; h=sha1:sha256; k=rsa; p="),
        (["-n", "hello"], "v=DKIM1; k=rsa; n=hello; p="),
        (
            ["-t", "-S", "-r", "-h", "sha256", "-n", "x"],
            "v=DKIM1; h=sha256; k=rsa; n=x; s=email; t=y:s; p=",
        ),
        (
            ["-a", "ed25519", "-n", "x", "-r", "-t", "-h", "sha256"],
            "v=DKIM1; h=sha256; k=ed25519; n=x; s=email; t=y; p=",
        ),
    ],
)
def test_record_options_and_tag_order(
    run_cli: RunCli, tmp_path: Path, options: list[str], expected: str
) -> None:
    result = run_cli("genkey", "-d", "example.com", *options, "--json")
    assert result.code == 0, result
    value = json.loads(result.stdout)["value"]
    assert value.startswith(expected)
    assert "".join(zone_strings((tmp_path / "default.txt").read_text())) == value
    assert re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", value[len(expected) :])


@pytest.mark.parametrize(
    ("value", "hint"),
    [("rsa-sha256", "use sha256"), ("ed25519-sha256", "use sha256"), ("md5", "sha256")],
)
def test_hash_algorithm_mistakes_exit_2(
    run_cli: RunCli, tmp_path: Path, value: str, hint: str
) -> None:
    assert_error(run_cli("genkey", "-d", "example.com", "-h", value), 2, repr(value), hint)
    assert list(tmp_path.iterdir()) == []


def test_note_is_quoted_printable_and_zone_escaped(run_cli: RunCli, tmp_path: Path) -> None:
    note = 'Tom\'s key; "main" \\ bücher = x'
    result = run_cli("genkey", "-d", "example.com", "-n", note, "--json")
    assert result.code == 0, result
    value = json.loads(result.stdout)["value"]
    encoded = 'Tom\'s=20key=3B=20"main"=20\\=20b=C3=BCcher=20=3D=20x'
    assert f"; n={encoded}; p=" in value
    text = (tmp_path / "default.txt").read_text()
    assert 'n=Tom\'s=20key=3B=20\\"main\\"=20\\\\=20b=C3=BCcher' in text
    assert "".join(zone_strings(text)) == value


@pytest.mark.parametrize("note", ["a\nb", "a\rb", "tab\there", "esc\x1b[0m", "nul\x00", "\x85"])
def test_control_characters_in_notes_exit_2(run_cli: RunCli, tmp_path: Path, note: str) -> None:
    assert_error(run_cli("genkey", "-d", "example.com", "-n", note), 2, "control character")
    assert list(tmp_path.iterdir()) == []


def test_append_domain(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("genkey", "-d", "bücher.example", "-s", "mail", "--append-domain")
    assert result.code == 0, result
    text = (tmp_path / "mail.txt").read_text()
    assert text.startswith("mail._domainkey.xn--bcher-kva.example.\tIN\tTXT\t( ")
    assert text.endswith("; ----- DKIM key mail for xn--bcher-kva.example\n")


def test_u_label_domain_is_converted(run_cli: RunCli) -> None:
    result = run_cli("genkey", "-d", "Bücher.example", "-s", "mail", "--json")
    assert result.code == 0, result
    data = json.loads(result.stdout)
    assert data["domain"] == "xn--bcher-kva.example"
    assert data["name"] == "mail._domainkey.xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("algorithm", "key_format", "header"),
    [
        ("rsa", "pkcs1", b"-----BEGIN RSA PRIVATE KEY-----\n"),
        ("rsa", "pkcs8", b"-----BEGIN PRIVATE KEY-----\n"),
        ("ed25519", "pkcs8", b"-----BEGIN PRIVATE KEY-----\n"),
    ],
)
def test_key_formats(
    run_cli: RunCli, tmp_path: Path, algorithm: str, key_format: str, header: bytes
) -> None:
    result = run_cli("genkey", "-d", "e.com", "-a", algorithm, "--key-format", key_format)
    assert result.code == 0, result
    data = (tmp_path / "default.private").read_bytes()
    assert data.startswith(header)
    record = record_of(tmp_path / "default.txt")
    assert keys.keys_match(keys.load_key(data).public, record.public_key().public)


def test_raw_ed25519_is_one_line_of_base64_seed(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("genkey", "-d", "e.com", "-a", "ed25519", "--key-format", "raw")
    assert result.code == 0, result
    data = (tmp_path / "default.private").read_bytes()
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    seed = base64.b64decode(data.strip(), validate=True)
    assert len(seed) == 32
    derived = ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key()
    assert keys.keys_match(derived, record_of(tmp_path / "default.txt").public_key().public)
    assert mode_of(tmp_path / "default.private") == 0o600


@pytest.mark.parametrize(("algorithm", "key_format"), [("rsa", "raw"), ("ed25519", "pkcs1")])
def test_key_format_mismatch_exit_2(
    run_cli: RunCli, tmp_path: Path, algorithm: str, key_format: str
) -> None:
    result = run_cli("genkey", "-d", "e.com", "-a", algorithm, "--key-format", key_format)
    assert_error(result, 2, "--key-format")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="--owner needs root")
@pytest.mark.parametrize("owner", ["nobody:nogroup", "nobody", "65534:65534"])
def test_owner(run_cli: RunCli, tmp_path: Path, owner: str) -> None:
    import grp
    import pwd

    result = run_cli("genkey", "-d", "e.com", "--owner", owner)
    assert result.code == 0, result
    info = (tmp_path / "default.private").stat()
    nobody = pwd.getpwnam("nobody")
    expected_gid = grp.getgrnam("nogroup").gr_gid if ":" in owner else nobody.pw_gid
    assert (info.st_uid, info.st_gid) == (nobody.pw_uid, expected_gid)
    assert mode_of(tmp_path / "default.private") == 0o600
    assert (tmp_path / "default.txt").stat().st_uid == os.geteuid()  # only the key is chowned


@pytest.mark.parametrize(
    ("owner", "fragment"),
    [("no-such-user-x", "no such user"), ("nobody:no-such-group-x", "no such group")],
)
def test_unknown_owner_exit_2(run_cli: RunCli, tmp_path: Path, owner: str, fragment: str) -> None:
    assert_error(run_cli("genkey", "-d", "e.com", "--owner", owner), 2, fragment)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("existing", [["default.private", "default.txt"], ["default.txt"]])
def test_existing_files_exit_73_and_nothing_changes(
    run_cli: RunCli, tmp_path: Path, existing: list[str]
) -> None:
    assert run_cli("genkey", "-d", "e.com", "-a", "ed25519").code == 0
    for name in {"default.private", "default.txt"} - set(existing):
        (tmp_path / name).unlink()
    before = snapshot(tmp_path)
    assert_error(run_cli("genkey", "-d", "e.com", "-a", "ed25519"), 73, "already exists")
    assert snapshot(tmp_path) == before


def test_force_replaces_both(run_cli: RunCli, tmp_path: Path) -> None:
    assert run_cli("genkey", "-d", "e.com", "-a", "ed25519").code == 0
    old_private = (tmp_path / "default.private").read_bytes()
    old_txt = (tmp_path / "default.txt").read_text()
    (tmp_path / "default.private").chmod(0o644)
    assert run_cli("genkey", "-d", "e.com", "-a", "ed25519", "--force").code == 0
    new_private = (tmp_path / "default.private").read_bytes()
    assert new_private != old_private and (tmp_path / "default.txt").read_text() != old_txt
    assert mode_of(tmp_path / "default.private") == 0o600
    assert keys.keys_match(
        keys.load_key(new_private).public, record_of(tmp_path / "default.txt").public_key().public
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["default.private", "default.txt"]


def test_force_never_loses_the_old_key(run_cli: RunCli, tmp_path: Path) -> None:
    """A .txt target that cannot be replaced is found before the key is touched."""
    assert run_cli("genkey", "-d", "e.com", "-a", "ed25519").code == 0
    (tmp_path / "default.txt").unlink()
    (tmp_path / "default.txt").mkdir()
    before = snapshot(tmp_path)
    assert_error(run_cli("genkey", "-d", "e.com", "-a", "ed25519", "--force"), 73, "directory")
    assert snapshot(tmp_path) == before


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_config_supplies_domain_and_selector(run_cli: RunCli, tmp_path: Path) -> None:
    conf = write_config(tmp_path / "dkim.conf", "# keys\nDOMAIN example.org\nselector cfg\n")
    result = run_cli("genkey", "-x", str(conf), "--json")
    assert result.code == 0, result
    data = json.loads(result.stdout)
    assert (data["domain"], data["selector"]) == ("example.org", "cfg")
    assert (tmp_path / "cfg.private").is_file()


def test_command_line_overrides_config(run_cli: RunCli, tmp_path: Path) -> None:
    conf = write_config(tmp_path / "dkim.conf", "Domain example.org\nSelector cfg\n")
    result = run_cli("genkey", "-x", str(conf), "-d", "example.net", "-s", "cli", "--json")
    data = json.loads(result.stdout)
    assert (data["domain"], data["selector"]) == ("example.net", "cli")


def test_config_unknown_key_exit_78(run_cli: RunCli, tmp_path: Path) -> None:
    conf = write_config(tmp_path / "dkim.conf", "Domain example.org\n\nSelectr cfg\n")
    assert_error(run_cli("genkey", "-x", str(conf)), 78, f"{conf}:3:", "Selectr")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dkim.conf"]


def test_config_bad_domain_exit_78(run_cli: RunCli, tmp_path: Path) -> None:
    conf = write_config(tmp_path / "dkim.conf", "Domain bad/domain\n")
    assert_error(run_cli("genkey", "-x", str(conf)), 78, f"{conf}:1:")


def test_missing_config_exit_78(run_cli: RunCli, tmp_path: Path) -> None:
    assert_error(run_cli("genkey", "-x", "nope.conf", "-d", "e.com"), 78, "nope.conf")


def test_debian_stock_config_accepted(run_cli: RunCli, tmp_path: Path) -> None:
    from tests.unit.test_config import DEBIAN_OPENDKIM_CONF

    conf = write_config(tmp_path / "opendkim.conf", DEBIAN_OPENDKIM_CONF)
    result = run_cli("genkey", "-x", str(conf), "-d", "example.com", "-a", "ed25519")
    assert result.code == 0, result


def test_domain_is_required(run_cli: RunCli, tmp_path: Path) -> None:
    assert_error(run_cli("genkey"), 2, "-d/--domain")
    conf = write_config(tmp_path / "dkim.conf", "Selector s\n")
    assert_error(run_cli("genkey", "-x", str(conf)), 2, "Domain")


def test_json_keys_exactly(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("genkey", "-d", "example.com", "-s", "mail", "-D", "k", "--json")
    assert result.code == 0, result
    assert result.stdout.count("\n") == 1
    data = json.loads(result.stdout)
    assert list(data) == [
        "domain",
        "selector",
        "algorithm",
        "bits",
        "private_key",
        "txt",
        "name",
        "value",
    ]
    assert data["domain"] == "example.com" and data["selector"] == "mail"
    assert data["algorithm"] == "rsa" and data["bits"] == 2048
    assert data["private_key"] == "k/mail.private" and data["txt"] == "k/mail.txt"
    assert data["name"] == "mail._domainkey.example.com"
    assert data["value"] == "".join(zone_strings((tmp_path / "k" / "mail.txt").read_text()))
    assert result.stderr == ""


def test_quiet_prints_only_the_record(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("genkey", "-d", "example.com", "-b", "1024", "-q")
    assert result.code == 0
    assert result.stderr == ""
    assert result.stdout == (tmp_path / "default.txt").read_text()


@pytest.mark.parametrize(
    "domain",
    [
        "a/b.example",
        "exa mple.com",
        "example..com",
        "",
        "a" * 64 + ".example",
        ".".join(["a" * 63] * 4),
        "-bad.example",
    ],
)
def test_bad_domains_exit_2(run_cli: RunCli, tmp_path: Path, domain: str) -> None:
    assert_error(run_cli("genkey", "-d", domain), 2, "--domain")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "selector", ["../escape", "a/b", "/abs", "sel ector", "..", "a" * 64, "sel\n"]
)
def test_bad_selectors_exit_2_and_write_nothing_anywhere(
    run_cli: RunCli, tmp_path: Path, selector: str
) -> None:
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir()
    before = snapshot(tmp_path)
    assert_error(run_cli("genkey", "-d", "e.com", "-s", selector, "-D", "keys"), 2, "--selector")
    assert snapshot(tmp_path) == before
    assert not Path("/abs.private").exists()


@pytest.mark.parametrize(
    "directory", ["/proc/dkimtool-test", "a-file", "a-file/sub", "/proc/self/status"]
)
def test_unwritable_directory_exit_73(run_cli: RunCli, tmp_path: Path, directory: str) -> None:
    (tmp_path / "a-file").write_text("x")
    result = run_cli("genkey", "-d", "e.com", "-D", directory)
    line = assert_error(result, 73)
    assert directory in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to a 0500 directory")
def test_read_only_directory_exit_73(run_cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "ro").mkdir(mode=0o500)
    assert_error(run_cli("genkey", "-d", "e.com", "-D", "ro"), 73, "not writable")


def test_help_lists_every_option(run_cli: RunCli) -> None:
    result: CliResult = run_cli("genkey", "--help")
    assert result.code == 0
    for option in [
        "--domain",
        "--selector",
        "--algorithm",
        "--bits",
        "--directory",
        "--testmode",
        "--no-subdomains",
        "--restrict",
        "--hash-algorithms",
        "--note",
        "--append-domain",
        "--key-format",
        "--owner",
        "--force",
        "--config",
        "--json",
    ]:
        assert option in result.stdout
    for short in ["-d,", "-s,", "-a,", "-b,", "-D,", "-t,", "-S,", "-r,", "-h,", "-n,", "-x,"]:
        assert short in result.stdout


def test_bits_with_ed25519_warns(run_cli: RunCli) -> None:
    result = run_cli("genkey", "-d", "example.com", "-a", "ed25519", "-b", "4096")
    assert result.code == 0
    assert "dkimtool: warning: -b is for RSA keys" in result.stderr
    quiet_default = run_cli("genkey", "-d", "example.com", "-s", "other", "-a", "ed25519")
    assert "warning" not in quiet_default.stderr


def test_missing_parent_directories_are_created_0700_too(run_cli: RunCli, tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c"
    assert run_cli("genkey", "-d", "example.com", "-D", str(target)).code == 0
    for directory in (tmp_path / "a", tmp_path / "a" / "b", target):
        assert directory.stat().st_mode & 0o777 == 0o700, directory
