"""``dkimtool txt``: the DNS record for an existing key, in zone, one-line or JSON form."""

from __future__ import annotations

import click

from dkimtool.commands import _common, _options, _render
from dkimtool.core.genkey import RecordSettings
from dkimtool.core.keys import read_key
from dkimtool.core.names import key_record_name
from dkimtool.core.record import render_bind, split_strings

EPILOG = """\b
Examples:
  dkimtool txt -k mail.private -d example.com -s mail
  dkimtool txt -k mail.private -d example.com -s mail --format value   # for DNS web panels
  dkimtool txt -d example.com -s old2025 --revoke                      # after key rotation
  openssl pkey -in mail.private -pubout | dkimtool txt -k - -d example.com -s mail
"""


@click.command(epilog=EPILOG, context_settings={"help_option_names": ["--help"]})
@click.option(
    "-k",
    "--key",
    "key_path",
    # No dir_okay=False: a directory is an unreadable input (66), reported by read_key.
    type=click.Path(allow_dash=True),
    help="A private or public key file (PEM, DER, base64 Ed25519); '-' reads stdin.",
)
@_options.domain_option("The signing domain (d=).")
@_options.selector_option("The selector. [default: default]")
@_options.record_options
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["bind", "value", "json"]),
    default="bind",
    show_default=True,
    help="bind: the zone-file record genkey writes; value: one line for DNS panels; json.",
)
@click.option("--revoke", is_flag=True, help="Print the revocation record (v=DKIM1; p=).")
@_options.config_option("Take Domain and Selector from this dkim.conf/opendkim.conf file.")
@_options.verbosity_options
def command(
    key_path: str | None,
    domain: str | None,
    selector: str | None,
    record_settings: RecordSettings,
    output_format: str,
    revoke: bool,
    config_path: str | None,
) -> None:
    """Print the DNS TXT record for an existing key."""
    if key_path is None and not revoke:
        raise click.UsageError("missing option -k/--key (or --revoke)")
    config = _common.load_optional_config(config_path)
    domain, selector = _common.domain_and_selector(config, domain, selector)
    key = None
    if not revoke and key_path is not None:
        key, _ = read_key(key_path, safety_checks=False)
    record = record_settings.record_for(key)
    if output_format == "value":
        click.echo(record.to_text())
    elif output_format == "json":
        value = record.to_text()
        _render.emit_json(
            {
                "name": key_record_name(selector, domain),
                "value": value,
                "strings": split_strings(value),
            }
        )
    else:
        click.echo(
            render_bind(
                record,
                selector=selector,
                domain=domain,
                fully_qualified=record_settings.fully_qualified,
            ),
            nl=False,
        )
