"""Newline-delimited message framing (the MCP stdio transport), sans-IO.

Bytes go in, complete lines come out, each exactly as received minus its line terminator (LF, or CRLF from
clients that write one). A line longer than the limit is never buffered whole: it is reported once as
`Oversized` and the rest of it is skipped, so a runaway peer cannot exhaust memory.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_LINE = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Oversized:
    """A line exceeded the limit and was dropped; `prefix` is its start, for telling the peer which one."""

    prefix: bytes


class LineFramer:
    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self.max_line = max_line
        self._partial = bytearray()
        self._skipping = False  # inside an oversized line, until its newline

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held back (what an EOF would cut off)."""
        return len(self._partial)

    def feed(self, data: bytes) -> list[bytes | Oversized]:
        frames: list[bytes | Oversized] = []
        start = 0
        while (newline := data.find(b"\n", start)) >= 0:
            if self._skipping:
                self._skipping = False
            elif self._partial:
                self._partial += data[start:newline]
                self._emit(bytes(self._partial), frames)
                self._partial.clear()
            else:
                self._emit(data[start:newline], frames)
            start = newline + 1
        if start < len(data) and not self._skipping:
            self._partial += data[start:]
            if len(self._partial) > self.max_line:
                frames.append(Oversized(bytes(self._partial[:200])))
                self._partial.clear()
                self._skipping = True
        return frames

    def _emit(self, line: bytes, frames: list[bytes | Oversized]) -> None:
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line.strip():
            return  # blank lines carry no message; peers may send them as keep-alives
        if len(line) > self.max_line:
            frames.append(Oversized(line[:200]))
        else:
            frames.append(line)
