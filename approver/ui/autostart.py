"""Start at login on freedesktop systems: an XDG autostart entry in $XDG_CONFIG_HOME/autostart. And the menu entry
for installs that come without one (pip, pipx, uv, a clone): the app adds it for this user.

macOS (a launchd agent) and Windows (the Run key) are set up by their installers; see packaging/README.md.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from approver.platform.durable import write_atomically
from approver.platform.paths import Home
from approver.platform.resources import resource_path, resource_text
from approver.ui.icons import SIZES

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


def desktop_entry(command: list[str], *, autostart: bool = True) -> str:
    """The menu's desktop entry (the one installers put in applications/), launching `command`; for autostart/,
    marked as such."""
    exec_line = " ".join(_exec_argument(argument) for argument in command)
    # Exec escapes backslashes once more: the key's value is itself an escaped string.
    exec_line = exec_line.replace("\\", "\\\\")
    lines = [
        f"Exec={exec_line}" if line.startswith("Exec=") else line
        for line in resource_text("mcp-approver.desktop").splitlines()
    ]
    return "\n".join([*lines, *(["X-GNOME-Autostart-enabled=true"] if autostart else []), ""])


def _data_home(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def system_menu_entry(environ: Mapping[str, str] = os.environ) -> Path | None:
    """The menu entry a package installed (the .deb's /usr/share/applications/mcp-approver.desktop), if any."""
    for directory in (environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share").split(":"):
        candidate = Path(directory) / "applications" / ENTRY_NAME
        if directory and candidate.is_file():
            return candidate
    return None


def sync_menu_entry(home: Home, environ: Mapping[str, str] = os.environ) -> Path | None:
    """Put MCP Approver in this user's menu when its installer did not (pip, pipx and uv install no menu entries):
    the entry in $XDG_DATA_HOME/applications launches this installation, and the icon goes into the user's
    hicolor theme. Returns the entry written, or None when a package provides one or the home is an explicit
    APPROVER_HOME (the menu starts the user's default home, not a test or side installation)."""
    if not SUPPORTED or home.explicit or system_menu_entry(environ) is not None:
        return None
    data = _data_home(environ)
    for size in SIZES:
        icon = resource_path("icons", f"mcp-approver-{size}.png").read_bytes()
        _write_if_changed(data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "mcp-approver.png", icon)
    entry = data / "applications" / ENTRY_NAME
    _write_if_changed(entry, desktop_entry(launch_command(home), autostart=False).encode("utf-8"))
    return entry


def _write_if_changed(path: Path, content: bytes) -> None:
    """Every start syncs the entry: write (and fsync) only what changed."""
    try:
        if path.read_bytes() == content:
            return
    except FileNotFoundError:
        pass
    write_atomically(path, content, mode=0o644)


def set_start_at_login(enabled: bool, command: list[str], environ: Mapping[str, str] = os.environ) -> Path:
    """Write or remove the autostart entry; returns its path."""
    path = entry_path(environ)
    if enabled:
        write_atomically(path, desktop_entry(command).encode("utf-8"), mode=0o644)
    else:
        path.unlink(missing_ok=True)
    return path
