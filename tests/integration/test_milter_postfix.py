"""``dkimtool milter`` behind a real, private Postfix (``postfix -c DIR``), mail sent with swaks.

Postfix gets its own config, queue and data directories under the test's tmp dir, smtpd on
127.0.0.1:<free port>, ``smtpd_milters`` and ``non_smtpd_milters`` pointing at our milter,
and delivers every message to a file. The system Postfix is never touched.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dkimtool.core.verifier import VerifyPolicy, verify_message
from dkimtool.core.zonefile import ZoneFileSource
from tests.dnsservers import SilentServer, require_binary
from tests.milterlab import (
    MilterProcess,
    PrivatePostfix,
    rss_kib,
    sign_bytes,
    smtp_reply_codes,
    swaks,
)
from tests.peers import maildkim_verify, opendkim_verify, require_peer

pytestmark = pytest.mark.peer

FORGED = "Authentication-Results: mx.example.com; dkim=pass header.d=example.com (forged)"


def dkimtool(*args: str, input: bytes | None = None) -> bytes:
    return subprocess.run(
        [sys.executable, "-m", "dkimtool", *args], input=input, capture_output=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def lab() -> Iterator[Path]:
    """A directory Postfix's unprivileged users can traverse (pytest's tmp is 0700)."""
    require_binary("postfix")
    require_binary("swaks")
    with tempfile.TemporaryDirectory(prefix="dkimtool-postfix-") as d:
        os.chmod(d, 0o755)
        path = Path(d)
        dkimtool("genkey", "-q", "-d", "example.com", "-s", "mail", "-D", str(path / "keys"))
        yield path


def records(lab: Path) -> dict[str, str]:
    value = dkimtool(
        "txt", "-k", str(lab / "keys/mail.private"), "-s", "mail", "-d", "example.com",
        "--format", "value",
    )  # fmt: skip
    return {"mail._domainkey.example.com": value.decode().strip()}


def guide_config(lab: Path, name: str, extra: str = "") -> Path:
    """The classic guide's dkim.conf, adapted: our key, a private socket (from -p)."""
    (lab / "internal-hosts").write_text("# signed: mail from these\n127.0.0.1\n")
    conf = lab / f"{name}.conf"
    conf.write_text(
        "Canonicalization simple\nDomain example.com\n"
        f"KeyFile {lab}/keys/mail.private\nMTA MSA\nSelector mail\n"
        "SignatureAlgorithm rsa-sha256\nX-Header Yes\nMode sv\n"
        f"InternalHosts {lab}/internal-hosts\nAuthservID mx.example.com\n" + extra
    )
    return conf


@pytest.fixture(scope="module")
def stack(lab: Path) -> Iterator[tuple[MilterProcess, PrivatePostfix]]:
    conf = guide_config(lab, "main")
    milter = MilterProcess(
        lab / "milter", ["-x", str(conf), "--dns-file", str(lab / "keys/mail.txt")]
    ).start()
    pf = PrivatePostfix(lab / "pf", milter.port)
    try:
        pf.start()
        yield milter, pf
    finally:
        pf.stop()
        milter.stop()


def newest(pf: PrivatePostfix, before: set[Path], timeout: float = 60) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = [p for p in pf.delivered() if p not in before]
        if new:
            return new[0].read_bytes()
        time.sleep(0.1)
    raise AssertionError(f"nothing delivered:\n{pf.log()[-3000:]}")


def as_crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def test_postfix_check_passes(stack: tuple[MilterProcess, PrivatePostfix]) -> None:
    _, pf = stack
    assert pf.cmd("check").returncode == 0


