"""The asyncio shell around the relay: the server process, stdio pipes, the service connection.

All protocol decisions live in `relay.Relay`; this module only moves bytes and carries out its commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from approver.core.log_format import DecisionFacts
from approver.ipc.client import DecisionClient, Timeouts
from approver.ipc.spool import spool_decision
from approver.platform.aio import TaskSet
from approver.platform.paths import Home
from approver.proxy.relay import (
    AskDecision,
    CloseServerInput,
    Command,
    Relay,
    Report,
    ToClient,
    ToServer,
    Withdraw,
)

READ_CHUNK = 256 * 1024


@dataclass(frozen=True)
class ProxyOptions:
    name: str
    command: list[str]
    timeouts: Timeouts = field(default_factory=Timeouts)
    stop_grace: float = 2.0  # after closing the server's stdin, and again after SIGTERM


class ServerStartError(RuntimeError):
    pass


def _die_with_parent() -> None:
    """Runs in the child before exec: on Linux, end the server if the proxy itself is killed (no orphans)."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


class _Output:
    """Our stdout towards the client, with flow control when it is a pipe."""

    def __init__(self, writer: asyncio.StreamWriter | None) -> None:
        self._writer = writer
        self.broken = False

    async def send(self, data: bytes) -> None:
        if self.broken:
            return
        try:
            if self._writer is None:
                os.write(sys.stdout.fileno(), data + b"\n")
            else:
                self._writer.write(data + b"\n")
                await self._writer.drain()
        except (BrokenPipeError, ConnectionResetError):
            self.broken = True

    async def close(self) -> None:
        """Flush what the client has not read yet, then close: the last answers must not be lost at exit."""
        if self._writer is not None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await self._writer.drain()
            self._writer.close()


async def _stdio() -> tuple[Callable[[], Awaitable[bytes]], _Output]:
    """Readers and writers for our own stdin/stdout; pipes get async transports, files a thread."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=READ_CHUNK)
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)

        async def read_stdin() -> bytes:
            return await reader.read(READ_CHUNK)
    except ValueError:  # a regular file: not pollable

        async def read_stdin() -> bytes:
            return await asyncio.to_thread(os.read, sys.stdin.fileno(), READ_CHUNK)

    try:
        transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, sys.stdout.buffer)
        # drain() then waits until the client has taken everything, so nothing is left behind at exit.
        transport.set_write_buffer_limits(high=0)
        writer = asyncio.StreamWriter(transport, protocol, None, loop)
        return read_stdin, _Output(writer)
    except ValueError:
        return read_stdin, _Output(None)


class Proxy:
    def __init__(self, options: ProxyOptions, home: Home) -> None:
        self.options = options
        self.relay = Relay(options.name, options.command)
        self.decisions = DecisionClient(home, options.name, options.timeouts)
        self.home = home
        self._tasks = TaskSet()
        self._questions: dict[int, asyncio.Task[None]] = {}
        self._process: asyncio.subprocess.Process | None = None
        self._output: _Output | None = None
        self._client_gone = asyncio.Event()

    def _report(self, text: str) -> None:
        sys.stderr.write(f"approver proxy [{self.options.name}]: {text}\n")
        sys.stderr.flush()

    async def run(self) -> int:
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self.options.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                preexec_fn=_die_with_parent,
                limit=READ_CHUNK,
            )
        except OSError as exc:
            raise ServerStartError(
                f"cannot start server '{self.options.name}' ({self.options.command[0]}): {exc.strerror or exc}"
            ) from None
        read_stdin, self._output = await _stdio()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, self._on_signal)
        self._tasks.spawn(self._pump_client(read_stdin), name="client->server")
        self._tasks.spawn(self._pump_stderr(), name="server-stderr")
        try:
            return await self._pump_server()
        finally:
            await self._tasks.cancel_all()
            await self.decisions.close()
            await self._output.close()

    def _on_signal(self) -> None:
        self._tasks.spawn(self._execute(self.relay.client_eof()), name="signal-shutdown")

    async def _pump_client(self, read_stdin: Callable[[], Awaitable[bytes]]) -> None:
        while data := await read_stdin():
            await self._execute(self.relay.client_data(data))
        await self._execute(self.relay.client_eof())

    async def _pump_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        out = sys.stderr.buffer
        while data := await self._process.stderr.read(READ_CHUNK):
            out.write(data)
            out.flush()

    async def _pump_server(self) -> int:
        process = self._process
        assert process is not None and process.stdout is not None
        while data := await process.stdout.read(READ_CHUNK):
            await self._execute(self.relay.server_data(data))
        code = await process.wait()
        detail = f"exit code {code}" if code >= 0 else f"killed by {signal.Signals(-code).name}"
        if not self._client_gone.is_set():
            self._report(f"the server exited ({detail})")
        await self._execute(self.relay.server_exited(detail))
        return 0 if self._client_gone.is_set() else (code if code > 0 else 1)

    async def _execute(self, commands: list[Command]) -> None:
        for command in commands:
            if isinstance(command, ToClient):
                assert self._output is not None
                await self._output.send(command.data)
            elif isinstance(command, ToServer):
                await self._send_to_server(command.data)
            elif isinstance(command, AskDecision):
                self._questions[command.hold] = self._tasks.spawn(self._ask(command), name=f"question-{command.hold}")
            elif isinstance(command, Withdraw):
                task = self._questions.pop(command.hold, None)
                if task is not None:
                    task.cancel()
                    await self.decisions.withdraw(command.hold, command.reason)
            elif isinstance(command, Report):
                self._report(command.text)
            elif isinstance(command, CloseServerInput):
                self._client_gone.set()
                self._tasks.spawn(self._stop_server(), name="stop-server")

    async def _send_to_server(self, data: bytes) -> None:
        process = self._process
        assert process is not None and process.stdin is not None
        if process.stdin.is_closing():
            return
        try:
            process.stdin.write(data + b"\n")
            await process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server is exiting; _pump_server answers what it left pending

    async def _ask(self, command: AskDecision) -> None:
        outcome = await self.decisions.decide(command.hold, command.call)
        self._questions.pop(command.hold, None)
        if outcome.decided_locally:
            facts = DecisionFacts.of(command.call, outcome.verdict, by_proxy=True)
            try:
                await asyncio.to_thread(spool_decision, self.home.spool_file, facts)
            except OSError as exc:
                self._report(f"could not record a denial in {self.home.spool_file}: {exc}")
            self._report(f"denied '{command.call.tool}': {outcome.verdict.reason}")
        await self._execute(self.relay.decided(command.hold, outcome.verdict))

    async def _stop_server(self) -> None:
        """Close stdin, then SIGTERM, then SIGKILL: the server never outlives its client."""
        process = self._process
        assert process is not None and process.stdin is not None
        process.stdin.close()
        for escalate in (process.terminate, process.kill):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), self.options.stop_grace)
                return
            with contextlib.suppress(ProcessLookupError):
                escalate()
        await process.wait()


async def run_proxy(options: ProxyOptions, home: Home) -> int:
    return await Proxy(options, home).run()
