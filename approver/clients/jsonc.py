"""JSON and JSONC documents as values that know where they are in the file, and byte-exact edits to them.

Pure: bytes in, values and edits out. tree-sitter's JSON grammar (comments included) gives every value's byte
span; we build our own small tree from it and refuse anything the grammar only recovered from, except the
trailing commas JSONC allows. Each string and number is decoded with `json` itself, so what we read is what a
client's JSON parser reads. Edits replace whole value spans; everything between them stays as it was.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

import tree_sitter_json
from tree_sitter import Language, Node, Parser, Query, QueryCursor

_LANGUAGE = Language(tree_sitter_json.language())


class DocumentError(ValueError):
    """The file is not a document we can safely edit; the message names line and column (1-based)."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"line {line}, column {column}: {message}")
        self.reason = message
        self.line = line
        self.column = column


@dataclass
class Member:
    key: str
    start: int  # the key's opening quote
    value: Value
    key_text: bytes = b""  # the key as spelled in the file


class Value:
    """One JSON value of a parsed document: its byte span, and (built when first asked for, since a client's file
    can hold megabytes we never look at) its decoded data, its members or its items."""

    def __init__(self, node: Node, parsed: _Parsed) -> None:
        self._node = node
        self._parsed = parsed
        self.start = node.start_byte
        self.end = node.end_byte

    @functools.cached_property
    def data(self) -> Any:
        return self._parsed.decode(self.start, self.end)

    @functools.cached_property
    def members(self) -> list[Member] | None:
        """An object's members in file order; None for anything else."""
        if self._node.type != "object":
            return None
        found = []
        for pair in self._node.named_children:
            if pair.type != "pair":
                continue  # comments; recovered trailing commas were checked when the document was parsed
            key, value = pair.child_by_field_name("key"), pair.child_by_field_name("value")
            if key is None or value is None or key.type != "string":
                raise self._parsed.fail(pair, 'expected a "key": value pair')
            key_text = self._parsed.source[key.start_byte : key.end_byte]
            found.append(Member(self._parsed.decode(key.start_byte, key.end_byte), key.start_byte,
                                Value(value, self._parsed), key_text))  # fmt: skip
        return found

    @functools.cached_property
    def items(self) -> list[Value] | None:
        """An array's elements; None for anything else."""
        if self._node.type != "array":
            return None
        return [
            Value(child, self._parsed)
            for child in self._node.named_children
            if child.type != "comment" and not child.is_missing and child.type != "ERROR"
        ]

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


def position(source: bytes, offset: int) -> tuple[int, int]:
    line = source.count(b"\n", 0, offset) + 1
    return line, offset - (source.rfind(b"\n", 0, offset) + 1) + 1


@dataclass
class _Parsed:
    """The source, and the same bytes with comments and JSONC's trailing commas blanked out (spaces, line breaks
    kept): plain JSON at the same offsets, which `json` decodes as any client's JSON parser would."""

    source: bytes
    plain: bytes

    def fail(self, node: Node, message: str) -> DocumentError:
        return DocumentError(message, *position(self.source, node.start_byte))

    def decode(self, start: int, end: int) -> Any:
        try:
            return json.loads(self.plain[start:end])
        except json.JSONDecodeError as exc:
            raise DocumentError(exc.msg, *position(self.source, start + exc.pos)) from None


_COMMENTS = Query(_LANGUAGE, "(comment) @comment")


