"""The words of an assessment: levels, reasons, the verdict, and the facts the caller gathers."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {RiskLevel.LOW: 0, RiskLevel.MEDIUM: 1, RiskLevel.HIGH: 2, RiskLevel.CRITICAL: 3}
_BY_RANK = [RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH, RiskLevel.CRITICAL]


def max_level(levels: Iterable[RiskLevel]) -> RiskLevel:
    """The highest of the levels; low when there are none."""
    return max(levels, key=lambda level: level.rank, default=RiskLevel.LOW)


def _lower(level: RiskLevel, steps: int = 1) -> RiskLevel:
    return _BY_RANK[max(0, level.rank - steps)]


class RiskReason(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str = Field(description="A stable machine id, such as path.outside or shell.remote_code.")
    level: RiskLevel
    text: str = Field(description="One plain-language sentence for the person deciding.")


class RiskAssessment(BaseModel):
    model_config = ConfigDict(frozen=True)

    level: RiskLevel = Field(description="The highest level among the reasons; low when there are none.")
    reasons: list[RiskReason] = Field(default_factory=list, description="Most serious first.")
    impact: str = Field(description="The most important concrete effect, in one sentence.")

    @model_validator(mode="after")
    def _level_is_the_highest_reason(self) -> RiskAssessment:
        expected = max_level(reason.level for reason in self.reasons)
        if self.level is not expected:
            raise ValueError(f"level {self.level.value} is not the highest reason level ({expected.value})")
        return self


class PathFacts(BaseModel):
    """What the caller found on disk for one string from `paths_to_check`."""

    model_config = ConfigDict(frozen=True)

    raw: str = Field(description="The string exactly as paths_to_check returned it.")
    resolved: str | None = Field(
        default=None,
        description="Absolute real path (~ expanded, relative to the first root, symlinks followed); None if unknown.",
    )
    exists: bool = False
    is_symlink: bool = Field(default=False, description="The path itself (lstat) is a symbolic link.")


class RiskContext(BaseModel):
    """Facts only the caller can gather: where the user works, what is on disk, how busy the client is."""

    model_config = ConfigDict(frozen=True)

    home: str = Field(description="The user's home folder, absolute.")
    roots: list[str] = Field(default_factory=list, description="The client's workspace roots (paths or file: URIs).")
    paths: dict[str, PathFacts] = Field(default_factory=dict, description="Keyed by the raw string.")
    calls_last_minute: int = 0
    calls_last_hour: int = 0
    other_servers: dict[str, list[str]] = Field(
        default_factory=dict, description="The tools each other server offers, by server name (for shadowing)."
    )


# --- limits --------------------------------------------------------------------------------------------------

MAX_STRING_BYTES = 100_000
MAX_TOTAL_BYTES = 1_000_000
MAX_PATHS = 64
MAX_URLS = 50
MAX_PATH_LENGTH = 4096
MAX_REASONS_PER_CODE = 3
RATE_PER_MINUTE = 30
RATE_PER_HOUR = 300
