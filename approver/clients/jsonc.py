"""JSON and JSONC documents as values that know where they are in the file, and byte-exact edits to them.

Pure: bytes in, values and edits out. tree-sitter's JSON grammar (comments included) gives every value's byte
span; we build our own small tree from it and refuse anything the grammar only recovered from, except the
trailing commas JSONC allows. Each string and number is decoded with `json` itself, so what we read is what a
client's JSON parser reads. Edits replace whole value spans; everything between them stays as it was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import tree_sitter_json
from tree_sitter import Language, Node, Parser

_LANGUAGE = Language(tree_sitter_json.language())


class DocumentError(ValueError):
    """The file is not a document we can safely edit; the message names line and column (1-based)."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"line {line}, column {column}: {message}")
        self.line = line
        self.column = column


@dataclass
class Member:
    key: str
    start: int  # the key's opening quote
    value: Value


@dataclass
class Value:
    start: int
    end: int
    data: Any  # the decoded JSON value
    members: list[Member] | None = None  # objects: in file order
    items: list[Value] | None = None  # arrays

    def member(self, key: str) -> Member | None:
        """The member named `key`; a key written twice is refused, since parsers disagree on which one counts."""
        found = [member for member in self.members or [] if member.key == key]
        if len(found) > 1:
            raise DuplicateKey(key, found[1].start)
        return found[0] if found else None


class DuplicateKey(ValueError):
    def __init__(self, key: str, offset: int) -> None:
        super().__init__(key)
        self.key = key
        self.offset = offset


@dataclass
class Edit:
    start: int
    end: int
    text: bytes


@dataclass
class Document:
    source: bytes
    root: Value
    newline: bytes = b"\n"
    edits: list[Edit] = field(default_factory=list)


def _position(source: bytes, offset: int) -> tuple[int, int]:
    line = source.count(b"\n", 0, offset) + 1
    return line, offset - (source.rfind(b"\n", 0, offset) + 1) + 1


def parse(source: bytes, *, comments: bool = True) -> Document:
    """Parse JSON (or JSONC: // and /* */ comments, trailing commas) into spans and values."""
    try:
        source.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError("not UTF-8 text", *_position(source, exc.start)) from None
    tree = Parser(_LANGUAGE).parse(source)
    values = [child for child in tree.root_node.named_children if child.type != "comment"]
    extras = [child for child in tree.root_node.children if child.type == "comment"]
    if extras and not comments:
        raise DocumentError(
            "a comment, which this file's JSON does not allow", *_position(source, extras[0].start_byte)
        )
    if len(values) != 1:
        offset = values[1].start_byte if len(values) > 1 else len(source)
        raise DocumentError("expected exactly one JSON value", *_position(source, offset))
    return Document(source, _build(source, values[0], comments), b"\r\n" if b"\r\n" in source else b"\n")


def _fail(source: bytes, node: Node, message: str) -> DocumentError:
    return DocumentError(message, *_position(source, node.start_byte))


def _is_trailing_comma(node: Node) -> bool:
    """tree-sitter reads `[1, 2,]` and `{"a": 1,}` as an error holding one comma before the closing bracket."""
    if node.is_missing:
        return node.prev_sibling is not None and node.prev_sibling.type == "," and node.next_sibling is not None
    return (
        node.type == "ERROR"
        and [child.type for child in node.children] == [","]
        and node.next_sibling is not None
        and node.next_sibling.type in ("}", "]")
    )


def _build(source: bytes, node: Node, comments: bool) -> Value:
    text = source[node.start_byte : node.end_byte]
    if node.is_missing or node.type == "ERROR":
        raise _fail(source, node, "not valid JSON here")
    if node.type in ("object", "array"):
        members: list[Member] = []
        items: list[Value] = []
        for child in node.children:
            if child.type in ("{", "}", "[", "]", ","):
                continue
            if child.type == "comment":
                if not comments:
                    raise _fail(source, child, "a comment, which this file's JSON does not allow")
                continue
            if _is_trailing_comma(child):
                if not comments:
                    raise _fail(source, child, "a trailing comma, which this file's JSON does not allow")
                continue
            if node.type == "array":
                items.append(_build(source, child, comments))
                continue
            if child.type != "pair":
                raise _fail(source, child, 'expected a "key": value pair')
            key_node, value_node = child.child_by_field_name("key"), child.child_by_field_name("value")
            if key_node is None or value_node is None or key_node.type != "string":
                raise _fail(source, child, 'expected a "key": value pair')
            key = _build(source, key_node, comments).data
            members.append(Member(key, key_node.start_byte, _build(source, value_node, comments)))
        if node.type == "array":
            return Value(node.start_byte, node.end_byte, [item.data for item in items], items=items)
        data = {member.key: member.value.data for member in members}
        return Value(node.start_byte, node.end_byte, data, members=members)
    if node.has_error:
        raise _fail(source, node, "not valid JSON here")
    try:
        data = json.loads(text)
    except ValueError:
        raise _fail(source, node, "not a valid JSON value") from None
    return Value(node.start_byte, node.end_byte, data)


