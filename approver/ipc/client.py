"""The proxy's side of the local protocol. It never raises to its caller: every failure becomes a deny."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass

from approver.core.models import Actor, Decision, ToolCall, Verdict
from approver.core.wording import service_unreachable_reason
from approver.ipc import protocol
from approver.ipc.protocol import (
    Decide,
    Hello,
    Holding,
    ProtocolError,
    Refused,
    StatusReply,
    StatusRequest,
    VerdictMessage,
    Welcome,
    WithdrawMessage,
)
from approver.ipc.spool import ProxySpool
from approver.platform.aio import TaskSet
from approver.platform.paths import Home
from approver.platform.peercred import peer_uid


@dataclass(frozen=True)
class Timeouts:
    connect: float = 2.0  # connect + hello/welcome
    acknowledge: float = 2.0  # decide -> holding: a live service answers at once
    grace: float = 2.0  # beyond the deadline the service announced


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    decided_locally: bool  # the service could not be asked: the proxy decided (deny) and must record it


class ServiceUnavailable(Exception):
    pass


class _Question:
    def __init__(self) -> None:
        self.holding: asyncio.Future[Holding] = asyncio.get_running_loop().create_future()
        self.verdict: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()


async def connect_to_service(home: Home, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to this home's service, refused if the socket belongs to another user."""
    reader, writer = await _connect(home, timeout)
    sock = writer.get_extra_info("socket")
    owner = peer_uid(sock) if sock is not None else None
    if owner is not None and owner != os.getuid():
        writer.close()
        raise ServiceUnavailable(f"the socket belongs to another user (uid {owner}); refusing it")
    return reader, writer


