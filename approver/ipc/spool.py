"""The spool: decisions a proxy made alone because the service was unreachable.

The log has one writer, the service. A proxy that must deny without it still records the decision before it
answers, by appending one line (one O_APPEND write, fsynced) to this file; the service takes the spool into the
signed log when it next starts. Many proxies may append at once.

Anything running as the user can write or delete this file, so the service trusts it for nothing but what a proxy
alone can say (`as_proxy_report`: a denial, by nobody, without arguments) and marks it as the proxy's word. Each
proxy numbers its lines within a random session id and tells the service how many it spooled when it reconnects,
so that lines removed before the service read them are noticed while that proxy still runs.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from approver.core.jsonrpc import MalformedMessage, loads_strict
from approver.core.log_format import DecisionFacts, canonical
from approver.core.models import Actor, Decision
from approver.ipc.protocol import SpoolTally
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


class ProxySpool:
    """One proxy's spooling: a session id for its lifetime, how many denials it has durably spooled, and how many
    of those it has told a service about."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.session = secrets.token_hex(8)
        self.count = 0
        self.reported = 0

    def unreported(self) -> SpoolTally | None:
        """What to tell the next service: the numbers after those an earlier service already checked."""
        if self.count <= self.reported:
            return None
        return SpoolTally(session=self.session, since=self.reported, count=self.count)

    def record(self, facts: DecisionFacts) -> None:
        number = self.count + 1
        spool_decision(self.path, facts.model_copy(update={"spool_session": self.session, "spool_seq": number}))
        self.count = number  # only once it is on disk: the count the service is told never runs ahead of the file


def spool_files(path: Path) -> list[Path]:
    """The spool and, if the service was stopped while taking it in, the part it had set aside."""
    return [path.with_name(path.name + ".taking"), path]


def read_spool_file(path: Path) -> Iterator[DecisionFacts]:
    """Spooled decisions in order, as a proxy could have made them (`as_proxy_report`). A torn last record (a
    proxy killed mid-write) answered nobody: skipped."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    for raw in data.splitlines():
        if not raw.strip():
            continue
        try:
            yield as_proxy_report(DecisionFacts.model_validate(loads_strict(raw)))
        except (MalformedMessage, ValidationError):
            continue


def as_proxy_report(facts: DecisionFacts) -> DecisionFacts:
    """What a spooled line can truthfully be: a denial a proxy made alone — never an allow, never a person's
    answer, without arguments (a proxy keeps none) — whatever the line claims."""
    return facts.model_copy(
        update={
            "decision": Decision.DENY,
            "source": "proxy",
            "arguments": None,
            "shown_digest": None,
            "actor": facts.actor if facts.actor in (Actor.NONE, Actor.ERROR, Actor.TIMEOUT) else Actor.NONE,
        }
    )
