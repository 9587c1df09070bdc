"""Start at login on freedesktop systems: an XDG autostart entry in $XDG_CONFIG_HOME/autostart.

macOS (a launchd agent) and Windows (the Run key) are set up by their installers; see packaging/README.md.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from approver.platform.durable import write_atomically
from approver.platform.paths import Home
from approver.platform.resources import resource_text

SUPPORTED = sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd"))
ENTRY_NAME = "mcp-approver.desktop"


def entry_path(environ: Mapping[str, str] = os.environ) -> Path:
    config = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "autostart" / ENTRY_NAME


def launch_command(home: Home) -> list[str]:
    """This installation's app, for this home: the interpreter running now, so a virtualenv install works; in a
    PyInstaller bundle, the bundle's own executable (it takes no `-m`)."""
    command = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "approver"]
    if home.explicit:
        command = ["env", f"APPROVER_HOME={home.config_dir.parent}", *command]
    return command


def _exec_argument(argument: str) -> str:
    """Quote one argument for a desktop entry's Exec key (Desktop Entry Specification, "The Exec key")."""
    argument = argument.replace("%", "%%")
    if argument and not any(character in argument for character in " \t\n\"'\\><~|&;$*?#()`"):
        return argument
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in argument)
    return f'"{escaped}"'


def desktop_entry(command: list[str]) -> str:
    """The menu's desktop entry (the one installers put in applications/), launching `command` at login."""
    exec_line = " ".join(_exec_argument(argument) for argument in command)
    # Exec escapes backslashes once more: the key's value is itself an escaped string.
    exec_line = exec_line.replace("\\", "\\\\")
    lines = [
        f"Exec={exec_line}" if line.startswith("Exec=") else line
        for line in resource_text("mcp-approver.desktop").splitlines()
    ]
    return "\n".join([*lines, "X-GNOME-Autostart-enabled=true", ""])


def set_start_at_login(enabled: bool, command: list[str], environ: Mapping[str, str] = os.environ) -> Path:
    """Write or remove the autostart entry; returns its path."""
    path = entry_path(environ)
    if enabled:
        write_atomically(path, desktop_entry(command).encode("utf-8"), mode=0o644)
    else:
        path.unlink(missing_ok=True)
    return path
