"""Making a write durable before we act on it."""

from __future__ import annotations

import fcntl
import os


def fsync_fully(fd: int) -> None:
    """fsync, or on macOS F_FULLFSYNC: there plain fsync leaves the data in the drive's cache."""
    full = getattr(fcntl, "F_FULLFSYNC", None)
    if full is not None:
        fcntl.fcntl(fd, full)
    else:
        os.fsync(fd)
