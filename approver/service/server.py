"""The decision service's local socket: one per user and home, reachable only by the same OS user.

There is no TCP port, so no web page can reach it. The socket lives in a 0700 directory and is itself 0600, and
every connection's peer uid is checked against ours (SO_PEERCRED / LOCAL_PEERCRED). A lock file makes the service
a single instance per home; the socket is only (re)bound while holding that lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import os
import sys
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Literal

from approver import __version__
from approver.core.models import Decision, ToolCall, Verdict
from approver.ipc import protocol
from approver.ipc.protocol import (
    Activate,
    Activated,
    Decide,
    Hello,
    Holding,
    NotCarriedOut,
    OutcomeMessage,
    ProtocolError,
    Refused,
    StatusReply,
    StatusRequest,
    VerdictMessage,
    Welcome,
    WithdrawMessage,
)
from approver.platform.aio import TaskSet
from approver.platform.paths import Home, ensure_private_dir
from approver.platform.peercred import peer_uid
from approver.service.decisions import DecisionService


class AlreadyRunning(RuntimeError):
    pass


class InstanceLock:
    """An exclusive lock on the home's lock file, held for the service's lifetime."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        ensure_private_dir(self.path.parent)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            raise AlreadyRunning(f"MCP Approver is already running for this home (pid {owner})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _forget(calls: dict[int, ToolCall], ref: int, _done: object) -> None:
    calls.pop(ref, None)


class _AllowsSent:
    """The calls a connection was sent an allow for, the latest few thousand. Its proxy may report that one
    came too late to be carried out; naming a call by its ref on the connection that was allowed it means no
    other process can disown a call a proxy forwarded. One forgotten here is still in the proxy's spool."""

    LIMIT = 10_000

    def __init__(self) -> None:
        self._calls: OrderedDict[int, ToolCall] = OrderedDict()

    def sent(self, ref: int, call: ToolCall, verdict: Verdict) -> None:
        if verdict.decision is Decision.ALLOW:
            # What the log needs to name the call; its arguments are in the allow's own entry.
            self._calls[ref] = call.model_copy(update={"arguments": {}, "tool_info": None, "roots": []})
            if len(self._calls) > self.LIMIT:
                self._calls.popitem(last=False)

    def take(self, ref: int) -> ToolCall | None:
        return self._calls.pop(ref, None)


