"""``dkimtool milter``: sign and verify mail for sendmail and Postfix (the classic dkim-filter).

The short flags are dkim-filter's (``-d -s -k -p -c -S -u -m -i -l -h``), so an old command
line keeps working; ``-h`` is the X-Header switch here, help is ``--help``.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
from pathlib import Path

import click

from dkimtool.commands import _common, _dnsopts, _options, _render
from dkimtool.core.errors import ConfigError, TempFailError
from dkimtool.core.milter_policy import (
    MilterSettings,
    MilterUnavailable,
    Overrides,
    load_settings,
)

EPILOG = """\b
Examples:
  dkimtool milter -x /etc/dkim.conf
  dkimtool milter -x /etc/dkim.conf -n          # check the configuration and keys, then exit
  dkimtool milter -d example.com -s mail -k /var/db/dkim/mail.private \\
      -p inet:8891@localhost -c relaxed/relaxed -u dkim -i /etc/dkim-internal-hosts -l -h

\b
Postfix:   smtpd_milters = inet:localhost:8891
           non_smtpd_milters = inet:localhost:8891
sendmail:  INPUT_MAIL_FILTER(`dkimtool', `S=inet:8891@localhost')
"""


SYSLOG_SOCKET = "/dev/log"


def _syslog_handler(facility: str) -> logging.Handler:
    code = logging.handlers.SysLogHandler.facility_names.get(facility)
    if code is None:
        raise ConfigError(f"unknown SyslogFacility {facility!r}")
    address = SYSLOG_SOCKET if os.path.exists(SYSLOG_SOCKET) else ("localhost", 514)
    handler = logging.handlers.SysLogHandler(address=address, facility=code)
    handler.setFormatter(logging.Formatter("dkimtool[%(process)d]: %(message)s"))
    return handler


def _setup_logging(settings: MilterSettings, verbosity: int) -> None:
    logger = logging.getLogger("dkimtool")
    logger.handlers.clear()
    logger.propagate = False
    level = logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity >= 2 else logging.INFO
    logger.setLevel(level)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(logging.Formatter("dkimtool: %(message)s"))
    logger.addHandler(stderr)
    if settings.syslog:
        logger.addHandler(_syslog_handler(settings.syslog_facility))


def _drop_privileges(userid: str, socket_path: str | None) -> None:
    """Userid USER[:GROUP]: after binding, become that user (only root can)."""
    from dkimtool.core.accounts import lookup_account

    try:
        account = lookup_account(userid)
    except LookupError as exc:
        raise ConfigError(f"Userid: {exc}") from None
    if os.geteuid() == account.uid:
        return
    if os.geteuid() != 0:
        raise ConfigError(f"Userid {userid}: only root can switch to another user")
    if socket_path:
        os.chown(socket_path, account.uid, account.gid)  # so the MTA's user can still connect
    os.initgroups(account.name, account.gid)
    os.setgid(account.gid)
    os.setuid(account.uid)


def _describe(settings: MilterSettings) -> list[str]:
    mode = ("s" if settings.sign else "") + ("v" if settings.verify else "")
    lines = [f"socket {settings.socket}, mode {mode}"]
    for ref in settings.signing.all_keys():
        domain = ref.domain or ",".join(settings.signing.domains)
        lines.append(f"signs for {domain} with s={ref.selector} ({ref.key_file})")
    if settings.signing.subdomains:
        lines.append("signs for subdomains too (SubDomains yes)")
    return lines


@click.command(epilog=EPILOG)
@_options.config_option("A dkim.conf/opendkim.conf file.")
@click.option(
    "-d", "--domain", "domains", multiple=True, metavar="DOMAIN[,...]", help="Domain(s) to sign."
)
@click.option("-s", "--selector", "selectors", multiple=True, help="Selector; pairs with -k.")
@click.option(
    "-k",
    "--key",
    "key_files",
    multiple=True,
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Private key; pairs with -s.",
)
@click.option(
    "-p", "--socket", metavar="SOCKET", help="inet:PORT@HOST, inet6:PORT@HOST or unix:/PATH."
)
@click.option("-c", "--canonicalization", metavar="HEADER/BODY", help="simple or relaxed.")
@click.option(
    "-S",
    "--algorithm",
    type=click.Choice(["rsa-sha256", "ed25519-sha256", "rsa-sha1"]),
    help="Signature algorithm (for RSA keys). [default: from the key]",
)
@click.option("-u", "--user", "userid", metavar="USER[:GROUP]", help="Run as this user.")
@click.option(
    "-m", "--mta", "mta_names", multiple=True, metavar="NAME", help="Sign mail from these MTAs."
)
@click.option(
    "-i",
    "--internal-hosts",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Hosts whose mail is signed. [default: 127.0.0.1]",
)
@click.option("-l", "--syslog", is_flag=True, help="Log to syslog too.")
@click.option("-h", "--x-header", is_flag=True, help="Add X-DKIM to signed mail.")
@click.option("-b", "--mode", metavar="s|v|sv", help="Sign, verify or both. [default: sv]")
@click.option(
    "-P",
    "--pidfile",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Write the process id here.",
)
@click.option("-A", "--authserv-id", metavar="ID", help="The authserv-id. [default: host name]")
@click.option("--allow-sha1", is_flag=True, help="Permit rsa-sha1 (obsolete, RFC 8301).")
@click.option("-f", "--foreground", is_flag=True, hidden=True, help="Accepted; always so.")
@click.option("-n", "--check", is_flag=True, help="Check the configuration and keys, then exit.")
@_dnsopts.dns_options
@_options.verbosity_options
def command(
    config_path: str | None,
    domains: tuple[str, ...],
    selectors: tuple[str, ...],
    key_files: tuple[str, ...],
    socket: str | None,
    canonicalization: str | None,
    algorithm: str | None,
    userid: str | None,
    mta_names: tuple[str, ...],
    internal_hosts: str | None,
    syslog: bool,
    x_header: bool,
    mode: str | None,
    pidfile: str | None,
    authserv_id: str | None,
    allow_sha1: bool,
    foreground: bool,
    check: bool,
    nameservers: tuple[str, ...],
    timeout: float | None,
    dns_files: tuple[str, ...],
) -> None:
    """Sign and verify mail for sendmail and Postfix (a milter, like dkim-filter)."""
    config = _common.load_optional_config(config_path)
    overrides = Overrides(
        socket=socket,
        domains=domains,
        selectors=selectors,
        key_files=key_files,
        canonicalization=canonicalization,
        algorithm=algorithm,
        userid=userid,
        mta_names=tuple(m for item in mta_names for m in item.split(",") if m),
        internal_hosts=internal_hosts,
        syslog=syslog,
        x_header=x_header,
        mode=mode,
        authserv_id=authserv_id,
        pidfile=pidfile,
        allow_sha1=allow_sha1,
    )
    settings = load_settings(config, overrides)
    verbosity = _options.current_verbosity()
    _common.warn_all(list(settings.warnings))
    if verbosity >= 1:
        for key in settings.ignored_keys:
            _render.status_line(f"dkimtool: {config_path}: {key} is not used by the milter")
    from dkimtool.milter.runtime import build_engine

    engine, key_warnings = build_engine(
        settings, dns_files=dns_files, nameservers=nameservers, timeout=timeout
    )
    _common.warn_all(key_warnings)
    if check:
        if verbosity >= 0:
            click.echo("dkimtool milter: configuration OK: " + "; ".join(_describe(settings)))
        return
    try:
        from dkimtool.milter.adapter import serve
    except ImportError as exc:
        raise MilterUnavailable(
            f"the milter needs pymilter, which is not installed ({exc.name or exc})",
            hint="pip install 'dkimtool[milter]' (Debian: apt-get install libmilter-dev first)",
        ) from None
    _setup_logging(settings, verbosity)
    sock_path = settings.socket.path

    def after_bind() -> None:
        if settings.pidfile:
            Path(settings.pidfile).write_text(f"{os.getpid()}\n", encoding="ascii")
        if settings.userid:
            _drop_privileges(settings.userid, sock_path)

    try:
        serve(engine, after_bind=after_bind)
    except OSError as exc:
        raise TempFailError(f"milter socket {settings.socket}: {exc.strerror or exc}") from None
    except Exception as exc:
        if type(exc).__module__ == "milter" or type(exc).__name__ == "error":
            raise TempFailError(
                f"cannot listen on {settings.socket}: {exc}",
                hint="is another milter already running on it?",
            ) from None
        raise
    finally:
        if settings.pidfile:
            with contextlib.suppress(OSError):
                os.unlink(settings.pidfile)
    if sock_path:
        with contextlib.suppress(OSError):
            os.unlink(sock_path)
