"""The pymilter glue: the only module that imports ``Milter`` (the ``dkimtool[milter]`` extra).

libmilter runs one thread per SMTP connection and calls these callbacks; pymilter takes the
GIL for each. We negotiate SMFIP_HDR_LEADSPC so header values arrive exactly as received
(leading white space and folding kept), which simple header canonicalization needs.
"""

from __future__ import annotations

import logging
import os
import socket
import traceback
from typing import Any

import Milter

from dkimtool.core.milter_policy import (
    Action,
    Client,
    Condition,
    DeleteHeader,
    InsertHeader,
    Reply,
    Verdict,
    reply_for,
)
from dkimtool.milter.runtime import Engine, MessageSession, printable

log = logging.getLogger("dkimtool.milter")
CONTINUE: int = Milter.CONTINUE
ACCEPT: int = Milter.ACCEPT
REJECT: int = Milter.REJECT
TEMPFAIL: int = Milter.TEMPFAIL
DISCARD: int = Milter.DISCARD
_ENGINE: Engine | None = None  # set once by serve(), read by every connection


def _client_address(family: int, hostaddr: Any) -> str | None:
    if family in (socket.AF_INET, socket.AF_INET6) and isinstance(hostaddr, tuple):
        return str(hostaddr[0])
    return None


@Milter.header_leading_space
class DkimMilter(Milter.Base):  # type: ignore[misc]
    def __init__(self) -> None:
        assert _ENGINE is not None
        self.engine: Engine = _ENGINE
        self.hostname: str | None = None
        self.address: str | None = None
        self.auth: str | None = None
        self.session: MessageSession | None = None
        self.failed: Reply | None = None

    # Connection-level data -------------------------------------------------------------

    def connect(self, hostname: str, family: int, hostaddr: Any) -> int:
        self.hostname = hostname
        self.address = _client_address(family, hostaddr)
        return CONTINUE

    def envfrom(self, mailfrom: str, *params: str) -> int:
        self.auth = self.getsymval("{auth_authen}") or None
        self.failed = None
        client = Client(
            hostname=self.hostname,
            address=self.address,
            auth_authen=self.auth,
            daemon_name=self.getsymval("{daemon_name}") or None,
        )
        leading = bool(self._protocol & Milter.P_HDR_LEADSPC)
        self.session = MessageSession(self.engine, client, leading_space=leading)
        return CONTINUE

    def header(self, name: str, value: bytes) -> int:
        if self.session is not None and self.failed is None:
            self.session.header(name, value)
        return CONTINUE

    header_bytes = header  # the value as bytes, exactly as the MTA sent it

    def eoh(self) -> int:
        session = self.session
        if session is None or self.failed is not None:
            return CONTINUE
        try:
            verdict = session.end_of_header(self.getsymval("j") or None)
        except Exception as exc:  # noqa: BLE001 - every failure gets the On-* reply
            return self._internal_error("eoh", exc)
        if verdict == Verdict.IGNORE and not session.has_forged_authres():
            log.info(
                "%s: not checked: %s",
                self.getsymval("i") or "NOQUEUE",
                printable(session.decision.why if session.decision else ""),
            )
            self.session = None
            return ACCEPT
        return CONTINUE

    def body(self, chunk: bytes) -> int:
        if self.session is not None and self.failed is None:
            try:
                self.session.body(chunk)
            except Exception as exc:  # noqa: BLE001
                return self._internal_error("body", exc)
        return CONTINUE

    def eom(self) -> int:
        session, self.session = self.session, None
        if self.failed is not None:
            return self._answer(self.failed)
        if session is None:
            return CONTINUE
        qid = self.getsymval("i") or None
        try:
            outcome = session.end_of_message(qid)
            for op in outcome.ops:
                if isinstance(op, DeleteHeader):
                    self.chgheader(op.name, op.index, None)
                elif isinstance(op, InsertHeader):
                    self.addheader(op.name, op.value, op.index)
        except Exception as exc:  # noqa: BLE001
            return self._internal_error("eom", exc)
        log.info("%s", outcome.summary)
        return self._answer(outcome.reply)

    def abort(self) -> int:
        self.session = None
        return CONTINUE

    def close(self) -> int:
        self.session = None
        return CONTINUE

    # Replies ---------------------------------------------------------------------------

    def _internal_error(self, stage: str, exc: Exception) -> int:
        qid = self.getsymval("i") or "NOQUEUE"
        log.error("%s: internal error at %s: %s: %s", qid, stage, type(exc).__name__, exc)
        log.debug("%s", traceback.format_exc())
        self.session = None
        reply = reply_for(Condition.INTERNAL_ERROR, self.engine.settings.actions)
        if stage != "eom" and reply.action in (Action.ACCEPT, Action.QUARANTINE):
            return ACCEPT  # nothing more we can do for this message
        return self._answer(reply)

    def _answer(self, reply: Reply) -> int:
        if reply.action == Action.ACCEPT:
            return ACCEPT
        if reply.action == Action.DISCARD:
            return DISCARD
        if reply.action == Action.QUARANTINE:
            try:
                self.quarantine(f"dkimtool: {reply.text or reply.condition}")
            except Exception as exc:  # noqa: BLE001 - the MTA may not allow it
                log.warning("cannot quarantine: %s", exc)
            return ACCEPT
        if reply.rcode:
            try:
                self.setreply(reply.rcode, reply.xcode, reply.text)
            except Exception as exc:  # noqa: BLE001 - the MTA's own reply is used then
                log.warning("cannot set the SMTP reply: %s", exc)
        return REJECT if reply.action == Action.REJECT else Milter.TEMPFAIL


