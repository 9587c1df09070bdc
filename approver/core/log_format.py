"""The decision log's record format (pure: bytes in, bytes out).

One JSON line per entry. The entry is canonical JSON (RFC 8785 / JCS), so its bytes are reproducible from its
content; `prev` chains each entry to the RFC 6962 leaf hash of the one before, and `seq` counts from 0 at the
genesis entry. Nothing here is a float: times are RFC 3339 strings, so canonicalisation is exact.

Callers hand over what happened (`DecisionFacts`); this module decides how it is written, so the log can gain
signatures without any caller changing.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import rfc8785
from pydantic import BaseModel, ConfigDict

from approver.core.jsonrpc import MalformedMessage, loads_strict
from approver.core.models import Actor, Decision, ToolCall, Verdict

FORMAT_VERSION = 1
GENESIS_PREV = "0" * 64


class DecisionFacts(BaseModel):
    """Everything a decision entry records, besides its position in the log."""

    model_config = ConfigDict(frozen=True)

    server: str
    tool: str
    client: str
    request_id: str
    digest: str
    decision: Decision
    actor: Actor
    reason: str
    rule: str | None = None
    source: str = "service"  # "proxy" when a proxy decided alone because the service was unreachable
    decided_at: str | None = None  # set on proxy decisions: when it was made, before the service took it in

    @classmethod
    def of(cls, call: ToolCall, verdict: Verdict, *, by_proxy: bool = False) -> DecisionFacts:
        client = call.client.name + (f" {call.client.version}" if call.client.version else "")
        return cls(
            server=call.server,
            tool=call.tool,
            client=client,
            request_id=str(call.request_id),
            digest=call.digest,
            decision=verdict.decision,
            actor=verdict.actor,
            reason=verdict.reason,
            rule=verdict.rule,
            source="proxy" if by_proxy else "service",
            decided_at=rfc3339_now() if by_proxy else None,
        )


def rfc3339_now() -> str:
    return rfc3339(datetime.now(UTC))


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def leaf_hash(entry_bytes: bytes) -> str:
    """RFC 6962 leaf hash, hex: SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + entry_bytes).hexdigest()


def encode_entry(entry: dict[str, Any]) -> bytes:
    return bytes(rfc8785.dumps(entry))


def genesis_entry(ts: str, software: str) -> dict[str, Any]:
    return {
        "v": FORMAT_VERSION,
        "seq": 0,
        "prev": GENESIS_PREV,
        "ts": ts,
        "kind": "genesis",
        "software": software,
    }


def decision_entry(seq: int, prev: str, ts: str, facts: DecisionFacts) -> dict[str, Any]:
    body = facts.model_dump(mode="json", exclude_none=True)
    return {"v": FORMAT_VERSION, "seq": seq, "prev": prev, "ts": ts, "kind": "decision", **body}


class LogFormatError(ValueError):
    pass


def decode_line(line: bytes) -> dict[str, Any]:
    """Parse one stored line back into its entry."""
    try:
        entry = loads_strict(line)
    except MalformedMessage as exc:
        raise LogFormatError(str(exc)) from None
    if not isinstance(entry, dict) or not isinstance(entry.get("seq"), int) or "kind" not in entry:
        raise LogFormatError("not a decision-log entry")
    return entry
