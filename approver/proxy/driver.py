"""The asyncio shell around the relay: the server process, stdio pipes, the service connection.

All protocol decisions live in `relay.Relay`; this module only moves bytes and carries out its commands.
Relayed traffic is handled in transport callbacks, without a coroutine hop per message: bytes arrive in
`data_received`, the relay turns them into commands, and writes go straight to the other side's transport.
Flow control couples the two directions: while the client does not read our stdout we stop reading the
server's, and while the server does not read its stdin we stop reading the client's.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import selectors
import signal
import sys
import time
from dataclasses import dataclass, field

from approver.core.log_format import DecisionFacts
from approver.core.results import inspect_response
from approver.ipc.app_start import AppStarter
from approver.ipc.client import DecisionClient, Timeouts
from approver.ipc.protocol import Holding
from approver.platform.aio import TaskSet
from approver.platform.paths import Home
from approver.proxy.relay import (
    AskDecision,
    CloseServerInput,
    Command,
    Observed,
    Relay,
    Report,
    ToClient,
    ToolsListed,
    ToServer,
    Withdraw,
)

STDOUT, STDERR = 1, 2
KEEPALIVE_INTERVAL = 10.0  # seconds between progress notifications while a person decides
OUTCOME_PATIENCE = 5.0  # seconds, at exit, for the outcomes still being inspected to reach the service


@dataclass(frozen=True)
class ProxyOptions:
    name: str
    command: list[str]
    timeouts: Timeouts = field(default_factory=Timeouts)
    stop_grace: float = 2.0  # after closing the server's stdin, and again after SIGTERM
    quarantine: bool = False  # hide tools whose definition is not accepted from tools/list


class ServerStartError(RuntimeError):
    pass


def _die_with_parent() -> None:
    """Runs in the child before exec: on Linux, end the server if the proxy itself is killed (no orphans)."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _pollable(fd: int, events: int) -> bool:
    """Whether the event loop's selector accepts this descriptor (asyncio only finds out in a later callback)."""
    with selectors.DefaultSelector() as selector:
        try:
            selector.register(fd, events)
        except (OSError, ValueError):
            return False
    return True


def _lines(messages: list[bytes]) -> bytes:
    return messages[0] + b"\n" if len(messages) == 1 else b"\n".join(messages) + b"\n"