def parse(source: bytes, *, comments: bool = True) -> Document:
    """Parse JSON (or JSONC: // and /* */ comments, trailing commas) into spans and values."""
    try:
        source.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError("not UTF-8 text", *position(source, exc.start)) from None
    tree = Parser(_LANGUAGE).parse(source)
    values = [child for child in tree.root_node.named_children if child.type != "comment"]
    if len(values) != 1:
        offset = values[1].start_byte if len(values) > 1 else len(source)
        raise DocumentError("expected exactly one JSON value", *position(source, offset))
    blanks: list[tuple[int, int]] = []
    _check_recoveries(source, tree.root_node, comments, blanks)
    found = QueryCursor(_COMMENTS).captures(tree.root_node).get("comment", [])
    if found and not comments:
        first = min(found, key=lambda node: node.start_byte)
        raise _fail(source, first, "a comment, which this file's JSON does not allow")
    plain = bytearray(source)
    for start, end in [*blanks, *((node.start_byte, node.end_byte) for node in found)]:
        plain[start:end] = bytes(byte if byte == 0x0A else 0x20 for byte in source[start:end])  # LF stays LF
    parsed = _Parsed(source, bytes(plain))
    root = Value(values[0], parsed)
    root.data  # noqa: B018  (decodes the whole document now: a file that does not decode is refused here)
    return Document(source, root, b"\r\n" if b"\r\n" in source else b"\n")


def _check_recoveries(source: bytes, node: Node, comments: bool, blanks: list[tuple[int, int]]) -> None:
    """Refuse every place the grammar had to recover (a missing bracket, a stray token), but a trailing comma
    in JSONC, whose span goes into `blanks`."""
    if node.is_missing or node.type == "ERROR":
        if not _is_trailing_comma(node):
            missing = f"a missing {node.type!r}" if node.is_missing else "not valid JSON here"
            raise _fail(source, node, missing)
        if not comments:
            raise _fail(source, node, "a trailing comma, which this file's JSON does not allow")
        comma = node.prev_sibling if node.is_missing else node
        assert comma is not None
        blanks.append((comma.start_byte, comma.end_byte))
        return
    if node.has_error:
        for child in node.children:
            _check_recoveries(source, child, comments, blanks)


def _fail(source: bytes, node: Node, message: str) -> DocumentError:
    return DocumentError(message, *position(source, node.start_byte))


def _next_token(node: Node) -> Node | None:
    following = node.next_sibling
    while following is not None and following.type == "comment":
        following = following.next_sibling
    return following


def _is_trailing_comma(node: Node) -> bool:
    """tree-sitter reads `[1, 2,]` and `{"a": 1,}` as an error holding one comma (or a missing value after a
    comma) before the closing bracket, comments aside."""
    following = _next_token(node)
    if following is None or following.type not in ("}", "]"):
        return False
    if node.is_missing:
        return node.prev_sibling is not None and node.prev_sibling.type == ","
    return node.type == "ERROR" and [child.type for child in node.children] == [","]


def render(
    value: Any, *, like: Value | None, source: bytes, newline: bytes, spellings: dict[str, bytes] | None = None
) -> bytes:
    """`value` as JSON text to stand where `like` stands, in its layout: the same text between the brackets and
    the elements (one per line, or all on one; compact or spaced; a trailing comma), and each string spelled as
    the file already spells it (`spellings`: escapes such as \\u00e9 stay escapes)."""
    spelled = spellings or {}

    def scalar(item: Any) -> bytes:
        if isinstance(item, str) and item in spelled:
            return spelled[item]
        return json.dumps(item, ensure_ascii=False).encode()

    if not isinstance(value, list | dict):
        return scalar(value)
    if isinstance(value, list):
        parts = [scalar(item) for item in value]
        opening, ending = b"[", b"]"
    else:
        parts = [scalar(key) + b": " + scalar(item) for key, item in value.items()]
        opening, ending = b"{", b"}"
    if not parts:
        return opening + ending
    prefix, separator, suffix = _layout(like, source, newline) if like is not None else (b"", b", ", b"")
    return opening + prefix + separator.join(parts) + suffix + ending


