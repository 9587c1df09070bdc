"""The proxy's side of the socket when answers come late: a scripted service stands on the real socket path.

The end-to-end proof against a real service is tests/e2e/test_load.py; these pin each path of the client alone.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from approver.core.models import Actor, Decision, ToolCall, Verdict
from approver.core.results import ResultReport
from approver.ipc import protocol
from approver.ipc.client import DecisionClient, Timeouts
from approver.ipc.protocol import (
    Decide,
    Holding,
    NotCarriedOut,
    OutcomeMessage,
    VerdictMessage,
    Welcome,
    WithdrawMessage,
)
from approver.platform.instance import InstanceLock
from approver.platform.paths import Home, ensure_private_dir

CALL = ToolCall(server="fs", tool="write_file", arguments={"path": "/tmp/x"}, request_id=7, digest="sha256:ab")


class ScriptedService:
    """Greets, then lets the test read what the proxy sent and answer when it chooses."""

    def __init__(self) -> None:
        self.connected: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.get_running_loop().create_future()
        )

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(protocol.encode(Welcome(service="scripted", mode="headless")))
        self.connected.set_result((reader, writer))

    async def receive(self) -> Any:
        reader, _ = await self.connected
        return protocol.decode(await asyncio.wait_for(reader.readline(), 5))

    async def send(self, message: Any) -> None:
        _, writer = await self.connected
        writer.write(protocol.encode(message))

    async def rest(self) -> list[str]:
        """The types of the messages still to come, until the proxy closes the connection."""
        reader, _ = await self.connected
        return [json.loads(line)["type"] for line in (await asyncio.wait_for(reader.read(), 5)).splitlines()]


@pytest.fixture
async def scripted(tmp_path: Path, monkeypatch: Any) -> AsyncIterator[tuple[ScriptedService, Home]]:
    monkeypatch.setenv("APPROVER_HOME", str(tmp_path))
    home = Home.from_environment()
    ensure_private_dir(home.socket_path.parent)
    service = ScriptedService()
    lock = InstanceLock(home)  # held by the process that answers, as the real service does: proxies check
    lock.acquire()
    server = await asyncio.start_unix_server(service.serve, str(home.socket_path))
    yield service, home
    server.close()
    if service.connected.done():
        service.connected.result()[1].close()
    await server.wait_closed()
    lock.release()


def allow() -> Verdict:
    return Verdict(decision=Decision.ALLOW, actor=Actor.RULE, reason="allowed by rule", digest=CALL.digest)


async def test_an_allow_after_the_acknowledgement_timeout_is_reported_as_not_carried_out(
    scripted: tuple[ScriptedService, Home],
) -> None:
    service, home = scripted
    client = DecisionClient(home, "fs", Timeouts(acknowledge=0.05))
    outcome = await client.decide(1, CALL)
    assert outcome.decided_locally and outcome.verdict.decision is Decision.DENY
    assert isinstance(await service.receive(), Decide)
    withdrawal = await service.receive()
    reason = "the proxy denied it: the service did not acknowledge the call within 0.05 s"
    assert withdrawal == WithdrawMessage(ref=1, reason=reason)
    await service.send(VerdictMessage(ref=1, verdict=allow()))  # the service was only slow
    report = await service.receive()
    assert isinstance(report, NotCarriedOut)
    assert (report.ref, report.actor, report.reason) == (1, Actor.NONE, withdrawal.reason)
    await client.close()
    assert await service.rest() == []


async def test_a_late_deny_needs_no_report(scripted: tuple[ScriptedService, Home]) -> None:
    service, home = scripted
    client = DecisionClient(home, "fs", Timeouts(acknowledge=0.05))
    await client.decide(1, CALL)
    assert isinstance(await service.receive(), Decide)
    assert isinstance(await service.receive(), WithdrawMessage)
    denial = Verdict(decision=Decision.DENY, actor=Actor.RULE, reason="denied by rule", digest=CALL.digest)
    await service.send(VerdictMessage(ref=1, verdict=denial))
    await client.close()
    assert await service.rest() == []


async def test_an_allow_after_the_decision_deadline_is_reported(scripted: tuple[ScriptedService, Home]) -> None:
    service, home = scripted
    client = DecisionClient(home, "fs", Timeouts(acknowledge=5, grace=0.05))
    deciding = asyncio.ensure_future(client.decide(1, CALL))
    await service.receive()
    await service.send(Holding(ref=1, deadline_ms=0))  # a person decides, and misses the deadline
    outcome = await deciding
    assert outcome.verdict.actor is Actor.TIMEOUT
    assert isinstance(await service.receive(), WithdrawMessage)
    await service.send(VerdictMessage(ref=1, verdict=allow()))
    report = await service.receive()
    assert isinstance(report, NotCarriedOut) and report.actor is Actor.TIMEOUT
    await client.close()


async def test_an_allow_for_a_call_the_client_withdrew_is_reported(scripted: tuple[ScriptedService, Home]) -> None:
    service, home = scripted
    client = DecisionClient(home, "fs")
    deciding = asyncio.ensure_future(client.decide(1, CALL))
    await service.receive()
    client.withdraw(1, "the client cancelled the request")
    deciding.cancel()
    assert await service.receive() == WithdrawMessage(ref=1, reason="the client cancelled the request")
    await service.send(VerdictMessage(ref=1, verdict=allow()))  # decided before the withdrawal was read
    report = await service.receive()
    assert isinstance(report, NotCarriedOut) and report.reason == "the client cancelled the request"
    await client.close()


async def test_close_waits_for_the_verdicts_still_owed(scripted: tuple[ScriptedService, Home]) -> None:
    service, home = scripted
    client = DecisionClient(home, "fs", Timeouts(acknowledge=0.5))
    decided = await asyncio.gather(*(client.decide(ref, CALL) for ref in (1, 2)))
    assert all(outcome.decided_locally for outcome in decided)
    closing = asyncio.ensure_future(client.close())
    for ref in (1, 2):
        await service.send(VerdictMessage(ref=ref, verdict=allow()))
    rest = await service.rest()
    await closing
    assert rest.count("not-carried-out") == 2


async def test_a_busy_service_answering_the_calls_before_is_waited_for(scripted: tuple[ScriptedService, Home]) -> None:
    service, home = scripted
    client = DecisionClient(home, "fs", Timeouts(acknowledge=1.0))
    deciding = [asyncio.ensure_future(client.decide(ref, CALL)) for ref in (1, 2)]
    assert [(await service.receive()).ref for _ in range(2)] == [1, 2]
    for ref in (1, 2):  # each answer 0.6 s after the one before: the second comes 1.2 s after it was sent
        await asyncio.sleep(0.6)  # the service being slow is the scenario
        await service.send(VerdictMessage(ref=ref, verdict=allow()))
    outcomes = await asyncio.gather(*deciding)
    assert [outcome.verdict.decision for outcome in outcomes] == [Decision.ALLOW, Decision.ALLOW]
    await client.close()


async def test_the_redact_results_setting_follows_each_verdict_and_outcomes_go_back(
    scripted: tuple[ScriptedService, Home],
) -> None:
    service, home = scripted
    client = DecisionClient(home, "fs", Timeouts(acknowledge=5))
    deciding = asyncio.ensure_future(client.decide(1, CALL))
    assert isinstance(await service.receive(), Decide)
    seen = [client.redact_results]  # as the welcome said
    await service.send(VerdictMessage(ref=1, verdict=allow(), redact_results=True))  # switched on meanwhile
    assert (await deciding).verdict.decision is Decision.ALLOW
    seen.append(client.redact_results)
    assert seen == [False, True]
    report = ResultReport(size=3, sha256="ab" * 32, outcome="result")
    assert client.report_outcome(1, report)
    assert await service.receive() == OutcomeMessage(ref=1, report=report)
    await client.close()
