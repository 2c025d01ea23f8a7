"""The DNS options verify and testkey share: --nameserver, --timeout, --dns-file."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from dkimtool.core.keysource import DEFAULT_TIMEOUT

F = TypeVar("F", bound=Callable[..., Any])


def dns_options(func: F) -> F:
    decorators = [
        click.option(
            "--nameserver",
            "nameservers",
            multiple=True,
            metavar="IP[:PORT]",
            help="Ask this server instead of the system resolver; repeatable; "
            "IPv4, or [IPv6]:PORT.",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0.1, max=300),
            metavar="SECONDS",
            help=f"Total time for one lookup, retries and TCP included. [default: {DEFAULT_TIMEOUT:g}]",
        ),
        click.option(
            "--dns-file",
            "dns_files",
            multiple=True,
            type=click.Path(dir_okay=False),
            help="Read key records from this zone-file fragment (e.g. genkey's .txt) "
            "instead of DNS; repeatable.",
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func
