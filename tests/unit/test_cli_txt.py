"""``dkimtool txt``: every key form, the three output formats, --revoke, and bad input."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from dkimtool.core import keys
from dkimtool.core.record import KeyRecord
from tests.conftest import RunCli, assert_error, pooled_rsa_key, zone_strings

Enc = serialization.Encoding
Priv = serialization.PrivateFormat
Pub = serialization.PublicFormat
NONE = serialization.NoEncryption()


def rsa_forms() -> dict[str, bytes]:
    private = pooled_rsa_key(1024)
    public = private.public_key()
    return {
        "pem-pkcs1": private.private_bytes(Enc.PEM, Priv.TraditionalOpenSSL, NONE),
        "der-pkcs1": private.private_bytes(Enc.DER, Priv.TraditionalOpenSSL, NONE),
        "pem-pkcs8": private.private_bytes(Enc.PEM, Priv.PKCS8, NONE),
        "der-pkcs8": private.private_bytes(Enc.DER, Priv.PKCS8, NONE),
        "pem-spki": public.public_bytes(Enc.PEM, Pub.SubjectPublicKeyInfo),
        "der-spki": public.public_bytes(Enc.DER, Pub.SubjectPublicKeyInfo),
    }


def ed25519_forms(key: ed25519.Ed25519PrivateKey) -> dict[str, bytes]:
    seed = key.private_bytes(Enc.Raw, Priv.Raw, NONE)
    public = key.public_key()
    return {
        "pem-pkcs8": key.private_bytes(Enc.PEM, Priv.PKCS8, NONE),
        "der-pkcs8": key.private_bytes(Enc.DER, Priv.PKCS8, NONE),
        "pem-spki": public.public_bytes(Enc.PEM, Pub.SubjectPublicKeyInfo),
        "der-spki": public.public_bytes(Enc.DER, Pub.SubjectPublicKeyInfo),
        "dkimpy-seed": base64.b64encode(seed) + b"\n",
        "rspamd": base64.b64encode(seed + public.public_bytes(Enc.Raw, Pub.Raw)) + b"\n",
    }


def write_key(directory: Path, data: bytes, name: str = "key") -> Path:
    path = directory / name
    path.write_bytes(data)
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("form", sorted(rsa_forms()))
def test_rsa_key_forms(run_cli: RunCli, tmp_path: Path, form: str) -> None:
    path = write_key(tmp_path, rsa_forms()[form])
    result = run_cli("txt", "-k", str(path), "-d", "example.com", "--format", "value")
    assert result.code == 0, result
    expected = keys.p_value(pooled_rsa_key(1024).public_key())
    assert result.stdout == f"v=DKIM1; k=rsa; p={expected}\n"
    assert result.stderr == ""


@pytest.mark.parametrize(
    "form", ["pem-pkcs8", "der-pkcs8", "pem-spki", "der-spki", "dkimpy-seed", "rspamd"]
)
def test_ed25519_key_forms(
    run_cli: RunCli, tmp_path: Path, form: str, ed25519_key: ed25519.Ed25519PrivateKey
) -> None:
    path = write_key(tmp_path, ed25519_forms(ed25519_key)[form])
    result = run_cli("txt", "-k", str(path), "-d", "example.com", "--format", "value")
    assert result.code == 0, result
    expected = keys.p_value(ed25519_key.public_key())
    assert result.stdout == f"v=DKIM1; k=ed25519; p={expected}\n"


def test_rspamd_halves_that_disagree_exit_65(
    run_cli: RunCli, tmp_path: Path, ed25519_key: ed25519.Ed25519PrivateKey
) -> None:
    seed = ed25519_key.private_bytes(Enc.Raw, Priv.Raw, NONE)
    other = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(Enc.Raw, Pub.Raw)
    path = write_key(tmp_path, base64.b64encode(seed + other))
    assert_error(run_cli("txt", "-k", str(path), "-d", "e.com"), 65, str(path), "does not match")


@pytest.mark.parametrize("fmt", [Priv.PKCS8, Priv.TraditionalOpenSSL])
def test_encrypted_keys_exit_65(run_cli: RunCli, tmp_path: Path, fmt: Priv) -> None:
    blob = pooled_rsa_key(1024).private_bytes(
        Enc.PEM, fmt, serialization.BestAvailableEncryption(b"pw")
    )
    path = write_key(tmp_path, blob)
    result = run_cli("txt", "-k", str(path), "-d", "e.com")
    assert_error(result, 65, "encrypted private keys are not supported")


@pytest.mark.parametrize("form", ["pem-pkcs1", "der-pkcs8"])
def test_key_from_stdin(run_cli: RunCli, form: str) -> None:
    result = run_cli("txt", "-k", "-", "-d", "e.com", "--format", "value", input=rsa_forms()[form])
    assert result.code == 0, result
    assert result.stdout.startswith("v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQ")


def test_seed_from_stdin(run_cli: RunCli, ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    seed = ed25519_forms(ed25519_key)["dkimpy-seed"]
    result = run_cli("txt", "-k", "-", "-d", "e.com", "--format", "value", input=seed)
    assert result.stdout == f"v=DKIM1; k=ed25519; p={keys.p_value(ed25519_key.public_key())}\n"


def test_garbage_on_stdin_exit_65(run_cli: RunCli) -> None:
    assert_error(run_cli("txt", "-k", "-", "-d", "e.com", input=b"junk"), 65, "standard input")


@pytest.mark.parametrize(
    ("key_options", "record_options"),
    [
        ([], []),
        (["-a", "ed25519"], []),
        ([], ["-t", "-S", "-r", "-h", "sha1:sha256"]),
        ([], ["--append-domain", "-n", 'a "quoted" \\ note; with = signs and ünïcode']),
        (["-a", "ed25519", "--key-format", "raw"], ["-t", "--append-domain"]),
        (["-b", "4096"], ["-n", "long key"]),
    ],
)
def test_bind_format_equals_genkey_txt_byte_for_byte(
    run_cli: RunCli,
    tmp_path: Path,
    key_options: list[str],
    record_options: list[str],
    fast_keygen: None,
) -> None:
    names = ["-d", "bücher.example", "-s", "sel"]
    generated = run_cli("genkey", *names, *key_options, *record_options)
    assert generated.code == 0, generated
    txt = (tmp_path / "sel.txt").read_text()
    assert generated.stdout == txt
    from_file = run_cli("txt", "-k", "sel.private", *names, *record_options)
    assert from_file.code == 0, from_file
    assert from_file.stdout == txt
    stdin = (tmp_path / "sel.private").read_bytes()
    from_stdin = run_cli("txt", "-k", "-", *names, *record_options, input=stdin)
    assert from_stdin.stdout == txt


def test_value_and_json_formats(run_cli: RunCli, tmp_path: Path) -> None:
    private = pooled_rsa_key(4096)
    path = write_key(tmp_path, private.private_bytes(Enc.PEM, Priv.TraditionalOpenSSL, NONE))
    common = ["txt", "-k", str(path), "-d", "Example.COM", "-s", "mail", "-t"]
    value = run_cli(*common, "--format", "value")
    assert value.code == 0 and value.stdout.count("\n") == 1
    line = value.stdout.rstrip("\n")
    assert '"' not in line and line.startswith("v=DKIM1; k=rsa; t=y; p=MII")
    assert line == KeyRecord.for_key(keys.load_key(path.read_bytes()), testing=True).to_text()
    as_json = run_cli(*common, "--format", "json")
    assert as_json.code == 0 and as_json.stdout.count("\n") == 1
    data = json.loads(as_json.stdout)
    assert list(data) == ["name", "value", "strings"]
    assert data["name"] == "mail._domainkey.Example.COM"
    assert data["value"] == line
    assert "".join(data["strings"]) == line
    assert len(data["strings"]) == 3
    assert all(len(s.encode()) <= 255 for s in data["strings"])
    bind = run_cli(*common)
    assert zone_strings(bind.stdout) == data["strings"]


def test_selector_defaults_to_default(run_cli: RunCli, tmp_path: Path) -> None:
    path = write_key(tmp_path, rsa_forms()["pem-spki"])
    result = run_cli("txt", "-k", str(path), "-d", "example.com", "--format", "json")
    assert json.loads(result.stdout)["name"] == "default._domainkey.example.com"


REVOKED_JSON = (
    '{"name": "old._domainkey.e.com", "value": "v=DKIM1; p=", "strings": ["v=DKIM1; p="]}'
)
REVOKED_BIND = 'old._domainkey\tIN\tTXT\t( "v=DKIM1; p=" )  ; ----- DKIM key old for e.com'


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("value", "v=DKIM1; p="), ("json", REVOKED_JSON), ("bind", REVOKED_BIND)],
)
def test_revoke(run_cli: RunCli, fmt: str, expected: str) -> None:
    result = run_cli("txt", "-d", "e.com", "-s", "old", "--revoke", "--format", fmt)
    assert result.code == 0, result
    assert result.stdout == expected + "\n"
    record = KeyRecord.parse("".join(zone_strings(REVOKED_BIND)))
    assert record.revoked and record.v == "DKIM1" and record.p == ""


def test_revoke_ignores_the_key(run_cli: RunCli, tmp_path: Path) -> None:
    path = write_key(tmp_path, rsa_forms()["pem-pkcs1"])
    result = run_cli("txt", "-k", str(path), "-d", "e.com", "--revoke", "--format", "value")
    assert result.stdout == "v=DKIM1; p=\n"


def test_key_or_revoke_is_required(run_cli: RunCli) -> None:
    assert_error(run_cli("txt", "-d", "e.com"), 2, "-k/--key")


def test_domain_is_required(run_cli: RunCli, tmp_path: Path) -> None:
    path = write_key(tmp_path, rsa_forms()["pem-pkcs1"])
    assert_error(run_cli("txt", "-k", str(path)), 2, "-d/--domain")


def test_unreadable_key_files_exit_66(run_cli: RunCli, tmp_path: Path) -> None:
    missing = tmp_path / "missing.private"
    assert_error(run_cli("txt", "-k", str(missing), "-d", "e.com"), 66, str(missing))
    assert_error(run_cli("txt", "-k", str(tmp_path), "-d", "e.com"), 66, "directory")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"garbage", "not a key"),
        (b"", "empty"),
        (b"v=DKIM1; k=rsa; p=MIGf", "DNS record"),
        (b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n", "PEM"),
    ],
)
def test_bad_key_data_exit_65(run_cli: RunCli, tmp_path: Path, data: bytes, fragment: str) -> None:
    path = write_key(tmp_path, data)
    assert_error(run_cli("txt", "-k", str(path), "-d", "e.com"), 65, str(path), fragment)


def test_record_option_errors_exit_2(run_cli: RunCli) -> None:
    assert_error(run_cli("txt", "--revoke", "-d", "e.com", "-h", "rsa-sha256"), 2, "use sha256")
    assert_error(run_cli("txt", "--revoke", "-d", "e.com", "-n", "a\x07"), 2, "control")
    assert_error(run_cli("txt", "--revoke", "-d", "e.com", "--format", "xml"), 2, "--format")
    assert_error(run_cli("txt", "--revoke", "-d", "e.com", "-s", "a/b"), 2, "--selector")


def test_u_label_domain(run_cli: RunCli) -> None:
    result = run_cli("txt", "--revoke", "-d", "bücher.example", "--format", "json")
    assert json.loads(result.stdout)["name"] == "default._domainkey.xn--bcher-kva.example"
    bind = run_cli("txt", "--revoke", "-d", "bücher.example", "--append-domain")
    assert bind.stdout.startswith("default._domainkey.xn--bcher-kva.example.\tIN\tTXT\t")


def test_config_file(run_cli: RunCli, tmp_path: Path) -> None:
    conf = tmp_path / "dkim.conf"
    conf.write_text("Domain example.org  # signing domain\nSelector cfg\nSocket inet:8891\n")
    result = run_cli("txt", "--revoke", "-x", str(conf), "--format", "json")
    assert result.code == 0, result
    assert json.loads(result.stdout)["name"] == "cfg._domainkey.example.org"
    override = run_cli("txt", "--revoke", "-x", str(conf), "-s", "cli", "--format", "json")
    assert json.loads(override.stdout)["name"] == "cli._domainkey.example.org"
    conf.write_text("Domain example.org\nBogus 1\n")
    assert_error(run_cli("txt", "--revoke", "-x", str(conf)), 78, f"{conf}:2:", "Bogus")
