"""The pin store: every tool's definition per server, the one a person (or first sight) accepted, and the one the
server shows now. A tool whose definition moved since it was accepted is auto-approved by nothing until a person
accepts the new one (a "rug pull": approved on Monday, redefined on Tuesday).

Pins are keyed by the server's `--name`; the server's identity (its command and its own `serverInfo` name) is kept
with them. A server that comes back under the same name with another command or another `serverInfo` name (a
swapped config) has every tool back to "not accepted": its old acceptances were for another program.

The signed log is the source of truth: every first sight, change and acceptance is a `tool-definition` entry, and
the store is rebuilt from those entries when the service starts. The JSON file beside it is a copy for the app's
pages; editing it changes nothing that is decided.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from approver.core.log_format import LineFormatError, decode_entry, rfc3339_now, split_line
from approver.core.models import ToolCall
from approver.core.tool_pins import DefinitionChange, definition_digest, definition_of, describe_change
from approver.platform.durable import write_atomically

PIN_ENTRY_KIND = "tool-definition"
LOGGED_DEFINITION_LIMIT = 64 * 1024  # characters of a definition's JSON kept in a log entry

_PIN_MARKER = b'"kind":"' + PIN_ENTRY_KIND.encode() + b'"'  # as canonical JSON writes it

LogEvent = Callable[[str, dict[str, Any]], object]


def _loggable(text: str) -> str:
    """Server-written text as a log entry can hold it: a lone surrogate (JSON lets a server send one) is written
    as its escape, visibly, instead of making the entry unwritable."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def pin_history(log_file: Path) -> Iterator[dict[str, Any]]:
    """The log's tool-definition entries, in order, decoding only the lines that can be one (the service has
    just verified the whole log when this runs)."""
    try:
        handle = log_file.open("rb")
    except FileNotFoundError:
        return
    with handle:
        for raw in handle:
            if _PIN_MARKER in raw:
                try:
                    yield decode_entry(split_line(raw.rstrip(b"\n"))[0])
                except LineFormatError:
                    return  # a torn last line


class SeenTool(BaseModel):
    digest: str | None  # the definition the server shows now
    description: str | None
    first_seen: str
    last_seen: str
    changed: bool = False  # the current definition is not the accepted one
    accepted_digest: str | None = None
    definition: dict[str, Any] | None = None
    accepted_definition: dict[str, Any] | None = None
    asked: bool = False  # a person has been asked about a call to it (until then the dialog calls it "new")


class ServerIdentity(BaseModel):
    command: list[str]
    server_info: str | None  # the name the server gives itself in serverInfo


