"""Test harness for ``dkimtool milter``: the milter as a child process, miltertest scripts,
and a private Postfix instance. Everything listens on 127.0.0.1 high ports, lives under a
test directory and is stopped by PID; no system service is started, stopped or used.

A missing tool (pymilter, miltertest, postfix, swaks) skips the test, except under CI=true
where it fails (``tests.dnsservers.require_binary``'s policy).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Self

import pytest

from tests.dnsservers import HOST, _die_with_parent, free_port, in_ci, require_binary

RECORDS_SUFFIX = "._domainkey.example.com"


def sign_bytes(message: bytes, key_file: Path, selector: str, domain: str = "example.com") -> bytes:
    """MESSAGE signed by the engine in-process (relaxed/relaxed), new field prepended."""
    from dkimtool.core.keys import read_key
    from dkimtool.core.signer import Algorithm, SigningKey, SignOptions, sign_message

    key, _ = read_key(str(key_file))
    algorithm: Algorithm = "ed25519-sha256" if key.key_type == "ed25519" else "rsa-sha256"
    options = SignOptions(
        domain=domain, keys=(SigningKey(selector=selector, key=key, algorithm=algorithm),)
    )
    result = sign_message(message, options, now=time.time())
    head, fields, rest = result.output_parts(message)
    return bytes(head) + fields + bytes(rest)


def require_pymilter() -> None:
    try:
        import Milter  # noqa: F401
    except ImportError:
        reason = "pymilter is not installed (pip install '.[milter]'; needs libmilter-dev)"
        if in_ci():
            pytest.fail(reason + " (CI=true: the milter tests must run)")
        pytest.skip(reason)


def wait_port(port: int, deadline: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex((HOST, port)) == 0:
                return True
        time.sleep(0.05)
    return False


def rss_kib(pid: int) -> int:
    """Resident set size of PID in KiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class MilterProcess:
    """``dkimtool milter ARGS -p inet:PORT@127.0.0.1`` in the foreground, stopped by PID."""

    def __init__(self, workdir: Path, args: Sequence[str], port: int | None = None) -> None:
        require_pymilter()
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.log_path = workdir / "milter.log"
        self.args = [*args, "-p", f"inet:{self.port}@{HOST}"]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        argv = [sys.executable, "-m", "dkimtool", "milter", *self.args]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                _die_with_parent(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
            )
        if not wait_port(self.port, time.monotonic() + 20, self.proc):
            self.stop()
            raise RuntimeError(f"dkimtool milter did not start:\n{self.log()}")
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int | None:
        """Send SIG by PID and wait; SIGKILL after TIMEOUT. Returns the exit status."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL, no clean-up: the 'milter died' fault."""
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
            self.proc = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- miltertest


def lua_string(data: bytes | str) -> str:
    """A Lua string literal holding DATA exactly (CR and LF included)."""
    raw = data.encode() if isinstance(data, str) else data
    out = []
    for b in raw:
        if 0x20 <= b < 0x7F and b not in (0x22, 0x5C):
            out.append(chr(b))
        else:
            out.append(f"\\{b:03d}")
    return '"' + "".join(out) + '"'


def split_message(message: bytes) -> tuple[list[tuple[str, bytes]], bytes]:
    """CRLF message -> ([(name, value as an MTA passes it with LEADSPC)], body)."""
    head, _, body = message.replace(b"\r\n", b"\n").partition(b"\n\n")
    fields: list[tuple[str, bytes]] = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and fields:
            last, value = fields[-1]
            fields[-1] = (last, value + b"\n" + line)
        else:
            raw_name, _, value = line.partition(b":")
            fields.append((raw_name.decode(), value))
    return fields, body.replace(b"\n", b"\r\n")


