"""Rules through real parts: the CLI, a running service, and tool definitions from the real filesystem server."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import NODE, SDK_SERVER, SERVER_FILESYSTEM, ApproverHome, Service, require_npm_tools

pytestmark = pytest.mark.e2e

LEVELS = ["low", "medium", "high", "critical"]


def check(home: ApproverHome, *args: str) -> dict[str, Any]:
    result = home.approver("rules", "check", *args)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


async def test_real_filesystem_annotations_give_different_risk(home: ApproverHome, tmp_path: Path) -> None:
    require_npm_tools()
    params = StdioServerParameters(command=str(NODE), args=[str(SERVER_FILESYSTEM), str(tmp_path)])
    async with Client(params, mode="legacy") as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    results = {}
    for name in ("write_file", "read_text_file"):
        tool = tools[name]
        assert tool.annotations is not None
        annotations = tool.annotations.model_dump(mode="json", by_alias=True, exclude_none=True)
        results[name] = check(
            home,
            "--server",
            "filesystem",
            "--tool",
            name,
            "--args",
            json.dumps({"path": str(tmp_path / "notes.txt"), "content": "x"}),
            "--description",
            tool.description or "",
            "--annotations",
            json.dumps(annotations),
        )
    write, read = results["write_file"]["risk"], results["read_text_file"]["risk"]
    assert LEVELS.index(write["level"]) > LEVELS.index(read["level"])
    assert "annotations.destructive" in {reason["code"] for reason in write["reasons"]}
    assert "annotations.read_only" in {reason["code"] for reason in read["reasons"]}


def test_the_command_line_narrows_at_once_and_never_widens(home: ApproverHome) -> None:
    added = home.approver("rules", "add", "--effect", "deny", "--tool", "delete_*", "--id", "no-deletes")
    assert added.returncode == 0, added.stderr
    assert check(home, "--server", "fs", "--tool", "delete_file")["rule"] == "no-deletes"
    queued = home.approver(
        "rules",
        "add",
        "--effect",
        "allow",
        "--server",
        "fs",
        "--tool",
        "write_file",
        "--arg",
        '/path={"under": "~/project"}',
        "--expires",
        "2h",
        "--id",
        "fs-writes",
    )
    assert queued.returncode == 0, queued.stderr
    assert "takes effect only once a person confirms it" in queued.stdout
    assert (
        check(home, "--server", "fs", "--tool", "write_file", "--args", '{"path": "~/project/a"}')["decision"] == "ask"
    )
    removed = home.approver("rules", "remove", "no-deletes")
    assert "a person must confirm it in the app" in removed.stdout
    assert check(home, "--server", "fs", "--tool", "delete_file")["decision"] == "deny"
    listing = json.loads(home.approver("rules", "list", "--json").stdout)
    assert [change["action"] for change in listing["pending"]] == ["add", "remove"]


async def test_the_service_applies_argument_rules_and_logs_rule_changes(home: ApproverHome) -> None:
    policy = home.write_policy(
        {
            "effect": "allow",
            "schema": "any",
            "server": "sdk",
            "tool": "add",
            "args": {"/a": {"equals": 1}},
            "id": "add-one",
        },
        {"effect": "deny", "tool": "delete_file", "args": {"/path": {"under": "/etc"}}, "id": "etc-is-off-limits"},
    )
    service = Service(home, "--policy", str(policy))
    try:
        command = home.proxy_command("sdk", sys.executable, SDK_SERVER)
        params = StdioServerParameters(command=command[0], args=command[1:], env=home.env)
        async with Client(params, mode="legacy") as client:
            assert not (await client.call_tool("add", {"a": 1, "b": 2})).is_error
            assert (await client.call_tool("add", {"a": 2, "b": 2})).is_error  # no rule for a=2: headless denies
            traversal = await client.call_tool("delete_file", {"path": "/tmp/../etc/passwd"})
            assert traversal.is_error
            # an agent edits the rules file behind the service's back, widening it
            policy.write_text(json.dumps({"rules": [{"effect": "allow", "schema": "any", "tool": "*"}]}))
            assert (await client.call_tool("add", {"a": 5, "b": 5})).is_error
        status = home.approver("status").stdout
        assert "was changed outside MCP Approver" in status
    finally:
        service.stop()
    decisions = [(e["tool"], e["decision"], e.get("rule")) for e in home.log()]
    assert decisions == [
        ("add", "allow", "add-one"),
        ("add", "deny", None),
        ("delete_file", "deny", "etc-is-off-limits"),
        ("add", "deny", None),
    ]
    entries = [json.loads(line) for line in home.approver("log", "export").stdout.splitlines()]
    changes = [e for e in entries if e["kind"] == "rule-change"]
    assert changes[0]["change"] == "in force at start"
    assert changes[-1]["trusted"] is False
    assert changes[-1]["added"] == ["rules[0]"]


def test_the_command_line_says_in_one_line_what_a_rule_got_wrong(home: ApproverHome) -> None:
    bracket = home.approver("rules", "add", "--effect", "deny", "--tool", "ech[o")
    assert bracket.returncode != 0
    [line] = bracket.stderr.splitlines()
    assert "tool: the [ at position 4 of 'ech[o' opens a set that is never closed" in line
    typo = home.approver("rules", "add", "--effect", "deny", "--arg", '/c={"regx": ".*"}')
    [line] = typo.stderr.splitlines()
    assert "args./c.regx: unknown field (did you mean 'regex'?)" in line
    home.policy_file.write_text('{"rules": [{"effect": "alow", "tool": "x"}]}')
    checked = home.approver("rules", "check", "--server", "s", "--tool", "x", "--policy", str(home.policy_file))
    [line] = checked.stderr.splitlines()
    assert line.endswith("rule 1, effect: 'alow' is not one of allow, deny, ask (did you mean 'allow'?)")
