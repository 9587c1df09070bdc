"""The decision service's local socket: one per user and home, reachable only by the same OS user.

There is no TCP port, so no web page can reach it. The socket lives in a 0700 directory and is itself 0600, and
every connection's peer uid is checked against ours (SO_PEERCRED / LOCAL_PEERCRED). The caller holds the home's
instance lock (`approver.platform.instance`) while the socket is bound.

A process of the same user can still remove the socket or put its own in its place. The service looks at its
socket's path every WATCH_INTERVAL: when what is there is not the socket it bound, it raises the alarm (stderr, a
`service-alarm` log entry, `approver status` and `doctor`, the desktop app's tray) and binds its socket again.
Proxies meanwhile refuse whatever answers there unless it holds the instance lock.

A connection that does not greet within GREETING_TIMEOUT, leaves a line unfinished for LINE_TIMEOUT, sends a line
over the protocol's limit, or does not read its replies is cut off; unfinished lines of all connections together
are held to MAX_MESSAGE_BYTES of memory, and at most MAX_CONNECTIONS are open at once (a proxy's may stay idle:
its client may not call a tool for hours).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import os
import secrets
import socket
import stat
import sys
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from approver import __version__
from approver.core.log_format import rfc3339_now
from approver.core.models import Decision, Requester, ToolCall, Verdict
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
    ToolsListedMessage,
    ToolsScreened,
    VerdictMessage,
    Welcome,
    WithdrawMessage,
)
from approver.platform.aio import TaskSet
from approver.platform.paths import Home, ensure_private_dir, socket_address
from approver.platform.peercred import PeerCredentials, describe_process, executable_of, peer_credentials
from approver.service.decision_log import account_for_spool
from approver.service.decisions import DecisionService

GREETING_TIMEOUT = 5.0  # connect -> hello: a proxy says hello at once
LINE_TIMEOUT = 10.0  # first byte of a line -> its newline: even 256 MiB cross a local socket in well under this
STATUS_IDLE_TIMEOUT = 30.0  # status clients ask and go; proxies may stay idle as long as their client runs
WRITE_BACKLOG_LIMIT = 1024 * 1024  # replies a client has not read; a few hundred bytes each
READ_CHUNK = 1024 * 1024
WATCH_INTERVAL = 0.25  # seconds between looks at the socket's path
MAX_CONNECTIONS = 512  # well above any real number of proxies, well below the usual 1024 open files
ALARMS_KEPT = 20


class _Cut(Exception):
    """Why a connection is dropped."""


class _LineBudget:
    """Memory for unfinished lines, shared by all connections: many connections each sending a large line with no
    end cannot add up to more than one maximal message."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> None:
        if self.used + size > self.limit:
            raise _Cut("unfinished lines of all connections would exceed the service's memory for them")
        self.used += size


class _LineReader:
    """Lines from a connection, each bounded in length and in the time it takes to arrive."""

    def __init__(self, reader: asyncio.StreamReader, budget: _LineBudget) -> None:
        self._reader = reader
        self._budget = budget
        self._pending = bytearray()
        self._scanned = 0  # bytes of _pending known to hold no newline
        self._line_started = 0.0  # loop time of the pending line's first byte

    async def next_line(self, limit: int, idle_timeout: float | None) -> bytes | None:
        """The next line (without its newline), or None at the end of the stream."""
        loop = asyncio.get_running_loop()
        while (end := self._pending.find(b"\n", self._scanned)) < 0:
            if len(self._pending) > limit:
                raise _Cut(f"a line longer than {limit:,} bytes")
            self._scanned = len(self._pending)
            timeout = self._line_started + LINE_TIMEOUT - loop.time() if self._pending else idle_timeout
            try:
                async with asyncio.timeout(timeout):
                    chunk = await self._reader.read(READ_CHUNK)
            except TimeoutError:
                raise _Cut("it left a line unfinished" if self._pending else "it stayed idle") from None
            if not chunk:
                return None
            self._budget.take(len(chunk))
            if not self._pending:
                self._line_started = loop.time()
            self._pending += chunk
        if end > limit:
            raise _Cut(f"a line longer than {limit:,} bytes")
        line = bytes(self._pending[:end])
        del self._pending[: end + 1]
        self._budget.used -= end + 1
        self._scanned = 0
        self._line_started = loop.time()  # what is left began arriving no earlier than now
        return line

    def close(self) -> None:
        self._budget.used -= len(self._pending)
        self._pending.clear()


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


