"""Where an unexpected failure's details go: the user sees one line, the traceback goes to a private file."""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from approver import __version__
from approver.platform.paths import Home, ensure_private_dir

SUMMARY_LIMIT = 300  # characters of the exception's message on the one line


def crash_dir(home: Home) -> Path:
    return home.data_dir / "crash-reports"


def summary(exc: BaseException) -> str:
    """The exception as one line. A missing file names itself well; anything else names its type too."""
    message = " ".join(str(exc).split())
    if isinstance(exc, FileNotFoundError) and message:
        text = message
    else:
        text = f"unexpected {type(exc).__name__}" + (f": {message}" if message else "")
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1] + "…"


def write_crash_report(exc: BaseException, argv: Sequence[str]) -> Path:
    """The full traceback in a new 0600 file under the home's data directory (a temporary file if that cannot be
    written); returns its path."""
    report = (
        f"mcp-approver {__version__} on Python {sys.version.split()[0]} ({sys.platform})\n"
        f"command: {' '.join(['approver', *argv])}\n"
        f"time: {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n\n" + "".join(traceback.format_exception(exc))
    ).encode("utf-8", "replace")
    name = f"crash-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-"
    try:
        directory = crash_dir(Home.from_environment())
        ensure_private_dir(directory)
        descriptor, path = tempfile.mkstemp(prefix=name, suffix=".txt", dir=directory)
    except OSError:
        descriptor, path = tempfile.mkstemp(prefix=f"mcp-approver-{name}", suffix=".txt")
    with os.fdopen(descriptor, "wb") as file:
        file.write(report)
    return Path(path)