def serve(
    engine: Engine,
    *,
    name: str = "dkimtool",
    timeout: int = 600,
    after_bind: Any = None,
) -> None:
    """Bind the socket, call AFTER_BIND (drop privileges, write the pid file), then serve
    until SIGTERM/SIGINT/SIGHUP, which libmilter's signal thread turns into a clean stop."""
    global _ENGINE
    import milter  # type: ignore[import-not-found]

    _ENGINE = engine
    Milter.factory = DkimMilter
    milter.set_flags(Milter.ADDHDRS | Milter.CHGHDRS | Milter.QUARANTINE)
    milter.set_connect_callback(Milter.connect_callback)
    milter.set_helo_callback(lambda ctx, host: ctx.getpriv().hello(host))
    milter.set_envfrom_callback(lambda ctx, *b: ctx.getpriv().envfrom_bytes(*b))
    milter.set_envrcpt_callback(lambda ctx, *b: ctx.getpriv().envrcpt_bytes(*b))
    milter.set_header_callback(lambda ctx, f, v: ctx.getpriv().header_bytes(f, v))
    milter.set_eoh_callback(lambda ctx: ctx.getpriv().eoh())
    milter.set_body_callback(lambda ctx, chunk: ctx.getpriv().body(chunk))
    milter.set_eom_callback(lambda ctx: ctx.getpriv().eom())
    milter.set_abort_callback(lambda ctx: ctx.getpriv().abort())
    milter.set_close_callback(Milter.close_callback)
    milter.setconn(engine.settings.socket.libmilter)
    if timeout > 0:
        milter.settimeout(timeout)
    milter.register(
        name,
        data=lambda ctx: ctx.getpriv().data(),
        unknown=lambda ctx, cmd: ctx.getpriv().unknown(cmd),
        negotiate=Milter.negotiate_callback,
    )
    milter.opensocket(True)
    if after_bind is not None:
        after_bind()
    log.info(
        "dkimtool %s milter starting on %s (pid %d)",
        engine.version,
        engine.settings.socket,
        os.getpid(),
    )
    milter.main()
    log.info("dkimtool %s milter stopped", engine.version)
