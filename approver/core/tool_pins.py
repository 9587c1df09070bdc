"""Tool definitions as the pins compare them: which fields count, their one byte form, and what changed.

A server can redefine a tool between two `tools/list` results (a "rug pull": approved on Monday, a poisoning
payload on Tuesday). What is pinned is a digest of the canonical form (RFC 8785) of exactly the fields that say
what the tool is and does; anything else a server adds (`_meta`, icons) does not move the pin.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from typing import Any

import rfc8785
from pydantic import BaseModel, ConfigDict

DEFINITION_FIELDS = ("name", "title", "description", "inputSchema", "outputSchema", "annotations")
DIFF_LINE_LIMIT = 200  # lines of one field's diff shown; a longer diff says how much was left out


def definition_of(tool: dict[str, Any]) -> dict[str, Any]:
    """The fields of a `tools/list` entry that a pin covers (absent ones stay absent)."""
    return {name: tool[name] for name in DEFINITION_FIELDS if name in tool}


def definition_digest(tool: dict[str, Any]) -> str:
    """sha256 over the RFC 8785 form of the tool's definition fields. A value RFC 8785 cannot encode (a
    non-finite number, an integer beyond 2**53 would be refused by the parser first) falls back to sorted-key JSON
    of its repr, so a hostile definition still gets a digest (a different one from any other definition)."""
    fields = definition_of(tool)
    try:
        encoded = bytes(rfc8785.dumps(fields))
    except (rfc8785.CanonicalizationError, TypeError, ValueError):
        encoded = b"unencodable:" + repr(sorted(fields.items())).encode("utf-8", "surrogatepass")
    return "sha256:" + hashlib.sha256(encoded).hexdigest()


class FieldChange(BaseModel):
    """One field of a definition that differs: a unified diff of its text (schemas as indented JSON)."""

    model_config = ConfigDict(frozen=True)

    field: str
    diff: str


class DefinitionChange(BaseModel):
    """What a person is shown when a tool's definition changed since it was accepted."""

    model_config = ConfigDict(frozen=True)

    tool: str
    accepted_digest: str | None  # None: never accepted (a tool first seen under quarantine or a new identity)
    current_digest: str
    fields: tuple[FieldChange, ...] = ()


def _as_text(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.splitlines()
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


def describe_change(
    tool: str,
    accepted: dict[str, Any] | None,
    current: dict[str, Any] | None,
    accepted_digest: str | None,
    current_digest: str,
) -> DefinitionChange:
    """Per definition field, a unified diff from the accepted definition (none: from nothing) to the current one
    (none: its text is not at hand, as when the log kept only a digest)."""
    changes: list[FieldChange] = []
    before, after = accepted or {}, current or {}
    for name in DEFINITION_FIELDS:
        if name == "name" or before.get(name) == after.get(name):
            continue
        lines = list(
            difflib.unified_diff(
                _as_text(before.get(name)), _as_text(after.get(name)), "accepted", "now", n=2, lineterm=""
            )
        )
        if len(lines) > DIFF_LINE_LIMIT:
            lines = [*lines[:DIFF_LINE_LIMIT], f"… {len(lines) - DIFF_LINE_LIMIT} more lines of difference"]
        changes.append(FieldChange(field=name, diff="\n".join(lines[2:])))  # without the ---/+++ header
    return DefinitionChange(
        tool=tool,
        accepted_digest=accepted_digest,
        current_digest=current_digest,
        fields=tuple(changes),
    )
