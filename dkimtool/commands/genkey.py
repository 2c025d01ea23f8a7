"""``dkimtool genkey``: a key pair and its DNS record, like dkim-genkey/opendkim-genkey."""

from __future__ import annotations

import os
from pathlib import Path

import click
from click.core import ParameterSource

from dkimtool.commands import _common, _options, _render
from dkimtool.core import keys
from dkimtool.core.accounts import lookup_account
from dkimtool.core.errors import UsageError
from dkimtool.core.genkey import KeyRequest, RecordSettings, generate_key_files

EPILOG = """\b
Examples:
  dkimtool genkey -d example.com -s mail -t
  dkimtool genkey -d example.com -s ed -a ed25519 -D /etc/dkimkeys --owner opendkim
  dkimtool genkey -d example.com -s mail2026 -b 4096 --json
"""


def _resolve_owner(owner: str) -> tuple[int, int]:
    try:
        account = lookup_account(owner)
    except LookupError as exc:
        raise UsageError(f"--owner: {exc}") from None
    if os.geteuid() != 0:
        raise UsageError("--owner needs root", hint="run as root, or chown the key afterwards")
    return account.uid, account.gid


@click.command(epilog=EPILOG, context_settings={"help_option_names": ["--help"]})
@_options.domain_option("The signing domain (d=).")
@_options.selector_option(
    "The selector; the files are SELECTOR.private and SELECTOR.txt. [default: default]"
)
@click.option(
    "-a",
    "--algorithm",
    type=click.Choice(["rsa", "ed25519"]),
    default="rsa",
    show_default=True,
    help="Key type.",
)
@click.option(
    "-b",
    "--bits",
    type=int,
    default=keys.RSA_RECOMMENDED_BITS,
    show_default=True,
    help="RSA modulus size, 1024..4096 (1024 warns: RFC 8301 asks for 2048).",
)
@click.option(
    "-D",
    "--directory",
    # No file_okay=False: a file in the way is an output that cannot be created (73).
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where to write the files (created 0700 if missing).",
)
@_options.record_options
@click.option(
    "--key-format",
    type=click.Choice(["pkcs1", "pkcs8", "raw"]),
    help="Private key encoding: RSA pkcs1 (default) or pkcs8; Ed25519 pkcs8 (default) or "
    "raw (dkimpy's base64 seed).",
)
@click.option("--owner", metavar="USER[:GROUP]", help="chown the private key (needs root).")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@_options.config_option("Take Domain and Selector from this dkim.conf/opendkim.conf file.")
@_options.json_option("Print a JSON object describing what was written.")
@_options.verbosity_options
def command(
    domain: str | None,
    selector: str | None,
    algorithm: keys.KeyType,
    bits: int,
    directory: Path,
    record_settings: RecordSettings,
    key_format: keys.KeyFormat | None,
    owner: str | None,
    force: bool,
    config_path: str | None,
    as_json: bool,
) -> None:
    """Generate a key pair: SELECTOR.private (mode 0600) and SELECTOR.txt (its DNS record)."""
    if algorithm == "rsa":
        try:
            keys.check_rsa_bits(bits)
        except UsageError as exc:
            raise click.BadParameter(str(exc), param_hint="'-b' / '--bits'") from None
    elif click.get_current_context().get_parameter_source("bits") == ParameterSource.COMMANDLINE:
        _common.warn_all(["-b is for RSA keys; an Ed25519 key is always 256 bits"])
    if key_format == "pkcs1" and algorithm == "ed25519":
        raise click.BadParameter(
            "pkcs1 is for RSA keys; use pkcs8 or raw", param_hint="'--key-format'"
        )
    if key_format == "raw" and algorithm == "rsa":
        raise click.BadParameter(
            "raw is for Ed25519 keys; use pkcs1 or pkcs8", param_hint="'--key-format'"
        )
    config = _common.load_optional_config(config_path)
    domain, selector = _common.domain_and_selector(config, domain, selector)
    request = KeyRequest(
        domain=domain,
        selector=selector,
        key_type=algorithm,
        bits=bits,
        directory=directory,
        key_format=key_format,
        record=record_settings,
        owner=None if owner is None else _resolve_owner(owner),
        force=force,
    )
    result = generate_key_files(request)
    _common.warn_all(result.warnings)
    if as_json:
        _render.emit_json(
            {
                "domain": result.domain,
                "selector": result.selector,
                "algorithm": result.algorithm,
                "bits": result.bits,
                "private_key": str(result.private_key),
                "txt": str(result.txt),
                "name": result.name,
                "value": result.value,
            }
        )
        return
    if _options.current_verbosity() >= 0:
        _render.status_line(
            f"wrote {result.private_key} ({result.algorithm}, {result.bits} bits, mode 0600) "
            f"and {result.txt}; publish this TXT record at {result.name}:"
        )
    click.echo(result.zone_record, nl=False)
