"""The facts risk assessment needs from outside the pure core: what the paths in a call are on disk, the
client's roots, and how often this tool has been called lately."""

from __future__ import annotations

import os
import stat
import time
from collections import defaultdict, deque
from pathlib import Path
from urllib.parse import unquote, urlparse

from approver.core.models import ToolCall
from approver.core.risk import PathFacts, RiskContext, paths_to_check


class CallRates:
    """Calls per (server, tool) in the last minute and hour; unusual rates are a risk signal."""

    def __init__(self) -> None:
        self._calls: defaultdict[tuple[str, str], deque[float]] = defaultdict(deque)

    def record(self, server: str, tool: str, now: float | None = None) -> None:
        self._calls[(server, tool)].append(time.monotonic() if now is None else now)

    def counts(self, server: str, tool: str, now: float | None = None) -> tuple[int, int]:
        now = time.monotonic() if now is None else now
        calls = self._calls[(server, tool)]
        while calls and calls[0] < now - 3600:
            calls.popleft()
        last_minute = sum(1 for moment in reversed(calls) if moment >= now - 60)
        return last_minute, len(calls)


def _root_paths(roots: list[str]) -> list[str]:
    paths = []
    for root in roots:
        parsed = urlparse(root)
        if parsed.scheme == "file":
            paths.append(unquote(parsed.path))
        elif not parsed.scheme:
            paths.append(root)
    return paths


def _facts(raw: str, roots: list[str], home: str) -> PathFacts:
    if raw.startswith("~/") or raw == "~":
        candidate = home + raw[1:]
    elif not Path(raw).is_absolute() and roots:
        candidate = str(Path(roots[0]) / raw)
    else:
        candidate = raw
    if not Path(candidate).is_absolute():
        return PathFacts(raw=raw)
    try:
        info = os.lstat(candidate)
    except (OSError, ValueError):
        return PathFacts(raw=raw, resolved=os.path.realpath(candidate), exists=False)
    return PathFacts(raw=raw, resolved=os.path.realpath(candidate), exists=True, is_symlink=stat.S_ISLNK(info.st_mode))


def gather_context(call: ToolCall, rates: CallRates) -> RiskContext:
    home = str(Path.home())
    roots = _root_paths(call.roots)
    per_minute, per_hour = rates.counts(call.server, call.tool)
    return RiskContext(
        home=home,
        roots=roots,
        paths={raw: _facts(raw, roots, home) for raw in paths_to_check(call)},
        calls_last_minute=per_minute,
        calls_last_hour=per_hour,
    )