class _ClientOutput(asyncio.Protocol):
    """Our stdout. Pausing it pauses reading from the server; `flushed` waits until the client has everything."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.transport: asyncio.WriteTransport | None = None
        self._flushed = asyncio.Event()
        self._flushed.set()
        self.broken = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        self.transport = transport
        transport.set_write_buffer_limits(high=256 * 1024)

    def connection_lost(self, exc: Exception | None) -> None:
        self.broken = True
        self._flushed.set()

    def pause_writing(self) -> None:
        self._flushed.clear()
        self.proxy.pause_server_output()

    def resume_writing(self) -> None:
        self._flushed.set()
        self.proxy.resume_server_output()

    def send(self, messages: list[bytes]) -> None:
        if self.transport is None or self.broken or self.transport.is_closing():
            return
        self.transport.write(_lines(messages))

    async def close(self) -> None:
        """Let the client take what is still buffered, then close: the last answers must not be lost."""
        if self.transport is None:
            return
        while not self.broken and self.transport.get_write_buffer_size():
            self._flushed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flushed.wait(), 0.05)
        self.transport.close()


class _FileOutput:
    """Our stdout when it is a regular file rather than a pipe."""

    def send(self, messages: list[bytes]) -> None:
        data = memoryview(_lines(messages))
        while data:
            data = data[os.write(sys.stdout.fileno(), data) :]

    async def close(self) -> None:
        return None


class _ErrorOutput:
    """Our stderr (the server's stderr and our own reports), which clients show in their logs.

    When it is a pipe, writes never block: a client that does not read our stderr must not freeze the relay.
    What does not fit in the buffer is dropped and counted, and the count is reported once there is room.
    """

    LIMIT = 1024 * 1024

    def __init__(self) -> None:
        self._transport: asyncio.WriteTransport | None = None
        self._protocol: _PipeClosed | None = None
        self._dropped = 0

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._transport, self._protocol = await loop.connect_write_pipe(_PipeClosed, sys.stderr.buffer)
        except (ValueError, OSError):  # a terminal or a file: plain writes do not stall
            self._transport = None

    def write(self, data: bytes) -> None:
        transport = self._transport
        if transport is None:
            sys.stderr.buffer.write(data)
            sys.stderr.buffer.flush()
            return
        if transport.is_closing():
            return
        if transport.get_write_buffer_size() + len(data) > self.LIMIT:
            self._dropped += len(data)
            return
        if self._dropped:
            transport.write(f"approver proxy: {self._dropped} bytes of stderr dropped (not read)\n".encode())
            self._dropped = 0
        transport.write(data)

    async def close(self, patience: float = 1.0) -> None:
        """Give the last lines (why the server exited, say) up to `patience` seconds to reach the client."""
        if self._transport is None or self._protocol is None:
            return
        self._transport.close()  # a pipe transport writes out its buffer before it closes
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._protocol.closed.wait(), patience)


class _PipeClosed(asyncio.Protocol):
    def __init__(self) -> None:
        self.closed = asyncio.Event()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()


class _ClientInput(asyncio.Protocol):
    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.transport: asyncio.ReadTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.ReadTransport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.proxy.execute(self.proxy.relay.client_data(data))

    def eof_received(self) -> bool:
        self.proxy.execute(self.proxy.relay.client_eof())
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.proxy.client_gone.is_set():
            self.proxy.execute(self.proxy.relay.client_eof())


class _Server(asyncio.SubprocessProtocol):
    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.stdout_closed = asyncio.Event()
        self.exited = asyncio.Event()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd == STDOUT:
            self.proxy.relay.redact_results = self.proxy.decisions.redact_results  # as the service last said
            self.proxy.execute(self.proxy.relay.server_data(data))
        elif fd == STDERR:
            self.proxy.server_stderr(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == STDOUT:
            self.stdout_closed.set()

    def process_exited(self) -> None:
        self.exited.set()

    def pause_writing(self) -> None:  # the server's stdin is full: stop reading the client
        self.proxy.pause_client_input()

    def resume_writing(self) -> None:
        self.proxy.resume_client_input()


class Proxy:
    def __init__(self, options: ProxyOptions, home: Home) -> None:
        self.options = options
        self.relay = Relay(options.name, options.command, quarantine=options.quarantine)
        # Markers for secrets found in results: fingerprints that correlate only within this proxy's run.
        self.relay.redaction_key = os.urandom(32)
        starter = AppStarter(home, self.report)  # only if the person turned it on in the app's settings
        self.decisions = DecisionClient(home, options.name, options.timeouts, starter.start_and_wait)
        self.home = home
        self.client_gone = asyncio.Event()
        self._tasks = TaskSet()
        self._questions: dict[int, asyncio.Task[None]] = {}
        self._outcomes: set[asyncio.Task[None]] = set()  # responses being inspected and reported
        self._server: asyncio.SubprocessTransport | None = None
        self._server_protocol: _Server | None = None
        self._client_input: _ClientInput | None = None
        self._output: _ClientOutput | _FileOutput | None = None
        self._errors = _ErrorOutput()
        self._service_available: bool | None = None  # None until the first look for the service

    # -- running --------------------------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        try:
            self._server, self._server_protocol = await loop.subprocess_exec(
                lambda: _Server(self),
                *self.options.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            raise ServerStartError(
                f"cannot start server '{self.options.name}' ({self.options.command[0]}): {exc.strerror or exc}"
            ) from None
        # A regular file or /dev/null cannot be polled (epoll refuses both): plain writes to it never block
        # long, and reading it happens in a thread.
        if _pollable(sys.stdout.fileno(), selectors.EVENT_WRITE):
            _, self._output = await loop.connect_write_pipe(lambda: _ClientOutput(self), sys.stdout.buffer)
        else:
            self._output = _FileOutput()
        await self._errors.connect()
        if _pollable(sys.stdin.fileno(), selectors.EVENT_READ):
            _, self._client_input = await loop.connect_read_pipe(lambda: _ClientInput(self), sys.stdin.buffer)
        else:
            self._tasks.spawn(self._read_stdin_file(), name="client-file-input")
        self._tasks.spawn(self.decisions.keep_watch(self._service_availability), name="service-watch")
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, lambda: self.execute(self.relay.client_eof()))
        try:
            return await self._until_server_ends()
        finally:
            if self._outcomes:  # the last responses' outcomes, so that the log has one for every forwarded call
                await asyncio.wait(self._outcomes, timeout=OUTCOME_PATIENCE)
            await self._tasks.cancel_all()
            await self.decisions.close()
            await self._output.close()
            await self._errors.close()
            if self._client_input is not None and self._client_input.transport is not None:
                self._client_input.transport.close()
            self._server.close()

    async def _until_server_ends(self) -> int:
        protocol, server = self._server_protocol, self._server
        assert protocol is not None and server is not None
        await protocol.exited.wait()
        # Take what it wrote before exiting; a grandchild holding its stdout open must not keep us waiting.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(protocol.stdout_closed.wait(), self.options.stop_grace)
        code = server.get_returncode()
        assert code is not None
        detail = f"exit code {code}" if code >= 0 else f"killed by {signal.Signals(-code).name}"
        if not self.client_gone.is_set():
            self.report(f"the server exited ({detail})")
        self.execute(self.relay.server_exited(detail))
        return 0 if self.client_gone.is_set() else (code if code > 0 else 1)

    async def _read_stdin_file(self) -> None:
        while data := await asyncio.to_thread(os.read, sys.stdin.fileno(), 256 * 1024):
            self.execute(self.relay.client_data(data))
        self.execute(self.relay.client_eof())

    # -- carrying out the relay's commands -----------------------------------------------------------------------

    def execute(self, commands: list[Command]) -> None:
        # Messages bound for the same side leave in one write: a burst of pipelined requests costs one syscall.
        to_server: list[bytes] = []
        to_client: list[bytes] = []
        observed: list[Observed] = []
        for command in commands:
            if isinstance(command, ToClient):
                to_client.append(command.data)
            elif isinstance(command, ToServer):
                to_server.append(command.data)
            elif isinstance(command, AskDecision):
                self._questions[command.hold] = self._tasks.spawn(self._ask(command), name=f"question-{command.hold}")
            elif isinstance(command, Withdraw):
                task = self._questions.pop(command.hold, None)
                if task is not None:
                    self.decisions.withdraw(command.hold, command.reason)
                    task.cancel()
            elif isinstance(command, ToolsListed):
                self._tasks.spawn(self._report_tools(command), name=f"tools-listed-{command.listing}")
            elif isinstance(command, Report):
                self.report(command.text)
            elif isinstance(command, Observed):
                observed.append(command)
            elif isinstance(command, CloseServerInput) and not self.client_gone.is_set():
                self.client_gone.set()
                self._tasks.spawn(self._stop_server(), name="stop-server")
        if to_server:
            self._send_to_server(to_server)
        if to_client:
            assert self._output is not None
            self._output.send(to_client)
        for seen in observed:  # after the response has been sent on: recording it never delays the client
            task = self._tasks.spawn(self._report_outcome(seen), name=f"outcome-{seen.hold}")
            self._outcomes.add(task)
            task.add_done_callback(self._outcomes.discard)

    def _send_to_server(self, messages: list[bytes]) -> None:
        assert self._server is not None
        stdin = self._server.get_pipe_transport(0)
        if stdin is None or stdin.is_closing():
            return  # the server is exiting; _until_server_ends answers what it left pending
        assert isinstance(stdin, asyncio.WriteTransport)
        stdin.write(_lines(messages))

    def _service_availability(self, available: bool, detail: str) -> None:
        before, self._service_available = self._service_available, available
        if available:
            self.report(
                "connected to MCP Approver: tool calls wait for its decision"
                if before is None
                else "MCP Approver is back: tool calls are decided again"
            )
        elif before is None:
            self.report(
                f"MCP Approver is not running ({detail}): every tool call will be denied until it starts. "
                "Start the desktop app (`approver`) or `approver serve --headless`."
            )
        else:
            self.report(f"lost MCP Approver ({detail}): every tool call is denied until it is back")

    def report(self, text: str) -> None:
        self._errors.write(f"approver proxy [{self.options.name}]: {text}\n".encode())

    def server_stderr(self, data: bytes) -> None:
        self._errors.write(data)

    # -- flow control ---------------------------------------------------------------------------------------------

    def _server_stdout(self) -> asyncio.ReadTransport | None:
        pipe = self._server.get_pipe_transport(STDOUT) if self._server else None
        return pipe if isinstance(pipe, asyncio.ReadTransport) else None

    def pause_server_output(self) -> None:
        if (pipe := self._server_stdout()) is not None and pipe.is_reading():
            pipe.pause_reading()

    def resume_server_output(self) -> None:
        if (pipe := self._server_stdout()) is not None and not pipe.is_closing():
            pipe.resume_reading()

    def pause_client_input(self) -> None:
        if self._client_input is not None and self._client_input.transport is not None:
            self._client_input.transport.pause_reading()

    def resume_client_input(self) -> None:
        transport = self._client_input.transport if self._client_input else None
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

    # -- decisions and shutdown ------------------------------------------------------------------------------------

    async def _ask(self, command: AskDecision) -> None:
        keepalive: asyncio.Task[None] | None = None

        def person_deciding(holding: Holding) -> None:
            nonlocal keepalive
            keepalive = self._tasks.spawn(self._keep_client_waiting(command.hold, holding), name="keepalive")

        try:
            outcome = await self.decisions.decide(command.hold, command.call, person_deciding)
        finally:
            if keepalive is not None:
                keepalive.cancel()
        self._questions.pop(command.hold, None)
        if outcome.decided_locally:
            facts = DecisionFacts.of(command.call, outcome.verdict, by_proxy=True)
            try:
                await asyncio.to_thread(self.decisions.spool.record, facts)
            except OSError as exc:
                self.report(f"could not record a denial in {self.home.spool_file}: {exc}")
            self.report(f"denied '{command.call.tool}': {outcome.verdict.reason}")
        self.execute(self.relay.decided(command.hold, outcome.verdict))

    async def _report_tools(self, command: ToolsListed) -> None:
        hidden = await self.decisions.report_tools(
            command.listing,
            self.options.command,
            command.server_info,
            command.tools,
            quarantine=self.options.quarantine,
            wait=command.held,
        )
        if command.held:
            self.execute(self.relay.screened(command.listing, hidden))

    async def _report_outcome(self, seen: Observed) -> None:
        """Inspect what came back for a forwarded call (in a thread: a large result takes a while) and tell the
        service, which logs it next to the allow. A proxy killed before this runs leaves that outcome unrecorded."""
        try:
            report = await asyncio.to_thread(inspect_response, seen.raw, seen.response, self.relay.redaction_key)
        except Exception as exc:  # an unreadable result is still relayed; only its record is missing
            self.report(f"could not inspect the result of '{seen.call.tool}': {exc}")
            return
        report = report.model_copy(update={"redacted": seen.redacted})
        secrets = sorted({finding.what for finding in report.findings if finding.kind == "secret"})
        if secrets and not seen.redacted:
            self.report(f"the result of '{seen.call.tool}' holds what looks like secrets ({', '.join(secrets)})")
        if not self.decisions.report_outcome(seen.hold, report):
            self.report(f"the outcome of '{seen.call.tool}' was not logged: MCP Approver is not connected")

    async def _keep_client_waiting(self, hold: int, holding: Holding) -> None:
        deadline = time.monotonic() + holding.deadline_ms / 1000
        while True:
            remaining = max(0, round(deadline - time.monotonic()))
            self.execute(self.relay.keepalive(hold, f"Waiting for approval in MCP Approver ({remaining} s left)"))
            await asyncio.sleep(KEEPALIVE_INTERVAL)

    async def _stop_server(self) -> None:
        """Close stdin, then SIGTERM, then SIGKILL: the server never outlives its client."""
        server, protocol = self._server, self._server_protocol
        assert server is not None and protocol is not None
        stdin = server.get_pipe_transport(0)
        if stdin is not None:
            stdin.close()
        for escalate in (server.terminate, server.kill):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(protocol.exited.wait(), self.options.stop_grace)
                return
            with contextlib.suppress(ProcessLookupError):
                escalate()


async def run_proxy(options: ProxyOptions, home: Home) -> int:
    return await Proxy(options, home).run()
