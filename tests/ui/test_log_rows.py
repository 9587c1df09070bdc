"""Log entries as the viewer's rows, its filter, and reading the log as it grows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from approver.service.decision_log import LogError
from approver.ui.log_rows import matches, read_log_from, to_row, to_rows

DECISION = {
    "seq": 4,
    "ts": "2026-01-02T03:04:05Z",
    "kind": "decision",
    "decision": "deny",
    "actor": "human",
    "server": "fs",
    "tool": "write\u200bfile",
    "reason": "the user denied this call",
}


def change_entry() -> dict[str, Any]:
    return {
        "seq": 5,
        "ts": "t5",
        "kind": "rule-change",
        "layer": "user",
        "change": "changed",
        "added": ["reads"],
        "removed": [],
        "rules": 3,
        "trusted": False,
    }


def test_rows_show_every_kind_of_entry() -> None:
    genesis, decision, change = to_rows(
        [
            {"seq": 0, "ts": "t0", "kind": "genesis", "key_store": "OS keyring (SecretService)"},
            DECISION,
            change_entry(),
        ]
    )
    assert (genesis.outcome, genesis.reason) == (
        "genesis",
        "the log begins; its key is kept in OS keyring (SecretService)",
    )
    assert (decision.seq, decision.outcome, decision.actor, decision.server) == (4, "deny", "human", "fs")
    assert decision.tool == "write⟨U+200B ZERO WIDTH SPACE⟩file"
    assert change.reason == "user rules changed; added reads; 3 rules; changed outside MCP Approver, not yet confirmed"
    rollback = {**change_entry(), "reason": "rolled back to an older seal (version 1 < 2), not trusted"}
    assert to_row(rollback).reason == (
        "user rules changed; added reads; 3 rules; rolled back to an older seal (version 1 < 2), not trusted"
    )


def test_the_filter_matches_text_outcome_and_actor() -> None:
    row = to_row(DECISION)
    assert matches(row)
    assert matches(row, text="USER DENIED")
    assert not matches(row, text="allowed")
    assert matches(row, outcome="deny") and not matches(row, outcome="allow")
    assert not matches(row, outcome="other")
    assert matches(to_row({"seq": 0, "kind": "genesis"}), outcome="other")
    assert matches(row, actor="human") and not matches(row, actor="rule")


def line(seq: int, tool: str = "t") -> bytes:
    """A line of the log's shape (the reader shows entries; checking signatures is `approver log verify`'s job)."""
    return b'{"e":{"kind":"decision","seq":%d,"tool":"%s"},"s":"c2lnbmF0dXJl"}\n' % (seq, tool.encode())


def seqs(entries: list[dict[str, object]]) -> list[object]:
    return [entry["seq"] for entry in entries]


def test_only_the_appended_tail_is_read(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    assert read_log_from(log, None).position is None  # no log yet
    log.write_bytes(line(0) + line(1))
    first = read_log_from(log, None)
    assert first.from_start and seqs(first.entries) == [0, 1]
    assert read_log_from(log, first.position).entries == []
    with log.open("r+b") as handle:  # spoil the first line in place: a reader going back to it would fail
        handle.write(b"X" * len(line(0)))
    with log.open("ab") as handle:
        handle.write(line(2) + line(3)[:20])  # the service is half-way through writing entry 3
    second = read_log_from(log, first.position)
    assert not second.from_start and seqs(second.entries) == [2]
    with log.open("ab") as handle:
        handle.write(line(3)[20:])
    third = read_log_from(log, second.position)
    assert not third.from_start and seqs(third.entries) == [3]
    with pytest.raises(LogError, match="the line at byte 0"):
        read_log_from(log, None)  # reading it all again meets the spoilt line


def test_a_replaced_truncated_or_rewritten_log_is_read_from_the_start(tmp_path: Path) -> None:
    log = tmp_path / "decisions.jsonl"
    log.write_bytes(line(0) + line(1) + line(2))
    position = read_log_from(log, None).position
    replacement = tmp_path / "new.jsonl"
    replacement.write_bytes(line(0, "new") + line(1, "new") + line(2, "new") + line(3, "new"))
    replacement.replace(log)  # rotated: another file under the same name, longer than the first
    replaced = read_log_from(log, position)
    assert replaced.from_start and seqs(replaced.entries) == [0, 1, 2, 3]
    log.write_bytes(line(0))  # truncated in place
    truncated = read_log_from(log, replaced.position)
    assert truncated.from_start and seqs(truncated.entries) == [0]
    log.write_bytes(line(0, "other") + line(1))  # rewritten in place, longer: the line read last is not there
    rewritten = read_log_from(log, truncated.position)
    assert rewritten.from_start and [entry["tool"] for entry in rewritten.entries] == ["other", "t"]


def test_an_outcome_row_says_what_came_back_without_content() -> None:
    row = to_row(
        {
            "seq": 5,
            "kind": "outcome",
            "server": "leaky",
            "tool": "get_config",
            "decision_seq": 4,
            "outcome": "result",
            "is_error": False,
            "size": 331,
            "findings": [{"kind": "secret", "what": "aws_access_key_id", "pointer": "/content/0/text"}],
            "findings_total": 1,
            "redacted": True,
        }
    )
    assert row.outcome == "outcome"
    assert row.reason == (
        "result, 331 bytes, for decision #4; found 1: secret aws_access_key_id; "
        "secrets were redacted before the client got it"
    )
