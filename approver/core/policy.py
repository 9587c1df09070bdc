"""Auto-approve rules and their evaluation (pure: the caller supplies the clock, path resolution and usage).

A rule names a server and a tool by glob, may constrain arguments (a map from JSON Pointer to a matcher), may
expire, may carry a rate limit, and says allow, deny or ask. Precedence never depends on rule order: any matching
deny wins, then any matching ask, then any matching allow; a call no rule matches needs a person ("ask").

Layers: a managed policy (an administrator's file; the user cannot override it) is consulted first, and if any of
its rules match, its answer is final; otherwise the user's rules decide. Grants a person gives in the dialog are
the service's business (approver.service.decisions), consulted when the rules say ask.

The agent writes every argument, and a server may read one in more than one way: it may follow a symlink before
a `..`, fold a Unicode spelling into an equivalent one, parse a string holding JSON text back into a list, resolve
`.` and `..` segments. So an argument matcher is tried on every such reading of the value (see `_readings`): a
deny or ask rule matches when ANY reading matches, an allow rule only when EVERY reading does. Otherwise matching
is on exact code points, case-sensitively: a look-alike or invisible character never matches a rule written
without it, and a missing argument never matches a matcher on it. When a matcher cannot tell (a regex over an
over-long value, a relative path for `under`), the uncertainty goes to the safe side in the same way: it counts
as a match for deny and ask rules and as no match for allow rules, so padding an argument cannot slip past a deny.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from approver.core.jsonrpc import MalformedMessage, loads_strict
from approver.core.models import TOOLS_CALL

POLICY_SCHEMA_VERSION: Literal[1] = 1
REGEX_SUBJECT_LIMIT = 10_000  # longer values are not run through a rule's regex (backtracking is unbounded)
ELEMENT_LIMIT = 1_000  # a * step over a longer array is not checked element by element (each may cost syscalls)
PATH_LIMIT = 4_096  # longer paths are not resolved (PATH_MAX on Linux; each component costs a syscall)

PathResolver = Callable[[str], str]
"""Resolves an absolute path as the OS opens it: each existing component in turn, symlinks first, so `link/..` is
the parent of the link's target (the service passes os.path.realpath; without a filesystem, a lexical resolver)."""

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

    equals: Any = Field(
        default=None,
        description='The JSON value: for an allow exactly (1 is not true or "1"); a deny or ask also catches the '
        "spellings a lax server coerces to it.",
    )
    glob: str | None = Field(
        default=None,
        description="A glob the whole string must match: * any characters (/ included), ? one, [...] a set, "
        "[!...] not in it. In allow rules no wildcard matches a line feed.",
    )
    regex: str | None = Field(
        default=None,
        description="A regular expression (Python syntax) the whole string must match. In deny and ask rules . "
        "matches any character; in allow rules any but a line feed.",
    )
    under: str | None = Field(
        default=None,
        description="A directory (absolute or ~/…): the value must be a path inside it, resolved as the OS opens "
        "it (~, symlinks, then ..) and as text (..) alike.",
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

    @field_validator("glob")
    @classmethod
    def _glob_closes(cls, value: str | None) -> str | None:
        return None if value is None else _check_glob(value)

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


# The requests the proxy holds for a decision. A call to a tool needs a rule (or a person) to allow it; the others
# (reads of resources and prompts, completions) are allowed and logged unless a rule says otherwise.
GATED_METHODS = (TOOLS_CALL, "resources/read", "prompts/get", "completion/complete")
GatedMethod = Literal["tools/call", "resources/read", "prompts/get", "completion/complete"]


class SchemaRequirement(StrEnum):
    VALID = "valid"  # the rule allows only calls whose arguments match the tool's inputSchema
    ANY = "any"  # the rule allows calls whatever their arguments (the person opted out of the check)


class Rule(BaseModel):
    # `schema` is a (deprecated) BaseModel attribute, so the field has another Python name; files use "schema".
    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_alias=True, validate_by_name=True, serialize_by_alias=True
    )

    effect: Effect
    method: GatedMethod = Field(
        default="tools/call",
        description="Which request the rule is about: tools/call, or resources/read, prompts/get, "
        "completion/complete (allowed and logged when no rule matches).",
    )
    server: str = Field(default="*", min_length=1, description="Glob over the server name (--name).")
    tool: str = Field(
        default="*",
        min_length=1,
        description="Glob over the tool name (for resources/read the URI, for prompts/get the prompt's name).",
    )
    args: dict[str, ArgMatcher] = Field(
        default_factory=dict,
        description="JSON Pointer (RFC 6901) into the arguments (for methods other than tools/call: into the "
        "request's params) -> matcher; a * step means every element of an array (a deny matches if any does; an "
        "allow needs a non-empty array and all of them).",
    )
    uri: ArgMatcher | None = Field(
        default=None, description="resources/read: a matcher on the resource's URI (the same as args /uri)."
    )
    arguments_schema: SchemaRequirement = Field(
        default=SchemaRequirement.VALID,
        alias="schema",
        description='Allow rules for tools/call: "valid" allows only calls whose arguments match the tool\'s '
        'inputSchema (others are asked); "any" skips that check.',
    )
    expires: datetime | None = Field(default=None, description="RFC 3339 time after which the rule no longer applies.")
    limit: RateLimit | None = Field(default=None, description="Allow rules: how often, before it says ask or deny.")
    id: str | None = Field(default=None, min_length=1, description="A stable name for the rule.")
    note: str | None = None
    definition: str | None = Field(
        default=None,
        pattern=r"^(pinned|sha256:[0-9a-f]{64})$",
        description="Only while the tool's definition is the accepted one (pinned), or is this digest (sha256:…). "
        "An allow rule with it matches no tool the server never described.",
    )

    @field_validator("server", "tool")
    @classmethod
    def _name_glob_closes(cls, value: str) -> str:
        return _check_glob(value)

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
    """RFC 6901: "" is the whole value; "/a/b~1c" is ("a", "b/c"). A step "*" into an array means every element
    (into an object it is the member named "*")."""
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        raise ValueError(f"{pointer!r} is not a JSON Pointer (it must start with /)")
    return tuple(part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/"))


_MISSING = object()
_DOUBT = object()  # a value too large to check: a match for deny and ask, no match for allow
_Form = Literal["NFC", "NFD", "NFKC", "NFKD"]
JSON_TEXT_DEPTH = 4  # layers of JSON text inside strings that matching reads through (JSON text inside JSON text…)
_NORMAL_FORMS: tuple[_Form, ...] = ("NFC", "NFD", "NFKC", "NFKD")
# An allow is checked in the composed forms only: decomposing never makes a / . ; or other ASCII mark that
# composing does not, and its combining marks would fail \w and ? on every accented letter.
_COMPOSED_FORMS: tuple[_Form, ...] = ("NFC", "NFKC")
_JSON_CONTAINER_START = frozenset("[{")
_JSON_START = frozenset('[{"-0123456789tfnNI')  # any JSON value; NaN and Infinity too, as Python's json reads them


def _decode_json_text(text: str, *, any_value: bool) -> Any:
    """The value a string holding JSON text encodes (an object or array; with any_value, any JSON value), else
    _MISSING. Read as Python's json module and JavaScript read it: a repeated key takes its last value."""
    start = text.lstrip(" \t\r\n")[:1]
    if start not in (_JSON_START if any_value else _JSON_CONTAINER_START):
        return _MISSING
    try:
        decoded = json.loads(text)
    except (ValueError, RecursionError):
        return _MISSING
    return decoded if any_value or isinstance(decoded, dict | list) else _MISSING


def _pointer_targets(value: Any, parts: Sequence[str], decoded: int = 0) -> Iterator[Any]:
    """Every value the pointer reaches, under every reading; _MISSING for a reading where it reaches nothing.

    `*` stands for every element of an array (an empty array reaches nothing). A string on the way is also read as
    the object or array its JSON text encodes, because servers parse such text back (the Python SDK does)."""
    if not parts:
        yield value
        return
    part, rest = parts[0], parts[1:]
    if isinstance(value, str):
        yield _MISSING  # as text, it has no members
        inner = _decode_json_text(value, any_value=False) if decoded < JSON_TEXT_DEPTH else _MISSING
        if inner is not _MISSING:
            yield from _pointer_targets(inner, parts, decoded + 1)
    elif isinstance(value, dict):
        if part in value:
            yield from _pointer_targets(value[part], rest, decoded)
        else:
            yield _MISSING
    elif isinstance(value, list):
        if part == "*":
            if len(value) > ELEMENT_LIMIT:
                yield _DOUBT
                return
            if not value:
                yield _MISSING
            for element in value:
                yield from _pointer_targets(element, rest, decoded)
        elif part.isascii() and part.isdigit() and (part == "0" or part[0] != "0") and int(part) < len(value):
            yield from _pointer_targets(value[int(part)], rest, decoded)
        else:
            yield _MISSING
    else:
        yield _MISSING


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
    definition: DefinitionFacts | None = None  # the called tool's definition, when the server described it


@dataclass(frozen=True)
class DefinitionFacts:
    """The called tool's definition digest now, and the one accepted for it (None: none accepted)."""

    current: str
    accepted: str | None


def _all_ascii(value: Any) -> bool:
    if isinstance(value, str):
        return value.isascii()
    if isinstance(value, list):
        return all(_all_ascii(item) for item in value)
    if isinstance(value, dict):
        return all(key.isascii() and _all_ascii(item) for key, item in value.items())
    return True


def _normal_form(value: Any, form: _Form | None) -> Any:
    """The value with every string (keys included) in Unicode normal form `form` (None: as it is)."""
    if form is None:
        return value
    if isinstance(value, str):
        return unicodedata.normalize(form, value)
    if isinstance(value, list):
        return [_normal_form(item, form) for item in value]
    if isinstance(value, dict):
        return {unicodedata.normalize(form, key): _normal_form(item, form) for key, item in value.items()}
    return value


_URL_ORIGIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")
_URL_DOTS = {"%2e": ".", "%2e%2e": "..", ".%2e": "..", "%2e.": ".."}  # WHATWG URL: percent-encoded dot segments


def lexical_path(text: str) -> str:
    """`text` with its path's `.` and `..` segments and repeated slashes resolved as text, the way Node's
    path.resolve, Python's os.path.normpath and URL parsers (RFC 3986, WHATWG) do; for a URL only the part between
    its origin and any ?query or #fragment is a path, and %2e spells a dot. `..` never climbs above the root (or
    the origin)."""
    origin = _URL_ORIGIN.match(text)
    tail = ""
    if origin is not None:
        prefix, path = origin.group(), text[origin.end() :]
        cut = min((index for index in (path.find("?"), path.find("#")) if index >= 0), default=len(path))
        path, tail = path[:cut], path[cut:]
        rooted = True
    else:
        prefix, path = "", text
        rooted = text.startswith("/")
    segments: list[str] = []
    for written in path.split("/"):
        segment = _URL_DOTS.get(written.lower(), written) if origin is not None else written
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments and segments[-1] != "..":
                segments.pop()
            elif not rooted:
                segments.append(segment)
            continue
        segments.append(segment)
    joined = "/".join(segments)
    if rooted:
        joined = "/" + joined
    elif not joined:
        joined = "."
    if path.endswith("/") and not joined.endswith("/"):
        joined += "/"
    return prefix + (joined if path or not origin else "") + tail


@dataclass(frozen=True, slots=True)
class _Reading:
    """One way a server may read the value: JSON text decoded `decoded` times, then Unicode normal form `form`,
    then (when `lexical`) `.`/`..` segments resolved as text."""

    value: Any
    decoded: int
    form: _Form | None
    lexical: bool


_TRUE_WORDS = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE_WORDS = frozenset({"0", "off", "f", "false", "n", "no"})


def _coerced(value: Any) -> Any:
    """The other scalar a lax validator (pydantic's, in the Python SDK) makes of this one, else _MISSING:
    "yes"/"off"… to a boolean, a boolean to 0 or 1, 0 or 1 to a boolean. (Numbers in text are JSON text.)"""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and (word := value.lower()) in _TRUE_WORDS | _FALSE_WORDS:
        return word in _TRUE_WORDS
    return _MISSING


def _readings(value: Any, cautious: bool) -> Iterator[_Reading]:
    """Every reading of a value worth matching. A deny or ask rule reads JSON text as any JSON value, scalars as a
    lax validator coerces them, and a URL's scheme and host in lower case (they are case-insensitive); an allow
    rule reads JSON text only as the object or array it may become (a number or true in a string is the same value
    to a coercing server, and a rule must keep matching the exact value it allows)."""
    layer, decoded = value, 0
    while True:
        folded = _NORMAL_FORMS if cautious else _COMPOSED_FORMS
        forms: tuple[_Form | None, ...] = (None,) if _all_ascii(layer) else (None, *folded)
        for form in forms:
            yield from _spellings(_normal_form(layer, form), decoded, form, cautious)
        if cautious and (coerced := _coerced(layer)) is not _MISSING:
            yield _Reading(coerced, decoded, None, False)
        if not isinstance(layer, str) or decoded >= JSON_TEXT_DEPTH:
            return
        layer = _decode_json_text(layer, any_value=cautious)
        if layer is _MISSING:
            return
        decoded += 1


def _spellings(value: Any, decoded: int, form: _Form | None, cautious: bool) -> Iterator[_Reading]:
    """The value, and for text the same text with `.` and `..` resolved; a deny or ask also reads a URL with its
    scheme and host in lower case."""
    yield _Reading(value, decoded, form, False)
    if not isinstance(value, str):
        return
    texts = [value]
    origin = _URL_ORIGIN.match(value) if cautious else None
    if origin is not None and not origin.group().islower():
        texts.append(origin.group().lower() + value[origin.end() :])
        yield _Reading(texts[-1], decoded, form, False)
    for text in texts:
        if "/" in text and (resolved := lexical_path(text)) != text:
            yield _Reading(resolved, decoded, form, True)


class _CompiledMatcher:
    """An argument matcher, with its patterns compiled once for each effect and Unicode form they are used in."""

    __slots__ = ("_equals", "_globs", "_regexes", "matcher", "parts", "pointer")

    def __init__(self, pointer: str, matcher: ArgMatcher) -> None:
        self.pointer = pointer
        self.parts = parse_pointer(pointer)
        self.matcher = matcher
        self._equals: dict[tuple[bool, int, _Form | None, bool], Any] = {}
        self._globs: dict[tuple[bool, _Form | None], re.Pattern[str]] = {}
        self._regexes: dict[tuple[bool, _Form | None], re.Pattern[str]] = {}

    def check(self, arguments: dict[str, Any], context: EvaluationContext, *, cautious: bool) -> bool:
        """For a deny or ask rule (cautious): does any reading of any value the pointer reaches match, or leave
        doubt? For an allow rule: does the pointer reach something under every reading, and every reading of
        everything it reaches match?"""
        targets = _pointer_targets(arguments, self.parts)
        if cautious:
            return any(
                target is _DOUBT or (target is not _MISSING and self._matches_some_reading(target, context))
                for target in targets
            )
        reached = False
        for target in targets:
            if target is _MISSING or target is _DOUBT or not self._matches_every_reading(target, context):
                return False
            reached = True
        return reached

    def _matches_some_reading(self, value: Any, context: EvaluationContext) -> bool:
        if not self._length_fits(value):
            return False
        return any(self._holds(reading, context, cautious=True) is not False for reading in _readings(value, True))

    def _matches_every_reading(self, value: Any, context: EvaluationContext) -> bool:
        if not self._length_fits(value):
            return False
        return all(self._holds(reading, context, cautious=False) is True for reading in _readings(value, False))

    def _length_fits(self, value: Any) -> bool:
        # On the value as sent: its length bounds every reading's size, and normal forms change lengths.
        limit = self.matcher.max_length
        return limit is None or (isinstance(value, str | list) and len(value) <= limit)

    def _holds(self, reading: _Reading, context: EvaluationContext, *, cautious: bool) -> bool | None:
        """True or False for this reading, or None when it cannot tell."""
        m = self.matcher
        value = reading.value
        if "equals" in m.model_fields_set and not json_equal(value, self._equals_in(reading, cautious)):
            return False
        if m.glob is not None and not (isinstance(value, str) and self._glob(reading.form, cautious).fullmatch(value)):
            return False
        unsure = False
        if m.regex is not None:
            if not isinstance(value, str):
                return False
            if len(value) > REGEX_SUBJECT_LIMIT:
                unsure = True
            elif not self._regex(reading.form, cautious).fullmatch(value):
                return False
        if m.under is not None:
            inside = _path_under(value, _normal_form(m.under, reading.form), context, cautious=cautious)
            if inside is False:
                return False
            unsure = unsure or inside is None
        return None if unsure else True

    def _equals_in(self, reading: _Reading, cautious: bool) -> Any:
        """The `equals` value read the same way as the argument, so that a reading never changes which value
        equals which."""
        key = (cautious, reading.decoded, reading.form, reading.lexical)
        if key not in self._equals:
            expected = self.matcher.equals
            for _ in range(reading.decoded):
                inner = _decode_json_text(expected, any_value=cautious) if isinstance(expected, str) else _MISSING
                expected = expected if inner is _MISSING else inner
            expected = _normal_form(expected, reading.form)
            if reading.lexical and isinstance(expected, str):
                expected = lexical_path(expected)
            self._equals[key] = expected
        return self._equals[key]

    def _glob(self, form: _Form | None, cautious: bool) -> re.Pattern[str]:
        key = (cautious, form)
        if key not in self._globs:
            assert self.matcher.glob is not None
            self._globs[key] = _compile_glob(_normal_form(self.matcher.glob, form), line_breaks=cautious)
        return self._globs[key]

    def _regex(self, form: _Form | None, cautious: bool) -> re.Pattern[str]:
        key = (cautious, form)
        if key not in self._regexes:
            assert self.matcher.regex is not None
            flags = re.DOTALL if cautious else 0
            try:
                self._regexes[key] = re.compile(_normal_form(self.matcher.regex, form), flags)
            except re.error:  # normalising broke the pattern (a full-width bracket became "("): use it as written
                self._regexes[key] = re.compile(self.matcher.regex, flags)
        return self._regexes[key]


def _absolute(path: str, home: str) -> str | None:
    """`path` with ~ expanded, if it is absolute; None for a relative path (relative to what the server considers
    its directory, unknown here) or one with a NUL."""
    if path == "~" or path.startswith("~/"):
        path = home + path[1:]
    if not path.startswith("/") or "\x00" in path:
        return None
    return path


def _file_uri_path(value: str) -> str | None:
    """The local path a file: URI names (percent-decoded), if it names one."""
    if not value.lower().startswith("file:"):
        return None
    parts = urlsplit(value)
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        return None
    return unquote(parts.path)


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _path_under(value: Any, directory: str, context: EvaluationContext, *, cautious: bool) -> bool | None:
    """Is the path inside the directory, as a server will open it? The path is resolved the way the OS opens it
    (each existing component, symlinks first: `link/..` is the parent of the link's target) and the way a server
    that resolves `..` as text first opens it (Node's path.resolve); an allow needs both inside. A deny or ask also
    counts the path and directory compared as text and without regard to case, and a file: URI's path."""
    if not isinstance(value, str):
        return False
    path = _absolute(value, context.home)
    if path is None and cautious:
        path = _file_uri_path(value)
    base = _absolute(directory, context.home)
    if path is None or base is None or len(path) > PATH_LIMIT:
        return None
    try:
        resolved_base = lexical_path(context.resolve(base))
        resolved = [lexical_path(context.resolve(path)), lexical_path(context.resolve(lexical_path(path)))]
    except (OSError, ValueError):
        return None
    if not cautious:
        return all(_inside(candidate, resolved_base) for candidate in resolved)
    # A deny also compares as text, and without regard to case (as macOS and Windows file systems usually compare).
    pairs = [*((candidate, resolved_base) for candidate in resolved), (lexical_path(path), lexical_path(base))]
    return any(
        _inside(candidate, folder) or _inside(candidate.casefold(), folder.casefold()) for candidate, folder in pairs
    )


class CompiledRule:
    __slots__ = ("index", "key", "layer", "matchers", "rule", "server", "tool")

    def __init__(self, layer: Layer, index: int, rule: Rule) -> None:
        self.layer = layer
        self.index = index
        self.rule = rule
        self.key = f"{layer.value}:{rule.id or f'rules[{index}]'}"
        cautious = rule.effect is not Effect.ALLOW
        self.server = _compile_glob(rule.server, line_breaks=cautious)
        self.tool = _compile_glob(rule.tool, line_breaks=cautious)
        self.matchers = [_CompiledMatcher(pointer, matcher) for pointer, matcher in rule.args.items()]
        if rule.uri is not None:
            self.matchers.append(_CompiledMatcher("/uri", rule.uri))

    def matches(
        self, server: str, tool: str, arguments: dict[str, Any], context: EvaluationContext, method: str = TOOLS_CALL
    ) -> bool:
        if self.rule.method != method:
            return False
        if self.rule.expires is not None and context.now >= self.rule.expires:
            return False
        if not (self.server.fullmatch(server) and self.tool.fullmatch(tool)):
            return False
        cautious = self.rule.effect is not Effect.ALLOW  # any reading (or doubt) matches a deny or ask
        if self.rule.definition is not None and not _definition_matches(self.rule.definition, context, cautious):
            return False
        return all(matcher.check(arguments, context, cautious=cautious) for matcher in self.matchers)


def _definition_matches(wanted: str, context: EvaluationContext, cautious: bool) -> bool:
    facts = context.definition
    if facts is None:
        return cautious  # an undescribed tool: a deny or ask still applies, an allow does not
    if wanted == "pinned":
        return facts.current == facts.accepted
    return facts.current == wanted


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
        self,
        server: str,
        tool: str,
        arguments: dict[str, Any] | None = None,
        context: EvaluationContext | None = None,
        method: str = TOOLS_CALL,
    ) -> Outcome:
        return evaluate_layers([self], server, tool, arguments or {}, context or default_context(), method=method)


