"""``dkimtool verify``: verify every DKIM-Signature of messages; report, JSON or A-R field."""

from __future__ import annotations

import time
from typing import Any

import click

from dkimtool.commands import _common, _dnsopts, _jobs, _options, _render
from dkimtool.core.errors import EX_NEGATIVE, EX_OK, EX_TEMPFAIL, DkimtoolError
from dkimtool.core.fileio import STDIN, read_input
from dkimtool.core.keysource import TxtSource, make_source, resolve_dns_settings
from dkimtool.core.names import InvalidName, normalize_domain
from dkimtool.core.results import AuthResult
from dkimtool.core.verifier import SignatureResult, VerifyPolicy, VerifyReport, verify_message

EPILOG = """\b
Examples:
  dkimtool verify < signed.eml
  dkimtool verify --dns-file mail.txt < signed.eml          # offline, with genkey's record
  dkimtool verify --json --require-domain example.com *.eml
  dkimtool verify --authres --authserv-id mx.example.net < in.eml > out.eml   # procmail/maildrop
"""


def signature_json(sig: SignatureResult) -> dict[str, Any]:
    return {
        "result": str(sig.result),
        "reason": sig.reason,
        "domain": sig.domain,
        "selector": sig.selector,
        "algorithm": sig.algorithm,
        "canonicalization": sig.canonicalization,
        "identity": sig.identity,
        "key_bits": sig.key_bits,
        "testing": sig.testing,
        "signed_headers": sig.signed_headers,
        "body_length": sig.body_length,
        "timestamp": sig.timestamp,
        "expiration": sig.expiration,
    }


def report_lines(report: VerifyReport) -> list[str]:
    """The human report: one line per signature (values escaped by the caller)."""
    if not report.signatures:
        return ["none: no DKIM-Signature"]
    lines = []
    for sig in report.signatures:
        line = (
            f"{sig.result} d={sig.domain or '?'} s={sig.selector or '?'} a={sig.algorithm or '?'}"
        )
        if sig.result != AuthResult.PASS and sig.reason:
            line += f": {sig.reason}"
        if sig.testing:
            line += " (testing)"
        lines.append(line)
    return lines


def exit_code_for(results: list[AuthResult]) -> int:
    """0 if all pass; 1 if any has a definitive negative verdict; else 75 for temperrors."""
    if all(result == AuthResult.PASS for result in results):
        return EX_OK
    if any(result not in (AuthResult.PASS, AuthResult.TEMPERROR) for result in results):
        return EX_NEGATIVE
    return EX_TEMPFAIL


def _default_authserv_id() -> str:
    import socket

    return socket.getfqdn()


