"""Offline harness for the real DKIM peers the test suite proves interoperability with.

Three independent implementations are driven here, all without DNS or network, with the
public keys supplied as a :data:`KeyRecords` mapping (``"sel._domainkey.example.com"`` ->
``"v=DKIM1; k=rsa; p=..."``):

OpenDKIM 2.11.0~beta2 (Debian ``opendkim``), ``opendkim -x CONF -t FILE`` test mode
    * Keys: opendkim.conf(5) ``TestPublicKeys FILE`` makes libopendkim read keys from a text
      file (``DKIM_QUERY_FILE``): one ``<selector>._domainkey.<domain> <space> <TXT value>``
      per line, ``#`` comments, name matched case-insensitively.  No DNS query is made.
    * Verify: test mode prints one line for *one* signature: ``verification (s=.., d=..,
      N-bit key) succeeded`` or ``verification (...) failed: <reason>`` or ``message not
      signed``; the exit status is 0 either way.  With several signatures it reports only the
      one libopendkim picks (see ``OPENDKIM_SINGLE_VERDICT``).
    * Sign: test mode *can* sign.  With ``Mode s``, a ``KeyTable`` (``k domain:sel:/path``)
      and a ``SigningTable refile:`` holding ``* k`` (so the From: domain need not match),
      it prints ``opendkim: FILE:`` followed by the complete ``DKIM-Signature: ...`` field
      (CRLF folded) on stdout; the harness prepends that field to the message.  Keys outside
      a private directory need ``RequireSafeKeys no``.  No milter/miltertest is needed.
    * Algorithms: signs and verifies rsa-sha256 and ed25519-sha256 (also rsa-sha1).
      ``SignatureAlgorithm`` selects the algorithm, ``Canonicalization`` the c= value.
      Ed25519 private keys are read from PKCS#8 PEM files.

Mail::DKIM 1.20230212 (Debian ``libmail-dkim-perl``), ``tests/assets/peers/maildkim.pl``
    * Keys: ``Mail::DKIM::DNS::resolver()`` is set to an in-process object whose ``send()``
      answers from a JSON records file with real ``Net::DNS::Packet`` objects (NXDOMAIN for
      unknown names), so Mail::DKIM's own DNS result handling still runs.
    * Verify: ``Mail::DKIM::Verifier``; one JSON line per signature (result, result_detail,
      d=, s=, a=, c=).  Sign: ``Mail::DKIM::Signer`` (``Method`` = canonicalization,
      ``Algorithm``), key read by ``KeyFile`` (PKCS#1 or PKCS#8 PEM both load).
    * RSA only: no Ed25519 at all (``MAILDKIM_NO_ED25519``).

dkimpy 1.1.8 (PyPI ``dkimpy``, ``import dkim``), in process
    * Keys: ``dnsfunc=`` callback answering from the records.
    * Verify: :func:`dkimpy_verify` is ``dkim.verify`` (first/topmost signature only);
      :func:`dkimpy_verify_all` checks every signature with ``dkim.DKIM(msg).verify(idx=i)``.
    * Sign: ``dkim.sign``; RSA wants a PKCS#1 PEM and Ed25519 the base64 raw 32-byte seed;
      :func:`dkimpy_sign` converts a PKCS#8 PEM to those forms with ``cryptography``.
    * Ed25519 (sign and verify) needs PyNaCl (``pip install pynacl``; dkimpy's ``ed25519``
      extra); without it dkimpy raises ``NaClNotFoundError`` (see ``have_dkimpy_ed25519``).

Capability matrix (found by experiment, asserted by tests/integration/test_peers.py):

==============  ==============================  =================================
peer            rsa-sha256                      ed25519-sha256
==============  ==============================  =================================
OpenDKIM sign   all four c= combinations        relaxed/* only (simple/* broken)
OpenDKIM verify all four                        all four (reports "0-bit key")
Mail::DKIM      sign + verify, all four         neither ("unsupported algorithm")
dkimpy          sign + verify, all four         sign + verify, all four (PyNaCl)
==============  ==============================  =================================

Messages: all three accept CRLF or bare-LF line ends (the harness adds the signature field
with the message's own line end).  Messages whose body lacks a final CRLF, or whose header
fields are not written ``Name: value`` with exactly one space, are where the peers disagree
(``OPENDKIM_RELAXED_NO_FINAL_CRLF``, ``MAILDKIM_SIMPLE_BODY_NO_FINAL_CRLF``,
``OPENDKIM_TEST_MODE_INPUT``).  Key records: OpenDKIM and Mail::DKIM enforce the record's h=
and t=s, dkimpy does not; OpenDKIM does not check k= (``OPENDKIM_IGNORES_KEY_TYPE``).

The known deviations are the ``OPENDKIM_*``/``MAILDKIM_*``/``DKIMPY_*`` constants below and
the :data:`KNOWN_DEVIATIONS` mapping; tests reference them instead of restating them.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

__all__ = [
    "DKIMPY_IGNORES_KEY_FLAGS",
    "DKIMPY_KEY_TYPE_MISMATCH_RAISES",
    "DKIMPY_NEEDS_PYNACL",
    "KNOWN_DEVIATIONS",
    "MAILDKIM_NO_ED25519",
    "MAILDKIM_SCRIPT",
    "MAILDKIM_SIMPLE_BODY_NO_FINAL_CRLF",
    "OPENDKIM_ED25519_KEY_BITS",
    "OPENDKIM_ED25519_SIMPLE_HEADER",
    "OPENDKIM_IGNORES_KEY_TYPE",
    "OPENDKIM_RELAXED_NO_FINAL_CRLF",
    "OPENDKIM_SINGLE_VERDICT",
    "OPENDKIM_TEST_MODE_INPUT",
    "PEER_NAMES",
    "PEER_TIMEOUT",
    "KeyRecords",
    "PeerError",
    "PeerVerdict",
    "dkimpy_sign",
    "dkimpy_verify",
    "dkimpy_verify_all",
    "have_dkimpy",
    "have_dkimpy_ed25519",
    "have_maildkim",
    "have_opendkim",
    "maildkim_sign",
    "maildkim_verify",
    "opendkim_sign",
    "opendkim_verify",
    "require_peer",
]

KeyRecords = Mapping[str, str]
"""DNS name (``"mail._domainkey.example.com"``, trailing dot optional) -> TXT value."""

#: Seconds any one peer process may run before the harness gives up on it.
PEER_TIMEOUT = 60.0

MAILDKIM_SCRIPT = Path(__file__).resolve().parent / "assets" / "peers" / "maildkim.pl"

OPENDKIM_ED25519_SIMPLE_HEADER = (
    "OpenDKIM 2.11.0~beta2 ed25519-sha256 signatures with *simple* header canonicalization "
    "verify nowhere (not in OpenDKIM itself, nor dkimpy) in every case tried.  In the case "
    "analysed, OpenDKIM had signed its DKIM-Signature field folded as 'h=...; b=' on one line "
    "(as for an empty b=) but emitted it with b= on a new line, and under simple header "
    "canonicalization that folding is signed.  rsa-sha256 is not affected; relaxed/* is fine."
)
OPENDKIM_ED25519_KEY_BITS = (
    "OpenDKIM reports Ed25519 keys as '0-bit key' in its verification line; the verdict itself "
    "is right."
)
OPENDKIM_SINGLE_VERDICT = (
    "opendkim -t prints a verdict for only one signature per message (the one libopendkim's "
    "dkim_getsignature() picks), never one line per signature; opendkim_verify() therefore "
    "returns one PeerVerdict."
)
OPENDKIM_TEST_MODE_INPUT = (
    "opendkim -t reads the file line by line like an MTA would hand it to a milter: a line end "
    "may be LF or CRLF (both become CRLF), exactly one space after a header field's colon is "
    "dropped and the header is rebuilt by the milter as 'Name: value', and a final body line "
    "without a line end is passed without one."
)
OPENDKIM_RELAXED_NO_FINAL_CRLF = (
    "OpenDKIM will not sign a message whose body lacks a final CRLF with relaxed body "
    "canonicalization ('no signature added: CRLF at end of body missing'), and on verification "
    "it then ignores the relaxed-body signature entirely and says 'message not signed'.  With "
    "simple body canonicalization it adds the CRLF as RFC 6376 3.4.3 says and agrees with dkimpy."
)
OPENDKIM_IGNORES_KEY_TYPE = (
    "OpenDKIM does not check the key record's k= against the signature's a=: an rsa-sha256 "
    "signature verifies against a record saying k=ed25519 whose p= holds an RSA key "
    "(Mail::DKIM and dkimpy reject it)."
)
MAILDKIM_NO_ED25519 = (
    "Mail::DKIM 1.20230212 has no Ed25519: it verifies ed25519-sha256 signatures as "
    "'invalid (unsupported algorithm ed25519-sha256)' and refuses to sign with "
    "'unsupported algorithm ed25519-sha256'."
)
MAILDKIM_SIMPLE_BODY_NO_FINAL_CRLF = (
    "Mail::DKIM's simple body canonicalization does not add the missing final CRLF (RFC 6376 "
    "3.4.3 says to): for a body 'Hello' it hashes 'Hello', OpenDKIM and dkimpy 'Hello\\r\\n', "
    "so simple-body signatures on such messages fail between Mail::DKIM and the others.  "
    "Relaxed body canonicalization agrees with dkimpy."
)
DKIMPY_IGNORES_KEY_FLAGS = (
    "dkimpy 1.1.8 ignores the key record's h= (acceptable hash algorithms) and t=s (no "
    "subdomain i=) tags."
)
DKIMPY_KEY_TYPE_MISMATCH_RAISES = (
    "dkimpy lets a non-DKIM exception escape when an RSA signature meets an Ed25519 key "
    "(ValueError: The signature must be exactly 64 bytes long); dkimpy_verify() and "
    "dkimpy_verify_all() turn any exception into a failed verdict carrying its text."
)
DKIMPY_NEEDS_PYNACL = (
    "dkimpy needs PyNaCl for Ed25519 (sign and verify); without it it raises NaClNotFoundError."
)

KNOWN_DEVIATIONS: Mapping[str, str] = {
    "opendkim-ed25519-simple-header": OPENDKIM_ED25519_SIMPLE_HEADER,
    "opendkim-ed25519-key-bits": OPENDKIM_ED25519_KEY_BITS,
    "opendkim-single-verdict": OPENDKIM_SINGLE_VERDICT,
    "opendkim-test-mode-input": OPENDKIM_TEST_MODE_INPUT,
    "opendkim-relaxed-no-final-crlf": OPENDKIM_RELAXED_NO_FINAL_CRLF,
    "opendkim-ignores-key-type": OPENDKIM_IGNORES_KEY_TYPE,
    "maildkim-no-ed25519": MAILDKIM_NO_ED25519,
    "maildkim-simple-body-no-final-crlf": MAILDKIM_SIMPLE_BODY_NO_FINAL_CRLF,
    "dkimpy-ignores-key-flags": DKIMPY_IGNORES_KEY_FLAGS,
    "dkimpy-key-type-mismatch-raises": DKIMPY_KEY_TYPE_MISMATCH_RAISES,
    "dkimpy-needs-pynacl": DKIMPY_NEEDS_PYNACL,
}

#: Names accepted by :func:`require_peer`.
PEER_NAMES = ("opendkim", "maildkim", "dkimpy", "dkimpy-ed25519")

_SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
_ALGORITHMS = ("rsa-sha1", "rsa-sha256", "ed25519-sha256")
_CANONS = ("simple", "relaxed")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class PeerError(RuntimeError):
    """A peer could not do what was asked; the message carries the peer's own output."""

    def __init__(self, peer: str, what: str, output: str = "") -> None:
        self.peer = peer
        self.what = what
        self.output = output
        text = f"{peer}: {what}"
        if output.strip():
            text += "\n--- peer output ---\n" + output.rstrip()
        super().__init__(text)


