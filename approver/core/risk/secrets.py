"""Evidence of secrets in the arguments (tokens, keys, passwords): possible exfiltration."""

from __future__ import annotations

from approver.core.models import ToolCall
from approver.core.redaction import redact, secret_catalogue
from approver.core.risk.findings import _Findings
from approver.core.risk.model import RiskLevel
from approver.core.risk.quoting import _FIELD_KINDS, _SECRET_LABELS, _show

# --- secrets -------------------------------------------------------------------------------------------------


def _secret_reasons(call: ToolCall, findings: _Findings) -> None:
    try:
        found = redact(call.arguments, b"mcp-approver risk assessment").findings
    except (TypeError, ValueError):  # not JSON (only possible for a ToolCall built in code, not read from a client)
        findings.add("secret.unchecked", RiskLevel.MEDIUM, "The arguments could not be checked for secrets.")
        return
    by_kind: dict[str, list[str]] = {}
    for finding in found:
        by_kind.setdefault(finding.kind, []).append(_pointer_to_location(finding.pointer))
    for kind, places in by_kind.items():
        label = _SECRET_LABELS.get(kind) or _catalogue_label(kind)
        where = ", ".join(f"'{_show(place, 40)}'" for place in places[:3]) + (" and more" if len(places) > 3 else "")
        if kind in _FIELD_KINDS:
            findings.add(
                "secret.field",
                RiskLevel.MEDIUM,
                f"The arguments contain {label} (in {where}); make sure this tool is meant to receive it.",
            )
        else:
            findings.add(
                "secret.token",
                RiskLevel.HIGH,
                f"The arguments contain what looks like {label} (in {where}) — possible exfiltration: make sure "
                "this tool is meant to receive it.",
            )
            findings.impact(RiskLevel.HIGH, 5, f"Passes what looks like {label} to the tool.")


def _catalogue_label(kind: str) -> str:
    """detect-secrets' own name for a kind from its catalogue, such as 'a GitLab Token'."""
    secret_type = next((entry.secret_type for entry in secret_catalogue() if entry.kind == kind), None)
    if secret_type is None:
        return "a secret"
    return f"{'an' if secret_type[:1] in 'AEIOU' else 'a'} {secret_type}"


def _pointer_to_location(pointer: str) -> str:
    segments = [part.replace("~1", "/").replace("~0", "~") for part in pointer.split("/")[1:]]
    rendered = ""
    for segment in segments[-6:]:
        rendered += f"[{segment}]" if segment.isdigit() else ("." if rendered else "") + segment
    return rendered or "the arguments"
