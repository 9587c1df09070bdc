"""A client's configuration file as a document: the server entries it holds, and the same bytes with some
entries changed and nothing else. Pure: bytes in, bytes out.

Every edit is checked before it is offered: the new bytes are parsed again and must read as the old document
with exactly the planned changes (for TOML, with the standard library's parser too). An edit that would read
otherwise is refused, so a bug here shows up as an error, never as a damaged file.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import tomlkit
import tomlkit.exceptions
from tomlkit.items import Array

from approver.clients import jsonc
from approver.clients.entries import REMOVE, Change, apply_changes

Format = Literal["json", "jsonc", "toml"]
# Where the servers are: keys from the top of the document; "*" stands for every key at that level (Claude
# Code keeps servers per project under projects.<path>.mcpServers).
Container = tuple[str, ...]


class EditRefused(RuntimeError):
    """The edit would not read back as planned; nothing is written."""


@dataclass(frozen=True)
class Entry:
    container: tuple[str, ...]  # the actual keys, wildcards filled in
    name: str
    data: Any


def load(source: bytes, file_format: Format, containers: Sequence[Container]) -> ConfigDocument:
    """Raises jsonc.DocumentError (line and column) for a file that does not parse."""
    if file_format == "toml":
        return TomlDocument(source, containers)
    return JsonDocument(source, containers, comments=file_format == "jsonc")


class ConfigDocument:
    source: bytes
    data: Any
    containers: Sequence[Container]

    def entries(self) -> list[Entry]:
        found: list[Entry] = []
        for container in self.containers:
            for keys, servers in _expand(self.data, container, ()):
                if isinstance(servers, dict):
                    found.extend(Entry(keys, name, entry) for name, entry in servers.items())
        return found

    def with_changes(self, changes: Sequence[tuple[Entry, Sequence[Change]]]) -> bytes:
        raise NotImplementedError

    def _expected(self, changes: Sequence[tuple[Entry, Sequence[Change]]]) -> Any:
        expected = copy.deepcopy(self.data)
        for entry, entry_changes in changes:
            target = expected
            for key in (*entry.container, entry.name):
                target = target[key]
            apply_changes(target, entry_changes)
        return expected


def _expand(data: Any, container: Container, keys: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    if not container:
        return [(keys, data)]
    if not isinstance(data, dict):
        return []
    head, rest = container[0], container[1:]
    names = list(data) if head == "*" else [head] if head in data else []
    return [found for name in names for found in _expand(data[name], rest, (*keys, name))]


class JsonDocument(ConfigDocument):
    def __init__(self, source: bytes, containers: Sequence[Container], *, comments: bool) -> None:
        self.source = source
        self.containers = containers
        self.comments = comments
        self.document = jsonc.parse(source, comments=comments)
        self.data = self.document.root.data
        self._check_unambiguous()

    def _check_unambiguous(self) -> None:
        """A key written twice on the way to a server entry, or inside one, is refused: clients' parsers keep the
        last, and we would not know which one we are editing."""
        for container in self.containers:
            for value in self._containers(self.document.root, container):
                for member in value.members or []:
                    self._lookup(value, member.key)
                    for inner in member.value.members or []:
                        self._lookup(member.value, inner.key)

    def _lookup(self, value: jsonc.Value, key: str) -> jsonc.Member | None:
        try:
            return value.member(key)
        except jsonc.DuplicateKey as exc:
            line, column = jsonc.position(self.source, exc.offset)
            raise jsonc.DocumentError(f"the key {exc.key!r} appears twice", line, column) from None

    def _containers(self, value: jsonc.Value, container: Container) -> list[jsonc.Value]:
        if not container:
            return [value] if value.members is not None else []
        head, rest = container[0], container[1:]
        if head == "*":
            return [found for member in value.members or [] for found in self._containers(member.value, rest)]
        member = self._lookup(value, head) if value.members is not None else None
        return self._containers(member.value, rest) if member is not None else []

    def _node(self, keys: Sequence[str]) -> jsonc.Value:
        value = self.document.root
        for key in keys:
            member = self._lookup(value, key)
            assert member is not None
            value = member.value
        return value

    def with_changes(self, changes: Sequence[tuple[Entry, Sequence[Change]]]) -> bytes:
        try:
            result = self._edited(changes)
        except jsonc.DuplicateKey as exc:
            line, column = jsonc.position(self.source, exc.offset)
            raise EditRefused(f"line {line}, column {column}: the key {exc.key!r} appears twice") from None
        try:
            reread = jsonc.parse(result, comments=self.comments).root.data
        except jsonc.DocumentError as exc:
            raise EditRefused(f"the edited text would not parse ({exc})") from None
        if reread != self._expected(changes):
            raise EditRefused("the edited text would not read as planned")
        return result

    def _edited(self, changes: Sequence[tuple[Entry, Sequence[Change]]]) -> bytes:
        document = jsonc.Document(self.source, self.document.root, self.document.newline)
        for entry, entry_changes in changes:
            container = self._node(entry.container)
            node = self._node((*entry.container, entry.name))
            member = self._lookup(container, entry.name)
            spelled = jsonc.string_spellings(node, self.source)
            if member is not None:
                spelled.setdefault(entry.name, member.key_text)
            for path, value in entry_changes:
                parent = node
                for depth, key in enumerate(path[:-1]):
                    member = self._lookup(parent, key)
                    if member is None or member.value.members is None:
                        if value is REMOVE:
                            break
                        nested: Any = value
                        for inner in reversed(path[depth + 1 :]):
                            nested = {inner: nested}
                        jsonc.set_member(document, parent, key, nested, after="args", spellings=spelled)
                        break
                    parent = member.value
                else:
                    if value is REMOVE:
                        jsonc.remove_member(document, parent, path[-1])
                    else:
                        jsonc.set_member(document, parent, path[-1], value, after="args", spellings=spelled)
        return jsonc.apply(document)


class TomlDocument(ConfigDocument):
    def __init__(self, source: bytes, containers: Sequence[Container]) -> None:
        self.source = source
        self.containers = containers
        try:
            text = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise jsonc.DocumentError("not UTF-8 text", *jsonc.position(source, exc.start)) from None
        try:  # the standard library's parser first: its messages name the problem and 1-based positions
            self.data = tomllib.loads(text)
            self.document = tomlkit.parse(text)
        except tomllib.TOMLDecodeError as exc:
            message, _, where = str(exc).partition(" (at ")
            if where.startswith("line "):
                line, _, column = where.removeprefix("line ").rstrip(")").partition(", column ")
                raise jsonc.DocumentError(message, int(line), int(column)) from None
            raise jsonc.DocumentError(message, *jsonc.position(source, len(source))) from None
        except tomlkit.exceptions.ParseError as exc:
            raise jsonc.DocumentError(str(exc).split(" at line ")[0], exc.line, exc.col + 1) from None
        if self.document.unwrap() != self.data:
            raise jsonc.DocumentError("two TOML parsers read this file differently", 1, 1)

    def with_changes(self, changes: Sequence[tuple[Entry, Sequence[Change]]]) -> bytes:
        document = tomlkit.parse(self.source.decode("utf-8"))
        for entry, entry_changes in changes:
            table: Any = document
            for key in (*entry.container, entry.name):
                table = table[key]
            spelled = _toml_spellings(table)
            for path, value in entry_changes:
                parent = table
                for key in path[:-1]:
                    if key not in parent:
                        if value is REMOVE:
                            break
                        parent[key] = tomlkit.inline_table()  # env = { APPROVER_HOME = "…" }, beside the rest
                    parent = parent[key]
                else:
                    if value is REMOVE:
                        parent.pop(path[-1], None)
                    else:
                        _set_toml(parent, path[-1], value, spelled)
        result = tomlkit.dumps(document).encode("utf-8")
        if b"\r\n" in self.source and self.source.count(b"\n") == self.source.count(b"\r\n"):
            # tomlkit ends the lines it adds with LF: keep a CRLF file CRLF throughout.
            result = result.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        try:
            reread = tomllib.loads(result.decode("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise EditRefused(f"the edited text would not parse ({exc})") from None
        if reread != self._expected(changes):
            raise EditRefused("the edited text would not read as planned")
        return result


def _set_toml(table: Any, key: str, value: Any, spelled: dict[str, str]) -> None:
    """Set `table[key]`, keeping what is there: an array that only gains elements in front or loses its first
    ones is edited in place (its comments and layout stay); otherwise a new value is written in the old one's
    layout (one element per line if it was) and with the file's spelling of each string ('literal' or "basic")."""
    like = table.get(key)
    if isinstance(value, list) and isinstance(like, Array) and len(like) and "\n" in like.as_string():
        kept = like.unwrap()
        added = len(value) - len(kept)
        if added > 0 and value[added:] == kept:
            for index, item in enumerate(value[:added]):
                like.insert(index, tomlkit.parse("value = " + _toml_text(item, None, spelled))["value"])
            return
        if added < 0 and value and kept[-added:] == value:
            for _ in range(-added):
                del like[0]
            return
    table[key] = tomlkit.parse("value = " + _toml_text(value, like, spelled))["value"]


