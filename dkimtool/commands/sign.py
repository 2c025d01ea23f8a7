"""``dkimtool sign``: sign messages from stdin or files, for pipes, scripts and MTA filters.

This module must stay cheap to import: no dnspython, no dkimpy (see tests/unit/test_imports.py).
"""

from __future__ import annotations

import os
import time
from functools import partial
from typing import TYPE_CHECKING, Literal, NamedTuple, cast

import click

from dkimtool.commands import _common, _jobs, _options, _render
from dkimtool.core.batch import FileOutcome, first_error_code, plan_outputs
from dkimtool.core.errors import EX_TEMPFAIL, DkimtoolError, UsageError
from dkimtool.core.fileio import STDIN, ensure_directory, fsync_directory, read_input, write_atomic
from dkimtool.core.names import is_same_or_subdomain
from dkimtool.core.signature import SignatureFormatError
from dkimtool.core.signature import parse_canonicalization as parse_c_value
from dkimtool.core.signer import (
    BODY_LENGTH_WARNING,
    DEFAULT_OVERSIGN,
    SHA1_WARNING,
    Algorithm,
    SignOptions,
    SignResult,
    sign_message,
)
from dkimtool.core.signkeys import (
    ALGORITHMS,
    KeySpec,
    check_sha1,
    load_signing_keys,
    pair_key_specs,
)

if TYPE_CHECKING:
    from dkimtool.core.config import DkimConfig

Canon = Literal["simple", "relaxed"]
OnError = Literal["fail", "pass", "tempfail"]
EPILOG = """\b
Examples:
  dkimtool sign -d example.com -s mail -k mail.private < msg.eml > signed.eml
  dkimtool sign -d example.com -s rsa -k rsa.private -s ed -k ed.private msg.eml
  dkimtool sign -x /etc/dkim.conf --on-error tempfail < msg.eml      # in an MTA pipe
  dkimtool sign -d example.com -s mail -k mail.private -o out/ *.eml
  dkimtool sign -d example.com -s mail -k mail.private --header-only < msg.eml
"""


def parse_canonicalization(value: str) -> tuple[Canon, Canon]:
    """``header/body``; one word sets the header algorithm and leaves the body simple."""
    try:
        return parse_c_value(value)
    except SignatureFormatError:
        raise UsageError(
            f"invalid canonicalization {value!r}",
            hint="use simple or relaxed, or header/body such as relaxed/simple",
        ) from None


def _colon_list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(":") if item.strip())


_OPTION_WARNINGS = (SHA1_WARNING, BODY_LENGTH_WARNING)


class _Plan(NamedTuple):
    """Everything decided before the first message is read."""

    specs: list[KeySpec]
    options: SignOptions  # keys filled in once they are loaded
    warnings: list[str]


def _build_plan(
    *,
    config: DkimConfig | None,
    domain: str | None,
    selectors: tuple[str, ...],
    key_paths: tuple[str, ...],
    algorithms: tuple[str, ...],
    allow_sha1: bool,
    canonicalization: str | None,
    headers: str | None,
    oversign: str | None,
    identity: str | None,
    expire: int | None,
    body_length: bool,
    timestamp: int | None,
) -> _Plan:
    warnings: list[str] = []
    domain = domain or _common.config_name(config, "Domain", "domain")
    if not selectors and config is not None:
        selector = _common.config_name(config, "Selector", "selector")
        selectors = (selector,) if selector else ()
    if not key_paths and config is not None:
        key_file = config.get_path("KeyFile")
        key_paths = (key_file,) if key_file else ()
    if not algorithms and config is not None and config.get("SignatureAlgorithm"):
        configured = (config.get("SignatureAlgorithm") or "").lower()
        if configured not in ALGORITHMS:
            raise config.error("SignatureAlgorithm", f"unknown algorithm {configured!r}")
        if configured == "rsa-sha1" and not allow_sha1:
            warnings.append(
                "SignatureAlgorithm rsa-sha1 in the config: using rsa-sha256 (RFC 8301); "
                "pass --allow-sha1 to keep rsa-sha1"
            )
            configured = "rsa-sha256"
        algorithms = (configured,)
    if canonicalization is None and config is not None:
        canonicalization = config.get("Canonicalization")
    sign_headers = _colon_list(headers) if headers else _config_names(config, "SignHeaders")
    oversigned = (
        _colon_list(oversign) if oversign is not None else _config_names(config, "OversignHeaders")
    )
    if domain is None:
        raise click.UsageError("missing option -d/--domain (or Domain in the -x file)")
    if not selectors or not key_paths:
        raise click.UsageError("missing -s/--selector and -k/--key (or Selector and KeyFile in -x)")
    specs = pair_key_specs(selectors, key_paths, cast(tuple[Algorithm, ...], algorithms))
    warnings += check_sha1(specs, allow_sha1=allow_sha1)
    header_canon, body_canon = parse_canonicalization(canonicalization or "relaxed/relaxed")
    if identity is not None:
        _local, at, id_domain = identity.rpartition("@")
        if not at or not is_same_or_subdomain(id_domain, domain):
            raise UsageError(f"-i {identity}: must be [local]@{domain} or @a subdomain of it")
    if body_length:
        warnings.append(BODY_LENGTH_WARNING)
    options = SignOptions(
        domain=domain,
        keys=(),
        header_canonicalization=header_canon,
        body_canonicalization=body_canon,
        headers=sign_headers,
        oversign=DEFAULT_OVERSIGN if oversigned is None else oversigned,
        identity=identity,
        expire=expire,
        body_length=body_length,
        timestamp=timestamp,
    )
    return _Plan(specs=specs, options=options, warnings=warnings)


