"""The whole path with real parts: the official Python SDK client -> `approver proxy` -> a real MCP server,
with `approver serve --headless` deciding and logging."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError
from mcp_types import TextContent

from tests.conftest import NODE, SDK_SERVER, SERVER_EVERYTHING, ApproverHome, children_of, require_npm_tools

pytestmark = pytest.mark.e2e

ALLOW_ECHO = {"effect": "allow", "schema": "any", "server": "everything", "tool": "echo", "id": "echo-ok"}
DENY_ENV = {"effect": "deny", "server": "*", "tool": "get-env", "id": "no-env", "note": "environment holds secrets"}


def everything(home: ApproverHome, mode: str = "legacy") -> Client:
    require_npm_tools()
    command = home.proxy_command("everything", NODE, SERVER_EVERYTHING, "stdio")
    return Client(StdioServerParameters(command=command[0], args=command[1:], env=home.env), mode=mode)


def cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def text_of(result: Any) -> str:
    [content] = result.content
    assert isinstance(content, TextContent)
    return content.text


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_rules_decide_and_every_decision_is_logged(home: ApproverHome, start_service: Any, mode: str) -> None:
    start_service(ALLOW_ECHO, DENY_ENV)
    async with everything(home, mode) as client:
        tools = await client.list_tools()
        assert "echo" in [tool.name for tool in tools.tools]

        allowed = await client.call_tool("echo", {"message": "hello through the gate"})
        assert not allowed.is_error
        assert text_of(allowed) == "Echo: hello through the gate"

        denied = await client.call_tool("get-env", {})
        assert denied.is_error
        assert "auto-approve rule" in text_of(denied)
        assert "no-env" in text_of(denied)
        assert "environment holds secrets" in text_of(denied)
        assert "Do not retry" in text_of(denied)

        unmatched = await client.call_tool("get-sum", {"a": 1, "b": 2})
        assert unmatched.is_error
        assert "no approver present" in text_of(unmatched)

    log = home.log()
    assert [(e["tool"], e["decision"], e["actor"]) for e in log] == [
        ("echo", "allow", "rule"),
        ("get-env", "deny", "rule"),
        ("get-sum", "deny", "none"),
    ]
    assert all(e["server"] == "everything" and e["digest"].startswith("sha256:") for e in log)
    assert log[0]["rule"] == "echo-ok"
    assert log[0]["client"].startswith("mcp")


async def test_the_stateless_era_is_gated_too(home: ApproverHome, start_service: Any) -> None:
    start_service(
        {"effect": "allow", "schema": "any", "server": "sdk", "tool": "add"}, {"effect": "deny", "tool": "delete_*"}
    )
    async with sdk_server(home, mode="2026-07-28") as client:
        assert not (await client.call_tool("add", {"a": 2, "b": 40})).is_error
        denied = await client.call_tool("delete_file", {"path": "/etc/passwd"})
        assert denied.is_error
        assert "delete_file" in text_of(denied)
    assert [(e["tool"], e["decision"]) for e in home.log()] == [("add", "allow"), ("delete_file", "deny")]


async def test_progress_notifications_are_relayed(home: ApproverHome, start_service: Any) -> None:
    start_service(
        {"effect": "allow", "schema": "any", "server": "everything", "tool": "trigger-long-running-operation"}
    )
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async with everything(home) as client:
        result = await client.call_tool(
            "trigger-long-running-operation", {"duration": 1, "steps": 4}, progress_callback=on_progress
        )
    assert not result.is_error
    assert seen == [1, 2, 3, 4]


def sdk_server(home: ApproverHome, mode: str = "legacy") -> Client:
    command = home.proxy_command("sdk", sys.executable, SDK_SERVER)
    return Client(StdioServerParameters(command=command[0], args=command[1:], env=home.env), mode=mode)


async def test_twenty_megabyte_messages_pass_intact_both_ways(home: ApproverHome, start_service: Any) -> None:
    # server-everything (the TypeScript SDK) refuses lines over 10 MB, so the 20 MB case uses the Python SDK.
    start_service({"effect": "allow", "schema": "any", "tool": "echo"})
    big = "é≠" * 4_300_000 + "🙂"  # 21.5 MB of UTF-8 in each direction
    async with sdk_server(home) as client:
        result = await client.call_tool("echo", {"message": big})
    assert not result.is_error
    assert text_of(result) == big
    nine_mb = "x" * 9_000_000
    async with everything(home) as client:
        result = await client.call_tool("echo", {"message": nine_mb})
    assert text_of(result) == "Echo: " + nine_mb


async def test_with_no_service_calls_are_denied_at_once_and_recorded(home: ApproverHome, start_service: Any) -> None:
    async with everything(home) as client:
        started = time.monotonic()
        result = await client.call_tool("echo", {"message": "x"})
        elapsed = time.monotonic() - started
        listed = await client.list_tools()  # everything else keeps working
    assert result.is_error
    assert "MCP Approver is not running" in text_of(result)
    assert "approver serve --headless" in text_of(result)
    # One voice: the model is told not to retry on its own; the person is told how to make it possible again.
    assert "Do not retry this call on your own" in text_of(result)
    assert "the user can start it" in text_of(result)
    assert "then ask for the call again" not in text_of(result)
    assert elapsed < 5, "a missing service must not look like a slow one"  # generous: the bound is 'not hung'
    assert listed.tools
    [pending] = home.log()
    assert pending["pending"] is True
    assert (pending["tool"], pending["decision"], pending["actor"], pending["source"]) == (
        "echo",
        "deny",
        "none",
        "proxy",
    )

    start_service()  # the service takes the spooled decision into its log when it starts
    [taken] = home.log()
    assert "pending" not in taken
    assert (taken["tool"], taken["source"], taken["decided_at"]) == ("echo", "proxy", pending["decided_at"])


async def test_when_the_service_stops_calls_are_denied(home: ApproverHome, start_service: Any) -> None:
    service = start_service(ALLOW_ECHO)
    async with everything(home) as client:
        assert not (await client.call_tool("echo", {"message": "1"})).is_error
        service.stop()
        result = await client.call_tool("echo", {"message": "2"})
    assert result.is_error
    assert "MCP Approver is not running" in text_of(result)


async def test_a_server_that_dies_mid_call_yields_an_error_not_a_hang(home: ApproverHome, start_service: Any) -> None:
    start_service({"effect": "allow", "schema": "any", "tool": "*"})
    async with everything(home) as client:
        proxies = [p for p in children_of(os.getpid()) if b"proxy" in cmdline(p)]
        [proxy] = proxies
        [server] = children_of(proxy)

        async def kill_when_running(progress: float, total: float | None, message: str | None) -> None:
            os.kill(server, signal.SIGKILL)

        with pytest.raises(MCPError) as caught:
            await client.call_tool(
                "trigger-long-running-operation", {"duration": 30, "steps": 30}, progress_callback=kill_when_running
            )
    assert "everything" in str(caught.value)
    assert "is not running" in str(caught.value)
