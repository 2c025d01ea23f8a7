"""Safe file input and output.

Outputs are written as a temporary file in the target directory, created with its final
mode (never briefly readable by others), then moved into place: a reader sees the complete
file or none. Without ``force`` an existing file, or symlink, is never replaced.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from typing import TYPE_CHECKING, NamedTuple, TypeAlias

from dkimtool.core.errors import CantCreateError, NoInputError

if TYPE_CHECKING:
    from collections.abc import Sequence

    StrPath: TypeAlias = str | os.PathLike[str]

STDIN = "-"
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_ONE_READ = 1 << 30  # Linux returns at most ~2 GiB from one read()


def _read_to_end(fd: int, size: int) -> bytes:
    """Everything left in FD, whose fstat() gave SIZE: one read() for a regular file."""
    data = b""
    if 0 < size < _ONE_READ:
        data = os.read(fd, size + 1)
        if len(data) == size:  # asked for one byte more, got the size: the end (usual)
            return data
    chunks = [data]  # a pipe, a file that changed size, or a huge one: read to the end
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def read_input(path: str) -> bytes:
    """Read a whole input file, or stdin for ``-``; NoInputError (66) if it cannot be read."""
    if path == STDIN:
        return sys.stdin.buffer.read()
    # os.open/os.read, not open(): no buffered file object per message in a batch.
    try:
        fd = os.open(path, os.O_RDONLY | _O_CLOEXEC)
    except OSError as exc:
        raise NoInputError(f"{path}: {exc.strerror or exc}") from None
    try:
        return _read_to_end(fd, os.fstat(fd).st_size)
    except IsADirectoryError:
        raise NoInputError(f"{path}: is a directory") from None
    except OSError as exc:
        raise NoInputError(f"{path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


class KeyFileData(NamedTuple):
    data: bytes
    warnings: list[str]


def read_key_file(path: str) -> KeyFileData:
    """Read a key file, checking its safety on the open descriptor (fstat, no race).

    A key writable by others, or in a directory writable by others without the sticky bit,
    is refused (NoInputError, 66); a key readable by group or others gives a warning.
    """
    if path == STDIN:
        return KeyFileData(sys.stdin.buffer.read(), [])
    try:
        fd = os.open(path, os.O_RDONLY | _O_CLOEXEC)
    except OSError as exc:
        raise NoInputError(f"{path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise NoInputError(f"{path}: is a directory")
        if info.st_mode & stat.S_IWOTH:
            raise NoInputError(
                f"{path}: unsafe key file: writable by others", hint=f"chmod o-w {path}"
            )
        parent = os.path.dirname(os.path.realpath(path))
        parent_mode = os.stat(parent).st_mode
        if parent_mode & stat.S_IWOTH and not parent_mode & stat.S_ISVTX:
            raise NoInputError(
                f"{path}: unsafe key file: its directory {parent} is writable by others"
            )
        warnings = []
        if stat.S_ISREG(info.st_mode) and info.st_mode & (stat.S_IRGRP | stat.S_IROTH):
            warnings.append(
                f"{path}: key file is readable by group or others (mode "
                f"{stat.S_IMODE(info.st_mode):04o}); chmod 600 is safer"
            )
        return KeyFileData(_read_to_end(fd, info.st_size), warnings)
    except OSError as exc:
        raise NoInputError(f"{path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def ensure_directory(path: StrPath) -> None:
    """Create DIR and any missing parents, each 0700; CantCreateError (73) if that fails."""
    if os.path.isdir(path):
        return
    if os.path.lexists(path):
        raise CantCreateError(f"{path}: exists and is not a directory")
    missing = [os.path.abspath(path)]
    while not os.path.exists(parent := os.path.dirname(missing[-1])) and parent != missing[-1]:
        missing.append(parent)
    try:
        for directory in reversed(missing):
            os.mkdir(directory, mode=0o700)
            os.chmod(directory, 0o700)  # exactly 0700, whatever the umask
    except OSError as exc:
        raise CantCreateError(f"{path}: cannot create directory: {exc.strerror or exc}") from None


def _temporary_name(target: StrPath) -> str:
    """A hidden name beside TARGET (plain string operations: this runs once per message)."""
    directory, name = os.path.split(target)
    return os.path.join(directory, f".{name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")


def write_atomic(
    target: StrPath,
    data: bytes,
    *,
    mode: int = 0o600,
    force: bool = False,
    sync: bool = True,
    owner: tuple[int, int] | None = None,
) -> None:
    """Write DATA to TARGET atomically with MODE from creation.

    Without FORCE an existing TARGET (a symlink included) is left alone: CantCreateError (73).
    OWNER (uid, gid) is set on the temporary file, before the file appears under its name.
    """
    tmp = _temporary_name(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, mode)
    except OSError as exc:
        raise CantCreateError(f"{target}: cannot create: {exc.strerror or exc}") from None
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if owner is not None:
                os.fchown(fd, *owner)
            os.fchmod(fd, mode)  # the umask may have taken bits away
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        if force:
            os.replace(tmp, target)
        else:
            # link() fails if TARGET exists, even as a dangling symlink: no check-then-write race.
            os.link(tmp, target, follow_symlinks=False)
            os.unlink(tmp)
    except FileExistsError:
        _remove_quietly(tmp)
        raise CantCreateError(
            f"{target}: already exists", hint="use --force to overwrite"
        ) from None
    except OSError as exc:
        _remove_quietly(tmp)
        if exc.errno == errno.EISDIR:
            raise CantCreateError(f"{target}: is a directory") from None
        raise CantCreateError(f"{target}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        _remove_quietly(tmp)
        raise


def refuse_existing(targets: Sequence[StrPath]) -> None:
    """Raise CantCreateError if any target exists (or is a symlink), before writing anything."""
    for target in targets:
        if os.path.lexists(target):
            raise CantCreateError(f"{target}: already exists", hint="use --force to overwrite")


def fsync_directory(path: StrPath) -> None:
    """Make the renames in PATH durable (once per batch, not per file)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: StrPath) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
