"""Output helpers shared by the commands: the only place that writes to the terminal.

Payload goes to stdout; errors, warnings and status lines go to stderr. Values that come from
a message or from DNS are escaped so that no control character, CR or LF reaches the terminal.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from typing import Any

import click

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Escape control characters (CR, LF, ESC...) as \\xNN."""
    if text.isascii() and text.isprintable():  # the usual line: nothing to escape
        return text
    return _CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def detail(path: str, error: object) -> str:
    """ERROR's text without a leading ``PATH: `` (errors about reading a file start with its
    name), for batch lines that name the file themselves: once, not twice."""
    return str(error).removeprefix(f"{path}: ")


def error_line(message: str) -> None:
    _to_stderr(f"dkimtool: error: {printable(message)}")


def warning_line(message: str) -> None:
    _to_stderr(f"dkimtool: warning: {printable(message)}")


def status_line(message: str) -> None:
    _to_stderr(message)


def _to_stderr(line: str) -> None:
    # Report lines on stdout may still be buffered (report_line): out first, so that with
    # 2>&1 every line stays in order.
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
    click.echo(line, err=True)


def report_line(line: str) -> None:
    """One line of a report on stdout, buffered (a batch prints thousands: no flush each).

    The CLI flushes stdout when the command ends (dkimtool.cli), and before any stderr line.
    """
    sys.stdout.write(line + "\n")


def emit_json(obj: Any) -> None:
    """One JSON document on one line, buffered like report_line (click.echo would flush each
    one). json.dumps escapes control characters itself."""
    import json  # not on the path of a plain `dkimtool sign`

    report_line(json.dumps(obj, ensure_ascii=False))


def use_buffered_stdout() -> None:
    """Give stdout the buffering of a plain run when PYTHONUNBUFFERED (or ``python -u``), as
    set in many container images, took it away.

    Unbuffered, sys.stdout writes straight to the raw file: a batch report costs one write(2)
    per line, and a raw write may be partial (a signal, a non-blocking pipe), which both the
    text layer and ``sys.stdout.buffer.write`` silently accept: a signed message could come
    out cut. A BufferedWriter writes everything or raises. On a terminal, lines still appear
    one at a time (line buffering, as in a plain run).
    """
    stream = sys.stdout
    raw = getattr(stream, "buffer", None)
    if not isinstance(stream, io.TextIOWrapper) or not isinstance(raw, io.RawIOBase):
        return  # the usual case: already buffered (or replaced, as by click's CliRunner)
    stream.flush()
    sys.stdout = io.TextIOWrapper(
        # A second raw file on the same descriptor, which it does not close: the original
        # sys.__stdout__ keeps its own, and nothing is closed twice at exit.
        io.BufferedWriter(io.FileIO(raw.fileno(), "w", closefd=False)),
        encoding=stream.encoding,
        errors=stream.errors,
        line_buffering=stream.isatty(),
    )


def write_stdout_bytes(data: bytes) -> None:
    stream = sys.stdout.buffer
    stream.write(data)
    stream.flush()


def write_stdout_parts(parts: tuple[bytes | memoryview, ...]) -> None:
    """Write a message made of several buffers without joining them (big messages)."""
    stream = sys.stdout.buffer
    for part in parts:
        stream.write(part)
    stream.flush()


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()