@dataclass(frozen=True)
class PeerVerdict:
    """One peer's verdict on one signature: ``ok`` and the peer's own words."""

    ok: bool
    detail: str


# --------------------------------------------------------------------------- helpers


def _run(
    peer: str,
    argv: Sequence[str],
    *,
    stdin: bytes = b"",
    cwd: Path | None = None,
    timeout: float = PEER_TIMEOUT,
) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            list(argv),
            input=stdin,
            capture_output=True,
            cwd=cwd,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise PeerError(peer, f"cannot run {argv[0]}: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        output = _text(exc.stdout or b"") + _text(exc.stderr or b"")
        raise PeerError(peer, f"{' '.join(argv)} timed out after {timeout:g}s", output) from exc


def _text(data: bytes | str) -> str:
    return data if isinstance(data, str) else data.decode("utf-8", "replace")


def _output(proc: subprocess.CompletedProcess[bytes]) -> str:
    out = _text(proc.stdout)
    err = _text(proc.stderr)
    parts = [f"exit status {proc.returncode}"]
    if out.strip():
        parts.append("stdout:\n" + out.rstrip())
    if err.strip():
        parts.append("stderr:\n" + err.rstrip())
    return "\n".join(parts)


def _record_name(name: str) -> str:
    key = name.strip().rstrip(".").lower()
    if not key or any(c.isspace() for c in key):
        raise ValueError(f"bad DNS name in key records: {name!r}")
    return key


def _normalized_records(records: KeyRecords) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in records.items():
        if any(c in value for c in "\r\n\0"):
            raise ValueError(f"TXT value for {name!r} contains CR, LF or NUL: {value!r}")
        out[_record_name(name)] = value
    return out


def _split_canon(canonicalization: str) -> tuple[str, str]:
    header, _, body = canonicalization.partition("/")
    body = body or "simple"
    if header not in _CANONS or body not in _CANONS:
        raise ValueError(f"bad canonicalization {canonicalization!r}")
    return header, body


def _check_algorithm(algorithm: str) -> None:
    if algorithm not in _ALGORITHMS:
        raise ValueError(f"bad signing algorithm {algorithm!r}")


def _check_token(what: str, value: str) -> None:
    if not _TOKEN.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not a plain DNS label sequence")


def _line_end(message: bytes) -> bytes:
    return b"\r\n" if b"\r\n" in message or b"\n" not in message else b"\n"


def _prepend_field(field: bytes, message: bytes) -> bytes:
    """Put a header field (folded with CRLF, no final line end) on top of ``message``."""
    eol = _line_end(message)
    field = field.replace(b"\r\n", b"\n").rstrip(b"\n")
    if eol == b"\r\n":
        field = field.replace(b"\n", b"\r\n")
    return field + eol + message


# --------------------------------------------------------------------------- availability


def _opendkim_binary() -> str | None:
    found = shutil.which("opendkim")
    if found:
        return found
    for directory in _SBIN_DIRS:
        candidate = Path(directory) / "opendkim"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


@functools.cache
def have_opendkim() -> bool:
    """True when the ``opendkim`` binary runs (only ``-V`` is tried; no daemon is started)."""
    binary = _opendkim_binary()
    if binary is None:
        return False
    try:
        proc = subprocess.run([binary, "-V"], capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and b"OpenDKIM" in proc.stdout


@functools.cache
def have_maildkim() -> bool:
    """True when perl with Mail::DKIM, Net::DNS and JSON::PP is there (and our script)."""
    perl = shutil.which("perl")
    if perl is None or not MAILDKIM_SCRIPT.is_file():
        return False
    modules = ["-MMail::DKIM::Verifier", "-MMail::DKIM::Signer", "-MNet::DNS", "-MJSON::PP"]
    try:
        proc = subprocess.run(
            [perl, *modules, "-e", "1"], capture_output=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


@functools.cache
def have_dkimpy() -> bool:
    """True when ``import dkim`` (dkimpy) works."""
    try:
        import dkim  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def have_dkimpy_ed25519() -> bool:
    """True when dkimpy can do Ed25519 (it needs PyNaCl)."""
    if not have_dkimpy():
        return False
    try:
        import nacl.signing  # noqa: F401
    except ImportError:
        return False
    return True


_PEER_CHECKS = {  # looked up by name at call time, so tests can monkeypatch the have_*()
    "opendkim": ("have_opendkim", "OpenDKIM (Debian packages opendkim, opendkim-tools)"),
    "maildkim": ("have_maildkim", "Mail::DKIM (Debian package libmail-dkim-perl)"),
    "dkimpy": ("have_dkimpy", "dkimpy (pip install dkimpy)"),
    "dkimpy-ed25519": ("have_dkimpy_ed25519", "dkimpy with PyNaCl (pip install dkimpy pynacl)"),
}


def require_peer(name: str) -> None:
    """Skip the calling test when peer ``name`` is missing; fail instead when ``CI=true``.

    ``name`` is one of :data:`PEER_NAMES` (``"mail-dkim"``/``"Mail::DKIM"`` are accepted too).
    """
    key = name.lower().replace("::", "").replace("-dkim", "dkim")
    if key not in _PEER_CHECKS:
        raise ValueError(f"unknown peer {name!r}; expected one of {', '.join(PEER_NAMES)}")
    check_name, what = _PEER_CHECKS[key]
    check: Callable[[], bool] = globals()[check_name]
    if check():
        return
    reason = f"peer {key!r} is not available: needs {what}; see scripts/install-peers.sh"
    if os.environ.get("CI") == "true":
        _fail(reason)
    pytest.skip(reason)


def _fail(reason: str) -> NoReturn:
    pytest.fail(reason + " (CI=true: a missing peer is a failure, not a skip)", pytrace=False)


# --------------------------------------------------------------------------- OpenDKIM


_OPENDKIM_BASE_CONFIG = (
    "Syslog no",
    "SyslogSuccess no",
    "LogWhy no",
    "RequireSafeKeys no",
    "DNSTimeout 1",
)


def _opendkim_run(
    conf: Path, message_file: Path, options: Sequence[str] = ()
) -> tuple[subprocess.CompletedProcess[bytes], str]:
    """Run test mode on one file; return the process and a report (output + numbered conf)."""
    binary = _opendkim_binary()
    if binary is None:
        raise PeerError("opendkim", "binary not found (install the Debian package opendkim)")
    proc = _run("opendkim", [binary, "-x", str(conf), *options, "-t", str(message_file)])
    numbered = conf.read_text(encoding="utf-8").splitlines()
    listing = "\n".join(f"{n:4d}  {line}" for n, line in enumerate(numbered, 1))
    report = f"{_output(proc)}\n{conf}:\n{listing}"
    if proc.returncode != 0:
        raise PeerError("opendkim", f"opendkim -t {message_file.name} failed", report)
    return proc, report


def _calldir(workdir: Path, prefix: str) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=workdir))


def opendkim_verify(message: bytes, records: KeyRecords, workdir: Path) -> PeerVerdict:
    """Verify with ``opendkim -t`` in test mode, keys from a ``TestPublicKeys`` file.

    Returns the verdict OpenDKIM prints (for one signature only: ``OPENDKIM_SINGLE_VERDICT``);
    ``detail`` is OpenDKIM's line without its ``opendkim: FILE:`` prefix.  Files go to a new
    directory under ``workdir``.
    """
    here = _calldir(workdir, "opendkim-verify-")
    keys = here / "public-keys.txt"
    lines = [f"{name} {value}" for name, value in _normalized_records(records).items()]
    keys.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    conf = here / "opendkim.conf"
    conf.write_text(
        "\n".join(["Mode v", f"TestPublicKeys {keys}", *_OPENDKIM_BASE_CONFIG]) + "\n",
        encoding="utf-8",
    )
    message_file = here / "message.eml"
    message_file.write_bytes(message)
    proc, everything = _opendkim_run(conf, message_file)
    stdout = _text(proc.stdout)
    prefix = f"opendkim: {message_file}: "
    verdicts = [line[len(prefix) :] for line in stdout.splitlines() if line.startswith(prefix)]
    if len(verdicts) != 1:
        raise PeerError("opendkim", "expected exactly one verification line", everything)
    detail = verdicts[0]
    if detail.startswith("verification") and detail.endswith(" succeeded"):
        return PeerVerdict(True, detail)
    if detail.startswith("verification") or detail == "message not signed":
        return PeerVerdict(False, detail)
    raise PeerError("opendkim", "unrecognised verification line", everything)


def opendkim_sign(
    message: bytes,
    *,
    key_path: Path,
    domain: str,
    selector: str,
    canonicalization: str = "relaxed/relaxed",
    algorithm: str = "rsa-sha256",
    workdir: Path,
    extra_config: Sequence[str] = (),
    fixed_time: int | None = None,
) -> bytes:
    """Sign with ``opendkim -t`` in test mode (``Mode s``) and return the signed message.

    ``key_path`` is a PEM private key (RSA PKCS#1/PKCS#8, or Ed25519 PKCS#8).  Any From:
    address is signed (``SigningTable refile:`` with ``*``).  ``extra_config`` lines are
    appended to opendkim.conf (e.g. ``"OversignHeaders From"``); ``fixed_time`` is ``-F``.
    The DKIM-Signature field OpenDKIM prints is prepended, using the message's line ends.
    Raises :class:`PeerError` with OpenDKIM's output when no signature comes out.
    """
    _check_token("domain", domain)
    _check_token("selector", selector)
    _check_algorithm(algorithm)
    header_canon, body_canon = _split_canon(canonicalization)
    here = _calldir(workdir, "opendkim-sign-")
    key_copy = here / "signing.key"
    shutil.copyfile(key_path, key_copy)
    key_copy.chmod(0o600)
    key_table = here / "key-table"
    key_table.write_text(f"signer {domain}:{selector}:{key_copy}\n", encoding="utf-8")
    signing_table = here / "signing-table"
    signing_table.write_text("* signer\n", encoding="utf-8")
    conf = here / "opendkim.conf"
    config = [
        "Mode s",
        f"KeyTable file:{key_table}",
        f"SigningTable refile:{signing_table}",
        f"Canonicalization {header_canon}/{body_canon}",
        f"SignatureAlgorithm {algorithm}",
        *_OPENDKIM_BASE_CONFIG,
        *extra_config,
    ]
    conf.write_text("\n".join(config) + "\n", encoding="utf-8")
    message_file = here / "message.eml"
    message_file.write_bytes(message)
    options = [] if fixed_time is None else ["-F", str(fixed_time)]
    proc, everything = _opendkim_run(conf, message_file, options)
    marker = f"opendkim: {message_file}:\n".encode()
    at = proc.stdout.find(marker)
    if at < 0:
        raise PeerError("opendkim", "no DKIM-Signature in test-mode output", everything)
    field = proc.stdout[at + len(marker) :].rstrip(b"\r\n")
    if not field.lower().startswith(b"dkim-signature:"):
        raise PeerError("opendkim", "unexpected test-mode output", everything)
    return _prepend_field(field, message)


# --------------------------------------------------------------------------- Mail::DKIM


def _maildkim(argv: Sequence[str], message: bytes) -> subprocess.CompletedProcess[bytes]:
    perl = shutil.which("perl")
    if perl is None:
        raise PeerError("Mail::DKIM", "perl not found")
    if not MAILDKIM_SCRIPT.is_file():
        raise PeerError("Mail::DKIM", f"driver script missing: {MAILDKIM_SCRIPT}")
    return _run("Mail::DKIM", [perl, str(MAILDKIM_SCRIPT), *argv], stdin=message)


def maildkim_verify(message: bytes, records: KeyRecords) -> list[PeerVerdict]:
    """Verify with ``Mail::DKIM::Verifier``: one verdict per signature, in header order.

    ``ok`` is ``result eq 'pass'``; ``detail`` is ``result_detail`` plus d=, s=, a=, c=.
    An unsigned message gives an empty list.
    """
    with tempfile.TemporaryDirectory(prefix="maildkim-") as tmp:
        records_file = Path(tmp) / "records.json"
        records_file.write_text(json.dumps(_normalized_records(records)), encoding="utf-8")
        proc = _maildkim(["verify", str(records_file)], message)
    everything = _output(proc)
    if proc.returncode != 0:
        raise PeerError("Mail::DKIM", "verification run failed", everything)
    verdicts: list[PeerVerdict] = []
    for line in _text(proc.stdout).splitlines():
        try:
            item: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PeerError(
                "Mail::DKIM", f"unparsable verifier output {line!r}", everything
            ) from exc
        tags = ", ".join(
            f"{tag}={item.get(field)}"
            for tag, field in (
                ("d", "domain"),
                ("s", "selector"),
                ("a", "algorithm"),
                ("c", "method"),
            )
        )
        verdicts.append(PeerVerdict(item.get("result") == "pass", f"{item.get('detail')} ({tags})"))
    return verdicts


def maildkim_sign(
    message: bytes,
    *,
    key_path: Path,
    domain: str,
    selector: str,
    canonicalization: str = "relaxed/relaxed",
    algorithm: str = "rsa-sha256",
    headers: Sequence[str] = (),
) -> bytes:
    """Sign with ``Mail::DKIM::Signer`` and return the signed message.

    ``headers`` are extra field names to sign besides Mail::DKIM's defaults (its ``Headers``
    option).  Ed25519 raises :class:`PeerError` (``MAILDKIM_NO_ED25519``).
    """
    _check_algorithm(algorithm)
    header_canon, body_canon = _split_canon(canonicalization)
    argv = [
        "sign",
        str(key_path),
        domain,
        selector,
        f"{header_canon}/{body_canon}",
        algorithm,
    ]
    if headers:
        argv.append(":".join(headers))
    proc = _maildkim(argv, message)
    everything = _output(proc)
    if proc.returncode != 0:
        raise PeerError("Mail::DKIM", "signing failed", everything)
    field = proc.stdout.rstrip(b"\r\n")
    if not field.lower().startswith(b"dkim-signature:"):
        raise PeerError("Mail::DKIM", "signer printed no DKIM-Signature", everything)
    return _prepend_field(field, message)


# --------------------------------------------------------------------------- dkimpy


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname.lower()}: {record.getMessage()}")


