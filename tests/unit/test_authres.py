"""Authentication-Results (RFC 8601): rendering, injection safety, and adding to a message."""

from __future__ import annotations

import re

from dkimtool.core.authres import add_authres, authserv_id_of, render_authres
from dkimtool.core.message import parse_message
from dkimtool.core.results import AuthResult
from dkimtool.core.verifier import SignatureResult, VerifyReport

PASS = SignatureResult(
    result=AuthResult.PASS,
    reason="",
    position=0,
    domain="example.com",
    identity="@example.com",
    selector="mail",
    algorithm="rsa-sha256",
    b_prefix="AbCd/+==",
)
FAIL = SignatureResult(
    result=AuthResult.FAIL,
    reason="body hash did not verify",
    position=1,
    domain="example.org",
    selector="s1",
    algorithm="ed25519-sha256",
    b_prefix="abcdefgh",
)
MESSAGE = b"Received: x\nFrom: a@example.com\nSubject: s\n\nbody\n"


def test_render_pass_and_fail() -> None:
    value = render_authres(VerifyReport(AuthResult.PASS, [PASS, FAIL]), "mx.example.net")
    assert value == (
        "mx.example.net; dkim=pass header.d=example.com header.i=@example.com header.s=mail"
        ' header.a=rsa-sha256 header.b="AbCd/+=="; dkim=fail reason="body hash did not verify"'
        " header.d=example.org header.s=s1 header.a=ed25519-sha256 header.b=abcdefgh"
    )


def test_render_none() -> None:
    assert render_authres(VerifyReport(AuthResult.NONE, []), "mx") == "mx; dkim=none"


def test_not_evaluated_signatures_are_left_out() -> None:
    skipped = SignatureResult(
        result=AuthResult.NEUTRAL, reason="not evaluated", position=2, evaluated=False
    )
    value = render_authres(VerifyReport(AuthResult.PASS, [PASS, skipped]), "mx")
    assert value.count("dkim=") == 1


def test_hostile_values_cannot_inject() -> None:
    evil = SignatureResult(
        result=AuthResult.FAIL,
        reason='bad "thing"\r\nX-Injected: yes',
        position=0,
        domain="example.com; dkim=pass header.d=bank.example",
        identity="joe@exa\nmple.com",
        selector="s\x00el\x85",
        algorithm="rsa-sha256\\",
        b_prefix="a b",
    )
    value = render_authres(VerifyReport(AuthResult.FAIL, [evil]), "mx;\r\nevil")
    assert not re.search(r"[\x00-\x1f\x7f\x80-\x9f]", value)
    assert value.count("dkim=") == 2  # ours, and one inside a quoted-string
    assert value.startswith('"mx;??evil"; dkim=fail reason="bad \\"thing\\"??X-Injected: yes"')
    assert 'header.d="example.com; dkim=pass header.d=bank.example"' in value
    assert 'header.i="joe@exa?mple.com"' in value
    assert 'header.a="rsa-sha256\\\\"' in value
    assert 'header.s="s?el?"' in value


def test_authserv_id_of() -> None:
    assert authserv_id_of(b" mx.example.net; dkim=pass") == "mx.example.net"
    assert authserv_id_of(b" (comment (nested)) MX.example.net 1; none") == "MX.example.net"
    assert authserv_id_of(b' "quoted \\" id"; none') == 'quoted " id'
    assert authserv_id_of(b"  ") is None


def test_add_authres_prepends_and_keeps_the_rest() -> None:
    report = VerifyReport(AuthResult.PASS, [PASS])
    out = add_authres(MESSAGE, report, "mx.example.net")
    field, rest = out.split(b"Received: x\n", 1)
    assert rest == MESSAGE[len(b"Received: x\n") :]
    assert field.startswith(b"Authentication-Results: mx.example.net;\n\tdkim=pass ")
    assert field.endswith(b"\n")
    assert b"\r" not in field
    msg = parse_message(out)
    assert msg.fields[0].key == "authentication-results"


def test_add_authres_crlf_and_mbox_line() -> None:
    data = b"From nobody Mon Jan  1 00:00:00 2024\r\n" + MESSAGE.replace(b"\n", b"\r\n")
    out = add_authres(data, VerifyReport(AuthResult.PASS, [PASS, FAIL]), "mx")
    assert out.startswith(
        b"From nobody Mon Jan  1 00:00:00 2024\r\nAuthentication-Results: mx;\r\n"
    )
    field = out[: out.index(b"Received:")]
    assert field.count(b"\n") == field.count(b"\r\n")
    for line in field.split(b"\r\n")[1:-1]:
        assert len(line) <= 78
    assert out.endswith(data[len(b"From nobody Mon Jan  1 00:00:00 2024\r\n") :])


def test_add_authres_removes_forged_fields_with_our_id_only() -> None:
    data = (
        b"Authentication-Results: MX.Example.NET; dkim=pass header.d=bank.example\n"
        b"Received: x\n"
        b"Authentication-Results: (forged)\n mx.example.net; dkim=pass\n"
        b"Authentication-Results: other.example; dkim=fail\n"
        b"From: a@example.com\n\nbody\n"
    )
    out = add_authres(data, VerifyReport(AuthResult.NONE, []), "mx.example.net")
    assert out.count(b"Authentication-Results:") == 2
    assert b"bank.example" not in out
    assert b"(forged)" not in out
    assert out.endswith(
        b"Received: x\nAuthentication-Results: other.example; dkim=fail\n"
        b"From: a@example.com\n\nbody\n"
    )
    assert out.startswith(b"Authentication-Results: mx.example.net;\n\tdkim=none\n")


def test_long_results_fold_between_properties() -> None:
    long = SignatureResult(
        result=AuthResult.PERMERROR,
        reason="malformed key record (p= is not a valid RSA public key)",
        position=0,
        domain="a-very-long-subdomain-name.of-an-even-longer-domain.example.com",
        selector="selector-2024-rotation-key",
        algorithm="rsa-sha256",
    )
    out = add_authres(MESSAGE, VerifyReport(AuthResult.PERMERROR, [long]), "mx")
    field = out[: out.index(b"Received:")]
    lines = field.split(b"\n")[:-1]
    assert len(lines) > 2
    assert all(len(line) <= 78 for line in lines)
    assert all(line.startswith(b"\t") for line in lines[1:])
    unfolded = field.replace(b"\n\t", b" ").decode()
    assert 'reason="malformed key record (p= is not a valid RSA public key)"' in unfolded