def test_internal_mail_is_signed_and_verifies_in_opendkim_and_maildkim(
    stack: tuple[MilterProcess, PrivatePostfix], lab: Path, tmp_path: Path
) -> None:
    _milter, pf = stack
    before = set(pf.delivered())
    sent = swaks(pf.port, headers=[FORGED, "Subject: signed by dkimtool milter"])
    assert sent.returncode == 0, sent.stdout + sent.stderr
    message = newest(pf, before)
    lines = message.split(b"\n")
    assert lines[0].startswith(b"Return-Path:")  # added by the delivery agent
    assert lines[1].startswith(b"X-DKIM: dkimtool ")
    assert lines[2].startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=simple/simple;")
    assert b"(forged)" not in message
    crlf = as_crlf(message)
    source = ZoneFileSource([str(lab / "keys/mail.txt")])
    report = verify_message(crlf, keys=source, policy=VerifyPolicy(), now=time.time())
    assert str(report.result) == "pass", report
    require_peer("opendkim")
    verdict = opendkim_verify(crlf, records(lab), tmp_path)
    print("\n--- delivered ---\n" + message.decode() + "--- OpenDKIM: " + verdict.detail)
    assert verdict.ok, verdict.detail
    require_peer("mail-dkim")
    [maildkim] = maildkim_verify(crlf, records(lab))
    print("--- Mail::DKIM: " + maildkim.detail)
    assert maildkim.ok, maildkim.detail


def test_external_mail_is_verified_with_one_authres(
    stack: tuple[MilterProcess, PrivatePostfix], lab: Path
) -> None:
    _, pf = stack
    body = (
        f"{FORGED}\r\nFrom: alice@example.com\r\nTo: rcpt@example.net\r\n"
        "Subject: from outside\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n"
        "Message-ID: <ext1@example.com>\r\n\r\nHello\r\n"
    ).encode()
    signed = sign_bytes(body, lab / "keys/mail.private", "mail")
    before = set(pf.delivered())
    sent = swaks(pf.port, source_ip="127.0.0.2", data=signed)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    message = newest(pf, before)
    authres = [line for line in message.split(b"\n") if line.startswith(b"Authentication-Results")]
    assert len(authres) == 1, message
    assert authres[0].startswith(b"Authentication-Results: mx.example.com; dkim=pass")
    assert b"(forged)" not in message
    assert message.split(b"\n")[1].startswith(b"Authentication-Results:")  # at the top
    assert b"X-DKIM" not in message  # verified, not signed


