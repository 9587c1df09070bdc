"""The call's arguments flattened into the strings they hold, each with its nearest key and location."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from approver.core.redaction import normalize_name

# --- the arguments, flattened --------------------------------------------------------------------------------

_Location = tuple["_Location | None", "str | int"] | None


def _render_location(location: _Location) -> str:
    segments: list[str | int] = []
    while location is not None:
        location, segment = location
        segments.append(segment)
    rendered = ""
    for segment in reversed(segments[-6:]):
        rendered += f"[{segment}]" if isinstance(segment, int) else ("." if rendered else "") + segment
    return ("…" if len(segments) > 6 else "") + rendered


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


_COMMAND_KEYS = frozenset(
    {"command", "commands", "cmd", "cmdline", "commandline", "script", "shell", "bash", "sh", "powershell", "exec"}
)
_ARGV_KEYS = frozenset({"args", "argv", "arguments"})
_PATH_KEYS = _wordset(
    "path paths file files filename filenames filepath filepaths dir dirs directory directories folder cwd workdir "
    "workingdirectory destination dest dst src"
)
_PATH_KEY_SUFFIXES = ("path", "paths", "file", "files", "filename", "dir", "directory", "folder")
_WEAK_PATH_KEYS = frozenset({"source", "target", "root", "output", "input", "location", "from", "to"})
_URL_KEYS = frozenset({"url", "uri", "href", "link", "endpoint", "webhook", "host", "hostname", "domain", "server"})
_URL_KEY_SUFFIXES = ("url", "uri", "host")


@dataclass(slots=True)
class _Site:
    """One string in the arguments (a value, or a synthesised command line) and where it was."""

    text: str
    key: str | None  # the nearest member name, normalised
    location: _Location
    command: bool  # under a key that holds a shell command

    @property
    def where(self) -> str:
        return _render_location(self.location) or "the arguments"


@dataclass(slots=True)
class _Arguments:
    sites: list[_Site] = field(default_factory=list)
    keys: list[tuple[str, _Location]] = field(default_factory=list)
    total_bytes: int = 0


def _flatten(arguments: dict[str, Any]) -> _Arguments:
    """Every string in the arguments, with its nearest key and location, without recursion."""
    result = _Arguments()
    stack: list[tuple[Any, str | None, _Location, bool]] = [(arguments, None, None, False)]
    while stack:
        value, key, location, command = stack.pop()
        if isinstance(value, str):
            result.total_bytes += _utf8_length(value) + 2
            result.sites.append(_Site(value, key, location, command))
        elif isinstance(value, dict):
            result.total_bytes += 2
            children: list[tuple[Any, str | None, _Location, bool]] = []
            for member, child in value.items():
                name = member if isinstance(member, str) else str(member)
                result.total_bytes += _utf8_length(name) + 4
                result.keys.append((name, location))
                normalized = normalize_name(name)
                child_command = command or normalized in _COMMAND_KEYS or normalized in _ARGV_KEYS
                children.append((child, normalized, (location, name), child_command))
            stack.extend(reversed(children))
            _synthesise_command_line(value, location, result)
        elif isinstance(value, list):
            result.total_bytes += 2
            stack.extend((child, key, (location, index), command) for index, child in reversed(list(enumerate(value))))
            if command and value and all(isinstance(item, str) for item in value):
                result.sites.append(_Site(" ".join(value), key, location, True))
        else:
            result.total_bytes += 8
    return result


def _synthesise_command_line(members: dict[Any, Any], location: _Location, result: _Arguments) -> None:
    """`{"command": "rm", "args": ["-rf", "/"]}` runs `rm -rf /`: look at it as one line too."""
    command = next(
        (v for k, v in members.items() if isinstance(k, str) and normalize_name(k) in {"command", "cmd"}), None
    )
    argv = next((v for k, v in members.items() if isinstance(k, str) and normalize_name(k) in _ARGV_KEYS), None)
    if isinstance(command, str) and isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv):
        result.sites.append(_Site(" ".join([command, *argv]), "command", (location, "command"), True))


def _utf8_length(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))