class ToolsSeen:
    def __init__(self, path: Path, log_event: LogEvent | None = None, history: Iterable[dict[str, Any]] = ()) -> None:
        self.path = path
        self._log_event = log_event
        self.tools: dict[str, dict[str, SeenTool]] = {}
        self.identities: dict[str, ServerIdentity] = {}
        self.quarantined: set[str] = set()  # servers whose proxy hides tools not accepted yet
        for entry in history:
            if entry.get("kind") == PIN_ENTRY_KIND:
                self._replay(entry)

    # -- what proxies report --------------------------------------------------------------------------------

    def listed(
        self,
        server: str,
        command: list[str],
        server_info: str | None,
        tools: list[dict[str, Any]],
        *,
        quarantine: bool,
    ) -> list[str]:
        """A `tools/list` result (one page of it). Pins what is new or changed; returns the names of the tools
        not accepted (what a quarantined proxy hides)."""
        if quarantine:
            self.quarantined.add(server)
        else:
            self.quarantined.discard(server)
        self._check_identity(server, command, server_info)
        not_accepted: list[str] = []
        for tool in tools:
            name = tool.get("name")
            if isinstance(name, str):
                pin = self._see(server, name, definition_of(tool))
                if pin.changed:
                    not_accepted.append(name)
        self._save()
        return not_accepted

    def check(self, call: ToolCall) -> DefinitionChange | None:
        """Before a call is decided: what changed since its tool's definition was accepted, or None when the call
        may be decided as before (the definition is the accepted one, or the server never described the tool)."""
        info = call.tool_info
        if info is None or info.definition is None:
            return self.pending(call.server, call.tool)
        known = self.tools.get(call.server, {}).get(call.tool)
        if (
            known is not None
            and info.digest == known.digest
            and info.definition == known.definition
            and self._same_identity(call)
        ):
            return self.pending(call.server, call.tool)  # the common case: no canonicalising on every call
        self._check_identity(call.server, call.server_command, call.server_info)
        pin = self._see(call.server, call.tool, info.definition)
        if known is None or known.digest != pin.digest or known.changed != pin.changed:
            self._save()  # only news is written
        return self.pending(call.server, call.tool)

    def pending(self, server: str, tool: str) -> DefinitionChange | None:
        pin = self.tools.get(server, {}).get(tool)
        if pin is None or not pin.changed or pin.digest is None:
            return None
        return describe_change(tool, pin.accepted_definition, pin.definition, pin.accepted_digest, pin.digest)

    def accept_definition(self, server: str, tool: str, digest: str, by: str) -> bool:
        """A person accepted the definition with `digest` (only the one the server shows now can be accepted)."""
        pin = self.tools.get(server, {}).get(tool)
        if pin is None or pin.digest != digest:
            return False
        if not pin.changed:
            return True
        self.tools[server][tool] = pin.model_copy(
            update={"changed": False, "accepted_digest": digest, "accepted_definition": pin.definition}
        )
        self._record(server, tool, "accepted", pin.accepted_digest, pin, accepted=True, reason=f"accepted by {by}")
        self._save()
        return True

    def observe(self, call: ToolCall) -> str:
        """The tool's status for the person: new (nobody was asked about it before), known, changed (since it was
        accepted) or undescribed (the server never listed it)."""
        pin = self.tools.get(call.server, {}).get(call.tool)
        if call.tool_info is None or pin is None:
            return "undescribed"
        self.tools[call.server][call.tool] = pin.model_copy(update={"asked": True})
        self._save()
        if pin.changed:
            return "changed"
        return "known" if pin.asked else "new"

    # -- keeping pins ---------------------------------------------------------------------------------------

    def _same_identity(self, call: ToolCall) -> bool:
        known = self.identities.get(call.server)
        return (
            known is not None and known.command == call.server_command and call.server_info in (None, known.server_info)
        )

    def _check_identity(self, server: str, command: list[str], server_info: str | None) -> None:
        identity = ServerIdentity(command=list(command), server_info=server_info)
        known = self.identities.get(server)
        if known is not None and known.command == identity.command and None in (server_info, known.server_info):
            # One side does not know the server's own name (a call before any list, say): nothing contradicts.
            if known.server_info is None:
                self.identities[server] = identity
            return
        if known is None:
            self.identities[server] = identity
            return
        if known == identity:
            return
        self.identities[server] = identity
        for name, pin in list(self.tools.get(server, {}).items()):
            if pin.accepted_digest is not None:
                self.tools[server][name] = pin.model_copy(update={"changed": True, "accepted_digest": None})
                why = (
                    f"the server '{server}' is now {' '.join(command)} ({server_info or 'no serverInfo'}); "
                    "its tools need accepting again"
                )
                self._record(server, name, "identity-changed", pin.accepted_digest, pin, accepted=False, reason=why)

    def _see(self, server: str, name: str, definition: dict[str, Any]) -> SeenTool:
        digest = definition_digest(definition)
        now = rfc3339_now()
        tools = self.tools.setdefault(server, {})
        pin = tools.get(name)
        description = definition.get("description")
        text = description if isinstance(description, str) else None
        if pin is None:
            # Trust on first use, unless the server is quarantined: then a person accepts it first.
            trusted = server not in self.quarantined
            pin = SeenTool(
                digest=digest,
                description=text,
                first_seen=now,
                last_seen=now,
                changed=not trusted,
                accepted_digest=digest if trusted else None,
                definition=definition,
                accepted_definition=definition if trusted else None,
            )
            tools[name] = pin
            why = "first seen; accepted on first use" if trusted else "first seen; waits for acceptance (quarantine)"
            self._record(server, name, "first-seen", None, pin, accepted=trusted, reason=why)
            return pin
        if pin.digest == digest:
            tools[name] = pin.model_copy(update={"last_seen": now})
            return tools[name]
        old = pin.digest
        changed = digest != pin.accepted_digest
        pin = pin.model_copy(
            update={
                "digest": digest,
                "description": text,
                "last_seen": now,
                "changed": changed,
                "definition": definition,
            }
        )
        tools[name] = pin
        why = (
            "the definition changed since it was accepted; nothing auto-approves it until a person accepts it"
            if changed
            else "the definition is back to the accepted one"
        )
        self._record(server, name, "changed", old, pin, accepted=not changed, reason=why)
        return pin

    def _record(
        self, server: str, tool: str, event: str, old: str | None, pin: SeenTool, *, accepted: bool, reason: str
    ) -> None:
        if self._log_event is None:
            return
        identity = self.identities.get(server)
        definition = json.dumps(pin.definition, sort_keys=True, ensure_ascii=False)
        body: dict[str, Any] = {
            "server": server,
            "server_command": identity.command if identity else [],
            "tool": _loggable(tool),
            "event": event,
            "new_digest": pin.digest,
            "accepted": accepted,
            "reason": _loggable(f"tool '{tool}' on '{server}': {reason}"),
            # As text: a schema may hold floats, which log entries never do.
            "definition": _loggable(definition[:LOGGED_DEFINITION_LIMIT]),
        }
        if identity is not None and identity.server_info is not None:
            body["server_info"] = _loggable(identity.server_info)
        if old is not None:
            body["old_digest"] = old
        self._log_event(PIN_ENTRY_KIND, body)

    def _replay(self, entry: dict[str, Any]) -> None:
        server, tool, digest = entry.get("server"), entry.get("tool"), entry.get("new_digest")
        if not isinstance(server, str) or not isinstance(tool, str) or not isinstance(digest, str):
            return
        command = entry.get("server_command")
        info = entry.get("server_info")
        self.identities[server] = ServerIdentity(
            command=[str(part) for part in command] if isinstance(command, list) else [],
            server_info=info if isinstance(info, str) else None,
        )
        try:
            definition = json.loads(entry.get("definition") or "null")
        except ValueError:
            definition = None
        definition = definition if isinstance(definition, dict) else None
        text = definition.get("description") if definition else None
        ts = str(entry.get("ts", ""))
        tools = self.tools.setdefault(server, {})
        pin = tools.get(tool) or SeenTool(digest=digest, description=None, first_seen=ts, last_seen=ts)
        accepted = entry.get("accepted") is True
        if entry.get("event") == "identity-changed":
            tools[tool] = pin.model_copy(update={"changed": True, "accepted_digest": None})
            return
        tools[tool] = pin.model_copy(
            update={
                "digest": digest,
                "description": text if isinstance(text, str) else None,
                "last_seen": ts,
                "definition": definition,
                "changed": not accepted and digest != pin.accepted_digest,
                **({"accepted_digest": digest, "accepted_definition": definition} if accepted else {}),
            }
        )

    def _save(self) -> None:
        data = {
            server: {name: tool.model_dump() for name, tool in tools.items()} for server, tools in self.tools.items()
        }
        write_atomically(self.path, json.dumps(data, indent=1).encode("utf-8"))
