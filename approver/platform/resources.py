"""The files the app reads at run time (icons, the policy schema, the desktop entry), found inside the installed
`approver` package through importlib.resources: a wheel, a PyInstaller bundle and a clone all carry them in
approver/resources, so nothing depends on where the source tree is."""

from __future__ import annotations

import atexit
import contextlib
from importlib.resources import as_file, files
from pathlib import Path

# A zipped install would extract a resource to a temporary file; keep each one for the life of the process
# (Qt opens icon files lazily) and remove them at exit.
_extracted = contextlib.ExitStack()
atexit.register(_extracted.close)


class MissingResource(FileNotFoundError):
    """A file the installation should carry is not there: the installation is broken, not the user's input."""


def resource_root() -> str:
    """Where this installation keeps its resources, for messages."""
    return str(files("approver").joinpath("resources"))


def resource_path(*parts: str) -> Path:
    """The file approver/resources/PARTS on disk; MissingResource if this installation lacks it."""
    resource = files("approver").joinpath("resources", *parts)
    if not resource.is_file():
        name = "/".join(parts)
        raise MissingResource(
            f"this installation of MCP Approver lacks its resource {name} (looked in {resource_root()}): reinstall it"
        )
    return _extracted.enter_context(as_file(resource))


def resource_text(*parts: str) -> str:
    return resource_path(*parts).read_text(encoding="utf-8")