def _toml_text(value: Any, like: Any, spelled: dict[str, str]) -> str:
    if not isinstance(value, list):
        if isinstance(value, str) and value in spelled:
            return spelled[value]
        return str(tomlkit.item(value).as_string())
    parts = [_toml_text(item, None, spelled) for item in value]
    if isinstance(like, Array):
        # The elements the change keeps (the server's own command and args, behind or without our wrapper) keep
        # their own spelling, element by element: one string can be written both "" and '' in the same array.
        kept = like.unwrap()
        shared = min(len(kept), len(value))
        while shared and value[len(value) - shared :] != kept[len(kept) - shared :]:
            shared -= 1
        if shared:
            originals = [item.as_string().strip() for item in list(like)[len(kept) - shared :]]
            parts[len(value) - shared :] = originals
    if isinstance(like, Array) and "\n" in like.as_string():
        lines = like.as_string().splitlines()
        indent = lines[1][: len(lines[1]) - len(lines[1].lstrip())] if len(lines) > 2 else "    "
        closing = lines[-1][: len(lines[-1]) - len(lines[-1].lstrip())]
        return "[\n" + "".join(f"{indent}{part},\n" for part in parts) + closing + "]"
    return "[" + ", ".join(parts) + "]"


def _toml_spellings(table: Any) -> dict[str, str]:
    """How the entry spells each string it holds, so a string moved into args keeps its quoting."""
    found: dict[str, str] = {}
    for item in table.values():
        for candidate in item if isinstance(item, Array) else [item]:
            if isinstance(candidate, tomlkit.items.String):
                found.setdefault(str(candidate), candidate.as_string())
    return found
