"""A call's arguments checked against the tool's own `inputSchema` (JSON Schema, drafts 2020-12 and 07).

The server declared what its tool accepts; a call outside that (an extra property, a wrong type) is not what
an allow rule was written for, so it is never auto-approved: the person sees why. A tool the server never listed
through this proxy has no schema to check against, and neither has one whose schema is itself broken: both count
as "cannot be checked", which is treated like "invalid". Stricter than JSON Schema in one respect: a top-level
argument the schema does not declare counts as invalid unless the schema says what to do with undeclared ones.

Validators are compiled once per schema (keyed by the digest of its canonical text): compiling costs far more
than validating. Only schemas the server sent are used; `$ref`s that leave the schema are not fetched (the
`referencing` registry is empty), so checking never does I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from jsonschema import Draft7Validator, Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

DRAFT_07 = "http://json-schema.org/draft-07/schema"
ERRORS_SHOWN = 5  # validation errors named to the person; the count says how many more there were
VALIDATORS_KEPT = 1_000


class ArgumentStatus(StrEnum):
    VALID = "valid"
    INVALID = "invalid"  # the arguments break the tool's inputSchema
    UNLISTED = "unlisted"  # the server never listed this tool (through this proxy): no schema to check
    UNCHECKABLE = "uncheckable"  # the tool's schema is missing or is not a valid JSON Schema


@dataclass(frozen=True, slots=True)
class ArgumentCheck:
    status: ArgumentStatus
    problems: tuple[str, ...] = ()  # what is wrong, one short sentence each (at most ERRORS_SHOWN, then a count)

    @property
    def valid(self) -> bool:
        return self.status is ArgumentStatus.VALID

    def explain(self) -> str:
        if self.status is ArgumentStatus.VALID:
            return "the arguments match the tool's inputSchema"
        if self.status is ArgumentStatus.UNLISTED:
            return "the server never listed this tool, so its arguments cannot be checked against a schema"
        if self.status is ArgumentStatus.UNCHECKABLE:
            return "the arguments cannot be checked: " + "; ".join(self.problems)
        return "the arguments do not match the tool's inputSchema: " + "; ".join(self.problems)


def _schema_key(schema: dict[str, Any]) -> str:
    text = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _dialect(schema: dict[str, Any]) -> type[Validator]:
    """2020-12 unless the schema declares another draft (MCP 2025-11-25 makes 2020-12 the default)."""
    declared = schema.get("$schema")
    if isinstance(declared, str) and declared.rstrip("#") == DRAFT_07:
        return Draft7Validator
    return validator_for(schema, default=Draft202012Validator)


class SchemaChecker:
    """Checks arguments against schemas, keeping the compiled validators of the most recently used schemas."""

    def __init__(self, kept: int = VALIDATORS_KEPT) -> None:
        self._kept = kept
        self._validators: OrderedDict[str, Validator | str] = OrderedDict()  # a str: why the schema is unusable

    def _validator(self, schema: dict[str, Any]) -> Validator | str:
        try:
            key = _schema_key(schema)
        except (RecursionError, ValueError) as exc:
            return f"the tool's inputSchema cannot be used ({_short(str(exc))})"
        found = self._validators.get(key)
        if found is not None:
            self._validators.move_to_end(key)
            return found
        dialect = _dialect(schema)
        try:
            dialect.check_schema(schema)
            compiled: Validator | str = dialect(schema)
        except SchemaError as exc:
            compiled = f"the tool's inputSchema is not a valid JSON Schema ({_short(exc.message)})"
        except Exception as exc:  # nested past the recursion limit, an unknown dialect…: it cannot be used
            compiled = f"the tool's inputSchema cannot be used ({_short(str(exc) or type(exc).__name__)})"
        self._validators[key] = compiled
        if len(self._validators) > self._kept:
            self._validators.popitem(last=False)
        return compiled

    def check(self, schema: Any, arguments: dict[str, Any], *, listed: bool = True) -> ArgumentCheck:
        if not listed:
            return ArgumentCheck(ArgumentStatus.UNLISTED)
        if not isinstance(schema, dict):
            return ArgumentCheck(ArgumentStatus.UNCHECKABLE, ("the tool was listed without an inputSchema object",))
        validator = self._validator(schema)
        if isinstance(validator, str):
            return ArgumentCheck(ArgumentStatus.UNCHECKABLE, (validator,))
        try:
            errors = sorted(validator.iter_errors(arguments), key=_error_order)
        except Exception as exc:  # an unresolvable $ref, a recursion the library gave up on: cannot tell
            failed = f"checking against the schema failed ({_short(str(exc))})"
            return ArgumentCheck(ArgumentStatus.UNCHECKABLE, (failed,))
        found = [f"{_where(list(error.absolute_path))}: {_describe(error)}" for error in errors]
        found += [
            f"arguments: '{name}' is not a parameter the tool declares" for name in _undeclared(schema, arguments)
        ]
        if not found:
            return ArgumentCheck(ArgumentStatus.VALID)
        problems = found[:ERRORS_SHOWN]
        if len(found) > ERRORS_SHOWN:
            problems.append(f"and {len(found) - ERRORS_SHOWN} more")
        return ArgumentCheck(ArgumentStatus.INVALID, tuple(problems))


_OPEN_KEYWORDS = ("additionalProperties", "patternProperties", "unevaluatedProperties")


def _undeclared(schema: dict[str, Any], arguments: dict[str, Any]) -> list[str]:
    """Top-level arguments the schema does not name, when it names its parameters and says nothing about others.

    JSON Schema lets undeclared properties through unless `additionalProperties` forbids them, and most SDKs
    generate schemas that do not say. A tool cannot have meant a parameter it never declared, while a lax server
    may still act on one: an extra argument is how a call smuggles what its rule did not look at."""
    declared = schema.get("properties")
    if not isinstance(declared, dict) or any(keyword in schema for keyword in _OPEN_KEYWORDS):
        return []
    return sorted(name for name in arguments if name not in declared)


# Keywords whose library message names only property names, never a value the call carried.
_NAMES_ONLY = frozenset({"required", "additionalProperties", "unevaluatedProperties", "dependentRequired"})


def _describe(error: ValidationError) -> str:
    """What rule the value broke, without quoting the value: it may be a secret, and this text is logged."""
    keyword = str(error.validator)
    if keyword in _NAMES_ONLY:
        return _short(error.message)
    if keyword == "type":
        return f"must be of type {_short(_json(error.validator_value), 60)}"
    if keyword in ("enum", "const"):
        return f"must be {'one of ' if keyword == 'enum' else ''}{_short(_json(error.validator_value), 80)}"
    return f"breaks the schema's '{keyword}' ({_short(_json(error.validator_value), 60)})"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _error_order(error: ValidationError) -> list[str]:
    return [str(part) for part in error.absolute_path]  # ints and strs mix in a path: compare them as text


def _where(path: list[Any]) -> str:
    if not path:
        return "arguments"
    return "arguments" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
