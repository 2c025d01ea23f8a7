"""dkimtool.milter.runtime (no pymilter needed) and the ``dkimtool milter`` command's checks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from dkimtool.core.milter_policy import (
    Action,
    Client,
    DeleteHeader,
    InsertHeader,
    Overrides,
    Verdict,
    load_settings,
)
from dkimtool.core.verifier import VerifyPolicy, verify_message
from dkimtool.core.zonefile import ZoneFileSource
from dkimtool.milter.runtime import MessageSession, build_engine
from tests.conftest import RunCli, assert_error

HEADERS = [
    ("Received", b" from client (localhost [127.0.0.1])\n\tby mx; Tue, 1 Dec 2026 10:00:00 +0000"),
    ("Authentication-Results", b" mx.example.com; dkim=pass header.d=forged.example"),
    ("From", b"  User <user@example.com>"),  # two spaces: simple canonicalization sees them
    ("To", b" rcpt@example.net"),
    ("Subject", b" a folded\n\t subject line"),
    ("Date", b" Tue, 1 Dec 2026 10:00:00 +0000"),
]
BODY = b"Hello,\r\n\r\nthis is the body.\r\n" * 200


@pytest.fixture
def keydir(tmp_path: Path, run_cli: RunCli) -> Path:
    assert run_cli("genkey", "-d", "example.com", "-s", "rsa", "-D", str(tmp_path)).code == 0
    assert (
        run_cli("genkey", "-d", "example.com", "-s", "ed", "-a", "ed25519", "-D", str(tmp_path))
    ).code == 0
    return tmp_path


def apply(ops: list[object], fields: list[tuple[str, bytes]]) -> bytes:
    """What an MTA does with the plan: deletions by per-name index, inserts at the top."""
    out = [(n, v) for n, v in fields]
    for op in ops:
        if isinstance(op, DeleteHeader):
            seen = 0
            for i, (name, _) in enumerate(out):
                if name.lower() == op.name.lower():
                    seen += 1
                    if seen == op.index:
                        del out[i]
                        break
        elif isinstance(op, InsertHeader):
            out.insert(op.index, (op.name, op.value.encode()))
    head = b"".join(n.encode() + b":" + v.replace(b"\n", b"\r\n") + b"\r\n" for n, v in out)
    return head + b"\r\n" + BODY


def run_session(session: MessageSession, chunk: int = 4096) -> tuple[Verdict, list[object]]:
    for name, value in HEADERS:
        session.header(name, value)
    verdict = session.end_of_header("mx.example.com")
    for i in range(0, len(BODY), chunk):
        session.body(BODY[i : i + chunk])
    outcome = session.end_of_message("4QID")
    assert outcome.reply.action == Action.ACCEPT
    return verdict, list(outcome.ops)


@pytest.mark.parametrize("canon", ["simple/simple", "relaxed/relaxed", "simple/relaxed"])
@pytest.mark.parametrize("chunk", [7, 997, 65535])
def test_signing_session_dual_signature_verifies(keydir: Path, canon: str, chunk: int) -> None:
    settings = load_settings(
        None,
        Overrides(
            domains=("example.com",),
            selectors=("rsa", "ed"),
            key_files=(str(keydir / "rsa.private"), str(keydir / "ed.private")),
            canonicalization=canon,
            x_header=True,
        ),
    )
    engine, _ = build_engine(settings, dns_files=[str(keydir / "rsa.txt")])
    session = MessageSession(engine, Client("localhost", "127.0.0.1"), leading_space=True)
    verdict, ops = run_session(session, chunk)
    assert verdict == Verdict.SIGN
    assert ops[0] == DeleteHeader("Authentication-Results", 1)
    inserted = [op for op in ops if isinstance(op, InsertHeader)]
    assert [op.name for op in inserted] == ["DKIM-Signature", "DKIM-Signature", "X-DKIM"]
    assert all(op.index == 0 for op in inserted)
    assert inserted[-1].value == " dkimtool " + engine.version + " mx.example.com 4QID"
    message = apply(ops, HEADERS)
    assert message.startswith(b"X-DKIM: dkimtool ")
    assert b"\r\n\r\n" in message and b"\n\t" not in message.replace(b"\r\n", b"")
    source = ZoneFileSource([str(keydir / "rsa.txt"), str(keydir / "ed.txt")])
    report = verify_message(message, keys=source, policy=VerifyPolicy(), now=engine.clock())
    assert [str(s.result) for s in report.signatures] == ["pass", "pass"], report


def test_verify_session_adds_one_authres_and_removes_forgery(keydir: Path) -> None:
    settings = load_settings(None, Overrides(authserv_id="mx.example.com"))
    engine, _ = build_engine(settings, dns_files=[str(keydir / "rsa.txt")])
    session = MessageSession(engine, Client("ext.example", "192.0.2.1"), leading_space=True)
    verdict, ops = run_session(session)
    assert verdict == Verdict.VERIFY
    assert ops == [
        DeleteHeader("Authentication-Results", 1),
        InsertHeader("Authentication-Results", " mx.example.com; dkim=none", 0),
    ]


def test_without_leading_space_fields_are_rebuilt_name_colon_space(keydir: Path) -> None:
    settings = load_settings(
        None,
        Overrides(
            domains=("example.com",),
            selectors=("rsa",),
            key_files=(str(keydir / "rsa.private"),),
        ),
    )
    engine, _ = build_engine(settings, dns_files=[str(keydir / "rsa.txt")])
    session = MessageSession(engine, Client(None, "127.0.0.1"), leading_space=False)
    session.header("From", b"user@example.com")
    assert session.raw_fields == [b"From: user@example.com\r\n"]


# --- the command ---------------------------------------------------------------------------


def test_check_mode(run_cli: RunCli, keydir: Path) -> None:
    conf = keydir / "dkim.conf"
    conf.write_text(
        f"Domain example.com\nSelector rsa\nKeyFile {keydir}/rsa.private\n"
        "Socket inet:18891@127.0.0.1\nX-Header yes\n"
    )
    result = run_cli("milter", "-x", str(conf), "-n")
    assert result.code == 0, result
    assert "configuration OK" in result.stdout
    assert "signs for example.com with s=rsa" in result.stdout


def test_classic_long_command_line_checks(run_cli: RunCli, keydir: Path) -> None:
    (keydir / "internal").write_text("127.0.0.1\n")
    result = run_cli(
        "milter", "-d", "example.com", "-v", "-l", "-h", "-p", "inet:18891@localhost",
        "-c", "simple", "-k", f"{keydir}/rsa.private", "-s", "rsa", "-S", "rsa-sha256",
        "-m", "MSA", "-i", f"{keydir}/internal", "-n",
    )  # fmt: skip
    assert result.code == 0, result


def test_bad_config_is_78_naming_file_and_line(run_cli: RunCli, tmp_path: Path) -> None:
    conf = tmp_path / "dkim.conf"
    conf.write_text("Mode sv\nSocket inet:localhost:8891\n")
    assert_error(run_cli("milter", "-x", str(conf), "-n"), 78, f"{conf}:2:", "Postfix")


def test_missing_key_file_is_66(run_cli: RunCli, tmp_path: Path) -> None:
    conf = tmp_path / "dkim.conf"
    conf.write_text("Domain example.com\nSelector s\nKeyFile /nonexistent/s.private\n")
    assert_error(run_cli("milter", "-x", str(conf), "-n"), 66, "/nonexistent/s.private")


def test_missing_pymilter_is_one_clear_line(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "Milter", None)  # import Milter -> ImportError
    monkeypatch.delitem(sys.modules, "dkimtool.milter.adapter", raising=False)
    line = assert_error(run_cli("milter", "-b", "v", "-p", "inet:18891@127.0.0.1"), 69)
    assert "pymilter" in line and "dkimtool[milter]" in line