@contextlib.contextmanager
def _dkimpy_log() -> Iterator[tuple[logging.Logger, _ListHandler]]:
    """A logger for one dkimpy call, collecting what dkimpy says (its own words)."""
    handler = _ListHandler()
    logger = logging.getLogger("tests.peers.dkimpy")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield logger, handler
    finally:
        logger.removeHandler(handler)


def _dnsfunc(records: KeyRecords) -> Any:
    table = _normalized_records(records)

    def dnsfunc(name: bytes | str, timeout: float = 5) -> bytes | None:
        key = _record_name(_text(name))
        value = table.get(key)
        return None if value is None else value.encode("utf-8")

    return dnsfunc


def _dkimpy_module() -> Any:
    try:
        import dkim
    except ImportError as exc:
        raise PeerError("dkimpy", f"cannot import dkim: {exc}") from exc
    return dkim


def _dkimpy_detail(ok: bool, handler: _ListHandler, error: str | None = None) -> str:
    words = [m for m in handler.messages if not m.startswith(("debug: sig:", "debug: bh:"))]
    if error:
        words.append(error)
    return ("pass" if ok else "fail") + (": " + "; ".join(words) if words else "")


def dkimpy_verify(message: bytes, records: KeyRecords) -> PeerVerdict:
    """``dkim.verify(message, dnsfunc=...)``: the first (topmost) signature only."""
    dkim = _dkimpy_module()
    with _dkimpy_log() as (logger, handler):
        try:
            ok = bool(dkim.verify(message, logger=logger, dnsfunc=_dnsfunc(records)))
        except Exception as exc:  # noqa: BLE001 - dkimpy lets non-DKIM errors escape
            error = f"{type(exc).__name__}: {exc}"
            return PeerVerdict(False, _dkimpy_detail(False, handler, error))
        return PeerVerdict(ok, _dkimpy_detail(ok, handler))


