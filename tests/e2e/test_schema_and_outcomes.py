"""Issue 12, items 4-6, end to end with real parts: the official Python SDK client (and the Inspector CLI) ->
`approver proxy` -> a malicious MCP server of our own (tests/servers/leaky_server.py), with `approver serve
--headless` deciding and logging.

- A call whose arguments break the tool's inputSchema (or to a tool the server never listed) is not allowed by
  an allow rule: headless, nobody can be asked, so it is denied and the denial names the validation errors.
- Each forwarded call gets one outcome entry in the signed log (size, digest, isError, findings; never the
  content), which `approver log verify` accepts; the secret in the result never reaches the log.
- With --redact-results the client gets the result with the secret replaced, and is told so.
- resources/read and prompts/get are decided too: allowed and logged by default, gated by a `method` rule.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError
from mcp_types import TextContent

from approver.platform.paths import Home
from tests.conftest import NODE, NPM_MODULES, ROOT, ApproverHome, Service, require_npm_tools
from tests.servers.leaky_server import INJECTED, LEAKED_KEY_ID, LEAKED_SECRET, NOTES_URI

pytestmark = pytest.mark.e2e

LEAKY_SERVER = ROOT / "tests" / "servers" / "leaky_server.py"
ALLOW_LEAKY = {"effect": "allow", "server": "leaky", "tool": "*", "id": "leaky-tools"}


def leaky(home: ApproverHome, mode: str = "legacy") -> Client:
    command = home.proxy_command("leaky", sys.executable, LEAKY_SERVER)
    return Client(StdioServerParameters(command=command[0], args=command[1:], env=home.env), mode=mode)


def text_of(result: Any) -> str:
    return "\n".join(item.text for item in result.content if isinstance(item, TextContent))


def log_entries(home: ApproverHome) -> list[dict[str, Any]]:
    lines = (home.root / "data" / "decisions.jsonl").read_text().splitlines()
    return [json.loads(line)["e"] for line in lines]


def wait_for_outcomes(home: ApproverHome, count: int) -> None:
    """Outcomes are reported after the response went to the client: poll until the service has logged them."""
    deadline = time.monotonic() + 10
    while sum(e["kind"] == "outcome" for e in log_entries(home)) < count:
        assert time.monotonic() < deadline, "the outcome entries never arrived"
        time.sleep(0.02)


def verify(home: ApproverHome) -> None:
    verified = home.approver("log", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_schema_invalid_call_is_asked_not_allowed(home: ApproverHome, start_service: Any, mode: str) -> None:
    start_service(ALLOW_LEAKY)
    async with leaky(home, mode) as client:
        await client.list_tools()
        assert text_of(await client.call_tool("status", {"service": "db"})) == "db is fine"
        wrong = await client.call_tool("status", {"service": 42, "shell": "rm -rf ~"})
        assert wrong.is_error
        said = text_of(wrong)
        assert "do not match the tool's inputSchema" in said
        assert "'shell' is not a parameter the tool declares" in said
        assert "arguments.service: must be of type" in said
    [allowed, denied] = home.log()
    assert (allowed["decision"], allowed["actor"]) == ("allow", "rule")
    assert (denied["decision"], denied["actor"]) == ("deny", "none")  # headless: the person could not be asked
    assert "rule leaky-tools says allow, but the arguments do not match" in denied["reason"]
    assert "rm -rf" not in denied["reason"]  # errors name the rule broken, never the value


async def test_a_call_to_a_tool_never_listed_is_not_allowed_by_a_rule(home: ApproverHome, start_service: Any) -> None:
    start_service(ALLOW_LEAKY)
    async with leaky(home) as client:  # no tools/list in this session: the proxy has no schema for the tool
        unlisted = await client.call_tool("status", {"service": "db"})
    assert unlisted.is_error
    assert "never listed this tool" in text_of(unlisted)
    [denied] = home.log()
    assert denied["decision"] == "deny"


async def test_a_schema_opt_out_rule_still_allows(home: ApproverHome, start_service: Any) -> None:
    start_service({**ALLOW_LEAKY, "schema": "any"})
    async with leaky(home) as client:
        assert not (await client.call_tool("status", {"service": "db"})).is_error


async def test_each_forwarded_call_has_a_signed_outcome_without_its_content(
    home: ApproverHome, start_service: Any
) -> None:
    start_service(ALLOW_LEAKY, {"effect": "deny", "tool": "status", "id": "no-status"})
    async with leaky(home) as client:
        await client.list_tools()
        leaked = await client.call_tool("get_config", {"service": "billing"})
        assert LEAKED_KEY_ID in text_of(leaked)  # redact-results is off: the relay does not change results
        assert not (await client.call_tool("get_config", {"service": "db", "verbose": True})).is_error
        assert (await client.call_tool("status", {"service": "db"})).is_error  # denied: never forwarded

    wait_for_outcomes(home, 2)
    entries = log_entries(home)
    allows = [e for e in entries if e["kind"] == "decision" and e["decision"] == "allow"]
    outcomes = [e for e in entries if e["kind"] == "outcome"]
    assert len(allows) == 2
    linked = sorted((o["decision_seq"], o["digest"]) for o in outcomes)  # reported as inspected: any order
    assert linked == [(a["seq"], a["digest"]) for a in allows]
    for outcome in outcomes:
        assert outcome["outcome"] == "result"
        assert outcome["is_error"] is False
        assert outcome["size"] > 0 and len(outcome["sha256"]) == 64
        kinds = {(f["kind"], f["what"]) for f in outcome["findings"]}
        assert {("secret", "aws_access_key_id"), ("secret", "aws_secret_access_key")} <= kinds
        assert ("instruction", "ignore-previous-instructions") in kinds
    raw_log = (home.root / "data" / "decisions.jsonl").read_text()
    for leaked_text in (LEAKED_KEY_ID, LEAKED_SECRET, INJECTED[:40]):
        assert leaked_text not in raw_log
    shown = [entry for entry in home.log() if entry["decision"] == "allow"]
    # show joins each allow to its outcome; the result holds the text twice (content and structuredContent)
    assert [entry["outcome"]["findings_total"] for entry in shown] == [6, 6]
    verify(home)


async def test_redact_results_replaces_secrets_before_the_client_sees_them(home: ApproverHome) -> None:
    service = Service(home, "--policy", str(home.write_policy(ALLOW_LEAKY)), "--redact-results")
    try:
        async with leaky(home) as client:
            await client.list_tools()
            result = await client.call_tool("get_config", {"service": "billing"})
        wait_for_outcomes(home, 1)
    finally:
        service.stop()
    said = text_of(result)
    assert LEAKED_KEY_ID not in said and LEAKED_SECRET not in said
    assert "[redacted:aws_access_key_id:" in said
    assert "MCP Approver redacted 4 secret(s) from this result" in said  # in content and structuredContent
    [outcome] = [e for e in log_entries(home) if e["kind"] == "outcome"]
    assert outcome["redacted"] is True
    verify(home)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_resource_and_prompt_reads_are_allowed_and_logged_by_default(
    home: ApproverHome, start_service: Any, mode: str
) -> None:
    start_service()  # no rules at all: tool calls would be denied headless, reads are allowed and logged
    async with leaky(home, mode) as client:
        read = await client.read_resource(NOTES_URI)
        assert "the notes of the leaky server" in json.dumps(read.model_dump(mode="json"))
        prompt = await client.get_prompt("summarise", {"service": "db"})
        assert "Summarise the configuration of db." in json.dumps(prompt.model_dump(mode="json"))
    wait_for_outcomes(home, 2)
    decisions = home.log()
    assert [(e["method"], e["tool"], e["decision"], e["actor"]) for e in decisions] == [
        ("resources/read", NOTES_URI, "allow", "rule"),
        ("prompts/get", "summarise", "allow", "rule"),
    ]
    assert all(e["outcome"]["outcome"] == "result" for e in decisions)
    verify(home)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_a_method_rule_gates_file_reads(home: ApproverHome, start_service: Any, mode: str) -> None:
    start_service({"method": "resources/read", "effect": "ask", "uri": {"glob": "file://*"}, "id": "ask-files"})
    async with leaky(home, mode) as client:
        with pytest.raises(MCPError) as caught:  # a JSON-RPC error: a resource read has no isError result
            await client.read_resource(NOTES_URI)
        assert f"MCP Approver denied the read of resource '{NOTES_URI}'" in str(caught.value)
        assert (await client.list_resources()).resources  # listing is not gated: it passes untouched
    [denied] = home.log()
    assert (denied["method"], denied["decision"], denied["actor"]) == ("resources/read", "deny", "none")
    assert "rule ask-files says ask" in denied["reason"]


def test_the_inspector_cli_is_told_why_a_wrongly_typed_call_was_not_allowed(
    home: ApproverHome, start_service: Any
) -> None:
    require_npm_tools()
    start_service(ALLOW_LEAKY)
    env = {**home.env, "PATH": f"{NODE.parent}{os.pathsep}{os.environ['PATH']}"}
    command = [
        str(NPM_MODULES / ".bin" / "mcp-inspector"),
        "--cli",
        "-q",
        "-e",
        f"APPROVER_HOME={home.root}",
        "--method",
        "tools/call",
        "--tool-name",
        "status",
        "--tool-arg",
        "service=db",
        "extra=1",
        "--",
        *home.proxy_command("leaky", sys.executable, LEAKY_SERVER),
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    said = result.stdout + result.stderr
    assert "do not match the tool's inputSchema" in said, said
    [denied] = home.log()
    assert denied["decision"] == "deny"


async def test_another_process_cannot_log_an_outcome_for_a_call_it_was_not_allowed(
    home: ApproverHome, start_service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    start_service(ALLOW_LEAKY)
    async with leaky(home) as client:
        await client.list_tools()
        await client.call_tool("status", {"service": "db"})
    wait_for_outcomes(home, 1)
    [allowed] = home.log()
    # An agent on the same socket claims a harmless outcome for that call (ref 1 was the real proxy's).
    monkeypatch.setenv("APPROVER_HOME", str(home.root))
    forged = {"type": "outcome", "ref": 1, "report": {"size": 1, "sha256": "00" * 32, "outcome": "result"}}
    with socket.socket(socket.AF_UNIX) as agent:
        agent.connect(str(Home.from_environment().socket_path))
        replies = agent.makefile("rb")
        agent.sendall(json.dumps({"type": "hello", "v": 2, "role": "proxy", "pid": 1}).encode() + b"\n")
        assert json.loads(replies.readline())["type"] == "welcome"
        agent.sendall(json.dumps(forged).encode() + b"\n" + b'{"type":"status"}\n')
        assert json.loads(replies.readline())["type"] == "status-reply"  # the forgery has been read
    outcomes = [e for e in log_entries(home) if e["kind"] == "outcome"]
    assert [(o["decision_seq"], o["size"]) for o in outcomes] == [(allowed["seq"], allowed["outcome"]["size"])]
    assert outcomes[0]["sha256"] != "00" * 32
