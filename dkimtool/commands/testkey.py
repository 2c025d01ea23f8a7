"""``dkimtool testkey``: check the published key in DNS, like dkim-testkey/opendkim-testkey."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import click

from dkimtool.commands import _common, _dnsopts, _options, _render
from dkimtool.core.config import DkimConfig
from dkimtool.core.errors import EX_NEGATIVE, EX_TEMPFAIL, DkimtoolError, KeyFormatError
from dkimtool.core.keys import read_key
from dkimtool.core.keysource import TxtSource, make_source, resolve_dns_settings
from dkimtool.core.names import key_record_name
from dkimtool.core.testkey import (
    KeyTestReport,
    PrivateKeyInput,
    check_key,
    read_key_table,
    summary_line,
)

if TYPE_CHECKING:
    from dkimtool.core.dns import DnsResolver

EPILOG = """\b
Examples:
  dkimtool testkey -d example.com -s mail -k mail.private
  dkimtool testkey -d example.com -s mail --nameserver 192.0.2.53 --json
  dkimtool testkey -x /etc/opendkim.conf            # every key in its KeyTable
  dkimtool testkey -d example.com -s mail --dns-file mail.txt -k mail.private
"""


@dataclass(frozen=True, slots=True)
class _Target:
    domain: str
    selector: str
    key_file: str | None


def _targets(
    config: DkimConfig | None, domain: str | None, selector: str | None, key_file: str | None
) -> list[_Target]:
    """What to test: -d/-s (-k), else every KeyTable entry (those of -d or -s if one is
    given), else Domain/Selector/KeyFile from the config file."""
    if config is not None and config.get("KeyTable") and (domain is None or selector is None):
        targets = [
            t
            for t in _key_table_targets(config)
            if _same(domain, t.domain) and _same(selector, t.selector)
        ]
        if targets:
            return targets
    domain = domain or _common.config_name(config, "Domain", "domain")
    selector = selector or _common.config_name(config, "Selector", "selector")
    if key_file is None and config is not None:
        key_file = config.get_path("KeyFile")
    if domain is None or selector is None:
        raise click.UsageError("missing -d/--domain and -s/--selector (or -x with them)")
    return [_Target(domain, selector, key_file)]


def _same(wanted: str | None, name: str) -> bool:
    """No filter, or the same DNS name (names compare case-insensitively)."""
    return wanted is None or wanted.lower() == name.lower()


def _key_table_targets(config: DkimConfig) -> list[_Target]:
    value = config.get("KeyTable") or ""
    try:
        entries = read_key_table(value, config.path.parent)
    except ValueError as exc:
        raise config.error("KeyTable", str(exc)) from None
    except OSError as exc:
        raise config.error("KeyTable", f"cannot read KeyTable {value}: {exc.strerror}") from None
    return [_Target(e.domain, e.selector, e.key_file) for e in entries]


def report_json(report: KeyTestReport) -> dict[str, Any]:
    return {
        "name": report.name,
        "ok": report.ok,
        "record": report.record,
        "key_type": report.key_type,
        "key_bits": report.key_bits,
        "testing": report.testing,
        "dnssec": report.dnssec,
        "matches_private_key": report.matches_private_key,
        "cname_chain": report.cname_chain,
        "problems": report.problems,
        "warnings": report.warnings,
    }


@click.command(epilog=EPILOG)
@_options.domain_option("The domain: the record is SELECTOR._domainkey.DOMAIN.")
@_options.selector_option("The selector.")
@click.option(
    "-k",
    "--key",
    "key_file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="The private key: the published p= must be its public half.",
)
@_dnsopts.dns_options
@_options.config_option("Domain, Selector and KeyFile (or KeyTable) from this file.")
@_options.json_option("One JSON object (one per line with a KeyTable).")
@_options.verbosity_options
def command(
    domain: str | None,
    selector: str | None,
    key_file: str | None,
    nameservers: tuple[str, ...],
    timeout: float | None,
    dns_files: tuple[str, ...],
    config_path: str | None,
    as_json: bool,
) -> None:
    """Check that the published key record is usable and matches the private key."""
    config = _common.load_optional_config(config_path)
    targets = _targets(config, domain, selector, key_file)
    servers, lookup_timeout = resolve_dns_settings(config, nameservers, timeout)
    source = make_source(
        dns_files=dns_files,
        nameservers=servers,
        timeout=lookup_timeout,
        want_dnssec=not dns_files,
        cached=False,
    )
    resolver = None if dns_files else cast("DnsResolver", source)
    codes: list[int] = []
    for target in targets:
        try:
            report = _check_target(target, source, resolver)
        except DkimtoolError as exc:
            name = key_record_name(target.selector, target.domain)
            if as_json:
                _render.emit_json({"name": name, "ok": False, "error": str(exc)})
            if len(targets) == 1:
                raise
            # With a KeyTable, one broken entry does not hide the others.
            _render.error_line(f"{name}: {exc}")
            codes.append(exc.exit_code)
            continue
        _show(report, as_json=as_json)
        if not report.ok:
            codes.append(EX_NEGATIVE)
    code = _overall_code(codes)
    if code:
        raise click.exceptions.Exit(code)


def _check_target(
    target: _Target, source: TxtSource, resolver: DnsResolver | None
) -> KeyTestReport:
    private = None
    if target.key_file is not None:
        key, warnings = read_key(target.key_file, safety_checks=True)
        if key.private is None:
            raise KeyFormatError(f"{target.key_file}: is a public key, not a private key")
        private = PrivateKeyInput(target.key_file, key, warnings)
    return check_key(
        selector=target.selector,
        domain=target.domain,
        source=source,
        private_key=private,
        dnssec_resolver=resolver,
    )


def _overall_code(codes: list[int]) -> int:
    """The first input error's code, else 75 for a temporary failure, else 1 for a problem."""
    errors = [code for code in codes if code not in (EX_NEGATIVE, EX_TEMPFAIL)]
    if errors:
        return errors[0]
    if EX_TEMPFAIL in codes:
        return EX_TEMPFAIL
    return EX_NEGATIVE if codes else 0


def _show(report: KeyTestReport, *, as_json: bool) -> None:
    if as_json:
        _render.emit_json(report_json(report))
        return
    if report.ok and _options.current_verbosity() < 0:
        return
    click.echo(_render.printable(summary_line(report)))
    for problem in report.problems:
        click.echo(f"  problem: {_render.printable(problem)}")
    for warning in report.warnings:
        click.echo(f"  warning: {_render.printable(warning)}")
