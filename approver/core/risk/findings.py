"""Collecting reasons and impacts from every kind of evidence, bounded per code."""

from __future__ import annotations

from dataclasses import dataclass, field

from approver.core.risk.model import MAX_REASONS_PER_CODE, RiskLevel, RiskReason

# --- collecting reasons --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Impact:
    level: RiskLevel
    priority: int  # lower wins among equal levels: commands, writes, requests, reads, secrets, the tool itself
    sentence: str


@dataclass(slots=True)
class _Findings:
    reasons: list[RiskReason] = field(default_factory=list)
    impacts: list[_Impact] = field(default_factory=list)
    _seen: set[tuple[str, str]] = field(default_factory=set)
    _per_code: dict[str, tuple[int, int]] = field(default_factory=dict)  # code -> (reasons kept, highest rank)

    def add(self, code: str, level: RiskLevel, text: str) -> None:
        """Keep a reason; past a few of one code, only one that raises that code's level (the level must be true)."""
        count, highest = self._per_code.get(code, (0, -1))
        if (code, text) in self._seen or (count >= MAX_REASONS_PER_CODE and level.rank <= highest):
            return
        self._seen.add((code, text))
        self._per_code[code] = (count + 1, max(highest, level.rank))
        self.reasons.append(RiskReason(code=code, level=level, text=text))

    def impact(self, level: RiskLevel, priority: int, sentence: str) -> None:
        self.impacts.append(_Impact(level, priority, sentence))
