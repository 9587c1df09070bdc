"""Making a write durable before we act on it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def fsync_fully(fd: int) -> None:
    """fsync, or on macOS F_FULLFSYNC: there plain fsync leaves the data in the drive's cache."""
    full = getattr(fcntl, "F_FULLFSYNC", None)
    if full is not None:
        fcntl.fcntl(fd, full)
    else:
        os.fsync(fd)


def write_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data` so that a reader sees the old file or the new one, never half of either, and
    the new one survives a crash once this returns. Private (0600) unless asked otherwise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        fsync_fully(fd)
    finally:
        os.close(fd)
    temporary.replace(path)
