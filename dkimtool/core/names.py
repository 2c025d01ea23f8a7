"""Domain and selector names (RFC 6376 3.1, RFC 8616).

A name is a sequence of labels; each A-label matches LABEL_RE. U-labels are converted with
IDNA 2008 (the ``idna`` package, imported only when a name is not ASCII). Names are compared
as A-labels, case-insensitively.
"""

from __future__ import annotations

import functools
import re

LABEL_RE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\Z")
MAX_NAME_BYTES = 253


class InvalidName(ValueError):
    """A domain or selector that is not a valid DNS name."""


def _a_label(label: str, kind: str) -> str:
    if not label:
        raise InvalidName(f"invalid {kind}: empty label")
    if not label.isascii():
        import idna  # lazy: only U-labels need it

        try:
            label = idna.alabel(idna.uts46_remap(label, std3_rules=True)).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise InvalidName(f"invalid {kind} label {label!r}: {exc}") from None
    if not LABEL_RE.match(label):
        raise InvalidName(
            f"invalid {kind} label {label!r}: use letters, digits, '-' and '_' "
            "(no '-' at either end, at most 63 characters)"
        )
    return label


@functools.lru_cache(maxsize=1024)  # a batch names the same few domains over and over
def normalize_name(text: str, kind: str = "domain") -> str:
    """Return the A-label form of a domain or selector (ASCII case kept); raise InvalidName."""
    name = text[:-1] if text.endswith(".") and kind == "domain" else text
    if not name:
        raise InvalidName(f"invalid {kind}: empty")
    labels = [_a_label(label, kind) for label in name.split(".")]
    result = ".".join(labels)
    if len(result) > MAX_NAME_BYTES:
        raise InvalidName(f"invalid {kind}: longer than {MAX_NAME_BYTES} bytes")
    return result


def normalize_domain(text: str) -> str:
    return normalize_name(text, "domain")


def normalize_selector(text: str) -> str:
    return normalize_name(text, "selector")


def key_record_name(selector: str, domain: str) -> str:
    """The DNS name of a key record: SELECTOR._domainkey.DOMAIN."""
    return f"{selector}._domainkey.{domain}"


def is_same_or_subdomain(name: str, domain: str) -> bool:
    """True if NAME equals DOMAIN or lies under it (both A-labels, any case)."""
    name, domain = name.lower().rstrip("."), domain.lower().rstrip(".")
    return name == domain or name.endswith("." + domain)
