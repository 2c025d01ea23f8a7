"""Verification: RFC vectors, every word and reason of the contract, the overall verdict,
dkimpy as the oracle, and bad input."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import dkim
import pytest
from cryptography.hazmat.primitives import serialization

from dkimtool.core import keys
from dkimtool.core.errors import DnsNotFound, DnsTempError, MessageFormatError
from dkimtool.core.results import AuthResult
from dkimtool.core.signer import Algorithm, SigningKey, SignOptions, sign_message
from dkimtool.core.verifier import (
    SignatureResult,
    Verifier,
    VerifyPolicy,
    VerifyReport,
    _verdict,
    verify_message,
)
from tests.conftest import pooled_rsa_key
from tests.unit.test_signer import MESSAGE, RFC8463_SEED, RFC8463_SIGNED, crlf

NOW = 1_700_000_000
Canon = Literal["simple", "relaxed"]


@dataclass
class Answer:
    records: list[bytes]


class FakeTxt:
    """An in-memory TxtSource: name → records, or an exception to raise; counts lookups."""

    def __init__(self, zone: dict[str, list[str] | Exception]) -> None:
        self.zone = {name.lower(): value for name, value in zone.items()}
        self.asked: list[str] = []

    def lookup_txt(self, name: str) -> Answer:
        self.asked.append(name)
        value = self.zone.get(name.lower())
        if value is None:
            raise DnsNotFound(f"{name}: NXDOMAIN")
        if isinstance(value, Exception):
            raise value
        return Answer([text.encode() for text in value])


def rsa_key(bits: int = 1024) -> keys.LoadedKey:
    private = pooled_rsa_key(bits)
    return keys.LoadedKey(public=private.public_key(), private=private)


ED_KEY = keys.load_key(RFC8463_SEED.encode())


def record(key: keys.LoadedKey, extra: str = "") -> str:
    return f"v=DKIM1; k={key.key_type}; {extra}p={keys.p_value(key.public)}"


def sign(
    data: bytes = MESSAGE,
    *,
    key: keys.LoadedKey | None = None,
    algorithm: Algorithm = "rsa-sha256",
    selector: str = "sel",
    domain: str = "example.com",
    **kwargs: object,
) -> bytes:
    key = key or rsa_key()
    opts = SignOptions(
        domain=domain,
        keys=(SigningKey(selector=selector, key=key, algorithm=algorithm),),
        **kwargs,  # type: ignore[arg-type]
    )
    result = sign_message(data, opts, now=NOW)
    return result.fields + data


def zone_for(key: keys.LoadedKey | None = None, extra: str = "") -> FakeTxt:
    return FakeTxt({"sel._domainkey.example.com": [record(key or rsa_key(), extra)]})


def verify(
    data: bytes, source: FakeTxt | None = None, *, now: float = NOW, **policy: object
) -> VerifyReport:
    return verify_message(
        data,
        keys=source or zone_for(),
        policy=VerifyPolicy(**policy),  # type: ignore[arg-type]
        now=now,
    )


def only(report: VerifyReport) -> SignatureResult:
    assert len(report.signatures) == 1
    return report.signatures[0]


# ------------------------------------------------------------------------------------------
# RFC vectors
# ------------------------------------------------------------------------------------------

RFC8463_RSA = (
    "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWR"
    "iGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutAC"
    "DfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3"
    "Ip3G+2kryOTIKT+l/K4w3QIDAQAB"
)
RFC8463_ED = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
RFC8463_BOTH = (
    crlf(
        b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\n"
        b" d=football.example.com; i=@football.example.com;\n"
        b" q=dns/txt; s=test; t=1528637909; h=from : to : subject :\n"
        b" date : message-id : from : subject : date;\n"
        b" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\n"
        b" b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\n"
        b" DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\n"
        b" dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\n"
    )
    + RFC8463_SIGNED
)
RFC8463_ZONE = {
    "brisbane._domainkey.football.example.com": [RFC8463_ED],
    "test._domainkey.football.example.com": [RFC8463_RSA],
}

RFC6376_KEY = (
    "v=DKIM1; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDwIRP/UC3SBsEmGqZ9ZJW3/DkMoGeLnQg1fWn7/zYt"
    "IxN2SnFCjxOCKG9v3b4jYfcTNh5ijSsq631uBItLa7od+v/RtdC2UzJ1lWT947qR+Rcac2gbto/NMqJ0fzfVjH4OuKhi"
    "tdY9tf6mcwGjaNBcWToIMmPSPDdQPNUYckcQ2QIDAQAB"
)
RFC6376_SIGNED = crlf(
    b"DKIM-Signature: v=1; a=rsa-sha256; s=brisbane; d=example.com;\n"
    b"      c=simple/simple; q=dns/txt; i=joe@football.example.com;\n"
    b"      h=Received : From : To : Subject : Date : Message-ID;\n"
    b"      bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\n"
    b"      b=AuUoFEfDxTDkHlLXSZEpZj79LICEps6eda7W3deTVFOk4yAUoqOB\n"
    b"      4nujc7YopdG5dWLSdNg6xNAZpOPr+kHxt1IrE+NahM6L/LbvaHut\n"
    b"      KVdkLLkpVaVVQPzeRDI009SO2Il5Lu7rDNH6mZckBdrIx0orEtZV\n"
    b"      4bmp/YzhwvcubU4=;\n"
    b"Received: from client1.football.example.com  [192.0.2.1]\n"
    b"      by submitserver.example.com with SUBMISSION;\n"
    b"      Fri, 11 Jul 2003 21:01:54 -0700 (PDT)\n"
    b"From: Joe SixPack <joe@football.example.com>\n"
    b"To: Suzie Q <suzie@shopping.example.net>\n"
    b"Subject: Is dinner ready?\n"
    b"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\n"
    b"Message-ID: <20030712040037.46341.5F8J@football.example.com>\n"
    b"\n"
    b"Hi.\n"
    b"\n"
    b"We lost the game. Are you hungry yet?\n"
    b"\n"
    b"Joe.\n"
)


def test_rfc8463_appendix_a_both_signatures_pass() -> None:
    report = verify(RFC8463_BOTH, FakeTxt(dict(RFC8463_ZONE)))
    assert report.result == AuthResult.PASS
    assert [s.result for s in report.signatures] == [AuthResult.PASS, AuthResult.PASS]
    rsa_sig, ed_sig = report.signatures
    assert (ed_sig.algorithm, ed_sig.key_bits, ed_sig.b_prefix) == (
        "ed25519-sha256",
        256,
        "/gCrinpc",
    )
    assert (rsa_sig.selector, rsa_sig.key_bits, rsa_sig.b_prefix) == ("test", 1024, "F45dVWDf")
    assert ed_sig.identity == "@football.example.com"
    assert ed_sig.timestamp == 1528637909
    names = ["from", "to", "subject", "date", "message-id", "from", "subject", "date"]
    assert ed_sig.signed_headers == tuple(names)


def test_rfc8463_ed25519_tampered_fails() -> None:
    tampered = RFC8463_BOTH.replace(b"Subject: Is dinner ready?", b"Subject: Is lunch ready?")
    report = verify(tampered, FakeTxt(dict(RFC8463_ZONE)))
    assert [(s.result, s.reason) for s in report.signatures] == [
        (AuthResult.FAIL, "signature did not verify")
    ] * 2


def test_rfc8463_lf_form_still_passes() -> None:
    report = verify(RFC8463_BOTH.replace(b"\r\n", b"\n"), FakeTxt(dict(RFC8463_ZONE)))
    assert report.result == AuthResult.PASS


def test_rfc6376_appendix_a_passes() -> None:
    zone = FakeTxt({"brisbane._domainkey.example.com": [RFC6376_KEY]})
    sig = only(verify(RFC6376_SIGNED, zone))
    assert (sig.result, sig.reason) == (AuthResult.PASS, "")
    assert sig.canonicalization == "simple/simple"
    assert sig.identity == "joe@football.example.com"
    assert zone.asked == ["brisbane._domainkey.example.com"]


def test_rfc6376_simple_body_detects_whitespace_change() -> None:
    zone = FakeTxt({"brisbane._domainkey.example.com": [RFC6376_KEY]})
    changed = RFC6376_SIGNED.replace(b"the game.", b"the  game.")
    sig = only(verify(changed, zone))
    assert (sig.result, sig.reason) == (AuthResult.FAIL, "body hash did not verify")


# ------------------------------------------------------------------------------------------
# Every word and reason of the contract
# ------------------------------------------------------------------------------------------


def test_no_signature_is_none() -> None:
    report = verify(MESSAGE)
    assert report == VerifyReport(AuthResult.NONE, [])


def test_pass_and_details() -> None:
    sig = only(verify(sign(identity="joe@example.com", expire=600)))
    assert (sig.result, sig.reason, sig.position) == (AuthResult.PASS, "", 0)
    assert (sig.domain, sig.selector, sig.algorithm) == ("example.com", "sel", "rsa-sha256")
    assert sig.canonicalization == "relaxed/relaxed"
    assert sig.identity == "joe@example.com"
    assert (sig.timestamp, sig.expiration, sig.key_bits) == (NOW, NOW + 600, 1024)
    assert sig.b_prefix is not None and len(sig.b_prefix) == 8
    assert sig.testing is False


def test_body_changed_is_fail() -> None:
    sig = only(verify(sign() + b"appended\n"))
    assert (sig.result, sig.reason) == (AuthResult.FAIL, "body hash did not verify")


def test_signed_header_changed_is_fail() -> None:
    sig = only(verify(sign().replace(b"Subject: Is dinner", b"Subject: Is lunch")))
    assert (sig.result, sig.reason) == (AuthResult.FAIL, "signature did not verify")


def test_revoked_key_is_fail() -> None:
    sig = only(verify(sign(), FakeTxt({"sel._domainkey.example.com": ["v=DKIM1; p="]})))
    assert (sig.result, sig.reason) == (AuthResult.FAIL, "key revoked")


def test_expired_beyond_skew_is_fail() -> None:
    data = sign(expire=100)
    assert only(verify(data, now=NOW + 100 + 300)).result == AuthResult.PASS
    sig = only(verify(data, now=NOW + 100 + 301))
    assert (sig.result, sig.reason) == (AuthResult.FAIL, "signature expired")
    assert only(verify(data, now=NOW + 500, clock_skew=0)).reason == "signature expired"


def _with_field(field: bytes, data: bytes = MESSAGE) -> bytes:
    return b"DKIM-Signature: " + field + b"\n" + data


GOOD_TAGS = "v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=AAAA; b=AAAA"


@pytest.mark.parametrize(
    ("tags", "reason"),
    [
        (GOOD_TAGS + "; b=BBBB", "duplicate tag b="),
        (GOOD_TAGS.replace("; b=AAAA", ""), "missing tag b="),
        (GOOD_TAGS.replace("v=1", "v=2"), "unsupported version v=2"),
        (GOOD_TAGS.replace("rsa-sha256", "rsa-md5"), "unknown algorithm a=rsa-md5"),
        (GOOD_TAGS.replace("b=AAAA", "b=A*AA"), "tag b= is not valid base64"),
        (GOOD_TAGS.replace("h=from", "h=to:subject"), "h= does not include from"),
        (GOOD_TAGS + "; i=joe@example.org", "i= is not in d= or a subdomain of it"),
        (GOOD_TAGS + "; c=nofws", "unknown canonicalization c=nofws"),
        (GOOD_TAGS + "; t=200; x=100", "x= is not after t="),
        (GOOD_TAGS + "; t=100; x=100", "x= is not after t="),
        (GOOD_TAGS + "; l=-5", "invalid tag l="),
        (GOOD_TAGS + "; q=http", "unsupported query method q=http"),
        (GOOD_TAGS + "; junk", "malformed tag specification 'junk': no '='"),
    ],
)
def test_tag_problems_are_permerror(tags: str, reason: str) -> None:
    source = zone_for()
    sig = only(verify(_with_field(tags.encode()), source))
    assert (sig.result, sig.reason) == (AuthResult.PERMERROR, reason)
    assert source.asked == []


def test_bad_domain_is_permerror_with_lenient_details() -> None:
    sig = only(verify(_with_field(GOOD_TAGS.replace("d=example.com", "d=exa mple.com").encode())))
    assert sig.result == AuthResult.PERMERROR
    assert sig.reason.startswith("invalid tag d=")
    assert (sig.domain, sig.selector, sig.b_prefix) == ("exa mple.com", "sel", "AAAA")


def test_no_key_record_is_permerror() -> None:
    for zone in (
        FakeTxt({}),
        FakeTxt({"sel._domainkey.example.com": ["v=spf1 -all"]}),
    ):
        sig = only(verify(sign(), zone))
        assert (sig.result, sig.reason) == (AuthResult.PERMERROR, "no key record")


def test_malformed_key_record_is_permerror() -> None:
    for text in ("v=DKIM1; k=rsa; p=AAAA", "v=DKIM1; k=rsa; p=!!!!", "v=DKIM1; p=x; p=y"):
        sig = only(verify(sign(), FakeTxt({"sel._domainkey.example.com": [text]})))
        assert sig.result == AuthResult.PERMERROR, text
        assert sig.reason.startswith("malformed key record"), sig.reason


def test_several_key_records_each_tried() -> None:
    good = record(rsa_key())
    other = record(rsa_key(2048))
    source = FakeTxt({"sel._domainkey.example.com": ["v=spf1 -all", other, good]})
    assert only(verify(sign(), source)).result == AuthResult.PASS
    source = FakeTxt({"sel._domainkey.example.com": [other, record(rsa_key(2048))]})
    assert only(verify(sign(), source)).reason == "signature did not verify"


def test_key_type_mismatch_is_permerror() -> None:
    sig = only(verify(sign(), zone_for(ED_KEY)))
    assert (sig.result, sig.reason) == (
        AuthResult.PERMERROR,
        "key type k=ed25519 does not match a=rsa-sha256",
    )


def test_key_h_excludes_hash_is_permerror() -> None:
    sig = only(verify(sign(), zone_for(extra="h=sha1; ")))
    assert (sig.result, sig.reason) == (AuthResult.PERMERROR, "key h= excludes sha256")
    assert only(verify(sign(), zone_for(extra="h=sha1:sha256; "))).result == AuthResult.PASS


def test_key_s_excludes_email_is_permerror() -> None:
    sig = only(verify(sign(), zone_for(extra="s=tlsrpt; ")))
    assert (sig.result, sig.reason) == (AuthResult.PERMERROR, "key s= excludes email")
    assert only(verify(sign(), zone_for(extra="s=email; "))).result == AuthResult.PASS


def test_t_s_violated_is_permerror() -> None:
    data = sign(identity="joe@sub.example.com")
    sig = only(verify(data, zone_for(extra="t=s; ")))
    assert (sig.result, sig.reason) == (
        AuthResult.PERMERROR,
        "key t=s forbids an i= subdomain of d=",
    )
    assert only(verify(sign(identity="joe@example.com"), zone_for(extra="t=s; "))).result == (
        AuthResult.PASS
    )


def test_l_longer_than_body_is_permerror() -> None:
    data = sign(body_length=True)
    longer = re.sub(rb"l=(\d+)", lambda m: b"l=" + str(int(m.group(1)) + 1).encode(), data)
    sig = only(verify(longer))
    assert (sig.result, sig.reason) == (AuthResult.PERMERROR, "l= is longer than the body")


def test_l_with_appended_content_passes_with_warning_or_policy() -> None:
    data = sign(body_length=True) + b"appended by someone else\n"
    sig = only(verify(data))
    assert sig.result == AuthResult.PASS
    # MESSAGE ends with a blank line: dropped when signing, part of the body once followed.
    assert sig.unsigned_body_bytes == len(b"\r\nappended by someone else\r\n")
    assert sig.warnings == (f"l= leaves {sig.unsigned_body_bytes} body bytes unsigned",)
    strict = only(verify(data, strict_body_length=True))
    assert (strict.result, strict.reason) == (
        AuthResult.POLICY,
        f"l= leaves {sig.unsigned_body_bytes} body bytes unsigned",
    )
    exact = only(verify(sign(body_length=True), strict_body_length=True))
    assert (exact.result, exact.unsigned_body_bytes) == (AuthResult.PASS, 0)


def test_small_key_is_policy() -> None:
    sig = only(verify(sign(), min_key_bits=2048))
    assert (sig.result, sig.reason) == (AuthResult.POLICY, "key too small (1024 bits < 2048)")
    assert sig.key_bits == 1024
    # A 512-bit key never gets as far as the signature.
    small = (
        "v=DKIM1; k=rsa; p=MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBANmBe10IgY+u7h3enWTukkqtUD5PR52T"
        "b/mPfjC0QJTocVBq6Za/PlzfV+Py92VaCak19F4WrbVTK5Gg5tW220MCAwEAAQ=="
    )
    sig = only(verify(sign(), FakeTxt({"sel._domainkey.example.com": [small]})))
    assert (sig.result, sig.reason) == (AuthResult.POLICY, "key too small (512 bits < 1024)")


def test_ed25519_is_not_subject_to_min_key_bits() -> None:
    data = sign(key=ED_KEY, algorithm="ed25519-sha256")
    assert only(verify(data, zone_for(ED_KEY), min_key_bits=2048)).result == AuthResult.PASS


def test_rsa_sha1_is_policy_unless_allowed() -> None:
    data = sign(algorithm="rsa-sha1")
    sig = only(verify(data))
    assert (sig.result, sig.reason) == (AuthResult.POLICY, "rsa-sha1 not allowed")
    assert only(verify(data, allow_sha1=True)).result == AuthResult.PASS


@pytest.mark.parametrize("count", [0, 2])
def test_not_exactly_one_from_is_policy(count: int) -> None:
    data = sign(MESSAGE.replace(b"From: Joe", b"From: Jim\nFrom: Joe"))
    if count == 0:
        data = sign(MESSAGE).replace(b"\nFrom: ", b"\nX-From: ")
    sig = only(verify(data))
    assert sig.result == AuthResult.POLICY
    assert sig.reason == f"message has {count} from fields, not exactly one"


def test_dns_temporary_failure_is_temperror() -> None:
    source = FakeTxt({"sel._domainkey.example.com": DnsTempError("timed out")})
    sig = only(verify(sign(), source))
    assert sig.result == AuthResult.TEMPERROR
    assert sig.reason == "temporary dns failure: timed out"


def test_lookup_budget_turns_later_lookups_into_temperror() -> None:
    data = sign(MESSAGE, selector="b")[: -len(MESSAGE)] + sign(MESSAGE, selector="a")
    source = FakeTxt(
        {
            "a._domainkey.example.com": [record(rsa_key())],
            "b._domainkey.example.com": [record(rsa_key())],
        }
    )
    ticks = iter([0.0, 5.0, 5.0, 5.0])
    report = verify_message(
        data,
        keys=source,
        policy=VerifyPolicy(lookup_budget=4.0),
        now=NOW,
        monotonic=lambda: next(ticks),
    )
    assert [s.result for s in report.signatures] == [AuthResult.PASS, AuthResult.TEMPERROR]
    assert report.signatures[1].reason == "dns lookup time budget spent"
    assert source.asked == ["b._domainkey.example.com"]
    assert report.result == AuthResult.PASS


def test_testing_flag_never_changes_the_word() -> None:
    sig = only(verify(sign(), zone_for(extra="t=y; ")))
    assert (sig.result, sig.testing) == (AuthResult.PASS, True)
    bad = only(verify(sign() + b"x", zone_for(extra="t=y; ")))
    assert (bad.result, bad.testing) == (AuthResult.FAIL, True)


def test_max_signatures_rest_are_neutral() -> None:
    one = sign()
    header = one[: -len(MESSAGE)]
    data = header * 3 + MESSAGE
    report = verify(data, max_signatures=2)
    assert [s.result for s in report.signatures] == [
        AuthResult.PASS,
        AuthResult.PASS,
        AuthResult.NEUTRAL,
    ]
    assert report.signatures[2].reason == "not evaluated"
    assert report.signatures[2].evaluated is False
    assert report.signatures[2].domain == "example.com"
    assert verify(data, max_signatures=0).result == AuthResult.NEUTRAL


# ------------------------------------------------------------------------------------------
# The overall verdict
# ------------------------------------------------------------------------------------------


def _sr(result: AuthResult, domain: str = "example.com") -> SignatureResult:
    return SignatureResult(result=result, reason="", position=0, domain=domain)


@pytest.mark.parametrize(
    ("words", "overall"),
    [
        (["fail", "pass"], "pass"),
        (["permerror", "fail"], "fail"),
        (["fail", "policy"], "policy"),
        (["policy", "temperror", "fail"], "temperror"),
        (["neutral", "permerror"], "permerror"),
        (["neutral"], "neutral"),
        ([], "none"),
    ],
)
def test_overall_order(words: list[str], overall: str) -> None:
    results = [_sr(AuthResult(word)) for word in words]
    assert _verdict(results, None).result == AuthResult(overall)


def test_overall_in_practice_temperror_beats_fail() -> None:
    data = sign(selector="a")[: -len(MESSAGE)] + sign(selector="b") + b"tampered"
    source = FakeTxt({"a._domainkey.example.com": DnsTempError("SERVFAIL")} | dict(zone_for().zone))
    source.zone["b._domainkey.example.com"] = [record(rsa_key())]
    report = verify(data, source)
    assert [s.result for s in report.signatures] == [AuthResult.TEMPERROR, AuthResult.FAIL]
    assert report.result == AuthResult.TEMPERROR


def test_require_domain() -> None:
    data = sign()
    assert verify(data, require_domain="EXAMPLE.com").result == AuthResult.PASS
    report = verify(data, require_domain="example.org")
    assert report.result == AuthResult.POLICY
    assert report.signatures[0].result == AuthResult.PASS
    assert "not the required domain" in report.signatures[0].warnings[0]


def test_require_domain_u_label() -> None:
    key = rsa_key()
    data = sign(domain="xn--bcher-kva.example", key=key)
    source = FakeTxt({"sel._domainkey.xn--bcher-kva.example": [record(key)]})
    assert verify(data, source, require_domain="bücher.example").result == AuthResult.PASS


# ------------------------------------------------------------------------------------------
# Sharing work
# ------------------------------------------------------------------------------------------


def test_body_hashed_once_per_canonicalization(monkeypatch: pytest.MonkeyPatch) -> None:
    from dkimtool.core import verifier
    from dkimtool.core.canonicalize import BodyCanonicalizer, Sink

    made: list[str] = []

    class Counting(BodyCanonicalizer):
        def __init__(self, canon: Canon, sinks: Sequence[Sink]) -> None:
            made.append(canon)
            super().__init__(canon, sinks)

    monkeypatch.setattr(verifier, "BodyCanonicalizer", Counting)
    header = sign()[: -len(MESSAGE)]
    simple = sign(header_canonicalization="simple", body_canonicalization="simple")
    report = verify(header * 3 + simple)
    assert [s.result for s in report.signatures] == [AuthResult.PASS] * 4
    assert sorted(made) == ["relaxed", "simple"]


# ------------------------------------------------------------------------------------------
# dkimpy as the oracle: its signatures verify here
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("header_canon", ["simple", "relaxed"])
@pytest.mark.parametrize("body_canon", ["simple", "relaxed"])
@pytest.mark.parametrize("algorithm", ["rsa-sha256", "ed25519-sha256"])
def test_dkimpy_signatures_verify_here(
    header_canon: Canon, body_canon: Canon, algorithm: str
) -> None:
    if algorithm == "rsa-sha256":
        key = rsa_key(2048)
        assert key.private is not None
        privkey = key.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    else:
        key, privkey = ED_KEY, RFC8463_SEED.encode()
    data = crlf(MESSAGE)
    field = dkim.sign(
        data,
        b"sel",
        b"example.com",
        privkey,
        canonicalize=(header_canon.encode(), body_canon.encode()),
        signature_algorithm=algorithm.encode(),
    )
    sig = only(verify(field + data, zone_for(key)))
    assert (sig.result, sig.reason) == (AuthResult.PASS, "")
    assert sig.canonicalization == f"{header_canon}/{body_canon}"
    tampered = only(verify(field + data.replace(b"Joe.", b"Jim."), zone_for(key)))
    assert tampered.reason == "body hash did not verify"


# ------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x89PNG\r\n\x1a\n\x00\x00",
        b"From: a\x00\n\n",
        b"no colon\n\n",
        b" continuation\nFrom: a\n\n",
        b"From: a\nX: " + b"y" * 1_000_000 + b"\n\nbody",
    ],
)
def test_non_messages_raise_message_format_error(data: bytes) -> None:
    with pytest.raises(MessageFormatError):
        verify(data)


def test_signature_with_binary_junk_is_permerror() -> None:
    sig = only(verify(_with_field(b"\xff\xfe v=1")))
    assert (sig.result, sig.reason) == (AuthResult.PERMERROR, "the signature is not valid utf-8")
    sig = only(verify(_with_field(b"v=1; a=\x01")))
    assert sig.result == AuthResult.PERMERROR


def test_signature_headers_in_h_do_not_include_the_verified_one() -> None:
    key = rsa_key()
    data = sign(headers=("From", "DKIM-Signature"), key=key)
    assert only(verify(data, zone_for(key))).result == AuthResult.PASS


def _chunked(data: bytes, size: int) -> VerifyReport:
    verifier = Verifier(keys=zone_for(), policy=VerifyPolicy(), now=NOW)
    for start in range(0, len(data), size):
        verifier.update(data[start : start + size])
    return verifier.finalize()


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 10, 4096])
@pytest.mark.parametrize("line_ending", ["lf", "crlf"])
def test_chunked_verification_equals_one_shot(size: int, line_ending: str) -> None:
    """The streaming Verifier (used by the milter) gives the one-shot verdict at any chunk
    boundary, for a good, a tampered-body and a tampered-header message."""
    base = MESSAGE if line_ending == "lf" else crlf(MESSAGE)
    for c in ("relaxed", "simple"):
        signed = sign(base, header_canonicalization=c, body_canonicalization=c)
        cases = [
            signed,
            signed.replace(b"Hi.", b"Ho.", 1),
            signed.replace(b"Subject:", b"Subject: Re:", 1),
        ]
        words = [verify(data).result for data in cases]
        assert words == [AuthResult.PASS, AuthResult.FAIL, AuthResult.FAIL]
        for data in cases:
            assert _chunked(data, size) == verify(data)
    assert _chunked(signed, size).result == AuthResult.PASS


def test_verifier_on_a_message_without_a_blank_line() -> None:
    verifier = Verifier(keys=zone_for(), policy=VerifyPolicy(), now=NOW)
    verifier.update(b"From: a@example.com\nSubject: x")
    assert verifier.finalize().result == AuthResult.NONE


def _zone(*records: str) -> FakeTxt:
    return FakeTxt({"sel._domainkey.example.com": list(records)})


def test_a_later_key_record_that_verifies_wins() -> None:
    """RFC 6376 6.1.2: several key records are tried in turn; the first one that verifies
    counts, and the result shows that record's facts (here its size and t=y)."""
    key, other = rsa_key(2048), rsa_key(1024)
    zone = _zone("v=DKIM1; p=!!notbase64", record(other), record(key, "t=y; "))
    sig = only(verify(sign(key=key), zone))
    assert (sig.result, sig.reason, sig.key_bits, sig.testing) == (AuthResult.PASS, "", 2048, True)


