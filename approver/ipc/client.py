"""The proxy's side of the local protocol. It never raises to its caller: every failure becomes a deny."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from approver.core.models import Actor, Decision, ToolCall, Verdict
from approver.core.results import ResultReport
from approver.core.wording import service_unreachable_reason
from approver.ipc import protocol
from approver.ipc.protocol import (
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
from approver.ipc.spool import ProxySpool
from approver.platform.aio import TaskSet
from approver.platform.instance import impostor_problem
from approver.platform.paths import Home, socket_address
from approver.platform.peercred import PeerCredentials, peer_credentials


@dataclass(frozen=True)
class Timeouts:
    connect: float = 2.0  # connect + hello/welcome
    acknowledge: float = 2.0  # decide -> verdict or holding, counted from the service's last word (see below)
    backlog: float = 30.0  # at most this long in all, however busy the service is with the calls sent before
    grace: float = 2.0  # beyond the deadline the service announced


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    decided_locally: bool  # the service could not be asked: the proxy decided (deny) and must record it


T = TypeVar("T")


class ServiceUnavailable(Exception):
    pass


class _Question:
    def __init__(self, call: ToolCall) -> None:
        self.call = call
        self.sent_at = asyncio.get_running_loop().time()
        self.holding: asyncio.Future[Holding] = asyncio.get_running_loop().create_future()
        self.verdict: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()


@dataclass
class _Abandoned:
    """A question the proxy stopped waiting for after sending it: the service may still answer it."""

    actor: Literal[Actor.TIMEOUT, Actor.NONE, Actor.ERROR]
    reason: str  # what happened to the call instead
    acknowledged: bool  # the service had said a person decides: our withdrawal closes that question


async def _within(future: asyncio.Future[T], timeout: float) -> T | None:
    """The future's result, or None after `timeout`. A result that came just as time ran out still counts."""
    try:
        return await asyncio.wait_for(future, timeout)
    except TimeoutError:
        return future.result() if future.done() and not future.cancelled() else None


IMPOSTOR_HINT = "Calls are denied until the service takes its socket back; run `approver doctor`."


class NotTheService(ServiceUnavailable):
    """Something answers on the service's socket that is not the process holding the home's instance lock."""


