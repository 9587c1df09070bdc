"""The service's asking path with a scripted approver standing in for the desktop app."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from approver.core.approval import ApprovalRequest, HumanAnswer, Scope, shown_digest
from approver.core.models import Actor, Decision, ToolCall, ToolInfo
from approver.core.tool_pins import definition_digest
from approver.platform.keystore import FileStore, KeyStoreStatus
from approver.service.decision_log import DecisionLogWriter, read_entries
from approver.service.decisions import DecisionService
from approver.service.policy_store import PolicyStore
from approver.service.tools_seen import ToolsSeen


class ScriptedApprover:
    deadline_ms = 200
    deadline_action = Decision.DENY

    def __init__(self, *answers: HumanAnswer | None) -> None:
        self.answers = list(answers)
        self.asked: list[ApprovalRequest] = []

    async def ask(self, request: ApprovalRequest) -> HumanAnswer:
        self.asked.append(request)
        answer = self.answers.pop(0)
        if answer is None:
            await asyncio.sleep(3600)  # nobody answers
        assert answer is not None
        return answer


def call(tool: str = "write_file", **arguments: object) -> ToolCall:
    return ToolCall(
        server="fs",
        tool=tool,
        arguments=arguments or {"path": "/tmp/x"},
        request_id=1,
        digest="sha256:" + tool,
        tool_info=described({"name": tool, "description": "Write a file", "annotations": {"destructiveHint": True}}),
    )


def described(definition: dict[str, object]) -> ToolInfo:
    """What the relay attaches to a call to a listed tool."""
    description = definition.get("description")
    annotations = definition.get("annotations")
    return ToolInfo(
        description=description if isinstance(description, str) else None,
        annotations=annotations if isinstance(annotations, dict) else None,
        digest=definition_digest(definition),
        definition=definition,
        input_schema=definition.get("inputSchema", {"type": "object"}),
    )


def service(
    tmp_path: Path, approver: ScriptedApprover, rules: list[dict[str, object]] | None = None
) -> DecisionService:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"rules": rules or []}))
    log = DecisionLogWriter(tmp_path / "log.jsonl", FileStore(tmp_path / "keys"), KeyStoreStatus("f", False, "test"))
    return DecisionService(PolicyStore(policy, explicit=True), log, approver, ToolsSeen(tmp_path / "seen.json"))


def answer(decision: Decision, scope: Scope = Scope.ONCE, **extra: object) -> HumanAnswer:
    return HumanAnswer.model_validate(
        {"decision": decision, "scope": scope, "shown_digest": shown_digest("x"), **extra}
    )


async def test_a_person_is_asked_with_risk_and_their_answer_is_logged(tmp_path: Path) -> None:
    approver = ScriptedApprover(answer(Decision.ALLOW))
    svc = service(tmp_path, approver)
    verdict = await svc.decide(call(path="/etc/passwd"))
    assert (verdict.decision, verdict.actor) == (Decision.ALLOW, Actor.HUMAN)
    [request] = approver.asked
    assert request.risk.level.value in {"high", "critical"}
    assert request.tool_status == "new"
    assert request.rule_said == "no rule matches this call"
    [entry] = [e for e in read_entries(tmp_path / "log.jsonl") if e["kind"] == "decision"]
    assert entry["actor"] == "human"
    assert entry["shown_digest"] == shown_digest("x")


async def test_a_proof_of_presence_is_in_the_logged_reason(tmp_path: Path) -> None:
    svc = service(tmp_path, ScriptedApprover(answer(Decision.ALLOW, presence="your password (polkit)")))
    verdict = await svc.decide(call())
    assert verdict.reason == "the user allowed this call, proven present by your password (polkit)"
    [entry] = [e for e in read_entries(tmp_path / "log.jsonl") if e["kind"] == "decision"]
    assert entry["reason"] == verdict.reason


async def test_the_deadline_applies_its_action_and_says_so(tmp_path: Path) -> None:
    svc = service(tmp_path, ScriptedApprover(None))
    verdict = await svc.decide(call())
    assert (verdict.decision, verdict.actor) == (Decision.DENY, Actor.TIMEOUT)
    assert "nobody answered within 0.2 s" in verdict.reason


async def test_a_withdrawn_question_is_logged_as_such(tmp_path: Path) -> None:
    svc = service(tmp_path, ScriptedApprover(None))
    task = asyncio.get_running_loop().create_task(svc.decide(call()))
    await asyncio.sleep(0.05)
    task.cancel("the client cancelled the request")
    with pytest.raises(asyncio.CancelledError):
        await task
    [entry] = [e for e in read_entries(tmp_path / "log.jsonl") if e["kind"] == "decision"]
    assert entry["reason"] == "withdrawn before an answer: the client cancelled the request"


def test_an_allow_the_proxy_did_not_carry_out_is_followed_by_its_denial(tmp_path: Path) -> None:
    svc = service(tmp_path, ScriptedApprover(), [{"effect": "allow", "tool": "write_file"}])
    assert svc.decide_without_asking(call()) is not None
    svc.not_carried_out(call().model_copy(update={"arguments": {}}), Actor.NONE, "the proxy denied it: too slow")
    allowed, overruled = [e for e in read_entries(tmp_path / "log.jsonl") if e["kind"] == "decision"]
    assert (allowed["decision"], allowed["actor"]) == ("allow", "rule")
    assert (overruled["decision"], overruled["actor"], overruled["source"]) == ("deny", "none", "proxy")
    assert overruled["reason"].startswith("not carried out: the proxy denied it: too slow")
    assert (overruled["request_id"], overruled["digest"]) == (allowed["request_id"], allowed["digest"])
    assert "arguments" not in overruled


async def test_a_session_grant_answers_later_calls_but_never_beats_a_rule(tmp_path: Path) -> None:
    approver = ScriptedApprover(answer(Decision.ALLOW, Scope.SESSION), answer(Decision.DENY))
    rules: list[dict[str, object]] = [
        {"effect": "deny", "server": "fs", "tool": "write_file", "args": {"/path": {"under": "/etc"}}},
        {"effect": "ask", "server": "fs", "tool": "write_file", "args": {"/path": {"glob": "*.sh"}}},
    ]
    svc = service(tmp_path, approver, rules)
    await svc.decide(call(path="/tmp/a"))
    again = await svc.decide(call(path="/tmp/b"))
    assert (again.decision, again.actor) == (Decision.ALLOW, Actor.HUMAN)
    assert again.reason == "the user allowed this tool for this session"
    assert len(approver.asked) == 1
    into_etc = await svc.decide(call(path="/etc/passwd"))
    assert (into_etc.decision, into_etc.actor) == (Decision.DENY, Actor.RULE)  # a deny rule beats the grant
    script = await svc.decide(call(path="/tmp/run.sh"))
    assert len(approver.asked) == 2  # an explicit ask rule still asks, grant or not
    assert script.decision is Decision.DENY


async def test_always_adds_the_confirmed_rule(tmp_path: Path) -> None:
    rule = {"effect": "allow", "server": "fs", "tool": "write_file", "note": "confirmed in the app"}
    svc = service(tmp_path, ScriptedApprover(answer(Decision.ALLOW, Scope.ALWAYS, rule=rule)))
    await svc.decide(call())
    after = await svc.decide(call())
    assert (after.decision, after.actor) == (Decision.ALLOW, Actor.RULE)
    assert json.loads((tmp_path / "policy.json").read_text())["rules"] == [rule]


async def test_a_changed_tool_definition_is_flagged(tmp_path: Path) -> None:
    approver = ScriptedApprover(answer(Decision.DENY), answer(Decision.DENY), answer(Decision.DENY))
    svc = service(tmp_path, approver)
    first = call()
    await svc.decide(first)
    await svc.decide(first)
    redefined = first.model_copy(
        update={"tool_info": described({"name": "write_file", "description": "Now also uploads"})}
    )
    await svc.decide(redefined)
    assert [r.tool_status for r in approver.asked] == ["new", "known", "changed"]


async def test_a_rate_limited_rule_counts_the_calls_it_allowed(tmp_path: Path) -> None:
    rule: dict[str, object] = {
        "effect": "allow",
        "tool": "write_file",
        "id": "two-a-minute",
        "limit": {"per_minute": 2, "then": "deny"},
    }
    svc = service(tmp_path, ScriptedApprover(), [rule])
    verdicts = [await svc.decide(call()) for _ in range(3)]
    assert [v.decision for v in verdicts] == [Decision.ALLOW, Decision.ALLOW, Decision.DENY]
    assert "allows 2 calls a minute" in verdicts[2].reason
