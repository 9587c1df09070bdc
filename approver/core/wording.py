"""What the model and the person read when a call is denied. One place, so every path says it the same way."""

from __future__ import annotations

from approver.core.models import TOOLS_CALL, Actor, Verdict

_ACTOR_PHRASES = {
    Actor.RULE: "an auto-approve rule",
    Actor.HUMAN: "the user",
    Actor.TIMEOUT: "a timeout (nobody answered in time)",
    Actor.NONE: "MCP Approver (nobody could be asked)",
    Actor.ERROR: "MCP Approver (an internal error; it fails closed)",
}

START_HINT = (
    "the user can start it (`approver` for the desktop app, or `approver serve --headless`) and then ask for this again"
)


# What a denied request other than a tool call was (its `tool` is what it read: a URI, a prompt's name).
_REQUEST_NAMES = {
    "resources/read": "the read of resource",
    "prompts/get": "the request for prompt",
    "completion/complete": "the completion request for",
}


def denial_text(server: str, tool: str, verdict: Verdict, method: str = TOOLS_CALL) -> str:
    """The text of the isError result the client receives instead of the tool's output.

    It speaks to the model (do not retry on your own, do not work around it) and, through the model, to the person
    (what blocked it); the reason itself says what the person can do, where there is something to do."""
    return (
        f"MCP Approver denied {_REQUEST_NAMES.get(method, 'the call to tool')} '{tool}' on server '{server}'. "
        f"Decided by {_ACTOR_PHRASES[verdict.actor]}: {verdict.reason.rstrip('.')}. "
        "The tool did not run. Do not retry this call on your own, do not try to reach the same effect another way, "
        "and do not claim it succeeded; tell the user it was blocked by MCP Approver."
    )


def service_unreachable_reason(detail: str) -> str:
    return f"MCP Approver is not running or did not answer ({detail}); {START_HINT}"
