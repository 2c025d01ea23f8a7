"""Safe file input and output: key-file safety, atomic 0600 writes, no clobbering."""

from __future__ import annotations

import io
import os
import pwd
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dkimtool.core import fileio
from dkimtool.core.errors import EX_CANTCREAT, EX_NOINPUT, CantCreateError, NoInputError

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def umask_zero() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_read_input_file_and_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "in"
    path.write_bytes(b"abc\r\n")
    assert fileio.read_input(str(path)) == b"abc\r\n"
    fake_stdin = io.TextIOWrapper(io.BytesIO(b"from stdin\x00"))
    monkeypatch.setattr(sys, "stdin", fake_stdin)
    assert fileio.read_input("-") == b"from stdin\x00"


def test_read_input_sizes_and_non_regular_files(tmp_path: Path) -> None:
    """read_input reads with one read() when fstat's size is right; every other case (empty,
    a pipe with no size, a file larger than one read) must still give the whole input."""
    for size in (0, 1, 4095, 4096, (1 << 20) + 3):
        path = tmp_path / f"f{size}"
        data = os.urandom(size)
        path.write_bytes(data)
        assert fileio.read_input(str(path)) == data
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    payload = b"x" * 200_000  # more than a pipe buffer: several reads
    pid = os.fork()
    if pid == 0:  # the writer
        try:
            with open(fifo, "wb") as writer:
                writer.write(payload)
        finally:
            os._exit(0)
    try:
        assert fileio.read_input(str(fifo)) == payload
    finally:
        os.waitpid(pid, 0)


@pytest.mark.parametrize("reader", [fileio.read_input, fileio.read_key_file])
def test_unreadable_inputs_are_66(reader: Callable[[str], object], tmp_path: Path) -> None:
    for path, message in [(tmp_path / "missing", "No such file"), (tmp_path, "directory")]:
        with pytest.raises(NoInputError, match=message) as info:
            reader(str(path))
        assert info.value.exit_code == EX_NOINPUT
        assert str(path) in str(info.value)


def _key_file(directory: Path, mode: int) -> Path:
    path = directory / "k.private"
    path.write_bytes(b"KEY")
    path.chmod(mode)
    return path


def test_read_key_file_modes(tmp_path: Path) -> None:
    private = _key_file(tmp_path, 0o600)
    assert fileio.read_key_file(str(private)) == fileio.KeyFileData(b"KEY", [])
    private.chmod(0o640)
    warned = fileio.read_key_file(str(private))
    assert warned.data == b"KEY"
    assert len(warned.warnings) == 1 and "0640" in warned.warnings[0]
    private.chmod(0o602)
    with pytest.raises(NoInputError, match="writable by others") as info:
        fileio.read_key_file(str(private))
    assert info.value.exit_code == EX_NOINPUT


def test_read_key_file_directory_writable_by_others(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    key = _key_file(shared, 0o600)
    shared.chmod(0o777)
    with pytest.raises(NoInputError, match=r"directory .* is writable by others"):
        fileio.read_key_file(str(key))
    shared.chmod(0o1777)  # sticky, like /tmp: others cannot replace the file
    assert fileio.read_key_file(str(key)).data == b"KEY"


def test_ensure_directory_creates_0700(tmp_path: Path) -> None:
    target = tmp_path / "a" / "keys"
    fileio.ensure_directory(target)
    assert target.is_dir() and mode_of(target) == 0o700
    fileio.ensure_directory(target)  # existing: fine


@pytest.mark.parametrize("where", ["file", "under-file", "proc"])
def test_ensure_directory_failures_are_73(tmp_path: Path, where: str) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    target = {
        "file": a_file,
        "under-file": a_file / "sub",
        "proc": Path("/proc/self/dkimtool-test"),
    }[where]
    with pytest.raises(CantCreateError) as info:
        fileio.ensure_directory(target)
    assert info.value.exit_code == EX_CANTCREAT
    assert str(target) in str(info.value)


def test_write_atomic_creates_with_final_mode(
    tmp_path: Path, umask_zero: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is 0600 while its bytes are written, even with umask 000."""
    seen: list[int] = []
    real_write = os.write

    def spying_write(fd: int, data: bytes | memoryview) -> int:
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", spying_write)
    target = tmp_path / "mail.private"
    fileio.write_atomic(target, b"secret", mode=0o600)
    monkeypatch.undo()
    assert seen and set(seen) == {0o600}
    assert target.read_bytes() == b"secret"
    assert mode_of(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mail.private"]  # no temp file left


def test_write_atomic_other_modes(tmp_path: Path, umask_zero: None) -> None:
    target = tmp_path / "mail.txt"
    fileio.write_atomic(target, b"record", mode=0o644, sync=False)
    assert mode_of(target) == 0o644


def test_write_atomic_refuses_existing_files_without_force(tmp_path: Path) -> None:
    target = tmp_path / "mail.private"
    target.write_bytes(b"old")
    before = target.stat()
    with pytest.raises(CantCreateError, match="already exists") as info:
        fileio.write_atomic(target, b"new")
    assert info.value.exit_code == EX_CANTCREAT
    assert info.value.hint is not None and "--force" in info.value.hint
    assert target.read_bytes() == b"old"
    assert target.stat().st_mtime_ns == before.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mail.private"]


def test_write_atomic_force_replaces(tmp_path: Path) -> None:
    target = tmp_path / "mail.private"
    target.write_bytes(b"old")
    target.chmod(0o644)
    fileio.write_atomic(target, b"new", force=True)
    assert target.read_bytes() == b"new"
    assert mode_of(target) == 0o600


def test_write_atomic_never_follows_symlinks(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    dangling = tmp_path / "dangling.private"
    dangling.symlink_to(victim)
    with pytest.raises(CantCreateError, match="already exists"):
        fileio.write_atomic(dangling, b"new")
    assert not victim.exists()
    victim.write_bytes(b"precious")
    fileio.write_atomic(dangling, b"new", force=True)  # replaces the link itself
    assert victim.read_bytes() == b"precious"
    assert not dangling.is_symlink() and dangling.read_bytes() == b"new"


def test_write_atomic_unwritable_target(tmp_path: Path) -> None:
    with pytest.raises(CantCreateError) as info:
        fileio.write_atomic(tmp_path / "no-such-dir" / "f", b"x")
    assert info.value.exit_code == EX_CANTCREAT
    (tmp_path / "d").mkdir()
    with pytest.raises(CantCreateError, match="is a directory"):
        fileio.write_atomic(tmp_path / "d", b"x", force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


@needs_root
def test_write_atomic_owner(tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    target = tmp_path / "k"
    fileio.write_atomic(target, b"x", owner=(nobody.pw_uid, nobody.pw_gid))
    info = target.stat()
    assert (info.st_uid, info.st_gid) == (nobody.pw_uid, nobody.pw_gid)
    assert mode_of(target) == 0o600


def test_refuse_existing(tmp_path: Path) -> None:
    fileio.refuse_existing([tmp_path / "a", tmp_path / "b"])
    (tmp_path / "b").symlink_to(tmp_path / "nowhere")
    with pytest.raises(CantCreateError, match="b: already exists"):
        fileio.refuse_existing([tmp_path / "a", tmp_path / "b"])
