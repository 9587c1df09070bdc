"""The spool: decisions a proxy made alone because the service was unreachable.

The log has one writer, the service. A proxy that must deny without it still records the decision before it
answers, by appending one line (one O_APPEND write, fsynced) to this file; the service takes the spool into the
signed log when it next starts. Many proxies may append at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from approver.core.jsonrpc import MalformedMessage, loads_strict
from approver.core.log_format import DecisionFacts, canonical
from approver.platform.durable import fsync_fully


def spool_decision(path: Path, facts: DecisionFacts) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    line = canonical(facts.model_dump(mode="json", exclude_none=True)) + b"\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
        fsync_fully(fd)
    finally:
        os.close(fd)


def spool_files(path: Path) -> list[Path]:
    """The spool and, if the service was stopped while taking it in, the part it had set aside."""
    return [path.with_name(path.name + ".taking"), path]


def read_spool_file(path: Path) -> Iterator[DecisionFacts]:
    """Spooled decisions in order. A torn last record (a proxy killed mid-write) answered nobody: skipped."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    for raw in data.splitlines():
        if not raw.strip():
            continue
        try:
            yield DecisionFacts.model_validate(loads_strict(raw))
        except (MalformedMessage, ValidationError):
            continue
