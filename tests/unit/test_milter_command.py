"""The milter command's process set-up: syslog (Syslog, SyslogFacility) and dropping root
(Userid) with a unix socket the MTA's user can still reach."""

from __future__ import annotations

import logging
import os
import pwd
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from dkimtool.commands import milter as milter_command
from dkimtool.core.errors import ConfigError


@pytest.fixture
def syslog_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A datagram socket standing in for /dev/log."""
    path = tmp_path / "log"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    receiver.settimeout(5)
    monkeypatch.setattr(milter_command, "SYSLOG_SOCKET", str(path))
    yield receiver
    receiver.close()


@pytest.mark.parametrize(("facility", "priority"), [("mail", 2 * 8 + 6), ("local3", 19 * 8 + 6)])
def test_syslog_lines_carry_the_facility_and_the_program(
    syslog_socket: socket.socket, facility: str, priority: int
) -> None:
    handler = milter_command._syslog_handler(facility)
    logger = logging.getLogger("dkimtool.test-syslog")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("signed d=example.com s=mail")  # info: severity 6
    finally:
        logger.removeHandler(handler)
        handler.close()
    line = syslog_socket.recv(4096).decode()
    assert line == f"<{priority}>dkimtool[{os.getpid()}]: signed d=example.com s=mail\x00"


def test_an_unknown_syslog_facility_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown SyslogFacility 'mial'"):
        milter_command._syslog_handler("mial")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to change users")
def test_dropping_root_hands_the_unix_socket_to_the_new_user(tmp_path: Path) -> None:
    """Userid nobody: the socket file is bound as root, then given to nobody before the
    switch, as OpenDKIM does, so that the milter (and the MTA in nobody's group) can use it."""
    tmp_path.chmod(0o755)
    path = tmp_path / "milter.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    nobody = pwd.getpwnam("nobody")
    child = os.fork()
    if child == 0:  # the switch cannot be undone: do it in a child
        code = 1
        try:
            milter_command._drop_privileges("nobody", str(path))
            code = 0 if (os.getuid(), os.getgid()) == (nobody.pw_uid, nobody.pw_gid) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    server.close()
    assert os.waitstatus_to_exitcode(status) == 0
    info = path.stat()
    assert (info.st_uid, info.st_gid) == (nobody.pw_uid, nobody.pw_gid)