@dataclass
class _Connection:
    writer: asyncio.StreamWriter
    requester: Requester  # the peer as the kernel reports it, recorded with every decision it asks for
    in_progress: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    calls: dict[int, ToolCall] = field(default_factory=dict)  # to record a withdrawal before its task runs
    allows: _AllowsSent = field(default_factory=_AllowsSent)


def _forget(calls: dict[int, ToolCall], ref: int, _done: object) -> None:
    calls.pop(ref, None)


class DecisionServer:
    def __init__(self, home: Home, service: DecisionService, mode: Literal["headless", "desktop"] = "headless") -> None:
        self.home = home
        self.service = service
        self.mode = mode
        self._server: asyncio.Server | None = None
        self._bound: tuple[int, int] | None = None  # (st_dev, st_ino) of the socket this service bound
        # What was found in the socket's place (None: nothing), when the alarm about it is raised but the service
        # could not bind again: it goes on trying without raising the same alarm again.
        self._unresolved: tuple[tuple[int, int] | None] | None = None
        self._proxies = 0
        self._connections = 0
        self._started: set[asyncio.Task[Any]] = set()  # asking tasks that began (they log their own withdrawal)
        self._tasks = TaskSet()
        self._budget = _LineBudget(protocol.MAX_MESSAGE_BYTES)
        self.alarms: collections.deque[str] = collections.deque(maxlen=ALARMS_KEPT)
        self.on_activate: Callable[[], None] | None = None  # the desktop app registers how it comes forward
        self.on_alarm: Callable[[str], None] | None = None  # and how it raises an alarm

    async def start(self) -> None:
        """Bind the socket and watch it. The caller holds the instance lock, so a socket file already there is
        stale."""
        await self._bind()
        self._tasks.spawn(self._watch_socket(), name="socket-watch")

    async def _bind(self) -> None:
        """Bind a new socket under a fresh name, note its inode, and rename it into place: the path never lacks a
        socket, and what is watched is the inode this service bound, whatever appears at the path meanwhile."""
        path = self.home.socket_path
        ensure_private_dir(path.parent)
        fresh = path.with_name(f".service-{secrets.token_hex(4)}.sock")
        old_umask = os.umask(0o177)  # the socket is created 0600: no window in which others could connect
        try:
            with socket_address(fresh) as address:
                server = await asyncio.start_unix_server(self._serve_connection, address, limit=READ_CHUNK)
        finally:
            os.umask(old_umask)
        try:
            bound = fresh.lstat()
            fresh.rename(path)  # over whatever is there: a stale socket, or another process's
        except OSError:
            server.close()
            fresh.unlink(missing_ok=True)
            raise
        if self._server is not None:
            self._server.close()  # its path is gone; connections made through it go on
        self._server = server
        self._bound = (bound.st_dev, bound.st_ino)
        self._unresolved = None

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._tasks.cancel_all()
            if self._socket_identity() == self._bound:  # never remove what someone else put there
                with contextlib.suppress(FileNotFoundError):
                    self.home.socket_path.unlink()

    # -- the socket's path, watched ------------------------------------------------------------------------------

    def _socket_identity(self) -> tuple[int, int] | None:
        try:
            found = self.home.socket_path.lstat()
        except FileNotFoundError:
            return None
        return (found.st_dev, found.st_ino)

    async def _watch_socket(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            try:
                await self._check_socket()
            except Exception as exc:  # the watch must outlive anything one look can run into
                print(f"approver: watching the socket failed once: {exc}", file=sys.stderr)

    async def _check_socket(self) -> None:
        found = self._socket_identity()
        if found == self._bound:
            return
        first_sight = self._unresolved != (found,)
        culprit = self._listener_at_path() if first_sight and found is not None else None
        try:
            await self._bind()
            taken_back, failure = True, ""
        except OSError as exc:
            taken_back, failure = False, str(exc)
            self._unresolved = (found,)
        if first_sight:
            self._alarm(found is None, culprit, taken_back, failure)

    def _listener_at_path(self) -> PeerCredentials | None:
        """The process listening on whatever socket now sits at the path, as the kernel reports it."""
        path = self.home.socket_path
        try:
            if not stat.S_ISSOCK(path.lstat().st_mode):
                return None
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe, socket_address(path) as address:
                probe.setblocking(False)
                probe.connect(address)
                return peer_credentials(probe)
        except OSError:
            return None

    def _alarm(self, removed: bool, culprit: PeerCredentials | None, taken_back: bool, failure: str) -> None:
        path = self.home.socket_path
        if removed:
            what = f"the service's socket {path} was removed"
        elif culprit is not None:
            what = f"{describe_process(culprit.pid)} put its own socket in place of the service's socket {path}"
        else:
            what = f"something else was put in place of the service's socket {path}"
        outcome = "the service bound it again" if taken_back else f"the service could not bind it again ({failure})"
        text = f"{what}; {outcome}"
        self.alarms.append(f"{rfc3339_now()} {text}")
        print(f"approver: ALARM: {text}", file=sys.stderr, flush=True)
        body: dict[str, Any] = {
            "alarm": "socket-removed" if removed else "socket-replaced",
            "detail": text,
            "taken_back": taken_back,
        }
        if culprit is not None and culprit.pid is not None:
            body["culprit"] = {"pid": culprit.pid, "exe": executable_of(culprit.pid)}
        try:
            self.service.log.append_event("service-alarm", body)
        except Exception as exc:  # the alarm still stands in status, doctor and the tray
            self.alarms.append(f"{rfc3339_now()} the alarm could not be written to the log: {exc}")
        if self.on_alarm is not None:
            self.on_alarm(text)

    # -- connections ---------------------------------------------------------------------------------------------

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        peer = peer_credentials(sock) if sock is not None else PeerCredentials(uid=None, pid=None)
        if peer.uid is not None and peer.uid != os.getuid():
            writer.close()
            return
        if self._connections >= MAX_CONNECTIONS:
            print(
                f"approver: refused a connection from {describe_process(peer.pid)}: {MAX_CONNECTIONS} are open",
                file=sys.stderr,
            )
            writer.transport.abort()
            return
        self._connections += 1
        connection = _Connection(writer, Requester(pid=peer.pid, exe=executable_of(peer.pid) if peer.pid else None))
        lines = _LineReader(reader, self._budget)
        counted = False
        try:
            async with asyncio.timeout(GREETING_TIMEOUT):
                hello = await self._greet(lines, writer)
            if hello is None:
                return
            counted = hello.role == "proxy"
            self._proxies += counted
            if counted and hello.spooled is not None:
                account_for_spool(self.service.log, hello.server or "?", hello.spooled, self.home.spool_file)
            limit = protocol.MAX_MESSAGE_BYTES if counted else protocol.MAX_SMALL_MESSAGE_BYTES
            idle_timeout = None if counted else STATUS_IDLE_TIMEOUT
            while (line := await lines.next_line(limit, idle_timeout)) is not None:
                self._handle(protocol.decode(line), connection)
                if writer.transport.get_write_buffer_size() > WRITE_BACKLOG_LIMIT:
                    raise _Cut("it does not read the replies")
        except (ProtocolError, ValueError) as exc:
            print(f"approver: dropped a connection that broke the protocol: {exc}", file=sys.stderr)
        except (_Cut, TimeoutError) as exc:
            why = str(exc) if isinstance(exc, _Cut) else f"it did not say hello within {GREETING_TIMEOUT:g} s"
            print(f"approver: dropped a connection from {describe_process(peer.pid)}: {why}", file=sys.stderr)
            writer.transport.abort()  # close() would wait to deliver the replies it is not reading
        except OSError:
            pass  # the peer went away
        finally:
            lines.close()
            self._connections -= 1
            self._proxies -= counted
            for task in connection.in_progress.values():
                task.cancel("the proxy disconnected")
            writer.close()

    def _handle(self, message: protocol.IpcMessage, connection: _Connection) -> None:
        writer = connection.writer
        if isinstance(message, Decide):
            call = message.call.model_copy(update={"requester": connection.requester})
            verdict = self.service.decide_without_asking(call)
            if verdict is not None:  # most calls: answered here, in one message, without a task
                writer.write(protocol.encode(self._verdict_message(message.ref, verdict)))
                connection.allows.sent(message.ref, call, verdict)
            else:
                asking = self._tasks.spawn(
                    self._ask(message.ref, call, writer, connection.in_progress, connection.allows),
                    name=f"ask-{message.ref}",
                )
                connection.in_progress[message.ref] = asking
                connection.calls[message.ref] = call
                asking.add_done_callback(functools.partial(_forget, connection.calls, message.ref))
        elif isinstance(message, WithdrawMessage):
            withdrawn = connection.in_progress.pop(message.ref, None)
            asked = connection.calls.pop(message.ref, None)
            started = withdrawn in self._started
            if withdrawn is not None and asked is not None and withdrawn.cancel(message.reason) and not started:
                self.service.withdrawn(asked, message.reason)  # cancelled before it ever ran
        elif isinstance(message, NotCarriedOut):
            allowed = connection.allows.take(message.ref)
            if allowed is not None:
                self.service.not_carried_out(allowed, message.actor, message.reason)
        elif isinstance(message, OutcomeMessage):
            forwarded = connection.allows.take(message.ref)
            if forwarded is not None:  # only a call this connection was allowed has an outcome
                self.service.outcome(forwarded, message.report)
        elif isinstance(message, ToolsListedMessage):
            hidden = self.service.tools_listed(message)
            writer.write(protocol.encode(ToolsScreened(ref=message.ref, hidden=hidden)))
        elif isinstance(message, StatusRequest):
            writer.write(protocol.encode(self.status()))
        elif isinstance(message, Activate):
            if self.on_activate is not None:
                self.on_activate()
            writer.write(protocol.encode(Activated(shown=self.on_activate is not None)))

    async def _greet(self, lines: _LineReader, writer: asyncio.StreamWriter) -> Hello | None:
        line = await lines.next_line(protocol.MAX_SMALL_MESSAGE_BYTES, idle_timeout=None)
        if line is None:
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
        ref: int,
        call: ToolCall,
        writer: asyncio.StreamWriter,
        in_progress: dict[int, asyncio.Task[None]],
        allows: _AllowsSent,
    ) -> None:
        """A person decides: tell the proxy how long that may take, then answer when they have."""
        this = asyncio.current_task()
        assert this is not None
        self._started.add(this)
        writer.write(protocol.encode(Holding(ref=ref, deadline_ms=self.service.deadline_ms)))
        try:
            verdict = await self.service.ask(call)
        finally:
            in_progress.pop(ref, None)
            self._started.discard(this)
        if not writer.is_closing():
            writer.write(protocol.encode(self._verdict_message(ref, verdict)))
            allows.sent(ref, call, verdict)

    def _verdict_message(self, ref: int, verdict: Verdict) -> VerdictMessage:
        return VerdictMessage(ref=ref, verdict=verdict, redact_results=self.service.redact_results)

    def status(self) -> StatusReply:
        return StatusReply(
            pid=os.getpid(),
            home=self.home.label,
            mode=self.mode,
            proxies=self._proxies,
            policy=self.service.policies.describe(),
            alarms=list(self.alarms),
        )