def _config_names(config: DkimConfig | None, key: str) -> tuple[str, ...] | None:
    """A header-name list from the config file, comma- or colon-separated."""
    items = None if config is None else config.get_list(key, ",:")
    return None if items is None else tuple(items)


def _write_output(
    target: str, data: bytes, result: SignResult | None, mode: int, force: bool
) -> None:
    if result is None:
        payload = data
    else:
        head, fields, rest = result.output_parts(data)
        payload = b"".join((head, fields, rest))
    write_atomic(target, payload, mode=mode, force=force, sync=False)


def _output_mode(path: str) -> int:
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        return 0o600


@click.command(epilog=EPILOG)
@_options.input_files_argument
@_options.domain_option("The signing domain (d=). [required, or Domain in -x]")
@_options.selector_option(
    "Selector; repeat -s/-k pairs for several signatures (e.g. RSA + Ed25519).", multiple=True
)
@click.option(
    "-k",
    "--key",
    "key_paths",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Private key file; the Nth -k pairs with the Nth -s.",
)
@click.option(
    "-a",
    "--algorithm",
    "algorithms",
    multiple=True,
    type=click.Choice(ALGORITHMS),
    help="Signing algorithm, once or once per -k. [default: from the key type]",
)
@click.option("--allow-sha1", is_flag=True, help="Permit rsa-sha1 (obsolete, RFC 8301).")
@click.option(
    "-c",
    "--canonicalization",
    metavar="HEADER/BODY",
    help="simple or relaxed for each; one word sets the header only. [default: relaxed/relaxed]",
)
@click.option("-H", "--headers", metavar="LIST", help="Colon-separated header names to sign.")
@click.option(
    "--oversign",
    metavar="LIST",
    help="Names signed once more than they occur. [default: " + ":".join(DEFAULT_OVERSIGN) + "]",
)
@click.option("-i", "--identity", metavar="ADDR", help="i=: the agent or user identifier.")
@click.option("--expire", type=click.IntRange(min=1), metavar="SECONDS", help="x= t + SECONDS.")
@click.option(
    "-l", "--body-length", is_flag=True, help="Add l= (warns: it lets others append content)."
)
@click.option("--timestamp", type=click.IntRange(min=0), metavar="UNIX", help="Use this t=.")
@click.option("--header-only", is_flag=True, help="Print only the new DKIM-Signature field(s).")
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False),
    help="Write each signed FILE to DIR/BASENAME.",
)
@click.option("--force", is_flag=True, help="With -o: overwrite existing outputs.")
@_options.jobs_option("With -o")
@click.option(
    "--on-error",
    type=click.Choice(["fail", "pass", "tempfail"]),
    default="fail",
    show_default=True,
    help="fail: exit with the error's code, print nothing; pass: print the input unsigned and "
    "exit 0; tempfail: exit 75 so an MTA retries.",
)
@_options.config_option("Read Domain, Selector, KeyFile, ... from a dkim.conf/opendkim.conf file.")
@_options.json_option("One JSON object per message (with no -o, instead of the message).")
@_options.verbosity_options
def command(
    files: tuple[str, ...],
    domain: str | None,
    selector: tuple[str, ...],
    key_paths: tuple[str, ...],
    algorithms: tuple[str, ...],
    allow_sha1: bool,
    canonicalization: str | None,
    headers: str | None,
    oversign: str | None,
    identity: str | None,
    expire: int | None,
    body_length: bool,
    timestamp: int | None,
    header_only: bool,
    output_dir: str | None,
    force: bool,
    jobs: int,
    on_error: OnError,
    config_path: str | None,
    as_json: bool,
) -> None:
    """Sign messages: the input bytes with DKIM-Signature field(s) prepended."""
    inputs = list(files) or [STDIN]
    _common.refuse_terminal_stdin(inputs)
    if len(inputs) > 1 and output_dir is None and not (header_only and as_json):
        raise click.UsageError("several FILEs need -o DIR (or --header-only --json)")
    outputs = None
    if output_dir is not None:
        outputs = plan_outputs(inputs, output_dir, force=force)
        ensure_directory(output_dir)
    now = time.time()
    # From here on every failure follows --on-error, even a bad config or key file; option
    # values that can never work (UsageError, exit 2) are not failures of a message.
    setup_error: DkimtoolError | None = None
    options: SignOptions | None = None
    try:
        config = _common.load_optional_config(config_path)
        plan = _build_plan(
            config=config,
            domain=domain,
            selectors=selector,
            key_paths=key_paths,
            algorithms=algorithms,
            allow_sha1=allow_sha1,
            canonicalization=canonicalization,
            headers=headers,
            oversign=oversign,
            identity=identity,
            expire=expire,
            body_length=body_length,
            timestamp=timestamp,
        )
        _common.warn_all(plan.warnings)
        signing_keys, key_warnings = load_signing_keys(plan.specs)
        _common.warn_all(key_warnings)
        options = plan.options._replace(keys=signing_keys)
    except UsageError:
        raise
    except DkimtoolError as exc:
        setup_error = exc

    outcomes: list[FileOutcome] = []
    show_progress = output_dir is not None and len(inputs) > 1 and _render.stderr_is_terminal()
    show_progress = show_progress and _options.current_verbosity() >= 0
    # Workers need -o (each writes its own outputs) and the keys loaded here.
    workers = 1
    if outputs is not None and options is not None and jobs != 1:
        workers = _jobs.effective_jobs(jobs, len(inputs))
    report = partial(_report, on_error=on_error, header_only=header_only, as_json=as_json)
    with _jobs.progress(len(inputs), "signing", show=show_progress) as progress:
        if workers > 1:
            assert outputs is not None
            items = list(zip(inputs, outputs, strict=True))
            results = _jobs.ordered_map(
                _sign_in_worker,
                items,
                jobs=workers,
                initializer=_start_worker,
                initargs=(options, now, on_error, force, as_json),
            )
            for (path, target_name), returned in zip(items, results, strict=True):
                done = returned or _Done(FileOutcome(file=path, output=target_name))
                report(done, b"", None)
                outcomes.append(done.outcome)
                progress.update(1)
        else:
            for index, path in enumerate(inputs):
                target = outputs[index] if outputs is not None else None
                done, data, result = _sign_file(
                    path,
                    target,
                    options,
                    setup_error,
                    now,
                    on_error=on_error,
                    force=force,
                    describe=as_json,
                )
                report(done, data, result)
                outcomes.append(done.outcome)
                progress.update(1)
    if output_dir is not None:
        fsync_directory(output_dir)
    code = first_error_code(outcomes)
    if code is not None and on_error != "pass":
        raise click.exceptions.Exit(EX_TEMPFAIL if on_error == "tempfail" else code)