def evaluate_layers(
    layers: Iterable[CompiledPolicy],
    server: str,
    tool: str,
    arguments: dict[str, Any],
    context: EvaluationContext,
    *,
    method: str = TOOLS_CALL,
) -> Outcome:
    """The first layer with any matching rule decides, by deny > ask > allow; no match anywhere is ask (for
    tools/call; the caller decides what no match means for the other gated methods)."""
    for layer in layers:
        first: dict[Effect, CompiledRule] = {}
        for compiled in layer.candidates(server, tool):
            effect = compiled.rule.effect
            if effect in first or not compiled.matches(server, tool, arguments, context, method):
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


def _set_end(glob: str, start: int) -> int:
    """The index of the ] that closes the set opened at `start`, or -1 (fnmatch's reading of brackets)."""
    end = start + 1
    if end < len(glob) and glob[end] == "!":
        end += 1
    if end < len(glob) and glob[end] == "]":
        end += 1  # a ] first in a set is one of its characters
    return glob.find("]", end)


def _set_pattern(body: str, *, line_breaks: bool) -> str:
    negated = body.startswith("!")
    body = body[1:] if negated else body
    items: list[str] = []
    index = 0
    while index < len(body):
        if index + 2 < len(body) and body[index + 1] == "-":
            low, high = body[index], body[index + 2]
            if low <= high:  # fnmatch drops a reversed range
                items.append(f"{re.escape(low)}-{re.escape(high)}")
            index += 3
        else:
            items.append(re.escape(body[index]))
            index += 1
    if not negated:
        return "[" + "".join(items) + "]" if items else "(?!)"
    return "[^" + ("" if line_breaks else "\\n") + "".join(items) + "]"


