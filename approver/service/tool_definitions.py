"""Every tool definition the service has seen, per server, and what `assess_definition` finds in each.

It answers three questions: which tools the other servers offer (so a call's risk can say a name is shadowed),
whether a server has just offered a flagged tool for the first time (the desktop app says so in the tray), and
what the Settings page shows for each tool, with a person's Accept or Reject.

A person's Reject denies every call to that tool while it keeps that definition; Accept lifts a Reject and, once
the pin store can take it (`accept_pin`), accepts the definition there too. Both are written to the signed log
before they take effect, and Rejects are read back from it when the service starts. Definitions arrive with each
call (the proxy attaches what the server listed) and through `listed` for a whole `tools/list` result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from approver.core.log_format import rfc3339_now
from approver.core.models import Actor, Decision, ToolCall, Verdict
from approver.core.risk import RiskReason, assess_definition
from approver.core.tool_pins import definition_digest, definition_of

VERDICT_ENTRY_KIND = "tool-verdict"
MAX_TOOLS_PER_SERVER = 5000

LogEvent = Callable[[str, dict[str, Any]], object]
AcceptPin = Callable[[str, str, str, str], bool]  # (server, tool, digest, by) -> accepted


@dataclass(frozen=True, slots=True)
class FlaggedTool:
    """A server offered a tool whose definition has findings, for the first time with that definition."""

    server: str
    tool: str
    reasons: list[RiskReason]


@dataclass(slots=True)
class KnownTool:
    definition: dict[str, Any]
    digest: str
    first_seen: str
    history: list[str] = field(default_factory=list)  # "when: what happened", oldest first


class ToolDefinitions:
    def __init__(
        self,
        on_flagged: Callable[[FlaggedTool], None] | None = None,
        *,
        log_event: LogEvent | None = None,
        history: Iterable[dict[str, Any]] = (),
        accept_pin: AcceptPin | None = None,
    ) -> None:
        self.on_flagged = on_flagged
        self._log_event = log_event
        self._accept_pin = accept_pin
        self.servers: dict[str, dict[str, KnownTool]] = {}
        self.rejected: set[tuple[str, str, str]] = set()  # (server, tool, digest)
        self._flagged: set[tuple[str, str, str]] = set()  # told once per definition
        self._changes = 0  # definitions seen to change; findings are cached until the next change
        self._findings: dict[tuple[str, str], tuple[int, list[RiskReason]]] = {}
        for entry in history:
            self._replay(entry)

    # -- what the service sees ------------------------------------------------------------------------------

    def saw_call(self, call: ToolCall) -> None:
        info = call.tool_info
        if info is None:
            return
        definition = info.definition or {"description": info.description, "annotations": info.annotations}
        self.listed(call.server, [{**definition, "name": call.tool}])

    def listed(self, server: str, tools: Iterable[dict[str, Any]]) -> list[FlaggedTool]:
        """Definitions a server offers (a tools/list result, or the one a call carries). Returns, and reports to
        `on_flagged`, the tools flagged for the first time in these definitions."""
        known = self.servers.setdefault(server, {})
        flagged: list[FlaggedTool] = []
        for listed in tools:
            name = listed.get("name")
            if not isinstance(name, str):
                continue
            definition = definition_of(listed)  # the fields a pin covers, so both name a definition alike
            digest = definition_digest(definition)
            now = rfc3339_now()
            tool = known.get(name)
            if tool is None and len(known) >= MAX_TOOLS_PER_SERVER:
                continue  # memory stays bounded; each call to such a tool is still assessed on its own
            if tool is None:
                known[name] = KnownTool(definition, digest, now, [f"{now}: first seen"])
                self._changes += 1
            elif tool.digest != digest:
                self._changes += 1
                tool.history.append(f"{now}: the server changed its definition")
                tool.definition, tool.digest = definition, digest
            reasons = self.findings(server, name)
            if reasons and (server, name, digest) not in self._flagged:
                self._flagged.add((server, name, digest))
                flagged.append(FlaggedTool(server, name, reasons))
        for item in flagged:
            if self.on_flagged is not None:
                self.on_flagged(item)
        return flagged

    # -- what others ask ------------------------------------------------------------------------------------

    def other_servers(self, server: str) -> dict[str, list[str]]:
        return {other: sorted(tools) for other, tools in self.servers.items() if other != server}

    def findings(self, server: str, tool: str) -> list[RiskReason]:
        known = self.servers.get(server, {}).get(tool)
        if known is None:
            return []
        cached = self._findings.get((server, tool))
        if cached is not None and cached[0] == self._changes:
            return cached[1]
        reasons = assess_definition(known.definition, self.other_servers(server))
        self._findings[(server, tool)] = (self._changes, reasons)
        return reasons

    def verdict(self, call: ToolCall) -> Verdict | None:
        """A deny when a person rejected this tool's current definition; None otherwise."""
        known = self.servers.get(call.server, {}).get(call.tool)
        if known is None or (call.server, call.tool, known.digest) not in self.rejected:
            return None
        return Verdict(
            decision=Decision.DENY,
            actor=Actor.RULE,
            reason=f"you rejected the definition of '{call.tool}' on '{call.server}' in Settings → Servers and tools",
            digest=call.digest,
        )

    # -- a person's answers (from the app only) -------------------------------------------------------------

    def reject(self, server: str, tool: str, digest: str) -> bool:
        return self._answer(server, tool, digest, "rejected")

    def accept(self, server: str, tool: str, digest: str) -> bool:
        if not self._answer(server, tool, digest, "accepted"):
            return False
        if self._accept_pin is not None:
            self._accept_pin(server, tool, digest, "the user, in Settings → Servers and tools")
        return True

    def _answer(self, server: str, tool: str, digest: str, answer: str) -> bool:
        known = self.servers.get(server, {}).get(tool)
        if known is None or known.digest != digest:
            return False  # only the definition the person is looking at can be answered
        if self._log_event is not None:  # on record before it takes effect; a failure raises to the caller
            self._log_event(
                VERDICT_ENTRY_KIND,
                {
                    "server": server,
                    "tool": tool,
                    "digest": digest,
                    "answer": answer,
                    "findings": [reason.code for reason in self.findings(server, tool)],
                    "reason": f"the user {answer} the definition of '{tool}' on '{server}'",
                },
            )
        if answer == "rejected":
            self.rejected.add((server, tool, digest))
        else:
            self.rejected.discard((server, tool, digest))
        known.history.append(f"{rfc3339_now()}: {answer} by you")
        return True

    def _replay(self, entry: dict[str, Any]) -> None:
        if entry.get("kind") != VERDICT_ENTRY_KIND:
            return
        key = (entry.get("server"), entry.get("tool"), entry.get("digest"))
        if not all(isinstance(part, str) for part in key):
            return
        server, tool, digest = str(key[0]), str(key[1]), str(key[2])
        if entry.get("answer") == "rejected":
            self.rejected.add((server, tool, digest))
        elif entry.get("answer") == "accepted":
            self.rejected.discard((server, tool, digest))
