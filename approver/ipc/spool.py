"""The spool: decisions a proxy made alone because the service was unreachable.

The log has one writer, the service. A proxy that must deny without it still records the decision before it
answers, by appending one line (one O_APPEND write, fsynced) to this file; the service takes the spool into the
signed log when it next starts. Many proxies may append at once.

Anything running as the user can write or delete this file, so the service trusts it for nothing but what a proxy
alone can say (`as_proxy_report`: a denial, by nobody, without arguments) and marks it as the proxy's word. Each
proxy numbers its lines within a random session id and, when it reconnects, tells the service the digest of each
line it spooled, so that lines removed or edited before the service read them are noticed while that proxy still
runs.
"""

from __future__ import annotations

import hashlib
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


def spool_decision(path: Path, facts: DecisionFacts) -> str:
    """Append one decision durably; returns the SHA-256 of the line as written (see `line_digest`)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    line = canonical(facts.model_dump(mode="json", exclude_none=True))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line + b"\n")
        fsync_fully(fd)
    finally:
        os.close(fd)
    return line_digest(line)


def line_digest(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


class ProxySpool:
    """One proxy's spooling: a session id for its lifetime, how many denials it has durably spooled, and how many
    of those it has told a service about."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.session = secrets.token_hex(8)
        self.reported = 0
        self._digests: list[str] = []  # of each line spooled, in order: line n is _digests[n - 1]

    @property
    def count(self) -> int:
        return len(self._digests)

    def unreported(self) -> SpoolTally | None:
        """What to tell the next service: the lines after those an earlier service already checked."""
        if self.count <= self.reported:
            return None
        return SpoolTally(session=self.session, since=self.reported, digests=self._digests[self.reported :])

    def record(self, facts: DecisionFacts) -> None:
        number = self.count + 1
        update = {"spool_session": self.session, "spool_seq": number}
        # Counted only once it is on disk: what the service is told never runs ahead of the file.
        self._digests.append(spool_decision(self.path, facts.model_copy(update=update)))


def spool_files(path: Path) -> list[Path]:
    """The spool and, if the service was stopped while taking it in, the part it had set aside."""
    return [path.with_name(path.name + ".taking"), path]


def read_spool_file(path: Path) -> Iterator[DecisionFacts]:
    """Spooled decisions in order, as a proxy could have made them (`as_proxy_report`)."""
    return (facts for facts, _ in read_spool_lines(path))


def read_spool_lines(path: Path) -> Iterator[tuple[DecisionFacts, str]]:
    """Each spooled decision as a proxy could have made it (`as_proxy_report`), with the digest of its line as
    found. A torn last record (a proxy killed mid-write) answered nobody: skipped."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    for raw in data.splitlines():
        if not raw.strip():
            continue
        try:
            facts = DecisionFacts.model_validate(loads_strict(raw))
        except (MalformedMessage, ValidationError):
            continue
        yield as_proxy_report(facts), line_digest(raw)


def as_proxy_report(facts: DecisionFacts) -> DecisionFacts:
    """What a spooled line can truthfully be: a denial a proxy made alone — never an allow, never a person's
    answer, without arguments (a proxy keeps none) — whatever the line claims."""
    return facts.model_copy(
        update={
            "decision": Decision.DENY,
            "source": "proxy",
            "requester": None,  # the service records a requester only from a live socket's peer
            "arguments": None,
            "shown_digest": None,
            "actor": facts.actor if facts.actor in (Actor.NONE, Actor.ERROR, Actor.TIMEOUT) else Actor.NONE,
        }
    )
