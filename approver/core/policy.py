"""Auto-approve rules and their evaluation (pure: the caller supplies the clock, path resolution and usage).

A rule names a server and a tool by glob, may constrain arguments (a map from JSON Pointer to a matcher), may
expire, may carry a rate limit, and says allow, deny or ask. Precedence never depends on rule order: any matching
deny wins, then any matching ask, then any matching allow; a call no rule matches needs a person ("ask").

Layers: a managed policy (an administrator's file; the user cannot override it) is consulted first, and if any of
its rules match, its answer is final; otherwise the user's rules decide. Grants a person gives in the dialog are
the service's business (approver.service.decisions), consulted when the rules say ask.

Matching is on exact code points, case-sensitively: a look-alike or invisible character never matches a rule
written without it, and a missing argument never matches a matcher on it. When a matcher cannot tell (a regex
over an over-long value, a relative path for `under`), the uncertainty goes to the safe side: it counts as a match
for deny and ask rules and as no match for allow rules, so padding an argument cannot slip past a deny.
"""

from __future__ import annotations

import fnmatch
import math
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from approver.core.jsonrpc import MalformedMessage, loads_strict

POLICY_SCHEMA_VERSION: Literal[1] = 1
REGEX_SUBJECT_LIMIT = 10_000  # longer values are not run through a rule's regex (backtracking is unbounded)

PathResolver = Callable[[str], str]
"""Resolves symlinks in an absolute, normalised path (the service passes os.path.realpath)."""

RuleUsage = Callable[[str], tuple[int, int]]
"""Calls a rule allowed in the last minute and the last hour, by rule key."""


