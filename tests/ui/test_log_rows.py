"""Log entries as the viewer's rows, and its filter."""

from __future__ import annotations

from typing import Any

from approver.ui.log_rows import matches, to_row, to_rows

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