async def _connect(home: Home, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        return await asyncio.wait_for(
            asyncio.open_unix_connection(str(home.socket_path), limit=protocol.MAX_MESSAGE_BYTES), timeout
        )
    except FileNotFoundError:
        raise ServiceUnavailable("no service is listening") from None
    except ConnectionRefusedError:
        raise ServiceUnavailable("no service is listening (stale socket)") from None
    except TimeoutError:
        raise ServiceUnavailable(f"connecting took more than {timeout:g} s") from None
    except OSError as exc:
        raise ServiceUnavailable(f"cannot connect: {exc.strerror or exc}") from None


async def _handshake(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hello: Hello, timeout: float
) -> Welcome:
    writer.write(protocol.encode(hello))
    try:
        line = await asyncio.wait_for(reader.readline(), timeout)
    except TimeoutError:
        raise ServiceUnavailable(f"the service did not greet within {timeout:g} s") from None
    except (OSError, ValueError) as exc:  # ValueError: a line over the stream limit
        raise ServiceUnavailable(f"the connection failed: {exc}") from None
    if not line:
        raise ServiceUnavailable("the service closed the connection")
    try:
        reply = protocol.decode(line)
    except ProtocolError as exc:
        raise ServiceUnavailable(f"the service speaks another protocol ({exc})") from None
    if isinstance(reply, Refused):
        raise ServiceUnavailable(f"the service refused this proxy: {reply.reason}")
    if not isinstance(reply, Welcome) or reply.v != protocol.PROTOCOL_VERSION:
        raise ServiceUnavailable("the service speaks another protocol version")
    return reply


class DecisionClient:
    """One connection per proxy, opened on first need and re-opened after a failure."""

    def __init__(self, home: Home, server: str, timeouts: Timeouts | None = None) -> None:
        self.home = home
        self.server = server
        self.timeouts = timeouts or Timeouts()
        self._writer: asyncio.StreamWriter | None = None
        self._connecting: asyncio.Lock = asyncio.Lock()
        self._questions: dict[int, _Question] = {}
        self._tasks = TaskSet()
        self.spool = ProxySpool(home.spool_file)  # where denials made without the service are recorded

    async def decide(self, ref: int, call: ToolCall, on_holding: Callable[[Holding], object] | None = None) -> Outcome:
        """The verdict on a call. `on_holding` runs when the service says a person is deciding."""
        try:
            await self._connect()
        except ServiceUnavailable as exc:
            return self._local_deny(call, Actor.NONE, service_unreachable_reason(str(exc)))
        question = _Question()
        self._questions[ref] = question
        try:
            assert self._writer is not None
            self._writer.write(protocol.encode(Decide(ref=ref, call=call)))
            try:
                holding = await asyncio.wait_for(question.holding, self.timeouts.acknowledge)
            except TimeoutError:
                return self._local_deny(
                    call,
                    Actor.NONE,
                    service_unreachable_reason(
                        f"it did not acknowledge the call within {self.timeouts.acknowledge:g} s"
                    ),
                )
            if on_holding is not None and not question.verdict.done():
                on_holding(holding)
            limit = holding.deadline_ms / 1000 + self.timeouts.grace
            try:
                return Outcome(await asyncio.wait_for(question.verdict, limit), decided_locally=False)
            except TimeoutError:
                return self._local_deny(call, Actor.TIMEOUT, f"MCP Approver gave no decision within {limit:g} s")
        except ServiceUnavailable as exc:
            return self._local_deny(call, Actor.ERROR, service_unreachable_reason(str(exc)))
        except Exception as exc:  # anything unforeseen still ends in an answer: a deny
            return self._local_deny(call, Actor.ERROR, f"the proxy could not ask for a decision ({exc})")
        finally:
            del self._questions[ref]

    async def withdraw(self, ref: int, reason: str) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(protocol.encode(WithdrawMessage(ref=ref, reason=reason)))

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        await self._tasks.cancel_all()

    def _local_deny(self, call: ToolCall, actor: Actor, reason: str) -> Outcome:
        verdict = Verdict(decision=Decision.DENY, actor=actor, reason=reason, digest=call.digest)
        return Outcome(verdict, decided_locally=True)

    async def _connect(self) -> None:
        async with self._connecting:
            if self._writer is not None and not self._writer.is_closing():
                return
            reader, writer = await connect_to_service(self.home, self.timeouts.connect)
            tally = self.spool.unreported()
            try:
                await _handshake(
                    reader,
                    writer,
                    Hello(role="proxy", pid=os.getpid(), server=self.server, spooled=tally),
                    self.timeouts.connect,
                )
            except ServiceUnavailable:
                writer.close()
                raise
            if tally is not None:
                self.spool.reported = tally.count  # a service that welcomed us has checked them
            self._writer = writer
            self._tasks.spawn(self._read_replies(reader, writer), name="ipc-replies")

    async def _read_replies(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        failure = "the service closed the connection"
        try:
            while line := await reader.readline():
                message = protocol.decode(line)
                if isinstance(message, Holding | VerdictMessage):
                    question = self._questions.get(message.ref)
                    if question is None:
                        continue  # withdrawn meanwhile
                    if isinstance(message, VerdictMessage):
                        # A verdict at once (a rule decided) is its own acknowledgement.
                        if not question.holding.done():
                            question.holding.set_result(Holding(ref=message.ref, deadline_ms=0))
                        if not question.verdict.done():
                            question.verdict.set_result(message.verdict)
                    elif not question.holding.done():
                        question.holding.set_result(message)
        except (OSError, ValueError) as exc:  # ProtocolError is a ValueError
            failure = f"the connection to the service failed: {exc}"
        finally:
            writer.close()
            if self._writer is writer:  # a newer connection may already have replaced this one
                self._writer = None
            for question in self._questions.values():
                for future in (question.holding, question.verdict):
                    if not future.done():
                        future.set_exception(ServiceUnavailable(failure))


async def query_status(home: Home, timeout: float = 2.0) -> StatusReply:
    """Ask the running service how it is. Raises ServiceUnavailable when there is none."""
    reader, writer = await connect_to_service(home, timeout)
    try:
        await _handshake(reader, writer, Hello(role="status", pid=os.getpid()), timeout)
        writer.write(protocol.encode(StatusRequest()))
        try:
            line = await asyncio.wait_for(reader.readline(), timeout)
            reply = protocol.decode(line)
        except (TimeoutError, OSError, ProtocolError) as exc:
            raise ServiceUnavailable(f"no status reply: {exc}") from None
        if not isinstance(reply, StatusReply):
            raise ServiceUnavailable("unexpected reply to a status request")
        return reply
    finally:
        writer.close()
