"""Helpers the commands share: config-file defaults, record settings, key reading."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from dkimtool.commands import _render
from dkimtool.commands._options import current_verbosity
from dkimtool.core.errors import UsageError
from dkimtool.core.names import InvalidName, normalize_domain, normalize_selector

if TYPE_CHECKING:  # imported when used: `dkimtool sign` starts faster without them
    from dkimtool.core.config import DkimConfig


def load_optional_config(path: str | None) -> DkimConfig | None:
    if path is None:
        return None
    from dkimtool.core.config import load_config

    config = load_config(path)
    if current_verbosity() >= 1:
        for key in config.ignored_keys():
            _render.status_line(f"dkimtool: {path}: {key} is not used by this command (ignored)")
    return config


def config_name(config: DkimConfig | None, key: str, kind: str) -> str | None:
    """A domain or selector from the config file, validated (ConfigError naming the line)."""
    if config is None:
        return None
    value = config.get(key)
    if value is None:
        return None
    first = value.split(",")[0].strip()
    try:
        return normalize_domain(first) if kind == "domain" else normalize_selector(first)
    except InvalidName as exc:
        raise config.error(key, str(exc)) from None


def require(value: str | None, option: str, config_key: str) -> str:
    if value is None:
        raise click.UsageError(f"missing option {option} (or {config_key} in the -x file)")
    return value


def domain_and_selector(
    config: DkimConfig | None, domain: str | None, selector: str | None
) -> tuple[str, str]:
    """-d (required, or Domain in -x) and -s (or Selector in -x, else ``default``)."""
    domain = require(domain or config_name(config, "Domain", "domain"), "-d/--domain", "Domain")
    return domain, selector or config_name(config, "Selector", "selector") or "default"


def warn_all(warnings: list[str]) -> None:
    if current_verbosity() >= 0:  # -q silences warnings
        for warning in warnings:
            _render.warning_line(warning)


def refuse_terminal_stdin(paths: tuple[str, ...] | list[str]) -> None:
    """A command that reads a message from a terminal would hang: exit 2 with a hint."""
    if (not paths or "-" in paths) and sys.stdin.isatty():
        raise UsageError(
            "no message given and standard input is a terminal",
            hint="name a FILE, or pipe a message in: dkimtool CMD < message.eml",
        )