def miltertest_script(
    port: int,
    fields: Sequence[tuple[str, bytes]],
    body: bytes,
    *,
    client_ip: str = "127.0.0.1",
    client_name: str = "localhost",
    macros: dict[str, str] | None = None,
    queue_id: str = "TESTQID",
    chunk: int = 65535,
) -> str:
    """A Lua script: one transaction, then print the reply and every header edit we look at."""
    lines = [
        "local function check(what, err) if err ~= nil then error(what .. ': ' .. err) end end",
        f'local conn = mt.connect("inet:{port}@{HOST}")',
        'if conn == nil then error("cannot connect") end',
        'mt.macro(conn, SMFIC_CONNECT, "j", "mx.example.com")',
        f"check('conninfo', mt.conninfo(conn, {lua_string(client_name)}, {lua_string(client_ip)}))",
    ]
    mail_macros = {"i": queue_id, **(macros or {})}
    pairs = ", ".join(f"{lua_string(k)}, {lua_string(v)}" for k, v in mail_macros.items())
    lines.append(f"mt.macro(conn, SMFIC_MAIL, {pairs})")
    lines.append("check('mailfrom', mt.mailfrom(conn, '<sender@example.com>'))")
    for name, value in fields:
        lines.append(f"check('header', mt.header(conn, {lua_string(name)}, {lua_string(value)}))")
    lines.append("check('eoh', mt.eoh(conn))")
    for i in range(0, len(body), chunk):
        lines.append(f"check('body', mt.bodystring(conn, {lua_string(body[i : i + chunk])}))")
    lines += [
        "check('eom', mt.eom(conn))",
        "print('REPLY ' .. string.char(mt.getreply(conn)))",
        "print('LEADSPC ' .. tostring(mt.test_option(conn, SMFIP_HDR_LEADSPC)))",
        "for _, name in ipairs({'DKIM-Signature', 'Authentication-Results', 'X-DKIM'}) do",
        "  for n = 0, 3 do",
        "    local v = mt.getheader(conn, name, n)",
        "    if v == nil then break end",
        "    local at0 = mt.eom_check(conn, MT_HDRINSERT, name, v, 0)",
        (
            "    print('INSERT ' .. name .. ' ' .. tostring(at0) .. ' ' .. "
            "string.gsub(string.gsub(v, '\\r', '\\\\r'), '\\n', '\\\\n'))"
        ),
        "  end",
        "  if mt.eom_check(conn, MT_HDRDELETE, name) then print('DELETE ' .. name) end",
        "end",
        "if mt.eom_check(conn, MT_HDRADD) then print('ADDED-AT-END') end",
        "mt.disconnect(conn)",
    ]
    return "\n".join(lines) + "\n"


class MilterTestResult:
    def __init__(self, stdout: str) -> None:
        self.stdout = stdout
        self.reply = ""
        self.leadspc = False
        self.inserted: list[tuple[str, bool, str]] = []  # (name, at index 0, value)
        self.deleted: list[str] = []
        self.added_at_end = False
        for line in stdout.splitlines():
            if line.startswith("REPLY "):
                self.reply = line[6:]
            elif line.startswith("LEADSPC "):
                self.leadspc = line.endswith("true")
            elif line.startswith("INSERT "):
                _, name, at0, value = line.split(" ", 3)
                value = value.replace("\\r", "\r").replace("\\n", "\n")
                self.inserted.append((name, at0 == "true", value))
            elif line.startswith("DELETE "):
                self.deleted.append(line[7:])
            elif line == "ADDED-AT-END":
                self.added_at_end = True

    def values(self, name: str) -> list[str]:
        return [v for n, _, v in self.inserted if n.lower() == name.lower()]


def run_miltertest(script: str, workdir: Path, timeout: float = 60) -> MilterTestResult:
    binary = require_binary("miltertest")
    path = workdir / f"t{time.monotonic_ns()}.lua"
    path.write_text(script)
    proc = subprocess.run(
        [binary, "-s", str(path)], capture_output=True, timeout=timeout, check=False
    )
    out = proc.stdout.decode(errors="replace")
    if proc.returncode != 0:
        raise AssertionError(
            f"miltertest failed ({proc.returncode}):\n{out}\n{proc.stderr.decode(errors='replace')}"
        )
    return MilterTestResult(out)


def assemble(fields: Sequence[tuple[str, bytes]], body: bytes, result: MilterTestResult) -> bytes:
    """FIELDS (forged ones already dropped) with the inserted fields on top, as an MTA would.

    Every insertion is at index 0, so the last request ends up first; miltertest lists the
    fields by name, in request order, so each name's values are reversed.
    """
    new: list[tuple[str, bytes]] = []
    for name in ("X-DKIM", "Authentication-Results", "DKIM-Signature"):
        new += [(name, v.encode()) for v in reversed(result.values(name))]
    head = b"".join(
        n.encode() + b":" + v.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + b"\r\n"
        for n, v in [*new, *fields]
    )
    return head + b"\r\n" + body


