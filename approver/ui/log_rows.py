"""The decision log as rows for the audit log viewer, and the viewer's filter, without Qt."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from approver.ui.presentation import make_visible

ANY = ""  # the filter value that matches everything


@dataclass(frozen=True, slots=True)
class LogRow:
    seq: int
    ts: str
    kind: str  # genesis, decision, rule-change, key-rotation
    outcome: str  # allow or deny for decisions, else the kind
    actor: str
    server: str
    tool: str
    reason: str
    entry: dict[str, Any]

    @property
    def searchable(self) -> str:
        return "\n".join((self.ts, self.outcome, self.actor, self.server, self.tool, self.reason)).casefold()


def _shown(value: object) -> str:
    return make_visible(value).text if isinstance(value, str) else ""


def _names(value: object) -> str:
    return ", ".join(_shown(name) for name in value) if isinstance(value, list) else ""


def _rule_change(entry: dict[str, Any]) -> str:
    """'user rules changed: added fs-reads; removed rules[2]; 4 rules, not yet confirmed'."""
    parts = [f"{_shown(entry.get('layer')) or 'the'} rules {_shown(entry.get('change')) or 'changed'}"]
    for field in ("added", "removed"):
        names = _names(entry.get(field))
        if names:
            parts.append(f"{field} {names}")
    if isinstance(entry.get("rules"), int):
        parts.append(f"{entry['rules']} rules")
    if isinstance(entry.get("reason"), str):  # who vouches for the rules, or why nobody does
        parts.append(_shown(entry["reason"]))
    elif entry.get("trusted") is False:
        parts.append("changed outside MCP Approver, not yet confirmed")
    return "; ".join(parts)


def to_row(entry: dict[str, Any]) -> LogRow:
    kind = str(entry.get("kind", "?"))
    if kind == "decision":
        outcome = str(entry.get("decision", "?"))
        reason = _shown(entry.get("reason"))
    elif kind == "genesis":
        outcome = kind
        reason = f"the log begins; its key is kept in {entry.get('key_store', 'an unknown place')}"
    elif kind == "key-rotation":
        outcome = kind
        reason = f"the log is signed from here on with {entry.get('new_vkey', 'a new key')}"
    elif kind == "rule-change":
        outcome = kind
        reason = _rule_change(entry)
    else:
        outcome = kind
        reason = _shown(entry.get("reason"))
    return LogRow(
        seq=int(entry.get("seq", -1)),
        ts=str(entry.get("ts", "")),
        kind=kind,
        outcome=outcome,
        actor=str(entry.get("actor", "")),
        server=_shown(entry.get("server")),
        tool=_shown(entry.get("tool")),
        reason=reason,
        entry=entry,
    )


def to_rows(entries: Iterable[dict[str, Any]]) -> list[LogRow]:
    return [to_row(entry) for entry in entries]


def matches(row: LogRow, text: str = ANY, outcome: str = ANY, actor: str = ANY) -> bool:
    """`text` is found (case-insensitively) in any column; `outcome` is allow, deny or "other" (not a decision)."""
    if outcome == "other":
        if row.kind == "decision":
            return False
    elif outcome and row.outcome != outcome:
        return False
    if actor and row.actor != actor:
        return False
    return not text or text.casefold() in row.searchable