def _compile_glob(glob: str, *, line_breaks: bool) -> re.Pattern[str]:
    """fnmatch's meaning: `*` any run of characters (`/` included), `?` one character, `[...]` one of a set
    (`a-z` a range), `[!...]` one not in it; everything else itself. With line_breaks False (allow rules) no
    wildcard or set matches a line feed, so a line the rule never saw cannot ride along."""
    parts: list[str] = []
    index = 0
    while index < len(glob):
        character = glob[index]
        if character == "*":
            parts.append(".*")
        elif character == "?":
            parts.append(".")
        elif character == "[" and (end := _set_end(glob, index)) >= 0:
            parts.append(_set_pattern(glob[index + 1 : end], line_breaks=line_breaks))
            index = end
        else:
            parts.append(re.escape(character))
        index += 1
    return re.compile("".join(parts), re.DOTALL if line_breaks else 0)


def unbalanced_bracket(glob: str) -> int | None:
    """Where a `[` opens a set that never closes (fnmatch would silently read it as a literal [), else None."""
    index = 0
    while index < len(glob):
        if glob[index] == "[":
            end = _set_end(glob, index)
            if end < 0:
                return index
            index = end
        index += 1
    return None


def _check_glob(glob: str) -> str:
    position = unbalanced_bracket(glob)
    if position is not None:
        raise ValueError(
            f"the [ at position {position + 1} of {glob!r} opens a set that is never closed: "
            "end it with ], or write [[] to match a literal ["
        )
    return glob


