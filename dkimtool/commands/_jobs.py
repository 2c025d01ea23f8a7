"""Batches over several processes (``-j N``), and the batch progress bar.

Workers do their own I/O: the parent hands out file names and collects small per-file
results, in input order. Workers are forked, so they inherit what the parent has already
loaded (keys, key sources) and nothing needs pickling on the way in. Where fork is not
available the batch runs in the parent, one file at a time.

multiprocessing is imported only when a batch really runs in parallel: a run over one
message (the MTA pipe case) never pays for it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import click

from dkimtool.core.errors import DkimtoolError

T = TypeVar("T")
R = TypeVar("R")


class PortableError(DkimtoolError):
    """A worker's error as the parent reports it: the same text and exit code, picklable
    whatever the original's constructor takes."""

    def __init__(self, text: str, exit_code: int) -> None:
        super().__init__(text)
        self.exit_code = exit_code

    def __reduce__(self) -> tuple[type[PortableError], tuple[str, int]]:
        return (PortableError, (self.message, self.exit_code))

    @classmethod
    def of(cls, exc: DkimtoolError) -> PortableError:
        return cls(str(exc), exc.exit_code)


def effective_jobs(jobs: int, count: int) -> int:
    """How many workers to start for COUNT files: never more than files, 1 without fork."""
    if jobs == 0:
        jobs = os.cpu_count() or 1
    jobs = min(jobs, count)
    if jobs > 1 and not _can_fork():
        return 1
    return max(jobs, 1)


def _can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def ordered_map(
    func: Callable[[T], R],
    items: Sequence[T],
    *,
    jobs: int,
    initializer: Callable[..., None],
    initargs: tuple[Any, ...],
) -> Iterator[R]:
    """``map(func, items)`` over JOBS forked workers, results in input order.

    INITIALIZER(*INITARGS) runs once in each worker (the arguments are inherited through
    fork, not pickled); FUNC and its results must be picklable.
    """
    import multiprocessing

    context = multiprocessing.get_context("fork")
    chunksize = max(1, min(128, len(items) // (jobs * 16)))
    with context.Pool(jobs, initializer=_start_worker, initargs=(initializer, initargs)) as pool:
        yield from pool.imap(func, items, chunksize)


def _start_worker(initializer: Callable[..., None], initargs: tuple[Any, ...]) -> None:
    import signal

    # Ctrl-C is the parent's to handle: it stops the pool, workers just end.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    initializer(*initargs)


class _NoProgress:
    def update(self, n_steps: int) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class _ProgressBar:
    """click's progress bar on stderr (click loads its terminal code only when shown)."""

    def __init__(self, length: int, label: str) -> None:
        self._bar = click.progressbar(length=length, label=label, file=sys.stderr)

    def update(self, n_steps: int) -> None:
        self._bar.update(n_steps)

    def __enter__(self) -> Self:
        self._bar.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.__exit__(exc_type, exc, tb)


def progress(length: int, label: str, *, show: bool) -> _ProgressBar | _NoProgress:
    return _ProgressBar(length, label) if show else _NoProgress()
