"""Decisions asked for over the socket are marked as the service cannot vouch for them (issue 9, item 10)."""

from __future__ import annotations

from pathlib import Path

from approver.core.log_format import DecisionFacts, decision_body
from approver.core.models import Actor, Decision, Requester, ToolCall, Verdict
from approver.ipc.spool import spool_decision
from approver.platform.keystore import FileStore, KeyStoreStatus
from approver.service.decision_log import DecisionLogWriter, read_entries, take_spool

CALL = ToolCall(server="fs", tool="rm", request_id=1, digest="sha256:00")
VERDICT = Verdict(decision=Decision.DENY, actor=Actor.RULE, reason="no", digest="sha256:00")
PEER = Requester(pid=4242, exe="/usr/bin/python3")


def test_a_call_from_a_socket_client_is_logged_as_unverified_with_its_peer() -> None:
    facts = DecisionFacts.of(CALL.model_copy(update={"requester": PEER}), VERDICT)
    body = decision_body(facts, {})
    assert body["source"] == "unverified-socket-client"
    assert body["requester"] == {"pid": 4242, "exe": "/usr/bin/python3"}


def test_a_proxy_deciding_alone_names_no_requester() -> None:
    facts = DecisionFacts.of(CALL.model_copy(update={"requester": PEER}), VERDICT, by_proxy=True)
    assert (facts.source, facts.requester) == ("proxy", None)


def test_the_spool_cannot_claim_a_requester(tmp_path: Path) -> None:
    spool = tmp_path / "spool.jsonl"
    spool_decision(spool, DecisionFacts.of(CALL, VERDICT, by_proxy=True).model_copy(update={"requester": PEER}))
    status = KeyStoreStatus(backend="test key file", secure=False, problem="unit test")
    writer = DecisionLogWriter(tmp_path / "log.jsonl", FileStore(tmp_path / "keys.json"), status)
    take_spool(spool, writer)
    writer.close()
    [entry] = [e for e in read_entries(tmp_path / "log.jsonl") if e["kind"] == "decision"]
    assert entry["source"] == "proxy"
    assert "requester" not in entry