class _Done:
    """What became of one file: small enough to come back from a worker process."""

    __slots__ = ("outcome", "signatures", "write_failed")

    def __init__(self, outcome: FileOutcome) -> None:
        self.outcome = outcome
        self.write_failed = False  # the message was signed, but its output could not be written
        self.signatures: list[dict[str, str]] = []


def _sign_file(
    path: str,
    target: str | None,
    options: SignOptions | None,
    setup_error: DkimtoolError | None,
    now: float,
    *,
    on_error: OnError,
    force: bool,
    describe: bool,
) -> tuple[_Done, bytes, SignResult | None]:
    """Sign one file and, with -o, write its output (following --on-error).

    DESCRIBE fills in the signatures for --json (they are not sent back from workers
    otherwise: pickling every header costs the parent more than the rest of the result).
    """
    outcome = FileOutcome(file=path, output=target)
    done = _Done(outcome)
    data = b""
    result: SignResult | None = None
    try:
        if setup_error is not None:
            raise setup_error
        assert options is not None
        data = read_input(path)  # kept for --on-error pass if signing fails
        result = sign_message(data, options, now=now)
        # Warnings about the options were shown once, up front.
        outcome.warnings = [w for w in result.warnings if w not in _OPTION_WARNINGS]
        done.signatures = (
            []
            if not describe
            else [
                {
                    "domain": sig.domain,
                    "selector": sig.selector,
                    "algorithm": sig.algorithm,
                    "header": sig.field.decode("ascii", "replace").rstrip("\r\n"),
                }
                for sig in result.signatures
            ]
        )
    except DkimtoolError as exc:
        outcome.error = exc
    if target is not None:
        if result is not None:
            try:
                _write_output(target, data, result, _output_mode(path), force)
            except DkimtoolError as exc:
                outcome.error = exc
                done.write_failed = True
        elif on_error == "pass":
            data = data or _read_or_empty(path)
            _write_output(target, data, None, _output_mode(path), force)
    return done, data, result


