"""Rules drafted from a held call: "Always allow…" (approve similar calls: a rule narrowed to this call's
arguments, which the person edits and confirms) and "Deny always" (the tool on this server, whatever the arguments).
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any

from approver.core.approval import ApprovalRequest
from approver.core.models import TOOLS_CALL
from approver.core.policy import Effect

_GLOB_SPECIALS = frozenset("*?[")
EQUALS_LIMIT = 200  # longer values (file contents, prompts) are left open: "similar" calls differ there
_PATH_KEY = re.compile(r"(?i)(path|file|dir|directory|folder|cwd|root|dest|destination|source|src|target)s?$")
_ORIGIN = re.compile(r"(?i)^(https?://[^/?#\s@]+)(?:[/?#]|$)")


def literal_glob(name: str) -> str:
    """A glob that matches exactly `name`: *, ? and [ are written as one-character sets."""
    return "".join(f"[{character}]" if character in _GLOB_SPECIALS else character for character in name)


def _pointer(key: str) -> str:
    return "/" + key.replace("~", "~0").replace("/", "~1")


def _folder_of(key: str, value: Any) -> str | None:
    """The folder of a path argument (by its name and shape), or None."""
    if isinstance(value, str) and _PATH_KEY.search(key) and (value.startswith("/") or value.startswith("~/")):
        return posixpath.dirname(posixpath.normpath(value))
    return None


def _similar_values(key: str, value: Any) -> dict[str, dict[str, Any]]:
    """Matchers (by pointer) for values like this one; none to leave the argument open."""
    pointer = _pointer(key)
    if isinstance(value, str):
        folder = _folder_of(key, value)
        if folder is not None:
            return {pointer: {"under": folder} if folder not in ("/", "~", "") else {"equals": value}}
        origin = _ORIGIN.match(value)
        if origin is not None:
            return {pointer: {"glob": literal_glob(origin.group(1)) + "/*"}}
        return {pointer: {"equals": value}} if len(value) <= EQUALS_LIMIT and "\n" not in value else {}
    if value is None or isinstance(value, bool | int | float):
        return {pointer: {"equals": value}}
    if isinstance(value, list) and value:
        folders = [_folder_of(key, item) for item in value]
        if all(folders):
            try:
                common = posixpath.commonpath([folder for folder in folders if folder])
            except ValueError:  # ~/ and / paths mixed
                common = ""
            if common not in ("/", "~", ""):
                return {pointer + "/*": {"under": common}}  # every element inside the folder they share
        if len(json.dumps(value)) <= EQUALS_LIMIT:
            return {pointer: {"equals": value}}
    return {}  # objects and long lists: too specific to pin, too varied to generalise


def rule_draft(request: ApprovalRequest, effect: Effect) -> dict[str, object]:
    """A policy rule document for calls like this one. An allow is narrowed by argument: paths to their
    directory, a list of paths to the directory they share (every element inside it), web addresses to their
    site, short values and short lists to themselves; a deny covers the tool whatever the arguments."""
    call = request.call
    verb = {Effect.ALLOW: "Allowed", Effect.DENY: "Denied", Effect.ASK: "Asked about"}[effect]
    draft: dict[str, object] = {
        "effect": effect.value,
        "server": literal_glob(call.server),
        "tool": literal_glob(call.tool),
    }
    if call.method != TOOLS_CALL:  # a rule about a resource or prompt read must say so, or it is a tool rule
        draft["method"] = call.method
    if effect is Effect.ALLOW:
        matchers = {
            pointer: matcher
            for key, value in call.arguments.items()
            for pointer, matcher in _similar_values(key, value).items()
        }
        if matchers:
            draft["args"] = matchers
        if call.tool_info is not None and call.tool_info.digest is not None:
            # Made for the definition on screen: if the server redefines the tool, the rule stops matching.
            draft["definition"] = call.tool_info.digest
    draft["note"] = f"{verb} in MCP Approver from a call of {call.tool} on {call.server} by {call.client.name}"
    return draft
