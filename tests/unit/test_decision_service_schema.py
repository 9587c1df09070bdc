"""The service's side of issue 12 items 4-6: an allow rule takes only schema-valid calls, other methods are
allowed and logged by default, and an outcome is logged linked to its allow."""

from __future__ import annotations

from pathlib import Path

from approver.core.approval import Scope
from approver.core.models import Actor, Decision, ToolCall, ToolInfo
from approver.core.results import Finding, ResultReport
from approver.service.decision_log import read_entries
from tests.unit.test_decision_service import ScriptedApprover, answer, service

SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}


def call(arguments: dict[str, object], *, listed: bool = True, method: str = "tools/call") -> ToolCall:
    return ToolCall(
        server="fs",
        tool="read_file",
        arguments=arguments,
        request_id=1,
        digest=f"sha256:{sorted(arguments.items())}",
        tool_info=ToolInfo(input_schema=SCHEMA) if listed else None,
        method=method,
    )


ALLOW: dict[str, object] = {"effect": "allow", "tool": "read_file", "id": "reads"}


async def test_an_allow_rule_takes_a_valid_call(tmp_path: Path) -> None:
    verdict = await service(tmp_path, ScriptedApprover(), [ALLOW]).decide(call({"path": "/tmp/x"}))
    assert (verdict.decision, verdict.actor) == (Decision.ALLOW, Actor.RULE)


async def test_an_invalid_call_goes_to_the_person_with_the_errors(tmp_path: Path) -> None:
    approver = ScriptedApprover(answer(Decision.DENY))
    await service(tmp_path, approver, [ALLOW]).decide(call({"path": 5}))
    [request] = approver.asked
    assert request.rule_said.startswith("rule reads says allow; the arguments do not match the tool's inputSchema")
    assert 'arguments.path: must be of type "string"' in request.rule_said


async def test_headless_an_unlisted_tool_is_denied_with_why(tmp_path: Path) -> None:
    svc = service(tmp_path, ScriptedApprover(), [ALLOW])
    svc.approver = None
    verdict = await svc.decide(call({"path": "/tmp/x"}, listed=False))
    assert (verdict.decision, verdict.actor) == (Decision.DENY, Actor.NONE)
    assert "never listed this tool" in verdict.reason


async def test_schema_any_opts_out(tmp_path: Path) -> None:
    svc = service(tmp_path, ScriptedApprover(), [{**ALLOW, "schema": "any"}])
    assert (await svc.decide(call({"path": 5}))).decision is Decision.ALLOW


async def test_a_session_grant_does_not_cover_an_invalid_call(tmp_path: Path) -> None:
    approver = ScriptedApprover(answer(Decision.ALLOW, Scope.SESSION), answer(Decision.DENY))
    svc = service(tmp_path, approver)
    assert (await svc.decide(call({"path": "/a"}))).actor is Actor.HUMAN
    assert (await svc.decide(call({"path": "/b"}))).reason == "the user allowed this tool for this session"
    assert (await svc.decide(call({"path": 1}))).decision is Decision.DENY  # asked again, and denied
    assert len(approver.asked) == 2


async def test_other_methods_are_allowed_and_logged_unless_a_rule_says_otherwise(tmp_path: Path) -> None:
    rules: list[dict[str, object]] = [{"method": "prompts/get", "effect": "deny", "tool": "secret-*"}]
    svc = service(tmp_path, ScriptedApprover(), rules)
    read = call({"uri": "file:///a"}, listed=False, method="resources/read")
    verdict = await svc.decide(read)
    assert (verdict.decision, verdict.actor) == (Decision.ALLOW, Actor.RULE)
    assert verdict.reason == "no rule matches; resources/read is allowed (and logged) by default"
    prompt = read.model_copy(update={"method": "prompts/get", "tool": "secret-plan"})
    assert (await svc.decide(prompt)).decision is Decision.DENY
    logged = [(e["method"], e["decision"]) for e in read_entries(tmp_path / "log.jsonl") if e["kind"] == "decision"]
    assert logged == [("resources/read", "allow"), ("prompts/get", "deny")]


async def test_an_outcome_is_logged_linked_to_its_allow(tmp_path: Path) -> None:
    svc = service(tmp_path, ScriptedApprover(), [ALLOW])
    allowed = call({"path": "/tmp/x"})
    await svc.decide(allowed)
    finding = Finding(kind="secret", what="aws_access_key_id", pointer="/content/0/text")
    svc.outcome(allowed, ResultReport(size=10, sha256="ab" * 32, outcome="result", is_error=False, findings=[finding]))
    decision, outcome = [e for e in read_entries(tmp_path / "log.jsonl") if e["kind"] in ("decision", "outcome")]
    assert (outcome["decision_seq"], outcome["digest"]) == (decision["seq"], decision["digest"])
    assert outcome["findings"] == [finding.model_dump()]
    assert (outcome["size"], outcome["is_error"]) == (10, False)