@click.command(epilog=EPILOG)
@_options.input_files_argument
@_dnsopts.dns_options
@_options.config_option("Read Nameservers, DNSTimeout, MinimumKeyBits from this file.")
@click.option(
    "--min-key-bits",
    type=int,
    metavar="N",
    help="Smaller RSA keys never pass (at least 1024). [default: 1024]",
)
@click.option("--allow-sha1", is_flag=True, help="Let rsa-sha1 signatures pass (RFC 8301: off).")
@click.option(
    "--require-domain",
    metavar="DOMAIN",
    help="Pass only if a passing signature has this d=.",
)
@click.option(
    "--strict-body-length",
    is_flag=True,
    help="A signature whose l= leaves part of the body unsigned is 'policy', not 'pass'.",
)
@click.option(
    "--max-signatures",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Evaluate at most N signatures, topmost first; the rest are 'neutral'.",
)
@click.option(
    "--authres",
    is_flag=True,
    help="Print the message with an Authentication-Results field prepended, not a report.",
)
@click.option("--authserv-id", metavar="ID", help="The authserv-id. [default: this host's FQDN]")
@_options.jobs_option("With several FILEs")
@_options.json_option("A JSON report (JSON Lines with several files).")
@_options.verbosity_options
def command(
    files: tuple[str, ...],
    nameservers: tuple[str, ...],
    timeout: float | None,
    dns_files: tuple[str, ...],
    config_path: str | None,
    min_key_bits: int | None,
    allow_sha1: bool,
    require_domain: str | None,
    strict_body_length: bool,
    max_signatures: int,
    authres: bool,
    authserv_id: str | None,
    jobs: int,
    as_json: bool,
) -> None:
    """Verify the DKIM signatures of messages (stdin, or FILEs)."""
    inputs = list(files) or [STDIN]
    _common.refuse_terminal_stdin(inputs)
    if authres and len(inputs) > 1:
        raise click.UsageError("--authres takes one message")
    if authres and as_json:
        raise click.UsageError("--authres and --json cannot be combined")
    if require_domain is not None:
        try:
            require_domain = normalize_domain(require_domain)
        except InvalidName as exc:
            raise click.BadParameter(str(exc), param_hint="'--require-domain'") from None
    config = _common.load_optional_config(config_path)
    if min_key_bits is None and config is not None:
        min_key_bits = config.get_int("MinimumKeyBits")
        if min_key_bits is not None and min_key_bits < 1024:
            raise config.error("MinimumKeyBits", "MinimumKeyBits below 1024 is not allowed")
    if min_key_bits is not None and min_key_bits < 1024:
        raise click.BadParameter("must be at least 1024 (RFC 8301)", param_hint="'--min-key-bits'")
    servers, lookup_timeout = resolve_dns_settings(config, nameservers, timeout)
    source = make_source(dns_files=dns_files, nameservers=servers, timeout=lookup_timeout)
    policy = VerifyPolicy(
        min_key_bits=min_key_bits or 1024,
        allow_sha1=allow_sha1,
        require_domain=require_domain,
        strict_body_length=strict_body_length,
        max_signatures=max_signatures,
        lookup_budget=2 * lookup_timeout,
    )
    several = len(inputs) > 1
    quiet = _options.current_verbosity() < 0
    verdicts: list[AuthResult] = []
    first_error: DkimtoolError | None = None
    workers = _jobs.effective_jobs(jobs, len(inputs)) if several and jobs != 1 else 1
    if workers > 1:
        results = _jobs.ordered_map(
            _verify_in_worker,
            inputs,
            jobs=workers,
            initializer=_start_worker,
            initargs=(source, policy),
        )
    else:
        results = (_verify_file(path, source, policy) for path in inputs)
    # A progress bar on stderr when it is a terminal and the report goes elsewhere (on the
    # terminal, the report lines are the progress); never with -q.
    show_progress = several and not quiet and _render.stderr_is_terminal()
    show_progress = show_progress and not _render.stdout_is_terminal()
    with _jobs.progress(len(inputs), "verifying", show=show_progress) as progress:
        for path, data, report, error in results:
            progress.update(1)
            if error is not None:
                if not several:
                    raise error
                first_error = first_error or error
                _render.error_line(f"{path}: {_render.detail(path, error)}")
                if as_json:
                    _render.emit_json(
                        {"file": path, "result": None, "error": str(error), "signatures": []}
                    )
                continue
            assert report is not None
            verdicts.append(report.result)
            _show(
                path if several else None,
                data,
                report,
                as_json=as_json,
                authres=authres,
                authserv_id=authserv_id,
                quiet=quiet,
            )
    if first_error is not None:
        raise click.exceptions.Exit(first_error.exit_code)
    if authres:
        return  # exit 0 whenever the field was written, whatever the verdict
    code = exit_code_for(verdicts)
    if code:
        raise click.exceptions.Exit(code)


_Verified = tuple[str, bytes, VerifyReport | None, DkimtoolError | None]


def _verify_file(path: str, source: TxtSource, policy: VerifyPolicy) -> _Verified:
    """Read and verify one file: (path, data, report, None), or the error that stopped it."""
    try:
        data = read_input(path)
        return path, data, verify_message(data, keys=source, policy=policy, now=time.time()), None
    except DkimtoolError as exc:
        return path, b"", None, exc


# -j: each worker process reads and verifies whole files; only the reports come back.
_worker_setup: tuple[TxtSource, VerifyPolicy] | None = None


def _start_worker(source: TxtSource, policy: VerifyPolicy) -> None:
    global _worker_setup
    _worker_setup = (source, policy)


def _verify_in_worker(path: str) -> _Verified:
    assert _worker_setup is not None
    path, _, report, exc = _verify_file(path, *_worker_setup)
    return path, b"", report, None if exc is None else _jobs.PortableError.of(exc)


def _show(
    file: str | None,
    data: bytes,
    report: VerifyReport,
    *,
    as_json: bool,
    authres: bool,
    authserv_id: str | None,
    quiet: bool,
) -> None:
    for sig in report.signatures:
        for warning in sig.warnings:
            if not quiet:
                _render.warning_line(f"{file}: {warning}" if file else warning)
    if authres:
        from dkimtool.core.authres import add_authres  # only for --authres

        _render.write_stdout_bytes(add_authres(data, report, authserv_id or _default_authserv_id()))
        return
    if as_json:
        obj: dict[str, Any] = {} if file is None else {"file": file}
        obj["result"] = str(report.result)
        obj["signatures"] = [signature_json(sig) for sig in report.signatures]
        _render.emit_json(obj)
        return
    if quiet:
        return
    prefix = f"{file}: " if file else ""
    for line in report_lines(report):
        _render.report_line(prefix + _render.printable(line))
