"""What the model and the person read when a call is denied. One place, so every path says it the same way."""

from __future__ import annotations

from approver.core.models import Actor, Verdict

_ACTOR_PHRASES = {
    Actor.RULE: "an auto-approve rule",
    Actor.HUMAN: "the user",
    Actor.TIMEOUT: "a timeout (nobody answered in time)",
    Actor.NONE: "MCP Approver (nobody could be asked)",
    Actor.ERROR: "MCP Approver (an internal error; it fails closed)",
}

START_HINT = (
    "Start it with `approver` (the desktop app) or `approver serve --headless --policy FILE`, "
    "then ask for the call again."
)


def denial_text(server: str, tool: str, verdict: Verdict) -> str:
    """The text of the isError result the client receives instead of the tool's output."""
    return (
        f"MCP Approver denied the call to tool '{tool}' on server '{server}'. "
        f"Decided by {_ACTOR_PHRASES[verdict.actor]}: {verdict.reason.rstrip('.')}. "
        "The tool did not run. Do not retry this call, do not try to reach the same effect another way, "
        "and do not claim it succeeded; tell the user it was blocked by MCP Approver."
    )


def service_unreachable_reason(detail: str) -> str:
    return f"MCP Approver is not running or did not answer ({detail}). {START_HINT}"
