"""The rules seal against an agent with a shell but no keyring access: it can copy, restore and delete files.

Through real parts: the app's own rules store (the code the Save button runs), the `approver rules` command line,
a real headless service, `approver proxy` and server-everything, driven by the `mcp` SDK client.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult

from approver.platform.keystore import open_secret_store
from approver.platform.paths import Home
from approver.service.policy_store import seal_memory_name
from approver.service.rules_tools import open_rules
from tests.conftest import NODE, SERVER_EVERYTHING, ApproverHome, Service, require_npm_tools

pytestmark = pytest.mark.e2e

ALLOW_ECHO = {"effect": "allow", "schema": "any", "server": "everything", "tool": "echo", "id": "echo-ok"}
DENY_SECRETS = {
    "effect": "deny",
    "server": "everything",
    "tool": "echo",
    "args": {"/message": {"glob": "*secret*"}},
    "id": "no-secrets",
}


def app_home(home: ApproverHome) -> Home:
    """The same home the service and the command line find through APPROVER_HOME."""
    root = home.root.resolve()
    return Home(root / "config", root / "data", root / "run", explicit=True)


async def echo(home: ApproverHome, message: str) -> CallToolResult:
    require_npm_tools()
    command = home.proxy_command("everything", NODE, SERVER_EVERYTHING, "stdio")
    params = StdioServerParameters(command=command[0], args=command[1:], env=home.env)
    async with Client(params, mode="legacy") as client:
        return await client.call_tool("echo", {"message": message})


def rule_changes(home: ApproverHome) -> list[dict[str, Any]]:
    exported = home.approver("log", "export")
    assert exported.returncode == 0, exported.stderr
    entries = [json.loads(line) for line in exported.stdout.splitlines()]
    return [entry for entry in entries if entry["kind"] == "rule-change" and entry.get("layer") == "user"]


async def test_an_older_sealed_pair_restored_by_an_agent_does_not_bring_an_allow_back(home: ApproverHome) -> None:
    rules_home = app_home(home)
    open_rules(rules_home).replace_user_rules([ALLOW_ECHO])  # what Save in the app does once a person confirms
    policy, seal = rules_home.policy_file, rules_home.policy_file.with_name("policy.json.trust")
    service = Service(home)
    try:
        assert not (await echo(home, "one")).is_error
        saved = {path: path.read_bytes() for path in (policy, seal)}  # the agent keeps the trusted pair
        removed = home.approver("rules", "remove", "echo-ok")  # the person takes the allow away
        assert removed.returncode == 0, removed.stderr
        assert "no longer applies" in removed.stdout
        assert (await echo(home, "two")).is_error
        for path, data in saved.items():  # the agent puts the old pair back: a file copy, no keyring
            path.write_bytes(data)
        assert (await echo(home, "three")).is_error
        status = home.approver("status")
        assert "rolled back to an older seal (version 1 < 2)" in status.stdout
    finally:
        service.stop()
    service = Service(home)  # restarted, the service still knows which seal is the newest
    try:
        assert (await echo(home, "four")).is_error
    finally:
        service.stop()
    # Even with the keyring's memory of the newest seal gone, the signed log still names it.
    keyring, _status = open_secret_store(rules_home.key_file)
    keyring.delete(seal_memory_name(policy))
    service = Service(home)
    try:
        assert (await echo(home, "five")).is_error
        assert "rolled back to an older seal (version 1 < 2)" in home.approver("status").stdout
    finally:
        service.stop()
    decisions = [(entry["decision"], entry.get("rule")) for entry in home.log()]
    assert decisions == [("allow", "echo-ok"), *[("deny", None)] * 4]
    reasons = [entry.get("reason", "") for entry in rule_changes(home)]
    assert any("rolled back to an older seal (version 1 < 2)" in reason for reason in reasons), reasons
    assert any("resealed by command-line narrowing" in reason for reason in reasons), reasons
    assert not any("confirmed by a person in the app" in reason for reason in reasons[2:]), reasons


async def test_deleting_the_seal_keeps_the_trusted_deny(home: ApproverHome) -> None:
    rules_home = app_home(home)
    open_rules(rules_home).replace_user_rules([ALLOW_ECHO, DENY_SECRETS])
    policy, seal = rules_home.policy_file, rules_home.policy_file.with_name("policy.json.trust")
    service = Service(home)
    try:
        assert not (await echo(home, "hello")).is_error
        assert (await echo(home, "a secret")).is_error
        seal.unlink()  # the agent deletes the seal and drops the deny from the file
        policy.write_text(json.dumps({"version": 1, "rules": [ALLOW_ECHO]}))
        assert (await echo(home, "another secret")).is_error
    finally:
        service.stop()
    service = Service(home)
    try:
        assert (await echo(home, "a third secret")).is_error
    finally:
        service.stop()
    decisions = [(entry["decision"], entry.get("rule")) for entry in home.log()]
    assert decisions == [
        ("allow", "echo-ok"),
        ("deny", "no-secrets"),
        ("deny", "no-secrets"),  # the trusted deny still decides, not "no approver present"
        ("deny", "no-secrets"),  # and still does after a restart, with no seal file at all
    ]
    reasons = [entry.get("reason", "") for entry in rule_changes(home)]
    assert any("policy.json.trust was removed" in reason for reason in reasons), reasons