def render(value: Any, *, like: Value | None, source: bytes, newline: bytes) -> bytes:
    """`value` as JSON text to stand where `like` stands, in its layout: an array or object written across lines
    keeps one element per line at the same indentation; one written on a single line stays on one line."""
    if like is not None and isinstance(value, list | dict):
        original = source[like.start : like.end]
        children = [member.start for member in like.members or []] or [item.start for item in like.items or []]
        if b"\n" in original and children:
            indent = _indent_at(source, children[0])
            closing = _indent_at(source, like.end - 1)
            return _multiline(value, indent, closing, newline)
        if b"\n" in original and not children:
            closing = _indent_at(source, like.end - 1)
            return _multiline(value, closing + b"  ", closing, newline)
    return json.dumps(value, ensure_ascii=False).encode()


def _multiline(value: list[Any] | dict[str, Any], indent: bytes, closing: bytes, newline: bytes) -> bytes:
    if not value:
        return b"[]" if isinstance(value, list) else b"{}"
    if isinstance(value, list):
        parts = [json.dumps(item, ensure_ascii=False).encode() for item in value]
        opening, ending = b"[", b"]"
    else:
        parts = [
            json.dumps(key, ensure_ascii=False).encode() + b": " + json.dumps(item, ensure_ascii=False).encode()
            for key, item in value.items()
        ]
        opening, ending = b"{", b"}"
    body = (b"," + newline).join(indent + part for part in parts)
    return opening + newline + body + newline + closing + ending


def _indent_at(source: bytes, offset: int) -> bytes:
    """The whitespace that starts the line holding `offset`, if only whitespace precedes it there."""
    line_start = source.rfind(b"\n", 0, offset) + 1
    prefix = source[line_start:offset]
    return prefix if not prefix.strip() else b""


def set_member(document: Document, target: Value, key: str, value: Any, *, after: str | None = None) -> None:
    """Plan setting `target[key]` to `value`: replace the existing value's span, or add a member after the member
    named `after` (else after the last one), on its own line when the members are on their own lines."""
    existing = target.member(key)
    if existing is not None:
        rendered = render(value, like=existing.value, source=document.source, newline=document.newline)
        if document.source[existing.value.start : existing.value.end] != rendered:
            document.edits.append(Edit(existing.value.start, existing.value.end, rendered))
        return
    members = target.members or []
    anchor = next((member for member in members if member.key == after), members[-1] if members else None)
    pair = (
        json.dumps(key, ensure_ascii=False).encode()
        + b": "
        + render(value, like=None, source=document.source, newline=document.newline)
    )
    if anchor is None:
        document.edits.append(Edit(target.start + 1, target.end - 1, pair))
        return
    indent = _indent_at(document.source, anchor.start)
    own_line = bool(indent) or document.source[: anchor.start].endswith((b"\n", b"\r"))
    separator = b"," + (document.newline + indent if own_line else b" ")
    document.edits.append(Edit(anchor.value.end, anchor.value.end, separator + pair))


def remove_member(document: Document, target: Value, key: str) -> None:
    """Plan removing `target[key]` with the separator that joined it to its neighbours."""
    members = target.members or []
    index = next((i for i, member in enumerate(members) if member.key == key), None)
    if index is None:
        return
    member = members[index]
    if index > 0:
        start = members[index - 1].value.end  # from the comma after the previous value
        end = member.value.end
    elif len(members) > 1:
        start = member.start
        end = members[1].start  # through the comma and the space before the next member
    else:
        start, end = target.start + 1, target.end - 1
        inner = document.source[start:end]
        if b"//" in inner or b"/*" in inner:
            start, end = member.start, member.value.end  # keep comments that share the object
    document.edits.append(Edit(start, end, b""))


def apply(document: Document) -> bytes:
    """The source with every planned edit made; edits never overlap (each touches its own value)."""
    result = document.source
    # From the end backwards, so earlier offsets stay valid; two insertions at one offset land in planned order.
    for _, edit in sorted(enumerate(document.edits), key=lambda pair: (pair[1].start, pair[0]), reverse=True):
        result = result[: edit.start] + edit.text + result[edit.end :]
    return result