def test_locally_submitted_mail_is_signed(
    stack: tuple[MilterProcess, PrivatePostfix], lab: Path
) -> None:
    """non_smtpd_milters: mail from Postfix's sendmail(1) (pickup) goes through the milter."""
    _, pf = stack
    before = set(pf.delivered())
    message_in = (
        b"From: root@example.com\nTo: rcpt@example.net\nSubject: local\n"
        b"Date: Tue, 1 Dec 2026 10:00:00 +0000\nMessage-ID: <local1@example.com>\n\nhi\n"
    )
    proc = subprocess.run(
        ["/usr/sbin/sendmail", "-C", str(pf.config), "-f", "root@example.com", "-t"],
        input=message_in,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    message = newest(pf, before)
    assert b"DKIM-Signature: v=1" in message, message
    report = verify_message(
        as_crlf(message),
        keys=ZoneFileSource([str(lab / "keys/mail.txt")]),
        policy=VerifyPolicy(),
        now=time.time(),
    )
    assert str(report.result) == "pass"


def test_dns_timeout_gives_the_client_a_4xx(lab: Path) -> None:
    signed = sign_bytes(
        b"From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n", lab / "keys/mail.private", "mail"
    )
    with SilentServer() as silent:
        args = ["-b", "v", "-A", "mx.example.com", "--nameserver", f"127.0.0.1:{silent.port}"]
        args += ["--timeout", "1"]
        with (
            MilterProcess(lab / "m-dns", args) as milter,
            PrivatePostfix(lab / "pf-dns", milter.port) as pf,
        ):
            sent = swaks(pf.port, source_ip="127.0.0.2", data=signed)
    codes = smtp_reply_codes(sent.stdout)
    assert sent.returncode != 0
    assert "451" in codes, sent.stdout
    assert "4.4.3" in sent.stdout


@pytest.mark.parametrize("default_action", ["tempfail", "accept"])
def test_milter_killed_postfix_applies_default_action(lab: Path, default_action: str) -> None:
    conf = guide_config(lab, f"kill-{default_action}")
    milter = MilterProcess(lab / f"m-kill-{default_action}", ["-x", str(conf)]).start()
    with PrivatePostfix(
        lab / f"pf-kill-{default_action}", milter.port, default_action=default_action
    ) as pf:
        ok = swaks(pf.port)
        assert ok.returncode == 0
        assert len(pf.wait_delivered(1)) == 1
        milter.kill()  # SIGKILL: no goodbye on the milter socket
        before = set(pf.delivered())
        after = swaks(pf.port)
        if default_action == "tempfail":
            assert after.returncode != 0
            assert any(code.startswith("4") for code in smtp_reply_codes(after.stdout))
        else:
            assert after.returncode == 0
            delivered = newest(pf, before)
            assert b"DKIM-Signature" not in delivered  # passed through unsigned, as configured


def test_missing_key_file_stops_the_start(lab: Path) -> None:
    conf = lab / "missing-key.conf"
    conf.write_text("Domain example.com\nSelector s\nKeyFile /nonexistent/s.private\n")
    proc = subprocess.run(
        [sys.executable, "-m", "dkimtool", "milter", "-x", str(conf), "-p", "inet:1@127.0.0.1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 66
    assert proc.stderr.startswith("dkimtool: error: ") and "/nonexistent/s.private" in proc.stderr


# --------------------------------------------------------------------------- load


def _send_batch(port: int, source: str, count: int, tag: int) -> int:
    sent = 0
    with smtplib.SMTP("127.0.0.1", port, source_address=(source, 0), timeout=120) as smtp:
        for n in range(count):
            msg = (
                f"From: user{tag}@example.com\r\nTo: rcpt@example.net\r\n"
                f"Subject: load {tag}-{n}\r\nMessage-ID: <{tag}.{n}@example.com>\r\n"
                "Date: Tue, 1 Dec 2026 10:00:00 +0000\r\n\r\n" + f"body {tag} {n}\r\n" * 20
            )
            smtp.sendmail(f"user{tag}@example.com", ["rcpt@example.net"], msg.encode())
            sent += 1
    return sent


@pytest.mark.slow
def test_load_200_sessions_10000_messages(lab: Path) -> None:
    sessions, total = 200, int(os.environ.get("DKIMTOOL_LOAD_MESSAGES", "10000"))
    conf = guide_config(lab, "load")
    milter = MilterProcess(lab / "m-load", ["-x", str(conf), "-q"]).start()
    try:
        with PrivatePostfix(lab / "pf-load", milter.port) as pf:
            rss_before = rss_kib(milter.pid)
            started = time.monotonic()
            per = total // sessions
            with concurrent.futures.ThreadPoolExecutor(sessions) as pool:
                futures = [
                    pool.submit(_send_batch, pf.port, "127.0.0.1", per, i) for i in range(sessions)
                ]
                sent = sum(f.result() for f in futures)
            accepted = time.monotonic() - started
            delivered = pf.wait_delivered(sent, timeout=900)
            elapsed = time.monotonic() - started
            rss_after = rss_kib(milter.pid)
            unsigned = [p for p in delivered if b"\nDKIM-Signature: " not in p.read_bytes()]
            source = ZoneFileSource([str(lab / "keys/mail.txt")])
            sample = delivered[:: max(1, len(delivered) // 50)]
            bad = [
                p
                for p in sample
                if str(
                    verify_message(
                        as_crlf(p.read_bytes()), keys=source, policy=VerifyPolicy(), now=time.time()
                    ).result
                )
                != "pass"
            ]
            print(
                f"\nload: {sent} messages in {sessions} concurrent sessions accepted in "
                f"{accepted:.1f}s, delivered {len(delivered)} in {elapsed:.1f}s; milter RSS "
                f"{rss_before} KiB -> {rss_after} KiB; unsigned {len(unsigned)}; sample "
                f"verify failures {len(bad)}/{len(sample)}"
            )
            assert sent == total
            assert len(delivered) == sent, f"lost {sent - len(delivered)}"
            assert unsigned == []
            assert bad == []
    finally:
        assert milter.stop(signal.SIGTERM) == 0