def test_when_no_key_record_verifies_the_first_failure_is_the_reason() -> None:
    key = rsa_key()
    zone = _zone(record(rsa_key(2048)), "v=DKIM1; p=", record(ED_KEY))
    sig = only(verify(sign(key=key), zone))
    assert (sig.result, sig.reason) == (AuthResult.FAIL, "signature did not verify")
    assert sig.key_bits == 2048  # the last record that had a usable key


def test_record_verdicts_are_per_signature_kind_across_a_batch() -> None:
    """The record checks are remembered per (record, key type, hash); a second signature
    kind against the same record must get its own verdict, not the first one's."""
    key = rsa_key()
    zone = _zone(record(key, "h=sha256; "))
    for _ in range(2):
        assert only(verify(sign(key=key), zone)).result == AuthResult.PASS
        sha1 = only(verify(sign(key=key, algorithm="rsa-sha1"), zone, allow_sha1=True))
        assert (sha1.result, sha1.reason) == (AuthResult.PERMERROR, "key h= excludes sha1")


def test_a_timestamp_in_the_future_warns_but_passes() -> None:
    sig = only(verify(sign(), now=NOW - 3600))
    assert sig.result == AuthResult.PASS
    assert sig.warnings == ("t= is in the future",)
    assert only(verify(sign(), now=NOW - 200)).warnings == ()  # within the clock skew
