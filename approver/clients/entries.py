"""One server entry of a client's configuration: what it runs, whether it goes through `approver proxy`, and the
changes that wrap it or put it back. Pure: plain values in, plain values out."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, TypeAlias

APPROVER_HOME = "APPROVER_HOME"


class State(enum.StrEnum):
    PROTECTED = "protected"
    UNPROTECTED = "unprotected"
    CANNOT = "cannot be protected"


class _Remove:
    """A key to delete (as opposed to a value to set)."""

    def __repr__(self) -> str:
        return "REMOVE"


REMOVE = _Remove()
# A change to an entry: a key path inside the entry (("args",), ("env", "APPROVER_HOME")) and the new value.
Change: TypeAlias = tuple[tuple[str, ...], Any]


@dataclass(frozen=True)
class Launcher:
    """How a client starts this `approver`: an absolute path, or the interpreter with `-m approver` when no
    `approver` script exists (a source checkout run with `python -m approver`)."""

    command: str
    prefix: tuple[str, ...] = ()

    def proxy_args(self, name: str, command: str, args: Sequence[str]) -> list[str]:
        return [*self.prefix, "proxy", "--name", name, "--", command, *args]


@dataclass(frozen=True)
class Wrapped:
    """What a wrapped entry runs behind the proxy."""

    name: str
    command: str
    args: tuple[str, ...]


def _stem(command: str) -> str:
    name = PurePath(command.replace("\\", "/")).name.lower()
    return name.removesuffix(".exe")


def approver_args_start(command: str, args: Sequence[Any]) -> int | None:
    """Where `approver`'s own arguments start when `command` + `args` run approver (its script, or an interpreter
    with `-m approver`); None when they run something else."""
    if _stem(command) == "approver":
        return 0
    if _stem(command).startswith("python") and list(args[:2]) == ["-m", "approver"]:
        return 2
    return None


def unwrap_args(command: str, args: Sequence[Any]) -> Wrapped | None:
    """The server behind `approver [-m approver] proxy --name NAME [options] -- CMD ARG…`, or None if the entry
    is not such a wrapper."""
    start = approver_args_start(command, args)
    if start is None or not all(isinstance(arg, str) for arg in args):
        return None
    rest = list(args[start:])
    if rest[:2] != ["proxy", "--name"] or len(rest) < 3 or "--" not in rest[3:]:
        return None
    separator = rest.index("--", 3)
    server = rest[separator + 1 :]
    if not server:
        return None
    return Wrapped(rest[2], server[0], tuple(server[1:]))


@dataclass(frozen=True)
class ServerStatus:
    name: str
    transport: str  # stdio, http, sse, or unknown
    state: State
    reason: str
    command: str | None = None  # what the entry runs as written
    args: tuple[str, ...] = ()
    wrapped: Wrapped | None = None

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "name": self.name,
            "transport": self.transport,
            "state": self.state.value,
            "reason": self.reason,
        }
        if self.command is not None:
            document["command"] = self.command
            document["args"] = list(self.args)
        if self.wrapped is not None:
            document["server_command"] = [self.wrapped.command, *self.wrapped.args]
        return document


def _remote_transport(entry: Mapping[str, Any], url_transport: str) -> str | None:
    declared = str(entry.get("type") or entry.get("transport") or entry.get("transportType") or "").lower()
    if declared == "sse" and any(isinstance(entry.get(key), str) for key in ("url", "serverUrl")):
        return "sse"
    if isinstance(entry.get("url"), str):
        return "http" if declared in ("http", "streamable-http", "streamablehttp") else url_transport
    if isinstance(entry.get("serverUrl"), str) or isinstance(entry.get("httpUrl"), str):  # Windsurf; Gemini CLI
        return "http"
    return None


@dataclass(frozen=True)
class Expected:
    """What a wrapper must run to count as protected by this installation. Anything that runs a program named
    approver with `proxy --name` looks wrapped, so an agent could name its own program so, or point the entry's
    APPROVER_HOME at a service of its own: such an entry is reported, not counted as protected."""

    launchers: frozenset[Launcher]
    approver_home: str | None  # the APPROVER_HOME entries must carry (None: the default home, so none)

    def doubt(self, command: str, args: Sequence[Any], env: Any) -> str | None:
        start = approver_args_start(command, args) or 0
        if Launcher(command, tuple(args[:start])) not in self.launchers:
            shown = " ".join([command, *args[:start]])
            return f"it runs {shown}, not this installation's approver (uninstall, then install, to fix it)"
        home = env.get(APPROVER_HOME) if isinstance(env, Mapping) else None
        if home != self.approver_home:
            where = f"APPROVER_HOME {home}" if home is not None else "the default home"
            return f"its calls are decided by the service of {where}, not this one's"
        return None


def classify(name: str, entry: Any, url_transport: str = "http", expected: Expected | None = None) -> ServerStatus:
    """The entry's transport and whether every tool call through it reaches `approver proxy`. `url_transport`:
    what a bare `url` means to this client (Gemini CLI: SSE; the others: streamable HTTP). `expected`: the
    approver and home a wrapper must use (None: any wrapper counts)."""
    if not isinstance(entry, Mapping):
        return ServerStatus(name, "unknown", State.CANNOT, "the entry is not an object")
    remote = _remote_transport(entry, url_transport)
    command = entry.get("command")
    if remote is not None and command is None:
        return ServerStatus(
            name, remote, State.UNPROTECTED, "a remote server: approver proxy relays stdio servers only, so far"
        )
    if isinstance(command, Mapping):
        return ServerStatus(
            name, "stdio", State.CANNOT, "its command is an object (an older form): write it as command and args"
        )
    if not isinstance(command, str) or not command.strip():
        return ServerStatus(name, "unknown", State.CANNOT, "it has neither a command nor a url")
    declared = str(entry.get("type") or "stdio").lower()
    if declared not in ("stdio", "local"):
        return ServerStatus(name, declared, State.CANNOT, f"it has a command but its type is {declared!r}")
    args = entry.get("args", [])
    if not isinstance(args, list) or not all(isinstance(arg, str) for arg in args):
        return ServerStatus(name, "stdio", State.CANNOT, "its args are not a list of strings", command)
    wrapped = unwrap_args(command, args)
    if wrapped is not None:
        doubt = expected.doubt(command, args, entry.get("env")) if expected is not None else None
        if doubt is not None:
            return ServerStatus(name, "stdio", State.CANNOT, doubt, command, tuple(args), wrapped)
        reason = f"runs through approver proxy as {wrapped.name!r}"
        return ServerStatus(name, "stdio", State.PROTECTED, reason, command, tuple(args), wrapped)
    if approver_args_start(command, args) is not None:
        return ServerStatus(name, "stdio", State.CANNOT, "it runs approver, but not as a proxy", command, tuple(args))
    if not name.strip() or not name.isprintable() or name.startswith("-"):
        # `approver proxy --name` takes printable text only, and would read a leading "-" as an option.
        reason = f"its name {name!r} cannot be a proxy's --name (printable text not starting with '-')"
        return ServerStatus(name, "stdio", State.CANNOT, reason, command, tuple(args))
    return ServerStatus(name, "stdio", State.UNPROTECTED, "starts the server directly", command, tuple(args))


def wrap_changes(
    status: ServerStatus, entry: Mapping[str, Any], launcher: Launcher, approver_home: str | None
) -> list[Change]:
    """The changes that put `approver proxy` in front of an unprotected stdio entry; env, cwd, type and every
    key we do not know stay as they are. `approver_home` (a non-default APPROVER_HOME) goes into `env`, because
    clients start servers with a minimal environment."""
    assert status.state is State.UNPROTECTED and status.command is not None
    changes: list[Change] = [
        (("command",), launcher.command),
        (("args",), launcher.proxy_args(status.name, status.command, status.args)),
    ]
    env = entry.get("env")
    if approver_home is not None and not (isinstance(env, Mapping) and env.get(APPROVER_HOME) == approver_home):
        changes.append((("env", APPROVER_HOME), approver_home))
    return changes


def original_fields(entry: Mapping[str, Any]) -> dict[str, Any]:
    """What install changes, as it was: kept so uninstall can tell an absent key from an empty one."""
    return {key: entry[key] for key in ("command", "args", "env") if key in entry}


def unwrap_changes(status: ServerStatus, entry: Mapping[str, Any], original: Mapping[str, Any] | None) -> list[Change]:
    """The changes that put a wrapped entry back. Command and args come from the wrapper itself (so an edit made
    to the wrapped server since is kept); whether `args` and `env` existed, and env's APPROVER_HOME, come from
    the record install kept, when there is one."""
    assert status.wrapped is not None
    wrapped = status.wrapped
    changes: list[Change] = [(("command",), wrapped.command)]
    if wrapped.args or original is None or "args" in original:
        changes.append((("args",), list(wrapped.args)))
    else:
        changes.append((("args",), REMOVE))
    if original is None:
        return changes
    env = entry.get("env")
    before = original.get("env")
    if isinstance(env, Mapping) and APPROVER_HOME in env:
        if isinstance(before, Mapping) and APPROVER_HOME in before:
            if before[APPROVER_HOME] != env[APPROVER_HOME]:
                changes.append((("env", APPROVER_HOME), before[APPROVER_HOME]))
        elif before is None and set(env) == {APPROVER_HOME}:
            changes.append((("env",), REMOVE))
        else:
            changes.append((("env", APPROVER_HOME), REMOVE))
    return changes


def apply_changes(entry: dict[str, Any], changes: Sequence[Change]) -> None:
    """The changes made to a plain value: what the file must read as after they are written."""
    for path, value in changes:
        target = entry
        for key in path[:-1]:
            if value is REMOVE and not isinstance(target.get(key), dict):
                break
            target = target.setdefault(key, {})
        else:
            if value is REMOVE:
                target.pop(path[-1], None)
            else:
                target[path[-1]] = value
