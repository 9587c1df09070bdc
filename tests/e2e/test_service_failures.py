"""A service that is there but wrong: silent, confused, or of another protocol version. Every case denies.

The misbehaving services here are deliberately broken stand-ins listening on the real socket path and holding the
home's instance lock, as a broken service would; the proxy, the client and the MCP server are the real ones."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp_types import TextContent

from approver.platform.instance import InstanceLock
from approver.platform.paths import Home, ensure_private_dir
from tests.conftest import NODE, SERVER_EVERYTHING, ApproverHome, require_npm_tools

pytestmark = pytest.mark.e2e

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def broken_service(home: ApproverHome, behaviour: Behaviour, monkeypatch: Any) -> AsyncIterator[None]:
    monkeypatch.setenv("APPROVER_HOME", str(home.root))
    path = Home.from_environment().socket_path
    ensure_private_dir(path.parent)
    lock = InstanceLock(Home.from_environment())
    lock.acquire()
    connections: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        try:
            await behaviour(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_unix_server(serve, str(path))
    try:
        yield
    finally:
        server.close()
        for writer in connections:
            writer.close()
        await server.wait_closed()
        await asyncio.sleep(0)  # let the closed transports finish
        lock.release()


async def welcome_then(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, after: bytes | None) -> None:
    await reader.readline()
    writer.write(json.dumps({"type": "welcome", "v": 2, "service": "broken", "mode": "headless"}).encode() + b"\n")
    await reader.readline()  # the decide request
    if after is not None:
        writer.write(after)
    await reader.read()  # hold the connection open, answering nothing more


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await welcome_then(reader, writer, None)


async def confused(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await welcome_then(reader, writer, b"{this is not the protocol}\n")


async def holds_forever(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await welcome_then(reader, writer, b'{"type":"holding","ref":1,"deadline_ms":300}\n')


async def other_version(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readline()
    writer.write(b'{"type":"refused","reason":"this service speaks protocol version 2"}\n')
    await writer.drain()
    writer.close()


async def hangs_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readline()
    writer.close()


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        (silent, "did not acknowledge the call within 0.5 s"),
        (confused, "the connection to the service failed"),
        (holds_forever, "gave no decision within"),
        (other_version, "the service refused this proxy: this service speaks protocol version 2"),
        (hangs_up, "the service closed the connection"),
    ],
)
async def test_a_broken_service_means_deny(
    home: ApproverHome, monkeypatch: Any, behaviour: Behaviour, expected: str
) -> None:
    require_npm_tools()
    command = [*home.proxy_command("everything", NODE, SERVER_EVERYTHING, "stdio")]
    command.insert(command.index("--name"), "--ack-timeout")
    command.insert(command.index("--name"), "0.5")
    params = StdioServerParameters(command=command[0], args=command[1:], env=home.env)
    async with broken_service(home, behaviour, monkeypatch), Client(params, mode="legacy") as client:
        started = time.monotonic()
        result = await client.call_tool("echo", {"message": "x"})
        elapsed = time.monotonic() - started
    assert result.is_error
    [content] = result.content
    assert isinstance(content, TextContent)
    assert expected in content.text
    assert elapsed < 10  # denied, not hung (the bound is loose on purpose: this is not a timing test)
    [record] = home.log()
    assert (record["decision"], record["source"]) == ("deny", "proxy")


async def slow_person(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A healthy service where a person takes a while: holding at once, an allow after 1.5 s."""
    await reader.readline()
    writer.write(json.dumps({"type": "welcome", "v": 2, "service": "slow", "mode": "desktop"}).encode() + b"\n")
    decide = json.loads(await reader.readline())
    writer.write(json.dumps({"type": "holding", "ref": decide["ref"], "deadline_ms": 30_000}).encode() + b"\n")
    await asyncio.sleep(1.5)
    verdict = {"decision": "allow", "actor": "human", "reason": "ok", "digest": decide["call"]["digest"]}
    writer.write(json.dumps({"type": "verdict", "ref": decide["ref"], "verdict": verdict}).encode() + b"\n")
    await reader.read()


async def test_a_waiting_call_keeps_the_client_alive_with_progress(home: ApproverHome, monkeypatch: Any) -> None:
    require_npm_tools()
    command = home.proxy_command("everything", NODE, SERVER_EVERYTHING, "stdio")
    params = StdioServerParameters(command=command[0], args=command[1:], env=home.env)
    messages: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message)

    async with broken_service(home, slow_person, monkeypatch), Client(params, mode="legacy") as client:
        result = await client.call_tool("echo", {"message": "hi"}, progress_callback=on_progress)
    assert not result.is_error
    assert messages
    assert all(m is not None and m.startswith("Waiting for approval in MCP Approver") for m in messages)
