"""A question for a person, and their answer — as data. The service builds the question; the desktop app only
renders it and hands back the answer (the qutebrowser question model: no Qt, no I/O here)."""

from __future__ import annotations

import hashlib
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from approver.core.models import Decision, ToolCall
from approver.core.risk import RiskAssessment
from approver.core.tool_pins import DefinitionChange


class Scope(StrEnum):
    """How far an answer reaches beyond this one call."""

    ONCE = "once"  # this call only
    SESSION = "session"  # the same tool on the same server, until the service stops
    MINUTES = "minutes"  # the same tool on the same server, for `minutes`
    ALWAYS = "always"  # a rule the person confirmed in the app (allow or deny)


class ApprovalRequest(BaseModel):
    """Everything the approval dialog shows. Built by the service, rendered by the app."""

    model_config = ConfigDict(frozen=True)

    id: int
    call: ToolCall
    risk: RiskAssessment
    rule_said: str = Field(description="Why no rule decided it (the policy's explanation).")
    tool_status: str = Field(description="known, new (never listed by the server), or changed since first seen")
    deadline_at: float = Field(description="When the configured deadline action applies (UNIX time, seconds).")
    deadline_action: Decision = Decision.DENY
    definition_change: DefinitionChange | None = Field(
        default=None, description="The tool was redefined since its definition was accepted: what changed."
    )


class HumanAnswer(BaseModel):
    model_config = ConfigDict(frozen=True)

    decision: Decision
    scope: Scope = Scope.ONCE
    minutes: int | None = Field(default=None, ge=1, le=24 * 60)
    rule: dict[str, object] | None = Field(
        default=None, description="With ALWAYS: the rule the person confirmed (a policy rule document)."
    )
    shown_digest: str = Field(description="shown_digest() of the text the person saw when answering.")
    presence: str | None = Field(default=None, description="The proof of presence given with the answer, if asked.")


def shown_digest(text: str) -> str:
    """Binds the answer to what was on screen: the log records it next to the request digest."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