def _no_usage(_key: str) -> tuple[int, int]:
    return (0, 0)


def default_context(now: datetime | None = None, home: str = "/nonexistent-home") -> EvaluationContext:
    """For evaluations without the service's facts: lexical paths only, no usage history."""
    return EvaluationContext(now=now or datetime.now(UTC), home=home, resolve=lexical_path, usage=_no_usage)


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
        model: type[BaseModel] = Policy
        if len(location) >= 2 and location[0] == "rules" and isinstance(location[1], int):
            index = location[1]
            rules = document.get("rules")
            rule_id = None
            if isinstance(rules, list) and index < len(rules) and isinstance(rules[index], dict):
                rule_id = rules[index].get("id")
            where = f"rule {index + 1}" + (f" ({rule_id!r})" if isinstance(rule_id, str) else "")
            location = location[2:]
            model = Rule
        field = ".".join(str(part) for part in location)
        message = _describe_problem(error, model, location)
        problems.append(", ".join(part for part in (where, field) if part) + f": {message}")
    return f"{source}: " + "; ".join(problems)


def describe_rule_errors(exc: ValidationError) -> str:
    """A rule's validation errors on one line: each field, what is wrong, the value found, the likely intent."""
    problems = []
    for error in exc.errors():
        location = list(error["loc"])
        field = ".".join(str(part) for part in location)
        problems.append((f"{field}: " if field else "") + _describe_problem(error, Rule, location))
    return "; ".join(problems)


