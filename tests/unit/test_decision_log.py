from pathlib import Path

import rfc8785

from approver.core.log_format import GENESIS_PREV, DecisionFacts, leaf_hash
from approver.core.models import Actor, Decision
from approver.ipc.spool import read_spool_file, spool_decision
from approver.service.decision_log import DecisionLogWriter, read_entries, take_spool


def facts(tool: str, decision: Decision = Decision.ALLOW) -> DecisionFacts:
    return DecisionFacts(
        server="fs",
        tool=tool,
        client="test 1",
        request_id="1",
        digest="sha256:00",
        decision=decision,
        actor=Actor.RULE,
        reason="because",
    )


def test_entries_are_canonical_and_chained_from_a_genesis(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    writer = DecisionLogWriter(path)
    writer.append(facts("read"))
    writer.append(facts("write", Decision.DENY))
    writer.close()
    lines = path.read_bytes().splitlines()
    entries = list(read_entries(path))
    assert [e["kind"] for e in entries] == ["genesis", "decision", "decision"]
    assert [e["seq"] for e in entries] == [0, 1, 2]
    assert entries[0]["prev"] == GENESIS_PREV
    for previous_line, entry, stored in zip(lines, entries[1:], lines[1:], strict=False):
        assert entry["prev"] == leaf_hash(previous_line)
        assert rfc8785.dumps(entry) == stored  # stored bytes are the JCS form
    assert entries[2]["decision"] == "deny"
    assert entries[2]["ts"].endswith("Z")


def test_a_reopened_log_continues_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    first = DecisionLogWriter(path)
    first.append(facts("a"))
    first.close()
    second = DecisionLogWriter(path)
    second.append(facts("b"))
    second.close()
    lines = path.read_bytes().splitlines()
    entries = list(read_entries(path))
    assert [e["seq"] for e in entries] == [0, 1, 2]
    assert entries[2]["prev"] == leaf_hash(lines[1])


def test_spooled_decisions_are_taken_into_the_log_once(tmp_path: Path) -> None:
    spool = tmp_path / "spool.jsonl"
    spool_decision(spool, facts("x", Decision.DENY))
    spool_decision(spool, facts("y", Decision.DENY))
    with spool.open("ab") as handle:
        handle.write(b'{"torn":')  # a proxy killed mid-write
    assert [f.tool for f in read_spool_file(spool)] == ["x", "y"]
    writer = DecisionLogWriter(tmp_path / "log.jsonl")
    assert take_spool(spool, writer) == 2
    assert take_spool(spool, writer) == 0
    writer.close()
    assert [e.get("tool") for e in read_entries(tmp_path / "log.jsonl")] == [None, "x", "y"]
    assert not spool.exists()
