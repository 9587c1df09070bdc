"""What the approval dialog shows, as plain text built from an ApprovalRequest without Qt.

The dialog renders exactly these strings, so the text a person saw can be hashed into the log (`shown_text`,
`shown_digest`) and everything here is tested without a display.

Everything the model, the client or the server wrote (names, descriptions, arguments) is made visible before it is
shown: invisible and direction-changing characters become markers such as ⟨U+202E RIGHT-TO-LEFT OVERRIDE⟩, and each
finding is listed as a flag naming where it was, as are host names written with non-ASCII (look-alike) letters.
Nothing is truncated: a 50 KB argument is shown whole (the dialog scrolls), with its size.
"""

from __future__ import annotations

import bisect
import json
import re
import shlex
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from approver.core.approval import ApprovalRequest
from approver.core.hosts import HostError, idn_forms
from approver.core.models import Decision
from approver.core.risk import RiskLevel

BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Characters that change the display order of the text around them (the 'Trojan Source' characters)."""

# Printable by Python's definition yet invisible or blank: combining grapheme joiner, Hangul fillers, Mongolian
# vowel separator, variation selectors. Everything else invisible is caught by str.isprintable().
_BLANK_PRINTABLES = re.compile("[\u034f\u115f\u1160\u3164\uffa0\u180e\ufe00-\ufe0f\U000e0100-\U000e01ef]")
_ALLOWED_WHITESPACE = str.maketrans({"\n": " ", "\t": " "})
_SCAN_CHUNK = 4096  # clean text is checked a chunk at a time in C; only chunks with findings are walked in Python
BLOCK_LINE_LIMIT = 1000  # longer lines of a long text are split for display (all of it is still shown)
INLINE_LIMIT = 100  # single-line texts up to this length are shown on their key's line
INDENT = "  "
BLOCK_PREFIX = "│ "

_CONTROL_NAMES = {
    0x00: "NULL",
    0x07: "BELL",
    0x08: "BACKSPACE",
    0x0B: "LINE TABULATION",
    0x0C: "FORM FEED",
    0x0D: "CARRIAGE RETURN",
    0x1B: "ESCAPE",
    0x7F: "DELETE",
}


class FlagKind(StrEnum):
    INVISIBLE = "invisible"
    BIDI = "bidi"
    LOOKALIKE = "lookalike"


@dataclass(frozen=True, slots=True)
class Flag:
    kind: FlagKind
    where: str  # a JSON pointer into the arguments ("/url"), or what was flagged ("the tool name")
    text: str  # one sentence for the person deciding

    def line(self) -> str:
        return f"{self.where}: {self.text}"


def character_label(character: str) -> str:
    """U+202E RIGHT-TO-LEFT OVERRIDE: the code point and its Unicode name, for markers and flags."""
    code = ord(character)
    name = unicodedata.name(character, "") or _CONTROL_NAMES.get(code, "")
    if not name:
        category = unicodedata.category(character)
        name = {"Cc": "CONTROL CHARACTER", "Co": "PRIVATE USE CHARACTER", "Cs": "SURROGATE"}.get(
            category, "UNASSIGNED CHARACTER"
        )
    return f"U+{code:04X} {name}"


def special_kind(character: str) -> FlagKind | None:
    """BIDI for direction controls, INVISIBLE for anything else a person cannot see or tell from a space."""
    if character in BIDI_CONTROLS:
        return FlagKind.BIDI
    if character in "\n\t" or (character.isprintable() and not _BLANK_PRINTABLES.match(character)):
        return None
    return FlagKind.INVISIBLE


def _is_plain(chunk: str) -> bool:
    return chunk.translate(_ALLOWED_WHITESPACE).isprintable() and not _BLANK_PRINTABLES.search(chunk)


def special_characters(text: str) -> Iterator[tuple[int, str, FlagKind]]:
    """(index, character, kind) of every character `make_visible` replaces, in order."""
    for start in range(0, len(text), _SCAN_CHUNK):
        chunk = text[start : start + _SCAN_CHUNK]
        if _is_plain(chunk):
            continue
        for offset, character in enumerate(chunk):
            kind = special_kind(character)
            if kind is not None:
                yield start + offset, character, kind


def marker(character: str) -> str:
    return f"⟨{character_label(character)}⟩"


@dataclass(frozen=True, slots=True)
class Visible:
    text: str  # with every special character replaced by its marker
    markers: tuple[tuple[int, int], ...]  # (start, end) of each marker in `text`
    found: dict[FlagKind, dict[str, int]]  # kind -> character label -> count


def make_visible(text: str) -> Visible:
    pieces: list[str] = []
    markers: list[tuple[int, int]] = []
    found: dict[FlagKind, dict[str, int]] = {}
    position = 0
    length = 0
    for index, character, kind in special_characters(text):
        before = text[position:index]
        pieces.append(before)
        length += len(before)
        shown = marker(character)
        pieces.append(shown)
        markers.append((length, length + len(shown)))
        length += len(shown)
        position = index + 1
        labels = found.setdefault(kind, {})
        label = character_label(character)
        labels[label] = labels.get(label, 0) + 1
    if not markers:
        return Visible(text, (), {})
    pieces.append(text[position:])
    return Visible("".join(pieces), tuple(markers), found)


def visible_json(value: Any) -> str:
    """Indented JSON with the same meaning as `value`, special characters written as \\u escapes (copyable)."""
    text = json.dumps(value, indent=2, ensure_ascii=False)
    pieces: list[str] = []
    position = 0
    for index, character, _kind in special_characters(text):
        pieces.append(text[position:index])
        pieces.append(json.dumps(character, ensure_ascii=True)[1:-1])  # \u escapes, surrogate pairs when astral
        position = index + 1
    if not pieces:
        return text
    pieces.append(text[position:])
    return "".join(pieces)


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count:,} {singular if count == 1 else plural or singular + 's'}"


def size_text(byte_count: int) -> str:
    if byte_count < 1000:
        return _plural(byte_count, "byte")
    return f"{byte_count / 1000:,.1f} KB ({byte_count:,} bytes)"


def _special_flags(where: str, visible: Visible) -> list[Flag]:
    flags: list[Flag] = []
    for kind, labels in visible.found.items():
        count = sum(labels.values())
        names = ", ".join(labels)
        if kind is FlagKind.BIDI:
            what = _plural(count, "direction-changing character")
            why = "text around it can display in a different order than the program reads it"
        else:
            what = _plural(count, "invisible or blank-looking character")
            why = "it can hide text or make text look like something it is not"
        flags.append(Flag(kind, where, f"{what} ({names}): {why}."))
    return flags


# --- look-alike hosts ------------------------------------------------------------------------------------------

_URL_HOST = re.compile(r"(?i)(?<![a-z0-9+.\-])[a-z][a-z0-9+.\-]*:/{2,}(?:[^@/\s?#\\]*@)?(\[[^\]\s]*\]|[^/\s?#:\\@]+)")
_HOST_KEYS = frozenset({"host", "hostname", "domain", "server", "endpoint"})


def _hosts_in(text: str, key: str | None) -> list[str]:
    hosts = [match.group(1) for match in _URL_HOST.finditer(text)]
    if key is not None and key.lower() in _HOST_KEYS and text and not any(c.isspace() for c in text):
        hosts.append(text.split(":", 1)[0])
    return hosts


def _ascii_form(host: str) -> str | None:
    """The name DNS is asked for (IDNA 2008 / UTS 46, as browsers do); None when it is not a valid name."""
    try:
        return idn_forms(host, host.rstrip(".").split("."))[1]
    except HostError:
        return None


def _unicode_form(host: str) -> str | None:
    try:
        return idn_forms(host, host.split("."))[0]
    except HostError:
        return None


def lookalike_flags(where: str, text: str, key: str | None = None) -> list[Flag]:
    """A host written with non-ASCII letters (or its punycode form) can imitate a familiar site."""
    flags: list[Flag] = []
    for host in dict.fromkeys(_hosts_in(text, key)):
        if not host.isascii():
            letters = ", ".join(
                f"'{make_visible(c).text}' ({character_label(c)})" for c in dict.fromkeys(host) if not c.isascii()
            )
            real = _ascii_form(host)
            really = f"; its real name is {real}" if real else "; it is not a valid host name"
            flags.append(
                Flag(
                    FlagKind.LOOKALIKE,
                    where,
                    f"the host '{make_visible(host).text}' uses non-ASCII letters that can look like others: "
                    f"{letters}{really}.",
                )
            )
        elif "xn--" in host.lower():
            shown = _unicode_form(host)
            if shown is not None and shown != host:
                flags.append(
                    Flag(
                        FlagKind.LOOKALIKE,
                        where,
                        f"the host '{host}' is an encoded international name that displays as "
                        f"'{make_visible(shown).text}'.",
                    )
                )
    return flags


# --- the arguments as an outline -------------------------------------------------------------------------------


def _pointer_segment(name: str | int) -> str:
    return str(name) if isinstance(name, int) else name.replace("~", "~0").replace("/", "~1")


class _Outline:
    """Builds the outline text of the arguments, with marker spans and flags, without recursion."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.length = 0
        self.markers: list[tuple[int, int]] = []
        self.flags: list[Flag] = []
        self.values = 0

    def _add(self, *pieces: str | Visible) -> None:
        """One line from plain pieces and made-visible pieces (whose markers are recorded)."""
        line = ""
        for piece in pieces:
            if isinstance(piece, Visible):
                start = self.length + len(line)
                self.markers.extend((start + a, start + b) for a, b in piece.markers)
                line += piece.text
            else:
                line += piece
        self.lines.append(line)
        self.length += len(line) + 1

    def build(self, arguments: dict[str, Any]) -> None:
        if not arguments:
            self._add("(no arguments)")
            return
        stack: list[tuple[int, str | int, Any, str]] = [
            (0, name, value, "/" + _pointer_segment(name)) for name, value in reversed(arguments.items())
        ]
        while stack:
            depth, name, value, pointer = stack.pop()
            indent = INDENT * depth
            where = make_visible(pointer).text
            if isinstance(name, int):
                label = Visible(f"[{name}]", (), {})
            else:
                label = make_visible(name)
                self.flags.extend(_special_flags(f"{where} (the name)", label))
            children: list[tuple[str | int, Any]] | None = None
            if isinstance(value, dict):
                children = list(value.items())
                self._add(indent, label, ": {}" if not children else ":")
            elif isinstance(value, list):
                children = list(enumerate(value))
                self._add(indent, label, ": []" if not children else f": list of {len(children):,}")
            elif isinstance(value, str):
                self.values += 1
                self._text(indent, label, value, where, name if isinstance(name, str) else None)
            else:
                self.values += 1
                self._add(indent, label, ": " + json.dumps(value))
            if children:
                stack.extend(
                    (depth + 1, child_name, child, f"{pointer}/{_pointer_segment(child_name)}")
                    for child_name, child in reversed(children)
                )

    def _text(self, indent: str, label: Visible, value: str, where: str, key: str | None) -> None:
        visible = make_visible(value)
        self.flags.extend(_special_flags(where, visible))
        self.flags.extend(lookalike_flags(where, value, key))
        lines = visible.text.split("\n")
        if len(lines) == 1 and len(visible.text) <= INLINE_LIMIT:
            self._add(indent, label, ': "', visible, '"')
            return
        size = len(value.encode("utf-8", "surrogatepass"))
        self._add(
            indent,
            label,
            f": text, {_plural(len(value), 'character')}, {_plural(len(lines), 'line')}, {size_text(size)}",
        )
        block_indent = indent + INDENT + BLOCK_PREFIX
        for piece in _display_lines(visible):
            self._add(block_indent, piece)


