"""Widget and model tests for the desktop app, on Qt's offscreen platform (no display needed).

The platform is passed to the QApplication as `-platform offscreen` rather than through QT_QPA_PLATFORM in
os.environ: the end-to-end tests hand os.environ to the processes they start, and the real app under Xvfb must
not inherit an offscreen platform from a widget test that happened to run first.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from approver.core.approval import ApprovalRequest
from approver.core.models import ClientInfo, Decision, ToolCall, ToolInfo, request_digest
from approver.core.risk import RiskContext, assess


@pytest.fixture(scope="session")
def qapp_args() -> list[str]:
    return ["approver-ui-tests", "-platform", "offscreen"]


def approval_request(
    arguments: dict[str, Any] | None = None,
    *,
    tool: str = "write_file",
    server: str = "fs",
    description: str | None = "Write a file",
    tool_status: str = "new",
    deadline_in: float = 55.0,
    deadline_action: Decision = Decision.DENY,
    request_id: int = 1,
) -> ApprovalRequest:
    """A request as the service builds it, with a real risk assessment."""
    call = ToolCall(
        server=server,
        server_command=["npx", "-y", "@modelcontextprotocol/server-filesystem", "/home/u/project"],
        client=ClientInfo(name="Claude Desktop", version="0.9"),
        tool=tool,
        arguments={"path": "/home/u/project/notes.md", "content": "hello"} if arguments is None else arguments,
        request_id=request_id,
        digest=request_digest(f"call {request_id}".encode()),
        tool_info=ToolInfo(description=description, annotations={"destructiveHint": True})
        if description is not None
        else None,
    )
    return ApprovalRequest(
        id=request_id,
        call=call,
        risk=assess(call, RiskContext(home="/home/u", roots=["file:///home/u/project"])),
        rule_said="no rule matches this call",
        tool_status=tool_status,
        deadline_at=time.time() + deadline_in,
        deadline_action=deadline_action,
    )