async def connect_to_service(home: Home, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to this home's service, refused if the socket belongs to another user, or (where the OS tells)
    to a process other than the one holding the home's instance lock: what took over the socket is never asked."""
    reader, writer = await _connect(home, timeout)
    sock = writer.get_extra_info("socket")
    answering = peer_credentials(sock) if sock is not None else PeerCredentials(uid=None, pid=None)
    if answering.uid is not None and answering.uid != os.getuid():
        writer.close()
        raise ServiceUnavailable(f"the socket belongs to another user (uid {answering.uid}); refusing it")
    problem = impostor_problem(home, answering)
    if problem is not None:
        writer.close()
        raise NotTheService(problem)
    return reader, writer


async def _connect(home: Home, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        with socket_address(home.socket_path) as address:
            return await asyncio.wait_for(
                asyncio.open_unix_connection(address, limit=protocol.MAX_SMALL_MESSAGE_BYTES), timeout
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


RECONNECT_INTERVAL = 1.0  # how often a proxy looks for a service that is not there, to say when it is back

AvailabilityReport = Callable[[bool, str], object]
"""Told (True, how) when the service can be asked, and (False, why) when it cannot."""


class DecisionClient:
    """One connection per proxy, opened at start (or on first need) and re-opened after a failure."""

    def __init__(
        self,
        home: Home,
        server: str,
        timeouts: Timeouts | None = None,
        start_app: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        """`start_app`: when no service answers, start one and wait for it (bounded); True once it answers."""
        self.home = home
        self.start_app = start_app
        self.server = server
        self.timeouts = timeouts or Timeouts()
        self._writer: asyncio.StreamWriter | None = None
        self._connection_lost = asyncio.Event()
        self._connecting: asyncio.Lock = asyncio.Lock()
        self._questions: dict[int, _Question] = {}
        self._abandoned: dict[int, _Abandoned] = {}
        self._last_heard = 0.0  # loop time of the service's latest message on this connection
        self._settled = asyncio.Event()
        self._settled.set()
        self._tasks = TaskSet()
        self.spool = ProxySpool(home.spool_file)  # where denials made without the service are recorded
        self._screenings: dict[int, asyncio.Future[list[str]]] = {}  # tools-listed reports awaiting an answer
        self.redact_results = False  # what the service last said about redacting secrets in results

    async def decide(self, ref: int, call: ToolCall, on_holding: Callable[[Holding], object] | None = None) -> Outcome:
        """The verdict on a call. `on_holding` runs when the service says a person is deciding."""
        try:
            await self._connect()
        except NotTheService as exc:
            return self._local_deny(
                call, Actor.ERROR, f"MCP Approver refused to ask what answers on its socket: {exc}. {IMPOSTOR_HINT}"
            )
        except ServiceUnavailable as exc:
            return self._local_deny(call, Actor.NONE, service_unreachable_reason(str(exc)))
        question = _Question(call)
        self._questions[ref] = question
        try:
            assert self._writer is not None
            self._writer.write(protocol.encode(Decide(ref=ref, call=call)))
            holding = await self._acknowledgement(question)
            if holding is None:
                detail = f"did not acknowledge the call within {self.timeouts.acknowledge:g} s"
                return self._give_up(
                    ref, Actor.NONE, f"the service {detail}", service_unreachable_reason(f"it {detail}")
                )
            if on_holding is not None and not question.verdict.done():
                on_holding(holding)
            limit = holding.deadline_ms / 1000 + self.timeouts.grace
            verdict = await _within(question.verdict, limit)
            if verdict is None:
                why = f"MCP Approver gave no decision within {limit:g} s"
                return self._give_up(ref, Actor.TIMEOUT, why, why)
            return Outcome(verdict, decided_locally=False)
        except ServiceUnavailable as exc:
            return self._local_deny(call, Actor.ERROR, service_unreachable_reason(str(exc)))
        except Exception as exc:  # anything unforeseen still ends in an answer: a deny
            return self._local_deny(call, Actor.ERROR, f"the proxy could not ask for a decision ({exc})")
        finally:
            self._questions.pop(ref, None)

    async def report_tools(
        self,
        ref: int,
        server_command: list[str],
        server_info: str | None,
        tools: list[dict[str, Any]],
        *,
        quarantine: bool,
        wait: bool,
    ) -> list[str] | None:
        """Tell the service what the server listed. With `wait`, the names of the tools not accepted yet, or None
        when the service could not be asked or did not answer in time (the caller then fails closed)."""
        try:
            await self._connect()
        except ServiceUnavailable:
            return None
        writer = self._writer
        if writer is None:
            return None
        message = ToolsListedMessage(
            ref=ref,
            server=self.server,
            server_command=server_command,
            server_info=server_info,
            tools=tools,
            quarantine=quarantine,
        )
        if not wait:
            writer.write(protocol.encode(message))
            return None
        answer: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._screenings[ref] = answer
        try:
            writer.write(protocol.encode(message))
            return await _within(answer, self.timeouts.acknowledge)
        except ServiceUnavailable:
            return None
        finally:
            self._screenings.pop(ref, None)

    async def keep_watch(self, report: AvailabilityReport) -> None:
        """Connect now, and again whenever the connection is lost, reporting each change of availability.

        A proxy started while nothing decides looks healthy to its client (it lists tools, it answers pings) yet
        denies every call; this is how the person finds out why, in the client's log of the server's stderr."""
        available: bool | None = None
        while True:
            try:
                await self._connect()
            except ServiceUnavailable as exc:
                if available is not False:
                    report(False, str(exc))
                    available = False
                await asyncio.sleep(RECONNECT_INTERVAL)
                continue
            if available is not True:
                report(True, "connected")
                available = True
            await self._connection_lost.wait()

    async def _acknowledgement(self, question: _Question) -> Holding | None:
        """The service's acknowledgement (a verdict implies one), or None once it has been silent for the
        acknowledgement timeout. The service answers a connection's calls in order, so while it keeps answering
        the calls sent before this one it is busy, not stuck: each of its answers restarts the count (up to
        `backlog` seconds in all). A pipelined burst is then not denied merely for arriving at once."""
        loop = asyncio.get_running_loop()
        give_up_at = question.sent_at + max(self.timeouts.backlog, self.timeouts.acknowledge)
        while not question.holding.done():
            deadline = min(max(question.sent_at, self._last_heard) + self.timeouts.acknowledge, give_up_at)
            if loop.time() >= deadline:
                return None
            await asyncio.wait([question.holding], timeout=deadline - loop.time())
        return question.holding.result()

    def withdraw(self, ref: int, reason: str) -> None:
        """The call no longer needs a decision (the client cancelled it, left, or the server died)."""
        question = self._questions.pop(ref, None)
        if question is not None:  # asked and not yet answered
            self._abandon(ref, question, Actor.NONE, reason)

    def report_outcome(self, ref: int, report: ResultReport) -> bool:
        """Tell the service what came back for an allowed call; False when there is no connection to tell. Only
        the connection the allow came on can report it (a reconnect loses it: the decision entry still stands)."""
        writer = self._writer
        if writer is None or writer.is_closing():
            return False
        writer.write(protocol.encode(OutcomeMessage(ref=ref, report=report)))
        return True

    def _give_up(self, ref: int, actor: Literal[Actor.TIMEOUT, Actor.NONE], detail: str, reason: str) -> Outcome:
        question = self._questions.pop(ref)
        self._abandon(ref, question, actor, f"the proxy denied it: {detail}")
        return self._local_deny(question.call, actor, reason)

    def _abandon(self, ref: int, question: _Question, actor: Literal[Actor.TIMEOUT, Actor.NONE], reason: str) -> None:
        """Stop waiting for a question the service has: withdraw it (a person asked sees it go) and remember it,
        so that an allow arriving later is reported as not carried out instead of standing in the log."""
        writer = self._writer
        if writer is None or writer.is_closing():
            return  # that connection failed: the question failed with it, and no answer can come any more
        writer.write(protocol.encode(WithdrawMessage(ref=ref, reason=reason)))
        abandoned = _Abandoned(
            actor=actor,
            reason=reason,
            acknowledged=question.holding.done() and not question.holding.cancelled(),
        )
        if question.verdict.done() and not question.verdict.cancelled() and question.verdict.exception() is None:
            # Answered already, but too late: the caller has not taken the verdict and never will.
            self._report_late(ref, abandoned, question.verdict.result(), writer)
        else:
            self._abandoned[ref] = abandoned
            self._late_answers_settled()

    def _late_answer(self, message: Holding | VerdictMessage, writer: asyncio.StreamWriter) -> None:
        abandoned = self._abandoned.get(message.ref)
        if abandoned is None:
            return
        if isinstance(message, Holding):
            abandoned.acknowledged = True  # a person is asked; the withdrawal already sent ends that
        else:
            del self._abandoned[message.ref]
            self._report_late(message.ref, abandoned, message.verdict, writer)
        self._late_answers_settled()

    @staticmethod
    def _report_late(ref: int, abandoned: _Abandoned, verdict: Verdict, writer: asyncio.StreamWriter) -> None:
        if verdict.decision is Decision.ALLOW and not writer.is_closing():
            report = NotCarriedOut(ref=ref, actor=abandoned.actor, reason=abandoned.reason)
            writer.write(protocol.encode(report))

    def _late_answers_settled(self) -> None:
        """Whether every abandoned question the service still owes a verdict has one (see close)."""
        if any(not abandoned.acknowledged for abandoned in self._abandoned.values()):
            self._settled.clear()
        else:
            self._settled.set()

    async def close(self) -> None:
        # The service answers in order: the verdicts on calls we gave up on are due soon after. Wait for them (a
        # little) so that an allow among them is reported as not carried out before the connection goes.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled.wait(), self.timeouts.acknowledge)
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
            try:
                reader, writer = await connect_to_service(self.home, self.timeouts.connect)
            except ServiceUnavailable:
                # Under the lock: calls that need the service meanwhile wait for the app, within its bound.
                if self.start_app is None or not await self.start_app():
                    raise
                reader, writer = await connect_to_service(self.home, self.timeouts.connect)
            tally = self.spool.unreported()
            try:
                welcome = await _handshake(
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
            self.redact_results = welcome.redact_results
            self._connection_lost = asyncio.Event()
            self._tasks.spawn(self._read_replies(reader, writer), name="ipc-replies")

    async def _read_replies(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        failure = "the service closed the connection"
        try:
            while line := await reader.readline():
                self._last_heard = asyncio.get_running_loop().time()
                message = protocol.decode(line)
                if isinstance(message, ToolsScreened):
                    screening = self._screenings.get(message.ref)
                    if screening is not None and not screening.done():
                        screening.set_result(message.hidden)
                    continue
                if isinstance(message, Holding | VerdictMessage):
                    question = self._questions.get(message.ref)
                    if question is None:
                        self._late_answer(message, writer)  # an answer to a question we gave up on
                        continue
                    if isinstance(message, VerdictMessage):
                        self.redact_results = message.redact_results
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
                self._connection_lost.set()
            for question in self._questions.values():
                for future in (question.holding, question.verdict):
                    if not future.done():
                        future.set_exception(ServiceUnavailable(failure))
            for screening in self._screenings.values():
                if not screening.done():
                    screening.set_exception(ServiceUnavailable(failure))
            self._abandoned.clear()  # their verdicts can no longer come; the proxy's spooled denials stand
            self._late_answers_settled()


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
