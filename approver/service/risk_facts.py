"""The facts risk assessment needs from outside the pure core: what the paths in a call are on disk, the
client's roots, and how often this tool has been called lately."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from urllib.parse import unquote, urlparse

from approver.core.models import ToolCall
from approver.core.risk import PathFacts, RiskContext, paths_to_check
from approver.service.rates import RecentCounts


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


def gather_context(call: ToolCall, rates: RecentCounts[tuple[str, str]]) -> RiskContext:
    home = str(Path.home())
    roots = _root_paths(call.roots)
    per_minute, per_hour = rates.counts((call.server, call.tool))
    return RiskContext(
        home=home,
        roots=roots,
        paths={raw: _facts(raw, roots, home) for raw in paths_to_check(call)},
        calls_last_minute=per_minute,
        calls_last_hour=per_hour,
    )
