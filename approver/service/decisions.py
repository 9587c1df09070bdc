"""Deciding a held call: rules first, then grants a person gave, then the person; logged before it takes effect."""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from approver.core.approval import ApprovalRequest, HumanAnswer, Scope
from approver.core.arguments import ArgumentCheck, SchemaChecker
from approver.core.log_format import DecisionFacts, outcome_body
from approver.core.models import TOOLS_CALL, Actor, Decision, ToolCall, Verdict
from approver.core.policy import DefinitionFacts, Effect, Outcome, SchemaRequirement, rule_key
from approver.core.results import ResultReport
from approver.core.risk import RiskContext, assess
from approver.core.tool_pins import DefinitionChange
from approver.ipc.protocol import ToolsListedMessage
from approver.service.decision_log import DecisionLogWriter
from approver.service.policy_store import PolicyStore
from approver.service.rates import RecentCounts
from approver.service.risk_facts import gather_context
from approver.service.tool_definitions import ToolDefinitions
from approver.service.tools_seen import ToolsSeen

HEADLESS_DEADLINE_MS = 5_000
RUG_PULL_HEADLESS = "the tool's definition changed since it was accepted; accept it in the MCP Approver app"
ALLOWS_REMEMBERED = 10_000  # allow entries an outcome can still name by seq (older outcomes link by digest only)


class Approver(Protocol):
    """Someone who can be asked: the desktop app. The headless service has none.

    `ask` returns the person's answer; the service enforces the deadline (it cancels `ask`, which must then
    close its dialog) and cancels `ask` when the client withdraws the call.
    """

    deadline_ms: int
    deadline_action: Decision

    async def ask(self, request: ApprovalRequest) -> HumanAnswer: ...


@dataclass(frozen=True)
class Grant:
    """ "Allow for this session" or "for N minutes": the same tool on the same server, until `until`."""

    server: str
    tool: str
    until: float | None  # time.monotonic(); None: until the service stops
    label: str

    def covers(self, call: ToolCall, now: float) -> bool:
        return self.server == call.server and self.tool == call.tool and (self.until is None or now < self.until)


