"""The servers and tools the service has seen, kept across restarts, so a person is told when a tool is new or
its definition changed since it was first seen (a server can quietly redefine a trusted tool)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ValidationError

from approver.core.log_format import rfc3339_now
from approver.core.models import ToolCall
from approver.platform.durable import write_atomically


class SeenTool(BaseModel):
    digest: str | None
    description: str | None
    first_seen: str
    last_seen: str
    changed: bool = False


class ToolsSeen:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.tools: dict[str, dict[str, SeenTool]] = {}
        try:
            raw = json.loads(path.read_text())
            self.tools = {
                server: {name: SeenTool.model_validate(tool) for name, tool in tools.items()}
                for server, tools in raw.items()
            }
        except FileNotFoundError:
            pass
        except (OSError, ValueError, ValidationError, AttributeError):
            self.tools = {}  # a damaged cache only costs "new" labels; it decides nothing

    def observe(self, call: ToolCall) -> str:
        """Record the call's tool; returns its status for the person: known, new, changed or undescribed."""
        info = call.tool_info
        now = rfc3339_now()
        server = self.tools.setdefault(call.server, {})
        seen = server.get(call.tool)
        digest = info.digest if info else None
        description = info.description if info else None
        if seen is None:
            server[call.tool] = SeenTool(digest=digest, description=description, first_seen=now, last_seen=now)
            status = "new" if info else "undescribed"
        elif digest is not None and seen.digest is not None and digest != seen.digest:
            server[call.tool] = seen.model_copy(
                update={"digest": digest, "description": description, "last_seen": now, "changed": True}
            )
            status = "changed"
        else:
            server[call.tool] = seen.model_copy(update={"last_seen": now, "digest": seen.digest or digest})
            # Once redefined, a tool stays "changed": nobody has acknowledged the new definition yet.
            status = "changed" if seen.changed else ("known" if info else "undescribed")
        self._save()
        return status

    def _save(self) -> None:
        data = {
            server: {name: tool.model_dump() for name, tool in tools.items()} for server, tools in self.tools.items()
        }
        write_atomically(self.path, json.dumps(data, indent=1).encode("utf-8"))
