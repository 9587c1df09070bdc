"""Deciding a held call: rules first, then a person if one is present; logged before it takes effect."""

from __future__ import annotations

import sys
from typing import Protocol

from approver.core.log_format import DecisionFacts
from approver.core.models import Actor, Decision, ToolCall, Verdict
from approver.core.policy import Effect, Outcome
from approver.service.decision_log import DecisionLogWriter
from approver.service.policy_store import PolicyStore

HEADLESS_DEADLINE_MS = 5_000


class Approver(Protocol):
    """Someone who can be asked: the desktop app. The headless service has none."""

    deadline_ms: int

    async def ask(self, call: ToolCall, outcome: Outcome) -> Verdict: ...


class DecisionService:
    def __init__(self, policies: PolicyStore, log: DecisionLogWriter, approver: Approver | None = None) -> None:
        self.policies = policies
        self.log = log
        self.approver = approver

    @property
    def deadline_ms(self) -> int:
        return self.approver.deadline_ms if self.approver else HEADLESS_DEADLINE_MS

    async def decide(self, call: ToolCall) -> Verdict:
        try:
            verdict = await self._verdict(call)
        except Exception as exc:  # fail closed, and still record why
            verdict = Verdict(
                decision=Decision.DENY,
                actor=Actor.ERROR,
                reason=f"the decision service failed: {exc}",
                digest=call.digest,
            )
        try:
            self.log.append(DecisionFacts.of(call, verdict))
        except Exception as exc:  # any failure to record means the decision must not take effect
            print(f"approver: could not write the decision log: {exc}", file=sys.stderr)
            return Verdict(
                decision=Decision.DENY,
                actor=Actor.ERROR,
                reason=f"the decision could not be recorded in the log ({exc})",
                digest=call.digest,
            )
        return verdict

    async def _verdict(self, call: ToolCall) -> Verdict:
        outcome = self.policies.current().evaluate(call.server, call.tool)
        problem = self.policies.problem
        if outcome.effect is not Effect.ASK:
            decision = Decision.ALLOW if outcome.effect is Effect.ALLOW else Decision.DENY
            return Verdict(
                decision=decision,
                actor=Actor.RULE,
                reason=outcome.explain(),
                digest=call.digest,
                rule=outcome.rule_label,
            )
        if self.approver is None:
            why = outcome.explain() + (f"; {problem}" if problem else "")
            return Verdict(
                decision=Decision.DENY,
                actor=Actor.NONE,
                reason=f"no approver present (headless service) and {why}",
                digest=call.digest,
                rule=outcome.rule_label,
            )
        return await self.approver.ask(call, outcome)
