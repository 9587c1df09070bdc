"""Auto-approve rules (policy schema v1) and their evaluation.

A rule names a server and a tool by glob and says allow, deny or ask. Precedence is fixed and does not depend
on rule order: any matching deny wins, then any matching ask, then any matching allow; a call no rule matches
needs a person ("ask"). Globs match exact code points, case-sensitively, so a look-alike or invisible
character in a tool name never matches a rule written without it.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from approver.core.jsonrpc import MalformedMessage, loads_strict

POLICY_SCHEMA_VERSION: Literal[1] = 1


class Effect(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    ASK = "ask"


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    effect: Effect
    server: str = Field(default="*", min_length=1, description="Glob over the server name (--name).")
    tool: str = Field(default="*", min_length=1, description="Glob over the tool name.")
    id: str | None = Field(default=None, min_length=1, description="A stable name for the rule.")
    note: str | None = None


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = POLICY_SCHEMA_VERSION
    rules: tuple[Rule, ...] = ()


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file, the rule and the problem."""


@dataclass(frozen=True, slots=True)
class Outcome:
    effect: Effect
    rule: Rule | None
    index: int | None  # position in the file, for messages

    @property
    def rule_label(self) -> str | None:
        if self.rule is None or self.index is None:
            return None
        return self.rule.id or f"rules[{self.index}]"

    def explain(self) -> str:
        if self.rule is None:
            return "no rule matches this call"
        detail = f" ({self.rule.note})" if self.rule.note else ""
        return f"rule {self.rule_label} says {self.effect.value}{detail}"


_PRECEDENCE = (Effect.DENY, Effect.ASK, Effect.ALLOW)


class CompiledPolicy:
    """A policy with its globs compiled once, evaluated on every held call."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._rules = [
            (index, rule, _compile_glob(rule.server), _compile_glob(rule.tool))
            for index, rule in enumerate(policy.rules)
        ]

    def evaluate(self, server: str, tool: str) -> Outcome:
        first_by_effect: dict[Effect, tuple[int, Rule]] = {}
        for index, rule, server_glob, tool_glob in self._rules:
            if rule.effect in first_by_effect:
                continue
            if server_glob.fullmatch(server) and tool_glob.fullmatch(tool):
                first_by_effect[rule.effect] = (index, rule)
                if rule.effect is Effect.DENY:
                    break
        for effect in _PRECEDENCE:
            if effect in first_by_effect:
                index, rule = first_by_effect[effect]
                return Outcome(effect, rule, index)
        return Outcome(Effect.ASK, None, None)


def _compile_glob(glob: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(glob), re.DOTALL)


EMPTY_POLICY = CompiledPolicy(Policy())


def parse_policy(text: str | bytes, source: str) -> CompiledPolicy:
    """Validate a policy document. `source` (usually the file path) starts every error message."""
    try:
        document = loads_strict(text.encode("utf-8") if isinstance(text, str) else text)
    except MalformedMessage as exc:
        raise PolicyError(f"{source}: {exc}") from None
    if not isinstance(document, dict):
        raise PolicyError(f'{source}: the policy must be a JSON object like {{"rules": [...]}}')
    version = document.get("version", POLICY_SCHEMA_VERSION)
    if version != POLICY_SCHEMA_VERSION:
        raise PolicyError(
            f"{source}: policy version {version!r} is not supported by this MCP Approver "
            f"(it reads version {POLICY_SCHEMA_VERSION})"
        )
    try:
        return CompiledPolicy(Policy.model_validate(document))
    except ValidationError as exc:
        raise PolicyError(_describe_validation_error(source, document, exc)) from None


def _describe_validation_error(source: str, document: dict[str, object], exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        location = list(error["loc"])
        where = ""
        if len(location) >= 2 and location[0] == "rules" and isinstance(location[1], int):
            index = location[1]
            rules = document.get("rules")
            rule_id = None
            if isinstance(rules, list) and index < len(rules) and isinstance(rules[index], dict):
                rule_id = rules[index].get("id")
            where = f"rule {index + 1}" + (f" ({rule_id!r})" if isinstance(rule_id, str) else "")
            location = location[2:]
        field = ".".join(str(part) for part in location)
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown field (typo, or a feature this version does not have)"
        elif error["type"] == "enum":
            message = "must be one of allow, deny, ask"
        problems.append(", ".join(part for part in (where, field) if part) + f": {message}")
    return f"{source}: " + "; ".join(problems)