def dkimpy_verify_all(message: bytes, records: KeyRecords) -> list[PeerVerdict]:
    """Check every DKIM-Signature with ``dkim.DKIM(message).verify(idx=i)``, in header order."""
    dkim = _dkimpy_module()
    count = sum(1 for name, _ in dkim.DKIM(message).headers if name.lower() == b"dkim-signature")
    verdicts: list[PeerVerdict] = []
    for idx in range(count):
        with _dkimpy_log() as (logger, handler):
            checker = dkim.DKIM(message, logger=logger)
            try:
                ok = bool(checker.verify(idx=idx, dnsfunc=_dnsfunc(records)))
            except Exception as exc:  # noqa: BLE001 - DKIMException and non-DKIM errors alike
                error = f"{type(exc).__name__}: {exc}"
                verdicts.append(PeerVerdict(False, _dkimpy_detail(False, handler, error)))
                continue
            verdicts.append(PeerVerdict(ok, _dkimpy_detail(ok, handler)))
    return verdicts


def _dkimpy_private_key(key_pem: bytes, algorithm: str) -> bytes:
    """dkimpy reads RSA keys as PKCS#1 PEM and Ed25519 keys as the base64 raw seed."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    if b"-----BEGIN" not in key_pem:
        return key_pem.strip()  # already dkimpy's own form (e.g. a base64 Ed25519 seed)
    key = serialization.load_pem_private_key(key_pem, password=None)
    if algorithm.startswith("ed25519"):
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise TypeError(f"{algorithm} needs an Ed25519 key, got {type(key).__name__}")
        raw = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return base64.b64encode(raw)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError(f"{algorithm} needs an RSA key, got {type(key).__name__}")
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def dkimpy_sign(
    message: bytes,
    *,
    key_pem: bytes,
    domain: str,
    selector: str,
    canonicalization: str = "relaxed/relaxed",
    algorithm: str = "rsa-sha256",
    headers: list[bytes] | None = None,
) -> bytes:
    """``dkim.sign`` and return the signed message (signature prepended).

    ``key_pem``: PEM (PKCS#1 or PKCS#8; converted as dkimpy needs) or, for Ed25519, the base64
    raw seed.  ``headers`` is dkimpy's ``include_headers`` (None: dkimpy's default set).
    """
    dkim = _dkimpy_module()
    _check_algorithm(algorithm)
    header_canon, body_canon = _split_canon(canonicalization)
    private_key = _dkimpy_private_key(key_pem, algorithm)
    with _dkimpy_log() as (logger, handler):
        try:
            signature: bytes = dkim.sign(
                message,
                selector.encode("ascii"),
                domain.encode("ascii"),
                private_key,
                canonicalize=(header_canon.encode(), body_canon.encode()),
                signature_algorithm=algorithm.encode(),
                include_headers=headers,
                logger=logger,
                linesep=_line_end(message),
            )
        except Exception as exc:
            log = "\n".join(handler.messages)
            what = f"signing failed: {type(exc).__name__}: {exc}"
            raise PeerError("dkimpy", what, log) from exc
    return signature + message
