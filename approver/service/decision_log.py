"""The decision log's single writer and its reader.

The service is the only writer of the log (proxies that cannot reach it write to the spool, see
`approver.ipc.spool`, which the service takes in). `append` writes one whole line with one write() and fsyncs it before
returning, and the service does not let a decision take effect until `append` has returned: a decision that is
not on disk never happened.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from approver import __version__
from approver.core.log_format import (
    DecisionFacts,
    LogFormatError,
    decision_entry,
    decode_line,
    encode_entry,
    genesis_entry,
    leaf_hash,
    rfc3339_now,
)
from approver.ipc.spool import read_spool_file
from approver.platform.durable import fsync_fully

_TAIL_CHUNK = 64 * 1024


class LogError(RuntimeError):
    pass


class DecisionLogWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        last = _last_line(path)
        if last is None:
            self._next_seq = 0
            self._prev = ""
            self._write(genesis_entry(rfc3339_now(), f"mcp-approver {__version__}"))
        else:
            try:
                entry = decode_line(last)
            except LogFormatError as exc:
                raise LogError(f"{path}: the last line is damaged ({exc}); run `approver log show` to see it") from None
            self._next_seq = entry["seq"] + 1
            self._prev = leaf_hash(last)

    def append(self, facts: DecisionFacts) -> int:
        """Write one decision durably; returns its sequence number."""
        return self._write(decision_entry(self._next_seq, self._prev, rfc3339_now(), facts))

    def _write(self, entry: dict[str, Any]) -> int:
        data = encode_entry(entry)
        written = os.write(self._fd, data + b"\n")
        if written != len(data) + 1:
            raise LogError(f"{self.path}: short write ({written} of {len(data) + 1} bytes)")
        fsync_fully(self._fd)
        self._prev = leaf_hash(data)
        seq = self._next_seq
        self._next_seq += 1
        return seq

    def close(self) -> None:
        os.close(self._fd)


def _last_line(path: Path) -> bytes | None:
    """The last complete line of the file, read from its end (the log may be large)."""
    with path.open("rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        if end == 0:
            return None
        position, tail = end, b""
        while position > 0:
            step = min(_TAIL_CHUNK, position)
            position -= step
            handle.seek(position)
            tail = handle.read(step) + tail
            stripped = tail.rstrip(b"\n")
            cut = stripped.rfind(b"\n")
            if cut >= 0 or position == 0:
                return stripped[cut + 1 :]
    return None


def read_entries(path: Path) -> Iterator[dict[str, Any]]:
    """Entries in order; a damaged line is reported, with its line number, rather than skipped silently."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield decode_line(line.rstrip(b"\n"))
            except LogFormatError as exc:
                raise LogError(f"{path}:{number}: {exc}") from None


def take_spool(path: Path, writer: DecisionLogWriter) -> int:
    """Move spooled decisions into the log. The spool is renamed first, so proxies writing now start a new one;
    a `.taking` file left by a crash is finished first. Returns how many decisions were taken in."""
    taking = path.with_name(path.name + ".taking")
    if not taking.exists():
        try:
            path.rename(taking)
        except FileNotFoundError:
            return 0
    count = 0
    for facts in read_spool_file(taking):
        writer.append(facts)
        count += 1
    taking.unlink()
    return count