_SHOWN_VALUE_LIMIT = 60


def _shown(value: object) -> str:
    text = repr(value)  # repr escapes line breaks, so the message stays on one line
    return text if len(text) <= _SHOWN_VALUE_LIMIT else text[: _SHOWN_VALUE_LIMIT - 1] + "…"


def _did_you_mean(found: object, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(found), choices, n=1, cutoff=0.6) if isinstance(found, str) else []
    return f" (did you mean {close[0]!r}?)" if close else ""


def _model_at(model: type[BaseModel], location: Sequence[object]) -> type[BaseModel] | None:
    """Which model the object at `location` (inside `model`) is, as far as field names go."""
    if not location:
        return model
    if model is Policy and location[0] == "rules" and len(location) >= 2:
        return _model_at(Rule, location[2:])
    if model is Rule and location[0] == "args" and len(location) >= 2:
        return _model_at(ArgMatcher, location[2:])
    if model is Rule and location[0] == "limit":
        return _model_at(RateLimit, location[1:])
    return None


def _describe_problem(error: Any, model: type[BaseModel], location: Sequence[object]) -> str:
    found = error.get("input")
    if error["type"] == "extra_forbidden":
        parent = _model_at(model, location[:-1])
        hint = _did_you_mean(location[-1], list(parent.model_fields)) if parent is not None else ""
        return "unknown field" + (hint or " (a typo, or a feature this version does not have)")
    if error["type"] in ("enum", "literal_error"):
        expected = str(error.get("ctx", {}).get("expected", ""))
        choices = re.findall(r"'([^']*)'", expected) or [expected]
        return f"{_shown(found)} is not one of {', '.join(choices)}" + _did_you_mean(found, choices)
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] != "missing" and isinstance(found, str | int | float | bool) and repr(found) not in message:
        message += f" (found {_shown(found)})"
    return message
