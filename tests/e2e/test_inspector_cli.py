"""The official MCP Inspector CLI as the client, through `approver proxy`, in each protocol era it offers."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from tests.conftest import NODE, NPM_MODULES, SERVER_EVERYTHING, ApproverHome, require_npm_tools

pytestmark = pytest.mark.e2e

INSPECTOR = NPM_MODULES / ".bin" / "mcp-inspector"


TOOL_IS_ERROR = 5  # the Inspector CLI's exit code when the tool result has isError


def inspector(home: ApproverHome, *args: str, exit_code: int = 0) -> dict[str, Any]:
    require_npm_tools()
    env = {**home.env, "PATH": f"{NODE.parent}{os.pathsep}{os.environ['PATH']}"}
    # Inspector options first: everything after `--` is the server command (here, the proxy and its server).
    # Like most clients, the Inspector gives the server a minimal environment: APPROVER_HOME must be passed.
    command = [
        str(INSPECTOR),
        "--cli",
        "-q",
        "-e",
        f"APPROVER_HOME={home.root}",
        *args,
        "--",
        *home.proxy_command("everything", NODE, SERVER_EVERYTHING, "stdio"),
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == exit_code, result.stderr
    return dict(json.loads(result.stdout))


@pytest.mark.parametrize("era", ["legacy", "auto"])
def test_inspector_lists_tools_and_calls_through_the_gate(home: ApproverHome, start_service: Any, era: str) -> None:
    start_service({"effect": "allow", "tool": "get-sum"})
    listed = inspector(home, "--protocol-era", era, "--method", "tools/list")
    assert "get-sum" in [tool["name"] for tool in listed["tools"]]
    allowed = inspector(
        home, "--protocol-era", era, "--method", "tools/call", "--tool-name", "get-sum", "--tool-arg", "a=2", "b=3"
    )
    assert allowed["content"][0]["text"] == "The sum of 2 and 3 is 5."
    denied = inspector(
        home, "--protocol-era", era, "--method", "tools/call", "--tool-name", "get-env", exit_code=TOOL_IS_ERROR
    )
    assert denied["isError"] is True
    assert "MCP Approver denied" in denied["content"][0]["text"]
