"""The things a decision is about and made of: a held tool call, and the verdict on it."""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Decision(StrEnum):
    ALLOW = "allow"
    DENY = "deny"


class Actor(StrEnum):
    """Who (or what) made a decision; shown to the person and kept in the log."""

    RULE = "rule"  # an auto-approve rule
    HUMAN = "human"  # a person, in the app
    TIMEOUT = "timeout"  # nobody answered before the deadline
    NONE = "none"  # nobody could be asked: no approver present, or no service running
    ERROR = "error"  # something failed; we fail closed


class ProtocolEra(StrEnum):
    """Which MCP handshake the client used: it changes how clients identify themselves."""

    UNKNOWN = "unknown"
    HANDSHAKE = "2025"  # initialize / notifications/initialized (2024-11-05 … 2025-11-25)
    STATELESS = "2026-07-28"  # server/discover, then self-describing requests


def request_digest(forwarded: bytes) -> str:
    """The digest a decision is bound to: SHA-256 over exactly the bytes that will reach the server."""
    return "sha256:" + hashlib.sha256(forwarded).hexdigest()


class ClientInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = "unknown client"
    version: str | None = None


class ToolInfo(BaseModel):
    """What the server said about a tool in `tools/list`. Untrusted: the server wrote it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    description: str | None = None
    annotations: dict[str, Any] | None = None
    digest: str | None = Field(default=None, description="tool_pins.definition_digest() of `definition`.")
    input_schema: Any = Field(default=None, description="The tool's inputSchema as listed (a JSON Schema object).")
    definition: dict[str, Any] | None = Field(
        default=None, description="The definition fields as listed (tool_pins.DEFINITION_FIELDS), which pins cover."
    )


class Requester(BaseModel):
    """The process that asked the service for a decision, as the kernel reported it for the socket connection.
    The service cannot vouch for the call it described: any process of the user can connect and describe one."""

    model_config = ConfigDict(frozen=True)

    pid: int | None
    exe: str | None


TOOLS_CALL = "tools/call"


class ToolCall(BaseModel):
    """A request the proxy holds until a verdict arrives: a `tools/call`, or another gated method (`method`),
    for which `tool` names what it reads (a resource's URI, a prompt's name) and `arguments` are its params."""

    model_config = ConfigDict(frozen=True)

    server: str = Field(description="The name the user gave this server with `approver proxy --name`.")
    server_command: list[str] = Field(default_factory=list)
    server_info: str | None = Field(default=None, description="The name the server gives itself (serverInfo).")
    client: ClientInfo = ClientInfo()
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    request_id: str | int
    digest: str = Field(description="request_digest() of the exact bytes that will be forwarded.")
    era: ProtocolEra = ProtocolEra.UNKNOWN
    task: bool = Field(default=False, description="The call asks the server to run it as a task.")
    continuation: bool = Field(
        default=False,
        description="A 2026-07-28 retry carrying inputResponses/requestState after an input_required result.",
    )
    tool_info: ToolInfo | None = Field(default=None, description="None when tools/list never described it.")
    roots: list[str] = Field(default_factory=list, description="The client's workspace roots (file: URIs), if shared.")
    requester: Requester | None = Field(
        default=None, description="Set by the service from the socket's peer; whatever a client sends is replaced."
    )
    method: str = Field(default=TOOLS_CALL, description="The JSON-RPC method held: tools/call, resources/read, …")


class Verdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    decision: Decision
    actor: Actor
    reason: str
    digest: str
    rule: str | None = Field(default=None, description="Which rule decided, when a rule did.")
