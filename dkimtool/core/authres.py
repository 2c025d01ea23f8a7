"""RFC 8601 Authentication-Results for the ``dkim`` method: render, and add to a message.

Every value that comes from a message or from DNS is cleaned (control characters, CR and LF are
never written) and written as a quoted-string unless it is a plain token, domain or addr-spec,
so no value can close the result and inject another one.
"""

from __future__ import annotations

import re

from dkimtool.core.message import parse_message
from dkimtool.core.results import AuthResult
from dkimtool.core.verifier import SignatureResult, VerifyReport

FIELD_NAME = "Authentication-Results"
MAX_LINE = 78
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+\Z")  # RFC 2045 token
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDR_SPEC_RE = re.compile(
    rf"(?:{_ATEXT}(?:\.{_ATEXT})*)?@[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?\Z"
)


def _clean(text: str) -> str:
    """Replace every character that is not printable (controls, CR, LF, C1, ...) with '?'."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _value(text: str, *, addr_spec: bool = False) -> str:
    """A pvalue: the text itself if it is a token (or an addr-spec), else a quoted-string."""
    text = _clean(text)
    if _TOKEN_RE.match(text) or (addr_spec and _ADDR_SPEC_RE.match(text)):
        return text
    return _quoted(text)


def _result_tokens(sig: SignatureResult) -> list[str]:
    tokens = [f"dkim={sig.result}"]
    if sig.reason:
        tokens.append(f"reason={_quoted(_clean(sig.reason))}")
    for name, value in (
        ("header.d", sig.domain),
        ("header.i", sig.identity),
        ("header.s", sig.selector),
        ("header.a", sig.algorithm),
        ("header.b", sig.b_prefix),
    ):
        if value:
            tokens.append(f"{name}={_value(value, addr_spec=name == 'header.i')}")
    return tokens


def _results(report: VerifyReport) -> list[list[str]]:
    evaluated = [sig for sig in report.signatures if sig.evaluated]
    return [_result_tokens(sig) for sig in evaluated] or [[f"dkim={AuthResult.NONE}"]]


def render_authres(report: VerifyReport, authserv_id: str) -> str:
    """The field value on one line: ``ID; dkim=RESULT reason=... header.d=...; dkim=...``."""
    results = "; ".join(" ".join(tokens) for tokens in _results(report))
    return f"{_value(authserv_id)}; {results}"


def _fold(report: VerifyReport, authserv_id: str) -> list[str]:
    """The lines of the whole field: the authserv-id first, then one result per line,
    folded between properties when a line would pass 78 characters."""
    lines = [f"{FIELD_NAME}: {_value(authserv_id)};"]
    results = _results(report)
    for number, tokens in enumerate(results, 1):
        line = "\t" + tokens[0]
        for token in tokens[1:]:
            if len(line) + 1 + len(token) > MAX_LINE:
                lines.append(line)
                line = "\t" + token
            else:
                line += " " + token
        lines.append(line + (";" if number < len(results) else ""))
    return lines


def authserv_id_of(value: bytes) -> str | None:
    """The authserv-id of an existing Authentication-Results value (comments skipped)."""
    text = value.decode("utf-8", "replace")
    pos, size = 0, len(text)
    while pos < size:
        if text[pos] in " \t\r\n":
            pos += 1
        elif text[pos] == "(":
            depth = 0
            while pos < size:
                ch = text[pos]
                if ch == "\\":
                    pos += 1
                elif ch == "(":
                    depth += 1
                elif ch == ")":
                    depth -= 1
                    if depth == 0:
                        break
                pos += 1
            pos += 1
        else:
            break
    if pos >= size:
        return None
    if text[pos] == '"':
        out = []
        pos += 1
        while pos < size and text[pos] != '"':
            if text[pos] == "\\" and pos + 1 < size:
                pos += 1
            out.append(text[pos])
            pos += 1
        return "".join(out)
    match = re.match(r"[^\s;()]+", text[pos:])
    return match.group(0) if match else None


def add_authres(data: bytes, report: VerifyReport, authserv_id: str) -> bytes:
    """DATA with our Authentication-Results field first (after a leading mbox From line).

    Fields already present that carry our authserv-id (compared case-insensitively) are
    removed, so a sender cannot forge our verdict; every other byte stays as it was.
    """
    message = parse_message(data)
    ours = _clean(authserv_id).lower()
    eol = message.eol.decode("ascii")
    field = (eol.join(_fold(report, authserv_id)) + eol).encode("utf-8")
    pieces = [data[: message.mbox_end], field]
    pos = message.mbox_end
    for existing in message.named(FIELD_NAME):
        their_id = authserv_id_of(existing.value)
        if their_id is not None and their_id.lower() == ours:
            pieces.append(data[pos : existing.start])
            pos = existing.end
    pieces.append(data[pos:])
    return b"".join(pieces)