def _read_or_empty(path: str) -> bytes:
    """The input as it is, for --on-error pass (not read yet after a setup error)."""
    try:
        return read_input(path)
    except DkimtoolError:
        return b""


def _report(
    done: _Done,
    data: bytes,
    result: SignResult | None,
    *,
    on_error: OnError,
    header_only: bool,
    as_json: bool,
) -> None:
    """Report one message; without -o, print it (or the input unsigned, with pass)."""
    outcome = done.outcome
    name = "standard input" if outcome.file == STDIN else outcome.file
    to_stdout = outcome.output is None
    if outcome.error is not None and not done.write_failed:
        if on_error == "pass":
            reason = _render.detail(outcome.file, outcome.error)
            _render.warning_line(f"{name}: not signed: {reason}")
            if to_stdout and not as_json and not header_only:
                _render.write_stdout_bytes(data or _read_or_empty(outcome.file))
        else:
            prefix = f"{outcome.file}: " if outcome.file != STDIN else ""
            _render.error_line(f"{prefix}{_render.detail(outcome.file, outcome.error)}")
    else:
        for warning in outcome.warnings:
            _render.warning_line(f"{name}: {warning}" if outcome.file != STDIN else warning)
        if done.write_failed:
            _render.error_line(str(outcome.error))
        elif to_stdout and not as_json:
            assert result is not None
            if header_only:
                _render.write_stdout_bytes(result.fields)
            else:
                _render.write_stdout_parts(result.output_parts(data))
    if as_json:
        _render.emit_json(
            {
                "file": outcome.file,
                "output": outcome.output,
                "ok": outcome.error is None,
                "error": None if outcome.error is None else str(outcome.error),
                "signatures": [] if outcome.error is not None else done.signatures,
            }
        )


# -j: each worker process signs whole files and writes their outputs itself.
_worker_setup: tuple[SignOptions, float, OnError, bool, bool] | None = None


def _start_worker(
    options: SignOptions, now: float, on_error: OnError, force: bool, describe: bool
) -> None:
    global _worker_setup
    _worker_setup = (options, now, on_error, force, describe)


def _sign_in_worker(item: tuple[str, str]) -> _Done | None:
    """Sign one file in a worker; None when there is nothing to report but success (the
    common case, kept cheap to send back)."""
    assert _worker_setup is not None
    options, now, on_error, force, describe = _worker_setup
    path, target = item
    done, _, _ = _sign_file(
        path, target, options, None, now, on_error=on_error, force=force, describe=describe
    )
    if done.outcome.error is not None:
        done.outcome.error = _jobs.PortableError.of(done.outcome.error)
    elif not done.outcome.warnings and not done.signatures:
        return None
    return done
