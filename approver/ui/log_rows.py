"""The decision log as rows for the audit log viewer, the viewer's filter, and reading the log as it grows, without
Qt."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from approver.core.log_format import LineFormatError, decode_entry, split_line
from approver.service.decision_log import LogError
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


def _result(entry: dict[str, Any]) -> str:
    """What came back for a forwarded call (the entry holds facts about the response, never its content)."""
    what = "an isError result" if entry.get("is_error") else str(entry.get("outcome", "?"))
    text = f"{what}, {entry.get('size', '?')} bytes, for decision #{entry.get('decision_seq', '?')}"
    findings = entry.get("findings")
    if isinstance(findings, list) and findings:
        kinds = sorted({f"{f.get('kind')} {f.get('what')}" for f in findings if isinstance(f, dict)})
        text += f"; found {entry.get('findings_total', len(findings))}: {', '.join(kinds)}"
    if entry.get("redacted"):
        text += "; secrets were redacted before the client got it"
    return _shown(text)


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
    elif kind == "outcome":
        outcome = kind
        reason = _result(entry)
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


@dataclass(frozen=True, slots=True)
class LogPosition:
    """How far the log has been read: which file (device, inode), the end of its last whole line, and that line."""

    file: tuple[int, int]
    end: int
    last_line: bytes


@dataclass(frozen=True, slots=True)
class LogChunk:
    entries: list[dict[str, Any]]
    position: LogPosition | None  # None: there is no log (yet)
    from_start: bool  # the entries are the whole log: what was shown before must be replaced


def _still_there(handle: BinaryIO, identity: tuple[int, int], size: int, position: LogPosition) -> bool:
    """The file read before, grown or not, with its last line read still in place (not replaced, truncated or
    rewritten under us)."""
    if position.file != identity or position.end > size:
        return False
    handle.seek(position.end - len(position.last_line))
    return handle.read(len(position.last_line)) == position.last_line


def read_log_from(path: Path, position: LogPosition | None) -> LogChunk:
    """The entries after `position`, reading only what was appended since (a log can hold a million lines); the
    whole log when there is no position or the file is no longer the one read. A last line still being written
    is left for the next read."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return LogChunk([], None, from_start=True)
    with handle:
        status = os.fstat(handle.fileno())
        identity = (status.st_dev, status.st_ino)
        start, last_line = 0, b""
        if position is not None and _still_there(handle, identity, status.st_size, position):
            start, last_line = position.end, position.last_line
        handle.seek(start)
        entries = []
        end = start
        for raw in handle:
            if not raw.endswith(b"\n"):
                break
            if raw.strip():
                try:
                    entries.append(decode_entry(split_line(raw.rstrip(b"\n"))[0]))
                except LineFormatError as exc:
                    raise LogError(f"{path}, the line at byte {end}: {exc}") from None
            end += len(raw)
            last_line = raw
        return LogChunk(entries, LogPosition(identity, end, last_line), from_start=start == 0)
