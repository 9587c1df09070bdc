"""Reading and writing the JSON-RPC 2.0 messages MCP exchanges, without ever re-serialising what we relay.

The relay forwards the bytes it received; this module only *looks* at them. Parsing is strict where looseness
could be exploited: a JSON object with a duplicated key is rejected, because two parsers (ours and the server's)
may disagree about which value wins, and an attacker could then show us one tool call and the server another.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, TypeAlias

JSONValue: TypeAlias = Any
"""A value produced by `json.loads`; narrowed with isinstance checks where it is used."""

RequestId: TypeAlias = str | int
"""JSON-RPC ids MCP allows: a string or an integer (never null, never a float)."""

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
# Implementation-defined server error range: -32000 to -32099.
SERVER_UNAVAILABLE = -32001
CALL_DENIED = -32003  # a task-augmented tools/call we refused: a CallToolResult is not a valid answer there


class MalformedMessage(ValueError):
    """The bytes are not a JSON-RPC message we can safely interpret."""


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise MalformedMessage(f"duplicate key {key!r} in a JSON object")
            seen.add(key)
    return result


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def loads_strict(data: bytes) -> JSONValue:
    """Parse a message we gate, refusing anything two parsers could read differently.

    Refused: duplicate object keys; NaN/Infinity; a number too large for a double (Python reads 1e400 as inf,
    JavaScript as Infinity, Go refuses it, and inf would reach the service as null); anything but UTF-8
    (json.loads would guess UTF-16/32 or skip a BOM); a raw carriage return (JSON whitespace to us, a line end
    to servers reading with universal newlines, which would then see a second message hidden in the first); and
    lone surrogates, which cannot be re-encoded.
    Other characters some readers break lines at (U+2028, NEL, ...) are allowed: outside strings they are not
    JSON at all, and inside a string the text after one cannot contain an unescaped quote, so it cannot be a
    message of its own.
    """
    if b"\r" in data:
        raise MalformedMessage("a carriage return inside a message (a server could read it as a line end)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedMessage(f"not UTF-8: {exc}") from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_reject_duplicate_keys,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
        )
    except MalformedMessage:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise MalformedMessage(f"not valid JSON: {exc}") from exc
    if _SURROGATE_ESCAPE.search(data):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedMessage("a lone UTF-16 surrogate escape (not a character)") from None
    return value


def loads_lenient(data: bytes) -> JSONValue:
    """Parse JSON we only observe (server output): speed matters more than strictness there."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise MalformedMessage(f"not valid JSON: {exc}") from exc


def _reject_constant(name: str) -> None:
    raise MalformedMessage(f"{name} is not valid JSON")


def _finite_float(literal: str) -> float:
    # Called only for numbers with a fraction or an exponent; integers stay exact (see the README on 2^53).
    value = float(literal)
    if math.isinf(value):
        raise MalformedMessage(f"the number {literal[:30]} is too large for a double (servers would read Infinity)")
    return value


@dataclass(frozen=True, slots=True)
class Request:
    id: RequestId
    method: str
    params: dict[str, JSONValue]


@dataclass(frozen=True, slots=True)
class Notification:
    method: str
    params: dict[str, JSONValue]


@dataclass(frozen=True, slots=True)
class Response:
    """A result or an error; `id` is None only for errors about unreadable requests."""

    id: RequestId | None
    result: JSONValue
    is_error: bool


Message: TypeAlias = Request | Notification | Response


def classify(value: JSONValue) -> Message:
    """Tell what a parsed JSON-RPC object is. Raises MalformedMessage for anything that is not one."""
    if not isinstance(value, dict):
        raise MalformedMessage("a JSON-RPC message must be a JSON object")
    method = value.get("method")
    if method is not None:
        if not isinstance(method, str):
            raise MalformedMessage("'method' must be a string")
        params = value.get("params", {})
        if not isinstance(params, dict):
            # MCP always uses by-name parameters; positional ones would hide a tool call's arguments from us.
            raise MalformedMessage("'params' must be a JSON object")
        if "id" not in value:
            return Notification(method, params)
        return Request(_checked_id(value["id"]), method, params)
    if "result" in value or "error" in value:
        raw_id = value.get("id")
        return Response(None if raw_id is None else _checked_id(raw_id), value.get("result"), "error" in value)
    raise MalformedMessage("neither a request, a notification nor a response")


def _checked_id(raw: JSONValue) -> RequestId:
    # bool is an int subclass in Python but never a valid JSON-RPC id.
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise MalformedMessage("'id' must be a string or an integer")
    return raw


def id_key(request_id: RequestId) -> tuple[str, RequestId]:
    """A hashable key keeping 1 and "1" apart, as JSON-RPC does."""
    return ("s" if isinstance(request_id, str) else "n", request_id)


def encode(message: dict[str, JSONValue] | list[JSONValue]) -> bytes:
    """Serialise a message *we* author (errors, denials, a batch split or screened by quarantine); relayed
    messages are never passed through here."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def encode_sorted(value: JSONValue) -> bytes:
    """A stable serialisation of a value we only fingerprint (never sent anywhere)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def error_response(request_id: RequestId | None, code: int, message: str) -> bytes:
    return encode({"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}})


def tool_error_result(request_id: RequestId, text: str, *, stateless: bool = False) -> bytes:
    """A CallToolResult with isError: the model reads the text, the client shows a failed tool call.

    2026-07-28 results must say they are complete (`resultType`); earlier eras do not know the field.
    """
    result: dict[str, JSONValue] = {"content": [{"type": "text", "text": text}], "isError": True}
    if stateless:
        result["resultType"] = "complete"
    return encode({"jsonrpc": "2.0", "id": request_id, "result": result})