def _layout(like: Value, source: bytes, newline: bytes) -> tuple[bytes, bytes, bytes]:
    """What stands between the brackets and the elements of `like`, and between two elements."""
    spans = [(member.start, member.value.end) for member in like.members or []] or [
        (item.start, item.end) for item in like.items or []
    ]
    inner = source[like.start + 1 : like.end - 1]
    if not spans:
        if b"\n" not in inner:
            return b"", b", ", b""
        closing = _indent_at(source, like.end - 1)
        return newline + closing + b"  ", b"," + newline + closing + b"  ", newline + closing
    prefix = source[like.start + 1 : spans[0][0]]
    suffix = source[spans[-1][1] : like.end - 1]
    single = b"," + prefix if b"\n" in prefix else b", "
    separator = source[spans[0][1] : spans[1][0]] if len(spans) > 1 else single
    if any(b"/" in part for part in (prefix, separator, suffix)):  # a comment there: lay it out afresh
        if b"\n" not in inner:
            return b"", b", ", b""
        indent = _indent_at(source, spans[0][0])
        return newline + indent, b"," + newline + indent, newline + _indent_at(source, like.end - 1)
    return prefix, separator, suffix


def _indent_at(source: bytes, offset: int) -> bytes:
    """The whitespace that starts the line holding `offset`, if only whitespace precedes it there."""
    line_start = source.rfind(b"\n", 0, offset) + 1
    prefix = source[line_start:offset]
    return prefix if not prefix.strip() else b""


def set_member(
    document: Document,
    target: Value,
    key: str,
    value: Any,
    *,
    after: str | None = None,
    spellings: dict[str, bytes] | None = None,
) -> None:
    """Plan setting `target[key]` to `value`: replace the existing value's span, or add a member after the member
    named `after` (else after the last one), on its own line when the members are on their own lines."""
    existing = target.member(key)
    if existing is not None and _edit_array_ends(document, existing.value, value, spellings or {}):
        return
    if existing is not None:
        rendered = render(
            value, like=existing.value, source=document.source, newline=document.newline, spellings=spellings
        )
        if document.source[existing.value.start : existing.value.end] != rendered:
            document.edits.append(Edit(existing.value.start, existing.value.end, rendered))
        return
    members = target.members or []
    anchor = next((member for member in members if member.key == after), members[-1] if members else None)
    pair = (
        json.dumps(key, ensure_ascii=False).encode()
        + b": "
        + render(value, like=None, source=document.source, newline=document.newline, spellings=spellings)
    )
    if anchor is None:
        document.edits.append(Edit(target.start + 1, target.end - 1, pair))
        return
    indent = _indent_at(document.source, anchor.start)
    own_line = bool(indent) or document.source[: anchor.start].endswith((b"\n", b"\r"))
    separator = b"," + (document.newline + indent if own_line else b" ")
    document.edits.append(Edit(anchor.value.end, anchor.value.end, separator + pair))


def _edit_array_ends(document: Document, array: Value, value: Any, spelled: dict[str, bytes]) -> bool:
    """An array that only gains elements in front (wrapping args) or only loses its first ones (unwrapping) is
    edited there alone, so every element it keeps, and every comment between them, stays as written."""
    items = array.items
    if not items or not isinstance(value, list) or len(value) == len(items):
        return False
    kept = array.data
    if len(value) > len(kept) and value[len(value) - len(kept) :] == kept:
        added = value[: len(value) - len(kept)]
        _, separator, _ = _layout(array, document.source, document.newline)
        text = separator.join(spelled.get(item) or json.dumps(item, ensure_ascii=False).encode() for item in added)
        document.edits.append(Edit(items[0].start, items[0].start, text + separator))
        return True
    if value and len(value) < len(kept) and kept[len(kept) - len(value) :] == value:
        document.edits.append(Edit(items[0].start, items[len(kept) - len(value)].start, b""))
        return True
    return False


def string_spellings(value: Value, source: bytes) -> dict[str, bytes]:
    """How the file spells each string in `value` (keys included), so rewriting a string keeps its escapes."""
    found: dict[str, bytes] = {}
    if isinstance(value.data, str):
        found.setdefault(value.data, source[value.start : value.end])
    for member in value.members or []:
        found.setdefault(member.key, member.key_text)
        for text, spelling in string_spellings(member.value, source).items():
            found.setdefault(text, spelling)
    for item in value.items or []:
        for text, spelling in string_spellings(item, source).items():
            found.setdefault(text, spelling)
    return found


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