class DecisionService:
    def __init__(
        self,
        policies: PolicyStore,
        log: DecisionLogWriter,
        approver: Approver | None = None,
        tools_seen: ToolsSeen | None = None,
        definitions: ToolDefinitions | None = None,
    ) -> None:
        self.policies = policies
        self.log = log
        self.approver = approver
        self.tools_seen = tools_seen
        # Tool definitions per server and their findings; a person's Reject or Accept goes into the log first.
        self.definitions = definitions or ToolDefinitions(log_event=log.append_event)
        self.rates: RecentCounts[tuple[str, str]] = RecentCounts()  # calls per (server, tool), for risk
        self.grants: list[Grant] = []
        self.lockdown = False  # set by the desktop app: deny every call without asking, whatever the rules say
        self.schemas = SchemaChecker()
        self.redact_results = False  # proxies replace secrets in results before the client gets them
        self._allow_seqs: OrderedDict[str, int] = OrderedDict()  # request digest -> seq of its allow entry
        self._request_ids = itertools.count(1)

    @property
    def deadline_ms(self) -> int:
        return self.approver.deadline_ms if self.approver else HEADLESS_DEADLINE_MS

    def decide_without_asking(self, call: ToolCall) -> Verdict | None:
        """The recorded verdict when no person is needed (a rule or a grant decides, or nobody can be asked),
        else None. Synchronous on purpose: most calls end here, and the proxy gets its answer in one message."""
        self.rates.record((call.server, call.tool))
        try:
            self.definitions.saw_call(call)
            verdict = self.definitions.verdict(call) or self._verdict_without_asking(call)
        except Exception as exc:  # fail closed, and still record why
            verdict = self._failure(call, f"the decision service failed: {exc}")
        return None if verdict is None else self._recorded(call, verdict)

    def tools_listed(self, listing: ToolsListedMessage) -> list[str]:
        """A proxy read a `tools/list` result: pin each definition (logging first sights and changes); returns
        the tools whose definition is not accepted. If that cannot be worked out, every listed tool is returned,
        so a quarantined proxy hides them all (it fails closed)."""
        names = [str(tool.get("name")) for tool in listing.tools]
        try:  # findings (poisoning, shadowing) at list time: the tray tells the person when a server first offers one
            self.definitions.listed(listing.server, listing.tools)
        except Exception as exc:
            print(f"approver: could not assess the tools '{listing.server}' listed: {exc}", file=sys.stderr)
        if self.tools_seen is None:
            return names if listing.quarantine else []
        try:
            return self.tools_seen.listed(
                listing.server,
                listing.server_command,
                listing.server_info,
                listing.tools,
                quarantine=listing.quarantine,
            )
        except Exception as exc:
            print(f"approver: could not pin the tools '{listing.server}' listed: {exc}", file=sys.stderr)
            return names

    def accept_definition(self, server: str, tool: str, digest: str, by: str = "the user in the app") -> bool:
        """A person accepted the definition `digest` of a tool (the dialog, or the app's Servers and tools page).
        Only the definition the server shows now can be accepted; False when that is not `digest`."""
        return self.tools_seen is not None and self.tools_seen.accept_definition(server, tool, digest, by)

    def _definition(self, call: ToolCall) -> tuple[DefinitionChange | None, DefinitionFacts | None]:
        """What changed in the called tool's definition since it was accepted (None: nothing), and the digests
        the policy's `definition` field is checked against (None: the server never described the tool)."""
        if self.tools_seen is None or call.tool_info is None or call.tool_info.digest is None:
            return None, None
        change = self.tools_seen.check(call)
        pin = self.tools_seen.tools.get(call.server, {}).get(call.tool)
        accepted = pin.accepted_digest if pin is not None and not pin.changed else None
        return change, DefinitionFacts(current=call.tool_info.digest, accepted=accepted)

    async def decide(self, call: ToolCall) -> Verdict:
        verdict = self.decide_without_asking(call)
        return verdict if verdict is not None else await self.ask(call)

    async def ask(self, call: ToolCall) -> Verdict:
        """Ask the approver (a person) about a call no rule decided; the answer is recorded like any other."""
        approver = self.approver
        if approver is None:
            return self._recorded(call, self._failure(call, "no approver present to ask"))
        try:
            request = self._request(call, approver)
        except Exception as exc:
            return self._recorded(call, self._failure(call, f"the question could not be prepared: {exc}"))
        try:
            answer = await asyncio.wait_for(approver.ask(request), approver.deadline_ms / 1000)
            change = request.definition_change
            if answer.decision is Decision.ALLOW and change is not None:
                # Allowing a call to a changed tool accepts its new definition: the dialog said so, and showed it.
                self.accept_definition(call.server, call.tool, change.current_digest, "the user in the approval dialog")
        except TimeoutError:
            verdict = Verdict(
                decision=approver.deadline_action,
                actor=Actor.TIMEOUT,
                reason=f"nobody answered within {approver.deadline_ms / 1000:g} s",
                digest=call.digest,
            )
            return self._recorded(call, verdict)
        except asyncio.CancelledError as cancelled:
            self.withdrawn(call, str(cancelled.args[0]) if cancelled.args else "the request was withdrawn")
            raise
        except Exception as exc:
            return self._recorded(call, self._failure(call, f"asking for a decision failed: {exc}"))
        return self._recorded(call, self._accept(call, answer), shown_digest=answer.shown_digest)

    def withdrawn(self, call: ToolCall, why: str) -> None:
        """Record that a call stopped needing a decision before anyone answered (the client cancelled, left...)."""
        verdict = Verdict(
            decision=Decision.DENY, actor=Actor.NONE, reason=f"withdrawn before an answer: {why}", digest=call.digest
        )
        self._recorded(call, verdict)

    def not_carried_out(self, call: ToolCall, actor: Actor, why: str) -> None:
        """A proxy reports that an allow reached it only after it had settled the call otherwise (denied it at
        its timeout, or the client withdrew it): the call never reached the server. Recorded as the proxy's
        denial, so the log's last word on the call is what happened; it can only ever record a deny."""
        verdict = Verdict(
            decision=Decision.DENY,
            actor=actor,
            reason=f"not carried out: {why}; the allow recorded for it came too late",
            digest=call.digest,
        )
        try:
            self.log.append(DecisionFacts.of(call, verdict, by_proxy=True))
        except Exception as exc:  # nothing takes effect here; the proxy's spooled denial still records it
            print(f"approver: could not write the decision log: {exc}", file=sys.stderr)

    def outcome(self, call: ToolCall, report: ResultReport) -> None:
        """Record what came back for a forwarded call, linked to the allow that let it through."""
        try:
            self.log.append_event("outcome", outcome_body(call, report, self._allow_seqs.pop(call.digest, None)))
        except Exception as exc:  # the response has already reached the client; only the record is missing
            print(f"approver: could not write an outcome to the decision log: {exc}", file=sys.stderr)

    def _request(self, call: ToolCall, approver: Approver) -> ApprovalRequest:
        change, definition = self._definition(call)
        outcome = self.policies.evaluate(call.server, call.tool, call.arguments, definition, call.method)
        check = self.check_arguments(call)
        rule_said = outcome.explain() + ("" if check is None or check.valid else f"; {check.explain()}")
        if change is not None and outcome.effect is Effect.ALLOW:
            rule_said += ", but not for a tool redefined since it was accepted: allowing accepts the new definition"
        if call.method != TOOLS_CALL:
            status = "undescribed"  # a resource or prompt read: no tool definition to compare
        elif self.tools_seen:
            status = self.tools_seen.observe(call)
        else:
            status = "known" if call.tool_info else "undescribed"
        return ApprovalRequest(
            id=next(self._request_ids),
            call=call,
            risk=assess(call, self._risk_context(call)),
            rule_said=rule_said,
            tool_status=status,
            definition_change=change,
            deadline_at=time.time() + approver.deadline_ms / 1000,
            deadline_action=approver.deadline_action,
        )

    def _risk_context(self, call: ToolCall) -> RiskContext:
        context = gather_context(call, self.rates)
        return context.model_copy(update={"other_servers": self.definitions.other_servers(call.server)})

    def _accept(self, call: ToolCall, answer: HumanAnswer) -> Verdict:
        allowed = answer.decision is Decision.ALLOW
        scope = answer.scope
        proven = f", proven present by {answer.presence}" if answer.presence else ""
        if allowed and scope in (Scope.SESSION, Scope.MINUTES):
            minutes = answer.minutes or 0
            until = None if scope is Scope.SESSION else time.monotonic() + minutes * 60
            label = "for this session" if scope is Scope.SESSION else f"for {minutes} minutes"
            self.grants.append(Grant(call.server, call.tool, until, label))
        elif scope is Scope.ALWAYS and answer.rule is not None:
            try:
                self.policies.add_confirmed_rule(answer.rule)
            except Exception as exc:  # the person's answer for this call stands; the rule is what failed
                return Verdict(
                    decision=answer.decision,
                    actor=Actor.HUMAN,
                    reason=f"the user {'allowed' if allowed else 'denied'} this call; their rule could not be "
                    f"saved ({exc}){proven}",
                    digest=call.digest,
                )
        what = {
            Scope.ONCE: "this call",
            Scope.SESSION: "this tool for this session",
            Scope.MINUTES: f"this tool for {answer.minutes} minutes",
            Scope.ALWAYS: "this and similar calls from now on (a rule they confirmed)",
        }[scope]
        return Verdict(
            decision=answer.decision,
            actor=Actor.HUMAN,
            reason=f"the user {'allowed' if allowed else 'denied'} {what}{proven}",
            digest=call.digest,
        )

    def _recorded(self, call: ToolCall, verdict: Verdict, shown_digest: str | None = None) -> Verdict:
        try:
            seq = self.log.append(DecisionFacts.of(call, verdict).model_copy(update={"shown_digest": shown_digest}))
        except Exception as exc:  # a decision that is not on record must not take effect
            print(f"approver: could not write the decision log: {exc}", file=sys.stderr)
            return self._failure(call, f"the decision could not be recorded in the log ({exc})")
        if verdict.decision is Decision.ALLOW:
            self._allow_seqs[call.digest] = seq
            if len(self._allow_seqs) > ALLOWS_REMEMBERED:
                self._allow_seqs.popitem(last=False)
        return verdict

    @staticmethod
    def _failure(call: ToolCall, reason: str) -> Verdict:
        return Verdict(decision=Decision.DENY, actor=Actor.ERROR, reason=reason, digest=call.digest)

    def _verdict_without_asking(self, call: ToolCall) -> Verdict | None:
        if self.lockdown:
            return Verdict(
                decision=Decision.DENY, actor=Actor.NONE, reason="MCP Approver is in lockdown", digest=call.digest
            )
        change, definition = self._definition(call)
        outcome: Outcome = self.policies.evaluate(call.server, call.tool, call.arguments, definition, call.method)
        if outcome.rule is None and call.method != TOOLS_CALL:
            return Verdict(
                decision=Decision.ALLOW,
                actor=Actor.RULE,
                reason=f"no rule matches; {call.method} is allowed (and logged) by default",
                digest=call.digest,
            )
        if change is not None and outcome.effect is not Effect.DENY:
            # A rug pull: nothing auto-approves a tool redefined since it was accepted; a deny rule still denies.
            if self.approver is not None:
                return None
            return Verdict(
                decision=Decision.DENY,
                actor=Actor.NONE,
                reason=f"no approver present (headless service) and {RUG_PULL_HEADLESS}",
                digest=call.digest,
                rule=outcome.rule_label,
            )
        # An allow rule speaks for calls the tool's own schema accepts; any other call goes to the person.
        schema_problem = self._schema_problem(call, outcome)
        if outcome.effect is not Effect.ASK and schema_problem is None:
            decision = Decision.ALLOW if outcome.effect is Effect.ALLOW else Decision.DENY
            key = rule_key(outcome)
            if decision is Decision.ALLOW and key is not None and outcome.rule and outcome.rule.limit:
                self.policies.usage.record(key)
            return Verdict(
                decision=decision,
                actor=Actor.RULE,
                reason=outcome.explain(),
                digest=call.digest,
                rule=outcome.rule_label,
            )
        now = time.monotonic()
        self.grants = [grant for grant in self.grants if grant.until is None or now < grant.until]
        # Grants answer only calls no rule spoke about: an explicit ask rule, or a rate limit's ask, still asks.
        for grant in self.grants if outcome.rule is None else ():
            if grant.covers(call, now) and self._schema_problem(call, None) is None:
                return Verdict(
                    decision=Decision.ALLOW,
                    actor=Actor.HUMAN,
                    reason=f"the user allowed this tool {grant.label}",
                    digest=call.digest,
                )
        if self.approver is not None:
            return None
        problem = self.policies.problem
        why = outcome.explain() + (f", but {schema_problem}" if schema_problem else "")
        why += f"; {problem}" if problem else ""
        return Verdict(
            decision=Decision.DENY,
            actor=Actor.NONE,
            reason=f"no approver present (headless service) and {why}",
            digest=call.digest,
            rule=outcome.rule_label,
        )

    def check_arguments(self, call: ToolCall) -> ArgumentCheck | None:
        """The call's arguments against its tool's listed inputSchema; None for methods other than tools/call."""
        if call.method != TOOLS_CALL:
            return None
        info = call.tool_info
        return self.schemas.check(info.input_schema if info else None, call.arguments, listed=info is not None)

    def _schema_problem(self, call: ToolCall, outcome: Outcome | None) -> str | None:
        """Why an allow (by `outcome`'s rule, or by a grant when None) must not take this call without a person."""
        if outcome is not None and (
            outcome.effect is not Effect.ALLOW
            or outcome.rule is None
            or outcome.rule.arguments_schema is SchemaRequirement.ANY
        ):
            return None
        check = self.check_arguments(call)
        return None if check is None or check.valid else check.explain()
