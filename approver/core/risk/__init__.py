"""How risky a held tool call looks, in words a person can act on.

The assessment is shown in the approval dialog: an overall level, the reasons for it (each a plain sentence with
a stable code), and one sentence about the most important concrete effect ("Overwrites /home/u/.bashrc —
outside your project; the file exists.").

It comes in two phases so that this module stays pure. `paths_to_check(call)` names the path-like strings in
the arguments; the caller (the service) looks them up on disk and passes what it found in a `RiskContext`,
together with the client's workspace roots, the home folder and recent call counts. `assess(call, context)`
then decides from the call and those facts alone: deterministic, no I/O.

Everything a server says about its tools (annotations, description) is an untrusted hint. Missing annotations
take the MCP defaults (not read-only, destructive, open-world), and a read-only claim lowers the tool's own
signals by one level but never hides what the arguments show. Anything quoted from the arguments is shown with
secrets masked and invisible or direction-changing characters spelled out, so the dialog cannot be spoofed.
"""

from __future__ import annotations

from approver.core.models import ToolCall
from approver.core.risk.annotations import _annotation_reasons, _recipient_impact, _tool_sentence, _tool_word_reasons
from approver.core.risk.arguments import _flatten
from approver.core.risk.definitions import _definition_reasons, assess_definition
from approver.core.risk.findings import _Findings
from approver.core.risk.model import PathFacts, RiskAssessment, RiskContext, RiskLevel, RiskReason, max_level
from approver.core.risk.paths import _path_reasons, _path_sites, paths_to_check
from approver.core.risk.rate import _rate_reasons
from approver.core.risk.secrets import _secret_reasons
from approver.core.risk.shell import _shell_reasons
from approver.core.risk.text import _text_reasons
from approver.core.risk.tool import _tool_profile
from approver.core.risk.urls import _url_reasons

__all__ = [
    "PathFacts",
    "RiskAssessment",
    "RiskContext",
    "RiskLevel",
    "RiskReason",
    "assess",
    "assess_definition",
    "max_level",
    "paths_to_check",
]


def assess(call: ToolCall, context: RiskContext) -> RiskAssessment:
    """Rate a held call for the person deciding. Deterministic; uses only the call and the caller's facts."""
    tool = _tool_profile(call)
    arguments = _flatten(call.arguments)
    findings = _Findings()
    _annotation_reasons(call, tool, findings)
    _tool_word_reasons(call, tool, findings)
    _text_reasons(arguments, findings)
    _secret_reasons(call, findings)
    _path_reasons(_path_sites(arguments, tool), tool, context, findings)
    _shell_reasons(arguments, tool, findings)
    _url_reasons(arguments, findings)
    _definition_reasons(call, context, findings)
    _rate_reasons(context, findings)
    _recipient_impact(arguments, tool, findings)
    findings.impact(RiskLevel.LOW, 9, _tool_sentence(call, tool))
    reasons = sorted(findings.reasons, key=lambda reason: -reason.level.rank)  # stable: ties keep their order
    impact = min(findings.impacts, key=lambda item: (-item.level.rank, item.priority)).sentence
    return RiskAssessment(level=max_level(reason.level for reason in reasons), reasons=reasons, impact=impact)
