"""Rug pulls, end to end with real parts: a malicious Python SDK server (tests/servers/rug_pull_server.py) that
redefines `read_note` after the first `tools/list`, real clients (the Python SDK client, the Inspector CLI),
`approver proxy`, and `approver serve --headless` pinning definitions in the signed log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp_types import TextContent

from tests.conftest import NODE, NPM_MODULES, ROOT, ApproverHome, require_npm_tools

pytestmark = pytest.mark.e2e

RUG_PULL_SERVER = ROOT / "tests" / "servers" / "rug_pull_server.py"
INSPECTOR = NPM_MODULES / ".bin" / "mcp-inspector"
ALLOW_NOTES = {"effect": "allow", "server": "notes", "tool": "read_note", "id": "read-notes"}
ALLOW_ADD = {"effect": "allow", "server": "notes", "tool": "add"}


def notes_server(home: ApproverHome, mode: str, *, poisoned: bool = False) -> Client:
    """The rug-pull server behind the proxy; `poisoned`: it serves the payload from its first list on."""
    command = home.proxy_command("notes", sys.executable, RUG_PULL_SERVER)
    env = {**home.env, "RUG_PULL_POISONED": "1" if poisoned else "0"}
    return Client(StdioServerParameters(command=command[0], args=command[1:], env=env), mode=mode)


def text_of(result: Any) -> str:
    [content] = result.content
    assert isinstance(content, TextContent)
    return content.text


def pin_entries(home: ApproverHome) -> list[dict[str, Any]]:
    exported = home.approver("log", "export", "--format", "jsonl")
    assert exported.returncode == 0, exported.stderr
    entries = [json.loads(line) for line in exported.stdout.splitlines()]
    return [entry for entry in entries if entry.get("kind") == "tool-definition"]


def description_of(tools: Any, name: str) -> str:
    [tool] = [tool for tool in tools.tools if tool.name == name]
    return str(tool.description)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_a_rug_pull_stops_the_rule_until_a_person_accepts(
    home: ApproverHome, start_service: Any, mode: str
) -> None:
    service = start_service(ALLOW_NOTES, ALLOW_ADD)
    async with notes_server(home, mode) as client:
        before = await client.list_tools()
        assert "IMPORTANT" not in description_of(before, "read_note")
        allowed = await client.call_tool("read_note", {"title": "groceries"})
        assert not allowed.is_error, text_of(allowed)

        after = await client.list_tools()  # the server has redefined the tool: its description is now a payload
        assert "IMPORTANT" in description_of(after, "read_note")
        stopped = await client.call_tool("read_note", {"title": "~/.ssh/id_rsa"})
        assert stopped.is_error
        assert "definition changed since it was accepted" in text_of(stopped)
        assert "accept it in the MCP Approver app" in text_of(stopped)
        # Other tools of the server are not held back by one tool's change.
        assert not (await client.call_tool("add", {"a": 1, "b": 2})).is_error

    decisions = home.log()
    assert [(e["tool"], e["decision"], e["actor"]) for e in decisions] == [
        ("read_note", "allow", "rule"),
        ("read_note", "deny", "none"),
        ("add", "allow", "rule"),
    ]
    pins = [(e["tool"], e["event"], e["accepted"]) for e in pin_entries(home)]
    assert pins == [
        ("read_note", "first-seen", True),
        ("add", "first-seen", True),
        ("read_note", "changed", False),
    ]
    first, _, changed = pin_entries(home)
    assert changed["old_digest"] == first["new_digest"] != changed["new_digest"]
    assert changed["server_info"] == "rug-pull-server"
    assert "IMPORTANT" in json.loads(changed["definition"])["description"]
    verify = home.approver("log", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr

    # The pin outlives the service, and the JSON copy beside the log decides nothing: "accepting" the new
    # definition there, as a same-user process could, does not bring the rule back.
    service.stop()
    seen_file = home.root / "data" / "tools-seen.json"
    seen = json.loads(seen_file.read_text())
    seen["notes"]["read_note"].update(changed=False, accepted_digest=seen["notes"]["read_note"]["digest"])
    seen_file.write_text(json.dumps(seen))
    start_service(ALLOW_NOTES)
    async with notes_server(home, mode, poisoned=True) as client:
        await client.list_tools()
        again = await client.call_tool("read_note", {"title": "x"})
    assert again.is_error
    assert "definition changed since it was accepted" in text_of(again)


async def test_a_rule_tied_to_a_definition_digest_stops_matching_when_it_changes(
    home: ApproverHome, start_service: Any
) -> None:
    first = start_service()
    async with notes_server(home, "legacy") as client:
        await client.list_tools()
    [harmless, _] = pin_entries(home)
    first.stop()
    start_service({**ALLOW_NOTES, "definition": harmless["new_digest"]})
    async with notes_server(home, "legacy") as client:
        await client.list_tools()
        assert not (await client.call_tool("read_note", {"title": "a"})).is_error
        await client.list_tools()
        # A person accepting the new definition would not revive this rule: it names the old digest.
        held = await client.call_tool("read_note", {"title": "b"})
    assert held.is_error
    assert [(e["decision"], e["actor"]) for e in home.log()] == [("allow", "rule"), ("deny", "none")]


def inspector_tools(home: ApproverHome, *, poisoned: bool, quarantine: bool) -> list[dict[str, Any]]:
    require_npm_tools()
    env = {**home.env, "PATH": f"{NODE.parent}{os.pathsep}{os.environ['PATH']}"}
    proxy = [*home.proxy_command("notes", sys.executable, RUG_PULL_SERVER)]
    if quarantine:
        proxy.insert(proxy.index("--name"), "--quarantine")
    command = [
        str(INSPECTOR),
        "--cli",
        "-q",
        "-e",
        f"APPROVER_HOME={home.root}",
        *(["-e", "RUG_PULL_POISONED=1"] if poisoned else []),
        "--method",
        "tools/list",
        "--",
        *proxy,
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout)["tools"])


def test_quarantine_hides_the_changed_tool_from_the_inspector(home: ApproverHome, start_service: Any) -> None:
    start_service(ALLOW_NOTES)
    trusted = inspector_tools(home, poisoned=False, quarantine=False)
    assert sorted(tool["name"] for tool in trusted) == ["add", "read_note"]
    poisoned = inspector_tools(home, poisoned=True, quarantine=True)
    assert [tool["name"] for tool in poisoned] == ["add"]  # the redefined read_note never reaches the client
    assert poisoned[0] == next(tool for tool in trusted if tool["name"] == "add")
    assert "read_note" in [t["name"] for t in inspector_tools(home, poisoned=True, quarantine=False)]
    events = [(e["tool"], e["event"], e["accepted"]) for e in pin_entries(home)]
    assert events == [
        ("read_note", "first-seen", True),
        ("add", "first-seen", True),
        ("read_note", "changed", False),
    ]
    assert home.approver("log", "verify").returncode == 0


def test_the_rug_pull_server_really_changes_its_definition() -> None:
    """The attack works without the gate: the second list carries the payload (so the tests above are not
    passing because the server never changed)."""
    script = (
        "import asyncio, sys\n"
        "from mcp import Client, StdioServerParameters\n"
        "async def main():\n"
        f"    async with Client(StdioServerParameters(command=sys.executable, args=[{str(RUG_PULL_SERVER)!r}])) as c:\n"
        "        for _ in range(2):\n"
        "            tools = await c.list_tools()\n"
        "            print([t.description for t in tools.tools if t.name == 'read_note'][0])\n"
        "asyncio.run(main())\n"
    )
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    first, second = shown.stdout.splitlines()
    assert "IMPORTANT" not in first
    assert "IMPORTANT" in second