# --------------------------------------------------------------------------- postfix


class PrivatePostfix:
    """A private Postfix instance: its own config_directory, queue_directory, data_directory,
    smtpd on 127.0.0.1:PORT, mail for any recipient delivered to one file (pipe to cat).

    Started with ``postfix -c DIR start`` and stopped with ``postfix -c DIR stop`` (then the
    master's PID is checked and, if needed, killed): never the system instance.
    """

    def __init__(
        self, workdir: Path, milter_port: int, *, default_action: str = "tempfail"
    ) -> None:
        self.postfix = require_binary("postfix")
        self.workdir = workdir
        self.config = workdir / "etc"
        self.queue = workdir / "queue"
        self.data = workdir / "data"
        self.mailbox = workdir / "mailbox"
        self.port = free_port()
        self.milter_port = milter_port
        self.default_action = default_action
        self.master_pid: int | None = None

    def _write_config(self) -> None:
        for d in (self.config, self.queue, self.data, self.mailbox):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.mailbox, 0o777)
        import pwd

        owner = pwd.getpwnam("postfix")
        os.chown(self.data, owner.pw_uid, owner.pw_gid)  # master.lock, caches
        for d in (self.workdir, self.workdir.parent):
            os.chmod(d, os.stat(d).st_mode | 0o755)  # postfix's user must traverse to mailbox
        deliver = self.workdir / "deliver.sh"
        deliver.write_text(
            "#!/bin/sh\n"
            f'umask 022; f="{self.mailbox}/$(date +%s%N).$$.eml"\n'
            'cat > "$f.tmp" && mv "$f.tmp" "$f"\n'
        )
        os.chmod(deliver, 0o755)
        master = [
            f"127.0.0.1:{self.port} inet n - n - 300 smtpd",
            "pickup    unix  n       -       n       60      1       pickup",
            "cleanup   unix  n       -       n       -       0       cleanup",
            "qmgr      unix  n       -       n       300     1       qmgr",
            "rewrite   unix  -       -       n       -       -       trivial-rewrite",
            "bounce    unix  -       -       n       -       0       bounce",
            "defer     unix  -       -       n       -       0       bounce",
            "trace     unix  -       -       n       -       0       bounce",
            "verify    unix  -       -       n       -       1       verify",
            "flush     unix  n       -       n       1000?   0       flush",
            "proxymap  unix  -       -       n       -       -       proxymap",
            "smtp      unix  -       -       n       -       -       smtp",
            "relay     unix  -       -       n       -       -       smtp",
            "showq     unix  n       -       n       -       -       showq",
            "error     unix  -       -       n       -       -       error",
            "retry     unix  -       -       n       -       -       error",
            "discard   unix  -       -       n       -       -       discard",
            "local     unix  -       n       n       -       -       local",
            "virtual   unix  -       n       n       -       -       virtual",
            "lmtp      unix  -       -       n       -       -       lmtp",
            "anvil     unix  -       -       n       -       1       anvil",
            "scache    unix  -       -       n       -       1       scache",
            "postlog   unix-dgram n  -       n       -       1       postlogd",
            "filefile  unix  -       n       n       -       -       pipe",
            f"  flags=R user=nobody argv={deliver}",
        ]
        (self.config / "master.cf").write_text("\n".join(master) + "\n")
        main = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.queue),
            "data_directory": str(self.data),
            "command_directory": "/usr/sbin",
            "daemon_directory": "/usr/lib/postfix/sbin",
            "meta_directory": "/etc/postfix",
            "shlib_directory": "/usr/lib/postfix",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "mx.example.com",
            "mydomain": "example.com",
            "myorigin": "example.com",
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtpd_recipient_restrictions": "permit_mynetworks, reject",
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            "default_transport": "filefile",
            "relay_transport": "filefile",
            "local_transport": "filefile",
            "filefile_destination_recipient_limit": "1",
            "smtpd_milters": f"inet:{HOST}:{self.milter_port}",
            "non_smtpd_milters": f"inet:{HOST}:{self.milter_port}",
            "milter_default_action": self.default_action,
            "milter_protocol": "6",
            "milter_connect_timeout": "5s",
            "milter_content_timeout": "60s",
            "milter_command_timeout": "30s",
            "maillog_file": str(self.workdir / "postfix.log"),
            "maillog_file_prefixes": str(self.workdir),
            "import_environment": "MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C",
            "smtpd_banner": "$myhostname ESMTP test",
            "biff": "no",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "append_dot_mydomain": "no",
            "smtputf8_enable": "no",
            "default_process_limit": "300",
            "smtpd_client_connection_count_limit": "0",
            "smtpd_client_connection_rate_limit": "0",
            "smtpd_client_message_rate_limit": "0",
            "anvil_rate_time_unit": "60s",
            "in_flow_delay": "0",
            "queue_run_delay": "5s",
            "minimal_backoff_time": "5s",
            "maximal_backoff_time": "10s",
            "default_destination_concurrency_limit": "50",
            "alternate_config_directories": str(self.config),
            "multi_instance_enable": "no",
            "syslog_name": f"postfix-test-{self.port}",
        }
        (self.config / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in main.items()))

    def cmd(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [self.postfix, "-c", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"postfix {' '.join(args)}: {proc.stdout}{proc.stderr}\n{self.log()[-3000:]}"
            )
        return proc

    def start(self) -> Self:
        self._write_config()
        self.cmd("check")
        self.cmd("start")
        pidfile = self.queue / "pid" / "master.pid"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not pidfile.exists():
            time.sleep(0.05)
        self.master_pid = int(pidfile.read_text().split()[0])
        if not wait_port(self.port, time.monotonic() + 20):
            raise RuntimeError(f"postfix smtpd did not start:\n{self.log()}")
        return self

    def log(self) -> str:
        try:
            return (self.workdir / "postfix.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.master_pid is None:
            return
        self.cmd("stop", check=False)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _alive(self.master_pid):
            time.sleep(0.1)
        if _alive(self.master_pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.master_pid, signal.SIGKILL)
        self.master_pid = None

    def flush(self) -> None:
        self.cmd("flush", check=False)

    def delivered(self) -> list[Path]:
        return sorted(self.mailbox.glob("*.eml"))

    def queue_ids(self) -> list[str]:
        """Mail still in the queue (deferred, active, incoming)."""
        found = []
        for sub in ("incoming", "active", "deferred", "hold", "maildrop"):
            base = self.queue / sub
            if base.exists():
                found += [p.name for p in base.rglob("*") if p.is_file()]
        return found

    def wait_delivered(self, count: int, timeout: float = 60) -> list[Path]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.delivered()
            if len(got) >= count:
                return got
            time.sleep(0.1)
        return self.delivered()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def swaks(
    port: int,
    *,
    source_ip: str = "127.0.0.1",
    data: bytes | None = None,
    headers: Sequence[str] = (),
    sender: str = "user@example.com",
    to: str = "rcpt@example.net",
    extra: Sequence[str] = (),
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    binary = require_binary("swaks")
    argv = [
        binary, "--server", HOST, "--port", str(port), "--local-interface", source_ip,
        "--from", sender, "--to", to, "--helo", "client.example", "--timeout", "30",
        *extra,
    ]  # fmt: skip
    for header in headers:
        argv += ["--add-header", header]
    if data is not None:
        argv += ["--data", "-"]
    return subprocess.run(
        argv,
        input=None if data is None else data.decode("utf-8", "surrogateescape"),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def smtp_reply_codes(transcript: str) -> list[str]:
    return re.findall(r"^<\**\s*(\d{3})[ -]", transcript, flags=re.MULTILINE)


@contextlib.contextmanager
def milter_and_postfix(
    workdir: Path, milter_args: Sequence[str], *, default_action: str = "tempfail"
) -> Iterator[tuple[MilterProcess, PrivatePostfix]]:
    milter = MilterProcess(workdir / "milter", milter_args).start()
    try:
        with PrivatePostfix(workdir / "pf", milter.port, default_action=default_action) as pf:
            yield milter, pf
    finally:
        milter.stop()


def have_postfix() -> bool:
    return shutil.which("postfix", path="/usr/sbin:/usr/bin") is not None