def _display_lines(visible: Visible) -> Iterator[Visible]:
    """The text's lines, long ones split every BLOCK_LINE_LIMIT characters but never inside a marker."""
    text, markers = visible.text, visible.markers
    starts = [a for a, _ in markers]
    position = 0
    while position <= len(text):
        newline = text.find("\n", position)
        line_end = len(text) if newline < 0 else newline
        while True:
            cut = min(position + BLOCK_LINE_LIMIT, line_end)
            inside = bisect.bisect_right(starts, cut - 1) - 1  # the last marker starting before the cut
            if inside >= 0 and markers[inside][0] < cut < markers[inside][1]:
                cut = markers[inside][1]
            first = bisect.bisect_left(starts, position)
            last = bisect.bisect_left(starts, cut)
            spans = tuple((a - position, b - position) for a, b in markers[first:last])
            yield Visible(text[position:cut], spans, {})
            position = cut
            if position >= line_end:
                break
        position = line_end + 1


@dataclass(frozen=True, slots=True)
class Presentation:
    """Everything the dialog shows for one request, as made-visible plain text."""

    title: str
    headline: str
    scope: tuple[tuple[str, str], ...]  # (label, value) rows
    tool_status: str
    risk_level: RiskLevel
    impact: str
    reasons: tuple[str, ...]
    flags: tuple[Flag, ...]
    arguments_summary: str
    arguments_text: str
    argument_markers: tuple[tuple[int, int], ...]  # spans of markers in arguments_text, to highlight
    raw_json: str
    deadline_action: Decision
    # The tool was redefined since it was accepted: (field, unified diff) per changed field, made visible.
    definition_changes: tuple[tuple[str, str], ...] = ()

    def shown_text(self) -> str:
        """All the text the dialog shows (the countdown aside): what shown_digest is computed over."""
        parts = [self.title, self.headline]
        parts += [f"{label}: {value}" for label, value in self.scope]
        parts.append(f"Risk: {self.risk_level.value} — {self.impact}")
        parts += [f"- {reason}" for reason in self.reasons]
        parts += [f"Warning: {flag.line()}" for flag in self.flags]
        if self.definition_changes:
            parts.append(DEFINITION_CHANGED_HEADING)
            parts += [f"{field}:\n{diff}" for field, diff in self.definition_changes]
        parts.append(f"Parameters: {self.arguments_summary}")
        parts.append(self.arguments_text)
        parts.append(f"If nobody answers in time: {self.deadline_action.value}")
        return "\n".join(parts)


