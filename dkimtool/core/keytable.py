"""opendkim's KeyTable (``NAME DOMAIN:SELECTOR:KEYFILE`` per line), for testkey and the milter."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dkimtool.core.errors import ConfigError
from dkimtool.core.names import InvalidName, normalize_domain, normalize_selector

ANY_DOMAIN = "%"
"""A KeyTable domain of ``%`` means "the domain being signed" (the milter's use)."""


@dataclass(frozen=True, slots=True)
class KeyTableEntry:
    """One KeyTable line, KEYFILE made absolute (relative to the KeyTable's directory)."""

    name: str
    domain: str
    selector: str
    key_file: str
    line: int


def content_lines(text: str) -> list[tuple[int, str]]:
    """(line number, text) for each line with something left after ``#`` comments."""
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append((number, line))
    return lines


def parse_entries(
    lines: Iterable[tuple[int, str]], path: str | None, *, allow_any_domain: bool = False
) -> list[KeyTableEntry]:
    """Parse KeyTable lines; ConfigError (78) naming the line (0: not from a file) otherwise."""
    entries: list[KeyTableEntry] = []
    for number, line in lines:
        parts = line.split(None, 1)
        fields = [f.strip() for f in parts[1].split(":", 2)] if len(parts) == 2 else []
        if len(fields) != 3 or not all(fields):
            raise _error(path, number, f"expected 'NAME DOMAIN:SELECTOR:KEYFILE', got {line!r}")
        domain_text, selector_text, key_file = fields
        if domain_text == ANY_DOMAIN and not allow_any_domain:
            raise _error(path, number, "a KeyTable domain of % needs a From domain to stand for")
        try:
            domain = ANY_DOMAIN if domain_text == ANY_DOMAIN else normalize_domain(domain_text)
            selector = normalize_selector(selector_text)
        except InvalidName as exc:
            raise _error(path, number, str(exc)) from None
        if path and not key_file.startswith("/"):
            key_file = str(Path(path).parent / key_file)
        entries.append(KeyTableEntry(parts[0], domain, selector, key_file, number))
    if not entries:
        raise ConfigError("the KeyTable has no entries", path=path)
    return entries


def _error(path: str | None, number: int, message: str) -> ConfigError:
    return ConfigError(message, path=path, line=number or None)
