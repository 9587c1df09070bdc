"""What came back: a response to a forwarded call, read (never changed, unless redaction is asked for).

The proxy forwards the server's response first and inspects it after; the inspection (`inspect_response`) is
what the log's outcome entry records: the size and SHA-256 of the exact bytes, whether the tool said it failed,
and findings — secrets (the redaction catalogue), text that speaks to the model as if it were its instructions,
and invisible characters. It never records the result's content: only what kind of thing was found where.

With the redact-results setting on, `redact_response` replaces the secrets in the result before the response
reaches the client, and adds a line saying it did.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from approver.core.redaction import redact

FINDINGS_KEPT = 50  # per kind of finding, per response; the counts stay exact
INSPECTED_STRING_LIMIT = 256 * 1024  # characters of each string read for findings (a 20 MB result stays cheap)

# Text in a tool's output that addresses the model as its operator would: the classic shapes of prompt injection.
_INSTRUCTION_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        (
            "ignore-previous-instructions",
            r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+|the\s+|your\s+)*"
            r"(?:previous|prior|above|earlier|preceding|system)\s+(?:instructions|prompts?|rules|directions)",
        ),
        ("new-instructions", r"\b(?:new|updated|additional)\s+(?:system\s+)?instructions\s*:"),
        ("role-reassignment", r"\byou\s+are\s+now\s+(?:a|an|the|in)\b"),
        ("system-tag", r"</?\s*(?:system|important|instructions?|admin)\s*>"),
        ("chat-role-marker", r"(?:^|\n)\s*(?:system|assistant)\s*:\s"),
        ("hide-from-user", r"\b(?:do\s+not|don'?t|never)\s+(?:tell|inform|show|mention|reveal)\b[^.\n]{0,40}\buser\b"),
        (
            "tool-call-request",
            r"\b(?:call|invoke|run|use)\s+the\s+[\w.-]+\s+tool\b[^.\n]{0,80}\b(?:now|immediately|first|without)\b",
        ),
    )
)
# Zero-width, bidirectional controls, word joiners, BOM and the Unicode tag block (it can spell hidden text).
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\U000e0000-\U000e007f]")


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: str = Field(description="secret | instruction | invisible")
    what: str = Field(description="The secret's kind, the instruction pattern's name, or the characters' count.")
    pointer: str = Field(description="JSON Pointer into the response's result.")


class ResultReport(BaseModel):
    """The outcome of one forwarded call, as the proxy saw it; no content of the result, only facts about it."""

    model_config = ConfigDict(frozen=True)

    size: int = Field(description="Bytes of the response line as the server wrote it.")
    sha256: str = Field(description="SHA-256 of those exact bytes (hex).")
    outcome: str = Field(description="result | error (a JSON-RPC error) | no-response (the server never answered)")
    is_error: bool | None = Field(default=None, description="The result's isError (tools/call results).")
    error_code: int | None = None
    findings: list[Finding] = Field(default_factory=list)
    findings_total: int = 0
    partly_inspected: bool = Field(default=False, description="Some strings were longer than what is read.")
    redacted: bool = Field(default=False, description="Secrets were replaced before the client got the response.")


def _strings(value: Any, pointer: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a JSON value (keys too), with its JSON Pointer; iterative, so depth costs no recursion."""
    stack: list[tuple[Any, str]] = [(value, pointer)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, dict):
            for key, member in item.items():
                segment = str(key).replace("~", "~0").replace("/", "~1")
                if isinstance(key, str):
                    yield f"{where}/{segment}", key
                stack.append((member, f"{where}/{segment}"))
        elif isinstance(item, list):
            stack.extend((member, f"{where}/{index}") for index, member in enumerate(item))


def text_findings(value: Any) -> list[Finding]:
    """Instructions aimed at the model, and invisible characters, anywhere in a JSON value."""
    found: list[Finding] = []
    for where, text in _strings(value):
        for name, pattern in _INSTRUCTION_PATTERNS:
            if pattern.search(text):
                found.append(Finding(kind="instruction", what=name, pointer=where))
        invisible = len(_INVISIBLE.findall(text))
        if invisible:
            found.append(Finding(kind="invisible", what=f"{invisible} invisible character(s)", pointer=where))
    return found


def inspect_response(raw: bytes, response: dict[str, Any], fingerprint_key: bytes) -> ResultReport:
    """Facts about one response (`raw` its exact bytes, `response` the decoded JSON-RPC response)."""
    cut, partly = _head_of_long_strings(response)
    result = cut.get("result")
    error = cut.get("error")
    findings: list[Finding] = []
    if result is not None:
        findings = [
            Finding(kind="secret", what=finding.kind, pointer=finding.pointer)
            for finding in redact(result, fingerprint_key).findings
        ]
        findings += text_findings(result)
    elif isinstance(error, dict):
        findings = text_findings(error.get("message"))
    is_error = result.get("isError") if isinstance(result, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return ResultReport(
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        outcome="result" if "result" in response else "error" if "error" in response else "no-response",
        is_error=is_error if isinstance(is_error, bool) else None,
        error_code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        findings=_bounded(findings),
        findings_total=len(findings),
        partly_inspected=partly,
    )


def _head_of_long_strings(value: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """A copy of the response in which each string keeps its first INSPECTED_STRING_LIMIT characters."""
    cut = False

    def head(item: Any) -> Any:
        nonlocal cut
        if isinstance(item, str) and len(item) > INSPECTED_STRING_LIMIT:
            cut = True
            return item[:INSPECTED_STRING_LIMIT]
        if isinstance(item, dict):
            return {key: head(member) for key, member in item.items()}
        if isinstance(item, list):
            return [head(member) for member in item]
        return item

    try:
        return head(value), cut
    except RecursionError:  # nested deeper than Python's stack: read it whole (the walks below are iterative)
        return value, False


def _bounded(findings: list[Finding]) -> list[Finding]:
    kept: list[Finding] = []
    per_kind: dict[str, int] = {}
    for finding in findings:
        per_kind[finding.kind] = per_kind.get(finding.kind, 0) + 1
        if per_kind[finding.kind] <= FINDINGS_KEPT:
            kept.append(finding)
    return kept


def redact_response(response: dict[str, Any], fingerprint_key: bytes) -> dict[str, Any] | None:
    """The response with the secrets in its result replaced by markers, or None when it holds none.

    For a tool result it adds a text item saying what was redacted, so the model (and through it the person)
    knows the output was changed, and why."""
    result = response.get("result")
    if result is None:
        return None
    redacted = redact(result, fingerprint_key)
    if not redacted.findings:
        return None
    kinds = sorted({finding.kind for finding in redacted.findings})
    value = redacted.value
    if isinstance(value, dict) and isinstance(value.get("content"), list):
        count = len(redacted.findings)
        value["content"].append(
            {
                "type": "text",
                "text": f"[MCP Approver redacted {count} secret(s) from this result ({', '.join(kinds)}).]",
            }
        )
    return {**response, "result": value}
