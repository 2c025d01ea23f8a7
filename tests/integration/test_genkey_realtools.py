"""genkey's output in the real tools: dnspython, BIND, dkimpy, OpenDKIM, opendkim-testkey.

* The ``.txt`` file is concatenated into a zone with SOA and NS (no ``$INCLUDE``); dnspython's
  zone parser and BIND's ``named-checkzone`` load it, and the TXT value read back (also from
  BIND's own dump of the zone) equals ``dkimtool txt --format value``, notes included.
* dkimpy signs with the generated private key file as written (RSA PKCS#1, Ed25519 raw seed)
  and verifies against the record that dnspython parsed from the ``.txt``.
* OpenDKIM signs with the generated keys (``opendkim -x CONF -t FILE`` test mode, through
  ``tests/peers.py``); dkimpy and OpenDKIM verify that against the ``.txt`` record.
* ``opendkim-testkey`` reads only Domain, Selector, KeyFile, KeyTable, TrustAnchorFile and
  ResolverConfiguration from ``-x`` (no TestPublicKeys). Debian's build resolves through
  libunbound, and ResolverConfiguration is an unbound.conf: a ``local-zone``/``local-data``
  pair serves the record from the ``.txt`` with no network. It compares RSA keys only.

A missing peer tool skips, with the reason; under ``CI=true`` it fails instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest

from dkimtool.core import keys
from tests import peers
from tests.conftest import RunCli, pooled_generator

pytestmark = pytest.mark.peer

NOTE = 'Ops; "rotation" \\ 2026 — bücher'
DOMAIN = "example.com"
MESSAGE = (
    b"From: Alice <alice@example.com>\r\n"
    b"To: Bob <bob@example.net>\r\n"
    b"Subject: genkey interop\r\n"
    b"Date: Mon, 24 Nov 2025 12:00:00 +0000\r\n"
    b"Message-ID: <genkey-interop@example.com>\r\n"
    b"\r\n"
    b"Hello, world.\r\n"
)


def require_binary(name: str) -> str:
    """The binary's path; skip without it, or fail under CI=true."""
    found = shutil.which(name) or next(
        (str(p) for d in ("/usr/sbin", "/sbin") if (p := Path(d) / name).is_file()), None
    )
    if found:
        return found
    reason = f"{name} is not installed (Debian: bind9-utils / opendkim-tools)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason + " (CI=true: a missing peer is a failure)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def pooled_4096(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the 4096-bit key comes from the pool (made at most once per run); the others
    are made by genkey itself."""
    monkeypatch.setattr(keys, "generate", pooled_generator(frozenset({4096})))


@dataclass(frozen=True)
class Generated:
    selector: str
    domain: str
    private: Path
    txt: Path
    value: str  # `dkimtool txt --format value` for the same key and options

    @property
    def name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"


def genkey(run_cli: RunCli, selector: str, *options: str, domain: str = DOMAIN) -> Generated:
    made = run_cli("genkey", "-d", domain, "-s", selector, "-q", *options)
    assert made.code == 0, made
    record_options = [o for o in options if o in ("-t", "-r", "--append-domain")]
    if "-n" in options:
        record_options += ["-n", options[options.index("-n") + 1]]
    value = run_cli(
        "txt", "-k", f"{selector}.private", "-d", domain, "-s", selector,
        *record_options, "--format", "value",
    )  # fmt: skip
    assert value.code == 0, value
    cwd = Path.cwd()
    return Generated(
        selector,
        dns.name.from_text(domain).to_text(omit_final_dot=True),
        cwd / f"{selector}.private",
        cwd / f"{selector}.txt",
        value.stdout.rstrip("\n"),
    )


def decoded_note(value: str) -> str:
    """The n= tag of a record value, dkim-quoted-printable decoded."""
    encoded = re.search(r"; n=([^;]*);", value)
    assert encoded is not None, value
    raw = re.sub(rb"=([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]), encoded[1].encode())
    return raw.decode("utf-8")


def control_key(options: list[str]) -> list[str]:
    """Options for a different key of the same type (the 4096-bit key is pooled: not that)."""
    return ["-a", "ed25519"] if "ed25519" in options else ["-b", "1024"]


def zone_text(origin: str, *records: Path) -> str:
    head = (
        f"$ORIGIN {origin}.\n"
        "$TTL 300\n"
        f"@\tIN\tSOA\tns1.{origin}. hostmaster.{origin}. 2025112401 3600 600 86400 300\n"
        f"@\tIN\tNS\tns1.{origin}.\n"
        "ns1\tIN\tA\t192.0.2.53\n"
    )
    return head + "".join(path.read_text(encoding="utf-8") for path in records)


def txt_values(zone: dns.zone.Zone, name: str) -> list[str]:
    rdataset = zone.find_rdataset(dns.name.from_text(name), dns.rdatatype.TXT)
    return [b"".join(rdata.strings).decode("utf-8") for rdata in rdataset]


def record_from_txt_file(generated: Generated) -> str:
    """The TXT value dnspython reads from genkey's .txt file (a zone needs a TTL: $TTL)."""
    zone = dns.zone.from_text(
        "$TTL 300\n" + generated.txt.read_text(encoding="utf-8"),
        origin=generated.domain,
        relativize=False,
        check_origin=False,
    )
    values = txt_values(zone, generated.name)
    assert len(values) == 1
    return values[0]


KEY_KINDS = {
    "rsa1024": ["-b", "1024"],
    "rsa2048": [],
    "rsa4096": ["-b", "4096"],
    "ed25519": ["-a", "ed25519"],
}


@pytest.mark.parametrize("append_domain", [False, True], ids=["relative", "append-domain"])
def test_txt_loads_in_dnspython_and_bind(
    run_cli: RunCli, tmp_path: Path, append_domain: bool
) -> None:
    checkzone = require_binary("named-checkzone")
    extra = ["--append-domain"] if append_domain else []
    made = [
        genkey(run_cli, kind, *options, "-t", "-n", NOTE, *extra)
        for kind, options in KEY_KINDS.items()
    ]
    made.append(genkey(run_cli, "plain", "-a", "ed25519", *extra))
    zone_file = tmp_path / "example.com.zone"
    zone_file.write_text(zone_text(DOMAIN, *(g.txt for g in made)), encoding="utf-8")

    parsed = dns.zone.from_file(str(zone_file), origin=DOMAIN, relativize=False)
    for generated in made:
        assert txt_values(parsed, generated.name + ".") == [generated.value]
        if generated.selector != "plain":
            assert decoded_note(generated.value) == NOTE

    dumped = tmp_path / "dumped.zone"
    proc = subprocess.run(
        [checkzone, "-k", "fail", "-D", "-o", str(dumped), DOMAIN, str(zone_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK" in proc.stdout
    from_bind = dns.zone.from_file(str(dumped), origin=DOMAIN, relativize=False)
    for generated in made:
        assert txt_values(from_bind, generated.name + ".") == [generated.value]


def test_bind_rejects_a_broken_record(tmp_path: Path) -> None:
    """Control: named-checkzone does notice a damaged TXT line, so the test above can fail."""
    checkzone = require_binary("named-checkzone")
    zone_file = tmp_path / "z"
    zone_file.write_text(zone_text(DOMAIN) + 'bad._domainkey\tIN\tTXT\t( "v=DKIM1; p=AB\n')
    proc = subprocess.run(
        [checkzone, DOMAIN, str(zone_file)], capture_output=True, timeout=60, check=False
    )
    assert proc.returncode != 0


def test_u_label_domain_zone(run_cli: RunCli, tmp_path: Path) -> None:
    checkzone = require_binary("named-checkzone")
    generated = genkey(run_cli, "mail", "-a", "ed25519", "-n", NOTE, domain="bücher.example")
    assert generated.domain == "xn--bcher-kva.example"
    zone_file = tmp_path / "z"
    zone_file.write_text(zone_text(generated.domain, generated.txt), encoding="utf-8")
    proc = subprocess.run(
        [checkzone, generated.domain, str(zone_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert record_from_txt_file(generated) == generated.value


def _dkimpy() -> Any:
    import dkim

    return dkim


def dnsfunc_for(*generated: Generated) -> Any:
    table = {g.name.lower(): record_from_txt_file(g) for g in generated}

    def dnsfunc(name: bytes, timeout: float = 5) -> bytes | None:
        value = table.get(name.decode().rstrip(".").lower())
        return None if value is None else value.encode()

    return dnsfunc


@pytest.mark.parametrize(
    ("options", "algorithm", "peer"),
    [
        (["-b", "1024"], b"rsa-sha256", "dkimpy"),
        ([], b"rsa-sha256", "dkimpy"),
        (["-a", "ed25519", "--key-format", "raw"], b"ed25519-sha256", "dkimpy-ed25519"),
    ],
)
def test_dkimpy_signs_with_the_key_and_verifies_with_the_record(
    run_cli: RunCli, options: list[str], algorithm: bytes, peer: str
) -> None:
    peers.require_peer(peer)
    dkim = _dkimpy()
    generated = genkey(run_cli, "mail", *options, "-n", NOTE)
    other = genkey(run_cli, "other", *control_key(options))
    private = generated.private.read_bytes()  # the file as genkey wrote it, no conversion
    signature = dkim.sign(
        MESSAGE,
        b"mail",
        DOMAIN.encode(),
        private,
        signature_algorithm=algorithm,
        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
    )
    signed = signature + MESSAGE
    assert dkim.verify(signed, dnsfunc=dnsfunc_for(generated)) is True
    # Control: the same signature against another key's record does not verify.
    other_record = record_from_txt_file(other).encode()
    assert not dkim.verify(signed, dnsfunc=lambda _name, timeout=5: other_record)


@pytest.mark.parametrize(
    ("options", "algorithm"),
    [
        (["-b", "1024"], "rsa-sha256"),
        (["--key-format", "pkcs8"], "rsa-sha256"),
        (["-b", "4096"], "rsa-sha256"),
        (["-a", "ed25519"], "ed25519-sha256"),
    ],
)
def test_opendkim_signs_with_the_key(
    run_cli: RunCli, tmp_path: Path, options: list[str], algorithm: str
) -> None:
    peers.require_peer("opendkim")
    generated = genkey(run_cli, "od", *options)
    header = generated.private.read_bytes().split(b"\n", 1)[0]
    expected = b"RSA PRIVATE KEY" if options in (["-b", "1024"], ["-b", "4096"]) else b"PRIVATE"
    assert expected in header
    signed = peers.opendkim_sign(
        MESSAGE,
        key_path=generated.private,
        domain=DOMAIN,
        selector="od",
        algorithm=algorithm,
        canonicalization="relaxed/relaxed",
        workdir=tmp_path / "opendkim",
    )
    assert signed.startswith(b"DKIM-Signature:")
    assert f"a={algorithm}".encode() in signed
    record = {generated.name: record_from_txt_file(generated)}
    verdict = peers.opendkim_verify(signed, record, tmp_path / "opendkim")
    assert verdict.ok, verdict.detail
    if algorithm == "ed25519-sha256":
        peers.require_peer("dkimpy-ed25519")
    by_dkimpy = peers.dkimpy_verify(signed, record)
    assert by_dkimpy.ok, by_dkimpy.detail
    # Control: OpenDKIM rejects the signature under a different key's record.
    other = genkey(run_cli, "od2", *control_key(options))
    wrong = {generated.name: record_from_txt_file(other)}
    assert not peers.opendkim_verify(signed, wrong, tmp_path / "opendkim").ok


def unbound_conf(path: Path, name: str, txt_file: Path) -> Path:
    """An unbound.conf serving NAME's TXT record, as written in the .txt file, locally."""
    zone = dns.zone.from_text(
        "$TTL 300\n" + txt_file.read_text(encoding="utf-8"),
        origin=name.split("._domainkey.", 1)[1],
        relativize=False,
        check_origin=False,
    )
    rdataset = zone.find_rdataset(dns.name.from_text(name), dns.rdatatype.TXT)
    rdata_text = " ".join(rdata.to_text() for rdata in rdataset)
    assert "'" not in rdata_text
    path.write_text(
        "server:\n"
        f'  local-zone: "{DOMAIN}." static\n'
        f"  local-data: '{name}. 300 IN TXT {rdata_text}'\n",
        encoding="utf-8",
    )
    return path


def run_testkey(testkey: str, tmp_path: Path, selector: str, key: Path, txt: Path) -> str:
    resolver = unbound_conf(tmp_path / "unbound.conf", f"{selector}._domainkey.{DOMAIN}", txt)
    conf = tmp_path / "opendkim.conf"
    conf.write_text(f"ResolverConfiguration {resolver}\n", encoding="utf-8")
    proc = subprocess.run(
        [testkey, "-x", str(conf), "-d", DOMAIN, "-s", selector, "-k", str(key), "-vvv"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = proc.stdout + proc.stderr
    return f"exit {proc.returncode}\n{output}"


@pytest.mark.parametrize("kind", ["rsa1024", "rsa2048", "rsa4096", "ed25519"])
def test_opendkim_testkey_accepts_key_and_record(
    run_cli: RunCli, tmp_path: Path, kind: str
) -> None:
    testkey = require_binary("opendkim-testkey")
    if kind == "ed25519":
        pytest.skip(
            "opendkim-testkey 2.11 compares RSA keys only (an Ed25519 -k fails with "
            "'EVP_PKEY_get1_RSA() failed'), and without -k it does not decode p= at all"
        )
    generated = genkey(run_cli, "tk", *KEY_KINDS[kind])
    assert generated.private.stat().st_mode & 0o777 == 0o600  # testkey refuses readable keys
    result = run_testkey(testkey, tmp_path, "tk", generated.private, generated.txt)
    assert result.startswith("exit 0\n"), result
    assert "key OK" in result
    # Control: the same record with another private key is refused.
    other = genkey(run_cli, "tk2", *control_key(KEY_KINDS[kind]))
    mismatch = run_testkey(testkey, tmp_path, "tk", other.private, generated.txt)
    assert not mismatch.startswith("exit 0\n") and "keys do not match" in mismatch
