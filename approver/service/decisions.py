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

    def decide_without_asking(self, call: ToolCall) -> Verdict | None:
        """The recorded verdict when no person is needed (a rule decides, or nobody can be asked), else None.

        Synchronous on purpose: most calls end here, and the proxy then gets its answer in one message.
        """
        try:
            verdict = self._verdict_without_asking(call)
        except Exception as exc:  # fail closed, and still record why
            verdict = self._failure(call, f"the decision service failed: {exc}")
        return None if verdict is None else self._recorded(call, verdict)

    async def decide(self, call: ToolCall) -> Verdict:
        verdict = self.decide_without_asking(call)
        return verdict if verdict is not None else await self.ask(call)

    async def ask(self, call: ToolCall) -> Verdict:
        """Ask the approver (a person) about a call no rule decided; the answer is recorded like any other."""
        if self.approver is None:
            return self._recorded(call, self._failure(call, "no approver present to ask"))
        try:
            verdict = await self.approver.ask(call, self.policies.current().evaluate(call.server, call.tool))
        except Exception as exc:
            verdict = self._failure(call, f"asking for a decision failed: {exc}")
        return self._recorded(call, verdict)

    def _recorded(self, call: ToolCall, verdict: Verdict) -> Verdict:
        try:
            self.log.append(DecisionFacts.of(call, verdict))
        except Exception as exc:  # a decision that is not on record must not take effect
            print(f"approver: could not write the decision log: {exc}", file=sys.stderr)
            return self._failure(call, f"the decision could not be recorded in the log ({exc})")
        return verdict

    @staticmethod
    def _failure(call: ToolCall, reason: str) -> Verdict:
        return Verdict(decision=Decision.DENY, actor=Actor.ERROR, reason=reason, digest=call.digest)

    def _verdict_without_asking(self, call: ToolCall) -> Verdict | None:
        outcome = self.policies.current().evaluate(call.server, call.tool)
        if outcome.effect is not Effect.ASK:
            decision = Decision.ALLOW if outcome.effect is Effect.ALLOW else Decision.DENY
            return Verdict(
                decision=decision,
                actor=Actor.RULE,
                reason=outcome.explain(),
                digest=call.digest,
                rule=outcome.rule_label,
            )
        if self.approver is not None:
            return None
        problem = self.policies.problem
        why = outcome.explain() + (f"; {problem}" if problem else "")
        return Verdict(
            decision=Decision.DENY,
            actor=Actor.NONE,
            reason=f"no approver present (headless service) and {why}",
            digest=call.digest,
            rule=outcome.rule_label,
        )
