"""``dkimtool milter`` at the protocol level, driven by OpenDKIM's miltertest (Lua scripts).

The milter runs as a child process on 127.0.0.1:<free port>; keys come from --dns-file, so
no DNS is used except in the DNS-timeout test (a silent server on 127.0.0.1).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dkimtool.core.verifier import VerifyPolicy, verify_message
from dkimtool.core.zonefile import ZoneFileSource
from tests.dnsservers import SilentServer
from tests.milterlab import (
    MilterProcess,
    assemble,
    miltertest_script,
    run_miltertest,
    sign_bytes,
    split_message,
)
from tests.peers import maildkim_verify, opendkim_verify, require_peer

pytestmark = pytest.mark.peer

MESSAGE = (
    b"Received: from client.example (client [192.0.2.9])\r\n\tby mx.example.com; "
    b"Tue, 1 Dec 2026 10:00:00 +0000\r\n"
    b"Authentication-Results: mx.example.com; dkim=pass header.d=forged.example\r\n"
    b"From:  Alice <alice@example.com>\r\n"
    b"To: bob@example.net\r\n"
    b"Subject:   spaced   and\r\n\t folded\r\n"
    b"Date: Tue, 1 Dec 2026 10:00:00 +0000\r\n"
    b"Message-ID: <m1@example.com>\r\n"
    b"\r\n"
    b"Hello Bob,\r\n\r\n  indented line   \r\nbye\r\n"
)


def dkimtool(*args: str, input: bytes | None = None) -> bytes:
    proc = subprocess.run(
        [sys.executable, "-m", "dkimtool", *args], input=input, capture_output=True, check=True
    )
    return proc.stdout


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("keys")
    dkimtool("genkey", "-q", "-d", "example.com", "-s", "rsa", "-D", str(d))
    dkimtool("genkey", "-q", "-d", "example.com", "-s", "ed", "-a", "ed25519", "-D", str(d))
    return d


def records(keys: Path, *selectors: str) -> dict[str, str]:
    out = {}
    for sel in selectors:
        value = dkimtool(
            "txt", "-k", str(keys / f"{sel}.private"), "-s", sel, "-d", "example.com",
            "--format", "value",
        )  # fmt: skip
        out[f"{sel}._domainkey.example.com"] = value.decode().strip()
    return out


@pytest.fixture(scope="module")
def milter(keys: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilterProcess]:
    work = tmp_path_factory.mktemp("milter")
    conf = work / "dkim.conf"
    conf.write_text(
        "Mode sv\nDomain example.com\nAuthservID mx.example.com\nX-Header yes\n"
        "Canonicalization relaxed/relaxed\nOn-BadSignature accept\n"
    )
    args = [
        "-x", str(conf),
        "-s", "rsa", "-k", str(keys / "rsa.private"),
        "-s", "ed", "-k", str(keys / "ed.private"),
        "--dns-file", str(keys / "rsa.txt"), "--dns-file", str(keys / "ed.txt"),
    ]  # fmt: skip
    with MilterProcess(work, args) as proc:
        yield proc


def test_sign_path_internal_client(milter: MilterProcess, keys: Path, tmp_path: Path) -> None:
    fields, body = split_message(MESSAGE)
    result = run_miltertest(miltertest_script(milter.port, fields, body, chunk=7), tmp_path)
    assert result.reply == "a", result.stdout  # SMFIR_ACCEPT
    assert result.leadspc, "SMFIP_HDR_LEADSPC must be negotiated"
    assert [n for n, _, _ in result.inserted] == ["DKIM-Signature", "DKIM-Signature", "X-DKIM"]
    assert all(at0 for _, at0, _ in result.inserted), "new fields go to index 0"
    assert not result.added_at_end
    assert result.deleted == ["Authentication-Results"]
    assert result.values("X-DKIM")[0].startswith(" dkimtool ")
    kept = [f for f in fields if f[0] != "Authentication-Results"]
    message = assemble(kept, body, result)
    assert message.startswith(b"X-DKIM: dkimtool ")
    source = ZoneFileSource([str(keys / "rsa.txt"), str(keys / "ed.txt")])
    report = verify_message(message, keys=source, policy=VerifyPolicy(), now=time.time())
    assert [str(s.result) for s in report.signatures] == ["pass", "pass"]
    require_peer("opendkim")
    verdict = opendkim_verify(message, records(keys, "rsa", "ed"), tmp_path)
    assert verdict.ok, verdict.detail
    require_peer("mail-dkim")
    rsa_only = [v for v in maildkim_verify(message, records(keys, "rsa")) if "s=rsa" in v.detail]
    assert rsa_only and rsa_only[0].ok, rsa_only


def test_verify_path_external_client(milter: MilterProcess, keys: Path, tmp_path: Path) -> None:
    signed = sign_bytes(MESSAGE, keys / "rsa.private", "rsa")
    fields, body = split_message(signed)
    script = miltertest_script(milter.port, fields, body, client_ip="127.0.0.2")
    result = run_miltertest(script, tmp_path)
    assert result.reply == "a", result.stdout
    [(name, at0, value)] = result.inserted
    assert (name, at0) == ("Authentication-Results", True)
    assert value.startswith(" mx.example.com; dkim=pass")
    assert "header.d=example.com" in value and "header.s=rsa" in value
    assert result.deleted == ["Authentication-Results"], "the forged field claiming our id"

    tampered_fields, _ = split_message(signed)
    script = miltertest_script(
        milter.port, tampered_fields, body + b"PS\r\n", client_ip="127.0.0.2"
    )
    bad = run_miltertest(script, tmp_path)
    assert bad.reply == "a"  # On-BadSignature accept
    assert bad.values("Authentication-Results")[0].startswith(" mx.example.com; dkim=fail")


def test_malformed_message_gets_an_answer_and_the_milter_lives_on(
    milter: MilterProcess, tmp_path: Path
) -> None:
    fields = [
        ("X-Junk", b"\xff\xfe binary \x01"),
        ("From", b" not an address at all"),
        ("DKIM-Signature", b" v=1; a=garbage; b=!!!"),
    ]
    # 8-bit junk; not NUL: miltertest would send an empty body chunk, which no MTA does
    script = miltertest_script(milter.port, fields, b"\xff\xfe body\r\n", client_ip="127.0.0.2")
    result = run_miltertest(script, tmp_path)
    assert result.reply == "a", result.stdout
    assert result.values("Authentication-Results")[0].startswith(" mx.example.com; dkim=")
    again = run_miltertest(
        miltertest_script(milter.port, *split_message(MESSAGE), client_ip="127.0.0.2"), tmp_path
    )
    assert again.reply == "a"
    assert milter.proc is not None and milter.proc.poll() is None


def test_dns_timeout_is_a_tempfail(keys: Path, tmp_path: Path) -> None:
    signed = sign_bytes(MESSAGE, keys / "rsa.private", "rsa")
    with SilentServer() as silent:
        args = [
            "-b", "v", "-A", "mx.example.com",
            "--nameserver", f"127.0.0.1:{silent.port}", "--timeout", "1",
        ]  # fmt: skip
        with MilterProcess(tmp_path / "m", args) as proc:
            fields, body = split_message(signed)
            started = time.monotonic()
            script = miltertest_script(proc.port, fields, body, client_ip="127.0.0.2")
            result = run_miltertest(script, tmp_path)
            elapsed = time.monotonic() - started
            log = proc.log()
    assert result.reply == "y", result.stdout  # SMFIR_REPLYCODE: our 451 4.4.3
    assert result.inserted == []
    assert "tempfail (DNSError)" in log
    assert elapsed < 10


def test_sigterm_is_a_clean_shutdown(keys: Path, tmp_path: Path) -> None:
    pidfile = tmp_path / "milter.pid"
    args = ["-b", "v", "--dns-file", str(keys / "rsa.txt"), "-P", str(pidfile)]
    proc = MilterProcess(tmp_path / "m", args).start()
    assert int(pidfile.read_text()) == proc.pid
    started = time.monotonic()
    code = proc.stop(signal.SIGTERM)
    took = time.monotonic() - started
    assert code == 0, proc.log()
    assert not pidfile.exists()
    assert "milter stopped" in proc.log()
    assert took < 15


def _ids(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    uid = next(line for line in status.splitlines() if line.startswith("Uid:")).split()
    gid = next(line for line in status.splitlines() if line.startswith("Gid:")).split()
    return int(uid[2]), int(gid[2])  # effective ids


def test_userid_drops_privileges_after_binding(keys: Path, tmp_path: Path) -> None:
    """-u nobody: the socket is bound and the keys are read as root, then the milter runs as
    nobody (the classic `Userid dkim`), and still signs."""
    import os
    import pwd

    if os.geteuid() != 0:
        pytest.skip("only root can switch users")
    nobody = pwd.getpwnam("nobody")
    args = ["-d", "example.com", "-s", "rsa", "-k", str(keys / "rsa.private"), "-u", "nobody"]
    args += ["--dns-file", str(keys / "rsa.txt")]
    with MilterProcess(tmp_path / "m", args) as proc:
        deadline = time.monotonic() + 10
        while _ids(proc.pid) != (nobody.pw_uid, nobody.pw_gid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _ids(proc.pid) == (nobody.pw_uid, nobody.pw_gid), proc.log()
        fields, body = split_message(MESSAGE)
        result = run_miltertest(
            miltertest_script(proc.port, fields, body, client_ip="127.0.0.1"), tmp_path
        )
        assert any(name == "DKIM-Signature" for name, _, _ in result.inserted), result.stdout