class DecisionServer:
    def __init__(self, home: Home, service: DecisionService, mode: Literal["headless", "desktop"] = "headless") -> None:
        self.home = home
        self.service = service
        self.mode = mode
        self._server: asyncio.Server | None = None
        self._proxies = 0
        self._started: set[asyncio.Task[Any]] = set()  # asking tasks that began (they log their own withdrawal)
        self._tasks = TaskSet()
        self.on_activate: Callable[[], None] | None = None  # the desktop app registers how it comes forward

    async def start(self) -> None:
        """Bind the socket. The caller holds the instance lock, so a socket file already there is stale."""
        path = self.home.socket_path
        ensure_private_dir(path.parent)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        old_umask = os.umask(0o177)  # the socket is created 0600: no window in which others could connect
        try:
            self._server = await asyncio.start_unix_server(
                self._serve_connection, str(path), limit=protocol.MAX_MESSAGE_BYTES
            )
        finally:
            os.umask(old_umask)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._tasks.cancel_all()
            with contextlib.suppress(FileNotFoundError):
                self.home.socket_path.unlink()

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        uid = peer_uid(sock) if sock is not None else None
        if uid is not None and uid != os.getuid():
            writer.close()
            return
        in_progress: dict[int, asyncio.Task[None]] = {}
        calls: dict[int, ToolCall] = {}  # the questions in progress, to record a withdrawal before its task runs
        allows = _AllowsSent()
        counted = False
        try:
            hello = await self._greet(reader, writer)
            if hello is None:
                return
            counted = hello.role == "proxy"
            self._proxies += counted
            while line := await reader.readline():
                message = protocol.decode(line)
                if isinstance(message, Decide):
                    self._decide(message, writer, in_progress, calls, allows)
                elif isinstance(message, WithdrawMessage):
                    withdrawn = in_progress.pop(message.ref, None)
                    call = calls.pop(message.ref, None)
                    started = withdrawn in self._started
                    if withdrawn is not None and call is not None and withdrawn.cancel(message.reason) and not started:
                        self.service.withdrawn(call, message.reason)  # cancelled before it ever ran
                elif isinstance(message, NotCarriedOut):
                    allowed = allows.take(message.ref)
                    if allowed is not None:
                        self.service.not_carried_out(allowed, message.actor, message.reason)
                elif isinstance(message, OutcomeMessage):
                    forwarded = allows.take(message.ref)
                    if forwarded is not None:  # only a call this connection was allowed has an outcome
                        self.service.outcome(forwarded, message.report)
                elif isinstance(message, StatusRequest):
                    writer.write(protocol.encode(self.status()))
                elif isinstance(message, Activate):
                    if self.on_activate is not None:
                        self.on_activate()
                    writer.write(protocol.encode(Activated(shown=self.on_activate is not None)))
        except (ProtocolError, ValueError) as exc:
            print(f"approver: dropped a connection that broke the protocol: {exc}", file=sys.stderr)
        except OSError:
            pass  # the peer went away
        finally:
            self._proxies -= counted
            for task in in_progress.values():
                task.cancel("the proxy disconnected")
            writer.close()

    def _decide(
        self,
        message: Decide,
        writer: asyncio.StreamWriter,
        in_progress: dict[int, asyncio.Task[None]],
        calls: dict[int, ToolCall],
        allows: _AllowsSent,
    ) -> None:
        verdict = self.service.decide_without_asking(message.call)
        if verdict is not None:  # most calls: answered here, in one message, without a task
            writer.write(protocol.encode(self._verdict_message(message.ref, verdict)))
            allows.sent(message.ref, message.call, verdict)
            return
        asking = self._tasks.spawn(self._ask(message, writer, in_progress, allows), name=f"ask-{message.ref}")
        in_progress[message.ref] = asking
        calls[message.ref] = message.call
        asking.add_done_callback(functools.partial(_forget, calls, message.ref))

    async def _greet(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Hello | None:
        line = await reader.readline()
        if not line:
            return None
        try:
            hello = protocol.decode(line)
        except ProtocolError:
            hello = None
        if not isinstance(hello, Hello) or hello.v != protocol.PROTOCOL_VERSION:
            reason = (
                f"this service speaks protocol version {protocol.PROTOCOL_VERSION}; "
                "upgrade the proxy and the app together"
            )
            writer.write(protocol.encode(Refused(reason=reason)))
            return None
        welcome = Welcome(
            service=f"mcp-approver {__version__}", mode=self.mode, redact_results=self.service.redact_results
        )
        writer.write(protocol.encode(welcome))
        return hello

    async def _ask(
        self,
        message: Decide,
        writer: asyncio.StreamWriter,
        in_progress: dict[int, asyncio.Task[None]],
        allows: _AllowsSent,
    ) -> None:
        """A person decides: tell the proxy how long that may take, then answer when they have."""
        this = asyncio.current_task()
        assert this is not None
        self._started.add(this)
        writer.write(protocol.encode(Holding(ref=message.ref, deadline_ms=self.service.deadline_ms)))
        try:
            verdict = await self.service.ask(message.call)
        finally:
            in_progress.pop(message.ref, None)
            self._started.discard(this)
        if not writer.is_closing():
            writer.write(protocol.encode(self._verdict_message(message.ref, verdict)))
            allows.sent(message.ref, message.call, verdict)

    def _verdict_message(self, ref: int, verdict: Verdict) -> VerdictMessage:
        return VerdictMessage(ref=ref, verdict=verdict, redact_results=self.service.redact_results)

    def status(self) -> StatusReply:
        return StatusReply(
            pid=os.getpid(),
            home=self.home.label,
            mode=self.mode,
            proxies=self._proxies,
            policy=self.service.policies.describe(),
        )
