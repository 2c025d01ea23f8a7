"""Batches of messages: output planning and per-file outcomes, shared by sign and verify.

The rules for ``-o DIR``: outputs are DIR/BASENAME; two inputs with the same base name, or an
output that is one of the inputs, are refused before anything is processed; outputs are
written atomically and never through a symlink.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dkimtool.core.errors import DkimtoolError, UsageError
from dkimtool.core.fileio import STDIN, refuse_existing


@dataclass(slots=True)
class FileOutcome:
    """What happened to one input: the data to report, or the error that stopped it."""

    file: str
    output: str | None = None
    error: DkimtoolError | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


def plan_outputs(inputs: Sequence[str], directory: Path, *, force: bool) -> list[Path]:
    """The output path for each input; UsageError (2) for clashes, CantCreateError (73)
    for existing outputs without FORCE. Nothing is written here."""
    if STDIN in inputs:
        raise UsageError("-o needs FILE arguments, not standard input")
    outputs = [directory / Path(name).name for name in inputs]
    seen: dict[Path, str] = {}
    for name, output in zip(inputs, outputs, strict=True):
        if output in seen:
            raise UsageError(
                f"{seen[output]} and {name} would both be written to {output}",
                hint="sign them into different directories",
            )
        seen[output] = name
    input_ids = {_identity(Path(name)) for name in inputs} - {None}
    for output in outputs:
        ident = _identity(output)
        if ident is not None and ident in input_ids:
            raise UsageError(f"{output} is also an input: refusing to overwrite it")
    if not force:
        refuse_existing(outputs)
    return outputs


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISREG(info.st_mode) else None


def first_error_code(outcomes: Sequence[FileOutcome]) -> int | None:
    for outcome in outcomes:
        if outcome.error is not None:
            return outcome.error.exit_code
    return None
