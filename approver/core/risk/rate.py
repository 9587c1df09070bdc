"""Evidence from how busy the client is: far more calls than a person would make."""

from __future__ import annotations

from approver.core.risk.findings import _Findings
from approver.core.risk.model import RATE_PER_HOUR, RATE_PER_MINUTE, RiskContext, RiskLevel

# --- how busy the client is ----------------------------------------------------------------------------------


def _rate_reasons(context: RiskContext, findings: _Findings) -> None:
    for count, limit, span, code in (
        (context.calls_last_minute, RATE_PER_MINUTE, "minute", "rate.minute"),
        (context.calls_last_hour, RATE_PER_HOUR, "hour", "rate.hour"),
    ):
        if count > limit:
            level = RiskLevel.HIGH if count > 4 * limit else RiskLevel.MEDIUM
            findings.add(
                code,
                level,
                f"{count} tool calls in the last {span}, far more than a person would make: the AI may be stuck in "
                "a loop or working through a long list unchecked.",
            )