DEFINITION_CHANGED_HEADING = (
    "What changed in the tool's definition since it was accepted (allowing accepts the new definition):"
)

_STATUS_TEXT = {
    "known": "known — unchanged since it was accepted",
    "new": "NEW — the first call of this tool",
    "changed": "CHANGED since it was accepted — no rule or grant allows it until you accept the new definition",
    "undescribed": "unknown — the server never described this tool (no tools/list)",
}


# How the headline words a request that is not a tool call (gated by a `method` rule, or allowed by default).
_METHOD_VERBS = {
    "resources/read": "read the resource",
    "prompts/get": "get the prompt",
    "completion/complete": "get completions for",
}


def present(request: ApprovalRequest) -> Presentation:
    call = request.call
    flags: list[Flag] = []

    def shown(where: str, text: str) -> str:
        visible = make_visible(text)
        flags.extend(_special_flags(where, visible))
        return visible.text

    client = shown("the client's name", call.client.name)
    if call.client.version:
        client += " " + shown("the client's version", call.client.version)
    server = shown("the server's name", call.server)
    tool = shown("the tool name", call.tool)
    command = shown("the server's command", shlex.join(call.server_command)) if call.server_command else ""
    description = (
        shown("the tool's description", call.tool_info.description)
        if call.tool_info is not None and call.tool_info.description
        else "(the server gave no description)"
    )
    change = request.definition_change
    definition_changes = tuple(
        (field.field, shown(f"the change to the tool's {field.field}", field.diff))
        for field in (change.fields if change is not None else ())
    )
    outline = _Outline()
    outline.build(call.arguments)
    flags.extend(outline.flags)
    size = len(json.dumps(call.arguments, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    scope = (
        ("Client", client),
        ("Server", f"{server} — {command}" if command else server),
        ("Tool", tool),
        ("Description", description),
        ("Definition", _STATUS_TEXT.get(request.tool_status, request.tool_status)),
        ("Rules", shown("what the rules said", request.rule_said)),  # quotes rule ids and notes: untrusted
    )
    return Presentation(
        title=f"MCP Approver — Allow {tool} on {server}?",
        headline=f"{client} wants to {_METHOD_VERBS.get(call.method, 'use the tool')} {tool} on {server}",
        scope=scope,
        tool_status=request.tool_status,
        risk_level=request.risk.level,
        impact=request.risk.impact,
        reasons=tuple(reason.text for reason in request.risk.reasons),
        flags=tuple(flags),
        arguments_summary=f"{_plural(outline.values, 'value')}, {size_text(size)} of JSON",
        arguments_text="\n".join(outline.lines),
        argument_markers=tuple(outline.markers),
        raw_json=visible_json(call.arguments),
        deadline_action=request.deadline_action,
        definition_changes=definition_changes,
    )