class Effect(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    ASK = "ask"


class Layer(StrEnum):
    MANAGED = "managed"
    USER = "user"


class ArgMatcher(BaseModel):
    """Conditions on one argument value; every condition given must hold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    equals: Any = Field(default=None, description='The exact JSON value (types matter: 1 is not true or "1").')
    glob: str | None = Field(default=None, description="A glob over a string value (*, ?, [...]).")
    regex: str | None = Field(default=None, description="A regular expression the whole string must match.")
    under: str | None = Field(
        default=None,
        description="A directory: the value must be a path inside it after resolving ., .., ~ and symlinks.",
    )
    max_length: int | None = Field(default=None, ge=0, description="Longest string (code points) or array.")

    @model_validator(mode="after")
    def _something_to_check(self) -> ArgMatcher:
        if not self.model_fields_set & {"equals", "glob", "regex", "under", "max_length"}:
            raise ValueError("a matcher needs at least one of equals, glob, regex, under, max_length")
        return self

    @field_validator("regex")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value

    @field_validator("under")
    @classmethod
    def _absolute_directory(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith("/") or value == "~" or value.startswith("~/")):
            raise ValueError("`under` needs an absolute directory (or one starting with ~/)")
        return value


class RateLimit(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    per_minute: int | None = Field(default=None, ge=1)
    per_hour: int | None = Field(default=None, ge=1)
    then: Literal["ask", "deny"] = Field(default="ask", description="What the rule says once past its limit.")

    @model_validator(mode="after")
    def _a_limit(self) -> RateLimit:
        if self.per_minute is None and self.per_hour is None:
            raise ValueError("a limit needs per_minute or per_hour")
        return self


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    effect: Effect
    server: str = Field(default="*", min_length=1, description="Glob over the server name (--name).")
    tool: str = Field(default="*", min_length=1, description="Glob over the tool name.")
    args: dict[str, ArgMatcher] = Field(
        default_factory=dict, description="JSON Pointer (RFC 6901) into the arguments -> matcher."
    )
    expires: datetime | None = Field(default=None, description="RFC 3339 time after which the rule no longer applies.")
    limit: RateLimit | None = Field(default=None, description="Allow rules: how often, before it says ask or deny.")
    id: str | None = Field(default=None, min_length=1, description="A stable name for the rule.")
    note: str | None = None

    @field_validator("args")
    @classmethod
    def _pointers_parse(cls, value: dict[str, ArgMatcher]) -> dict[str, ArgMatcher]:
        for pointer in value:
            parse_pointer(pointer)
        return value

    @field_validator("expires")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2026-12-01T09:00:00Z)")
        return value


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = POLICY_SCHEMA_VERSION
    rules: tuple[Rule, ...] = ()


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file, the rule and the problem."""


def parse_pointer(pointer: str) -> tuple[str, ...]:
    """RFC 6901: "" is the whole value; "/a/b~1c" is ("a", "b/c")."""
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise ValueError(f"{pointer!r} is not a JSON Pointer (it must start with /)")
    return tuple(part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/"))


_MISSING = object()


def _resolve_pointer(value: Any, parts: Sequence[str]) -> Any:
    for part in parts:
        if isinstance(value, dict):
            if part not in value:
                return _MISSING
            value = value[part]
        elif isinstance(value, list):
            if not (part.isdigit() and (part == "0" or not part.startswith("0"))) or int(part) >= len(value):
                return _MISSING
            value = value[int(part)]
        else:
            return _MISSING
    return value


def json_equal(left: Any, right: Any) -> bool:
    """Equality as JSON means it: booleans are not numbers, and containers compare member by member."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right and not (isinstance(left, float) and math.isnan(left))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    return type(left) is type(right) and bool(left == right)


@dataclass(frozen=True)
class EvaluationContext:
    """What evaluation needs from outside the core."""

    now: datetime
    home: str
    resolve: PathResolver
    usage: RuleUsage


class _CompiledMatcher:
    __slots__ = ("glob", "matcher", "parts", "pointer", "regex", "under")

    def __init__(self, pointer: str, matcher: ArgMatcher) -> None:
        self.pointer = pointer
        self.parts = parse_pointer(pointer)
        self.matcher = matcher
        self.glob = _compile_glob(matcher.glob) if matcher.glob is not None else None
        self.regex = re.compile(matcher.regex) if matcher.regex is not None else None
        self.under = matcher.under

    def check(self, arguments: dict[str, Any], context: EvaluationContext) -> bool | None:
        """True or False, or None when it cannot tell."""
        value = _resolve_pointer(arguments, self.parts)
        if value is _MISSING:
            return False
        m = self.matcher
        if "equals" in m.model_fields_set and not json_equal(value, m.equals):
            return False
        if m.max_length is not None and (not isinstance(value, str | list) or len(value) > m.max_length):
            return False
        if self.glob is not None and not (isinstance(value, str) and self.glob.fullmatch(value)):
            return False
        unsure = False
        if self.regex is not None:
            if not isinstance(value, str):
                return False
            if len(value) > REGEX_SUBJECT_LIMIT:
                unsure = True
            elif not self.regex.fullmatch(value):
                return False
        if self.under is not None:
            inside = _path_under(value, self.under, context)
            if inside is False:
                return False
            unsure = unsure or inside is None
        return None if unsure else True


def _normalise(path: str, home: str) -> str | None:
    if path == "~" or path.startswith("~/"):
        path = home + path[1:]
    if not path.startswith("/") or "\x00" in path:
        return None
    return posixpath.normpath(path)


def _path_under(value: Any, directory: str, context: EvaluationContext) -> bool | None:
    if not isinstance(value, str):
        return False
    normal = _normalise(value, context.home)
    base = _normalise(directory, context.home)
    if normal is None or base is None:
        return None  # a relative path: relative to what the server considers its directory, unknown here
    try:
        resolved, resolved_base = context.resolve(normal), context.resolve(base)
    except (OSError, ValueError):
        return None
    return resolved == resolved_base or resolved.startswith(resolved_base.rstrip("/") + "/")


class CompiledRule:
    __slots__ = ("index", "key", "layer", "matchers", "rule", "server", "tool")

    def __init__(self, layer: Layer, index: int, rule: Rule) -> None:
        self.layer = layer
        self.index = index
        self.rule = rule
        self.key = f"{layer.value}:{rule.id or f'rules[{index}]'}"
        self.server = _compile_glob(rule.server)
        self.tool = _compile_glob(rule.tool)
        self.matchers = [_CompiledMatcher(pointer, matcher) for pointer, matcher in rule.args.items()]

    def matches(self, server: str, tool: str, arguments: dict[str, Any], context: EvaluationContext) -> bool:
        if self.rule.expires is not None and context.now >= self.rule.expires:
            return False
        if not (self.server.fullmatch(server) and self.tool.fullmatch(tool)):
            return False
        cautious = self.rule.effect is not Effect.ALLOW  # an unsure matcher counts as a match for deny and ask
        for matcher in self.matchers:
            result = matcher.check(arguments, context)
            if result is False or (result is None and not cautious):
                return False
        return True


@dataclass(frozen=True, slots=True)
class Outcome:
    effect: Effect
    rule: Rule | None
    index: int | None  # position in its file, for messages
    layer: Layer | None = None
    limited: str | None = None  # set when an allow rule was past its limit

    @property
    def rule_label(self) -> str | None:
        if self.rule is None or self.index is None:
            return None
        name = self.rule.id or f"rules[{self.index}]"
        return name if self.layer in (None, Layer.USER) else f"managed {name}"

    def explain(self) -> str:
        if self.rule is None:
            return "no rule matches this call"
        detail = f" ({self.rule.note})" if self.rule.note else ""
        if self.limited:
            return f"rule {self.rule_label} allows it, but {self.limited}, so it says {self.effect.value}{detail}"
        return f"rule {self.rule_label} says {self.effect.value}{detail}"


_PRECEDENCE = (Effect.DENY, Effect.ASK, Effect.ALLOW)
NO_MATCH = Outcome(Effect.ASK, None, None)


class CompiledPolicy:
    """One layer's rules, indexed so that a call looks only at rules that can match it.

    Each glob is keyed by its literal text, or, when it has wildcards, by the literal prefix before the first one;
    the index is two levels deep (server key, then tool key). A lookup tries the name itself and each of its
    prefixes, so its cost grows with the length of the names, not with the number of rules.
    """

    def __init__(self, policy: Policy, layer: Layer = Layer.USER, *, allows: bool = True) -> None:
        self.policy = policy
        self.layer = layer
        self.rules = [
            CompiledRule(layer, index, rule)
            for index, rule in enumerate(policy.rules)
            if allows or rule.effect is not Effect.ALLOW
        ]
        self._index: dict[tuple[bool, str], dict[tuple[bool, str], list[CompiledRule]]] = {}
        for compiled in self.rules:
            by_tool = self._index.setdefault(_glob_key(compiled.rule.server), {})
            by_tool.setdefault(_glob_key(compiled.rule.tool), []).append(compiled)

    def candidates(self, server: str, tool: str) -> list[CompiledRule]:
        found: list[CompiledRule] = []
        for server_key in _lookup_keys(server):
            by_tool = self._index.get(server_key)
            if by_tool is not None:
                for tool_key in _lookup_keys(tool):
                    found.extend(by_tool.get(tool_key, ()))
        found.sort(key=lambda compiled: compiled.index)
        return found

    def evaluate(
        self, server: str, tool: str, arguments: dict[str, Any] | None = None, context: EvaluationContext | None = None
    ) -> Outcome:
        return evaluate_layers([self], server, tool, arguments or {}, context or default_context())


def evaluate_layers(
    layers: Iterable[CompiledPolicy],
    server: str,
    tool: str,
    arguments: dict[str, Any],
    context: EvaluationContext,
) -> Outcome:
    """The first layer with any matching rule decides, by deny > ask > allow; no match anywhere is ask."""
    for layer in layers:
        first: dict[Effect, CompiledRule] = {}
        for compiled in layer.candidates(server, tool):
            effect = compiled.rule.effect
            if effect in first or not compiled.matches(server, tool, arguments, context):
                continue
            first[effect] = compiled
            if effect is Effect.DENY:
                break
        for effect in _PRECEDENCE:
            if effect in first:
                return _with_limit(first[effect], context)
    return NO_MATCH


def _with_limit(compiled: CompiledRule, context: EvaluationContext) -> Outcome:
    rule = compiled.rule
    limit = rule.limit
    if rule.effect is Effect.ALLOW and limit is not None:
        last_minute, last_hour = context.usage(compiled.key)
        past = None
        if limit.per_minute is not None and last_minute >= limit.per_minute:
            past = f"it allows {limit.per_minute} calls a minute and that many were made"
        elif limit.per_hour is not None and last_hour >= limit.per_hour:
            past = f"it allows {limit.per_hour} calls an hour and that many were made"
        if past is not None:
            return Outcome(Effect(limit.then), rule, compiled.index, compiled.layer, limited=past)
    return Outcome(rule.effect, rule, compiled.index, compiled.layer)


def rule_key(outcome: Outcome) -> str | None:
    """The usage key of the rule that decided (for counting calls against its limit)."""
    if outcome.rule is None or outcome.layer is None or outcome.index is None:
        return None
    return f"{outcome.layer.value}:{outcome.rule.id or f'rules[{outcome.index}]'}"


_WILDCARD = re.compile(r"[*?\[]")


def _glob_key(glob: str) -> tuple[bool, str]:
    """(False, the glob) for a literal name; (True, its literal prefix) when it has wildcards."""
    wildcard = _WILDCARD.search(glob)
    return (False, glob) if wildcard is None else (True, glob[: wildcard.start()])


def _lookup_keys(name: str) -> Iterable[tuple[bool, str]]:
    yield (False, name)
    for end in range(len(name) + 1):
        yield (True, name[:end])


def _compile_glob(glob: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(glob), re.DOTALL)


def _no_usage(_key: str) -> tuple[int, int]:
    return (0, 0)


def default_context(now: datetime | None = None, home: str = "/nonexistent-home") -> EvaluationContext:
    """For evaluations without the service's facts: lexical paths only, no usage history."""
    return EvaluationContext(now=now or datetime.now(UTC), home=home, resolve=lambda path: path, usage=_no_usage)


EMPTY_POLICY = CompiledPolicy(Policy())


def parse_policy(text: str | bytes, source: str, layer: Layer = Layer.USER, *, allows: bool = True) -> CompiledPolicy:
    """Validate a policy document. `source` (usually the file path) starts every error message."""
    return CompiledPolicy(parse_policy_document(text, source), layer, allows=allows)


def parse_policy_document(text: str | bytes, source: str) -> Policy:
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
        return Policy.model_validate(document)
    except ValidationError as exc:
        raise PolicyError(_describe_validation_error(source, document, exc)) from None


def policy_json_schema() -> dict[str, Any]:
    """The policy file's JSON Schema, for editors (`approver rules schema`)."""
    schema = Policy.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "MCP Approver policy"
    return schema


def _describe_validation_error(source: str, document: Mapping[str, object], exc: ValidationError) -> str:
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
