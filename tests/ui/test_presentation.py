"""The text the approval dialog shows: complete, with invisible and direction-changing characters made visible
and flagged, and look-alike hosts flagged."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from approver.core.approval import shown_digest
from approver.ui.presentation import (
    BLOCK_PREFIX,
    FlagKind,
    make_visible,
    present,
    special_characters,
    visible_json,
)
from tests.ui.conftest import approval_request

RLO = "\u202e"
ZWSP = "\u200b"


def test_every_part_of_the_request_is_in_the_shown_text() -> None:
    request = approval_request({"path": "/home/u/project/notes.md", "content": "hello"})
    presentation = present(request)
    shown = presentation.shown_text()
    assert presentation.title == "MCP Approver — Allow write_file on fs?"
    assert presentation.headline == "Claude Desktop 0.9 wants to use the tool write_file on fs"
    for expected in (
        "Client: Claude Desktop 0.9",
        "Server: fs — npx -y @modelcontextprotocol/server-filesystem /home/u/project",
        "Tool: write_file",
        "Description: Write a file",
        "Definition: NEW — the first call of this tool",
        "Rules: no rule matches this call",
        f"Risk: {request.risk.level.value} — {request.risk.impact}",
        'path: "/home/u/project/notes.md"',
        'content: "hello"',
        "If nobody answers in time: deny",
    ):
        assert expected in shown
    assert all(f"- {reason.text}" in shown for reason in request.risk.reasons)
    assert presentation.arguments_summary == "2 values, 56 bytes of JSON"


def test_the_digest_changes_with_anything_shown() -> None:
    first = present(approval_request({"path": "/tmp/a"}))
    second = present(approval_request({"path": "/tmp/b"}))
    assert shown_digest(first.shown_text()) != shown_digest(second.shown_text())
    assert shown_digest(first.shown_text()) == shown_digest(present(approval_request({"path": "/tmp/a"})).shown_text())


def test_a_bidi_override_in_a_url_is_made_visible_and_flagged() -> None:
    url = f"https://github.com/acme/releases/invoice{RLO}fdp.exe"
    presentation = present(approval_request({"url": url}, tool="fetch", server="web"))
    assert RLO not in presentation.shown_text()
    assert "invoice⟨U+202E RIGHT-TO-LEFT OVERRIDE⟩fdp.exe" in presentation.arguments_text
    [flag] = [flag for flag in presentation.flags if flag.kind is FlagKind.BIDI]
    assert flag.where == "/url"
    assert "1 direction-changing character (U+202E RIGHT-TO-LEFT OVERRIDE)" in flag.text
    [(start, end)] = presentation.argument_markers
    assert presentation.arguments_text[start:end] == "⟨U+202E RIGHT-TO-LEFT OVERRIDE⟩"
    assert "\\u202e" in presentation.raw_json


def test_invisible_characters_in_names_values_and_descriptions_are_flagged() -> None:
    request = approval_request(
        {f"co{ZWSP}mmand": ["rm", f"-rf{ZWSP}", "/"], "note": "tab\there and a\u00a0no-break space"},
        tool=f"run{ZWSP}",
        description=f"Runs things{ZWSP}",
    )
    presentation = present(request)
    where = {flag.where for flag in presentation.flags}
    assert {"the tool name", "the tool's description", "/co⟨U+200B ZERO WIDTH SPACE⟩mmand (the name)"} <= where
    assert "/co⟨U+200B ZERO WIDTH SPACE⟩mmand/1" in where
    assert "/note" in where  # the no-break space looks like a space
    assert "tab\there" in presentation.arguments_text  # tabs and newlines are layout, not hidden text
    assert ZWSP not in presentation.shown_text()
    assert "\u00a0" not in presentation.shown_text()


def test_look_alike_hosts_are_flagged_with_their_real_name() -> None:
    presentation = present(
        approval_request({"url": "https://аpple.com/login", "host": "xn--pple-43d.com"}, tool="fetch", server="web")
    )
    lookalikes = [flag for flag in presentation.flags if flag.kind is FlagKind.LOOKALIKE]
    assert [flag.where for flag in lookalikes] == ["/url", "/host"]
    assert "'а' (U+0430 CYRILLIC SMALL LETTER A)" in lookalikes[0].text
    assert "its real name is xn--pple-43d.com" in lookalikes[0].text
    assert "displays as 'аpple.com'" in lookalikes[1].text


def test_the_real_name_of_a_host_follows_idna_2008() -> None:
    presentation = present(approval_request({"url": "https://faß.de/login"}, tool="fetch", server="web"))
    [lookalike] = [flag for flag in presentation.flags if flag.kind is FlagKind.LOOKALIKE]
    assert "its real name is xn--fa-hia.de" in lookalike.text  # IDNA 2003 said fass.de, another registration
    assert "fass.de" not in presentation.shown_text()


def test_a_fifty_kilobyte_argument_is_shown_whole_with_its_size() -> None:
    lines = [f"line {number:05d} " + "x" * 90 for number in range(500)]
    lines[250] = "y" * 3000  # one line longer than a display line
    content = "\n".join(lines)
    assert len(content.encode()) > 50_000
    presentation = present(approval_request({"content": content}))
    header, *block = presentation.arguments_text.split("\n")
    assert header == f"content: text, {len(content):,} characters, 500 lines, 53.9 KB ({len(content):,} bytes)"
    assert all(line.startswith("  " + BLOCK_PREFIX) for line in block)
    shown = "".join(line.removeprefix("  " + BLOCK_PREFIX) for line in block)
    assert shown == content.replace("\n", "")
    assert max(len(line) for line in block) <= 1000 + len("  " + BLOCK_PREFIX)


def test_long_lines_are_never_split_inside_a_marker() -> None:
    content = "a" * 998 + RLO + "b" * 10
    presentation = present(approval_request({"content": content}))
    block = presentation.arguments_text.split("\n")[1:]
    assert "⟨U+202E RIGHT-TO-LEFT OVERRIDE⟩" in block[0]
    for start, end in presentation.argument_markers:
        assert presentation.arguments_text[start:end] == "⟨U+202E RIGHT-TO-LEFT OVERRIDE⟩"


def test_nested_arguments_are_outlined_with_json_pointers_in_flags() -> None:
    arguments: dict[str, Any] = {"a/b": {"list": [1, True, None, {"deep": f"x{ZWSP}"}], "empty": {}}, "none": []}
    presentation = present(approval_request(arguments))
    assert presentation.arguments_text.split("\n") == [
        "a/b:",
        "  list: list of 4",
        "    [0]: 1",
        "    [1]: true",
        "    [2]: null",
        "    [3]:",
        '      deep: "x⟨U+200B ZERO WIDTH SPACE⟩"',
        "  empty: {}",
        "none: []",
    ]
    assert [flag.where for flag in presentation.flags] == ["/a~1b/list/3/deep"]


def test_no_arguments() -> None:
    assert present(approval_request({})).arguments_text == "(no arguments)"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=4))
def test_raw_json_means_the_same_and_hides_nothing(arguments: dict[str, Any]) -> None:
    text = visible_json(arguments)
    assert json.loads(text) == arguments
    assert not list(special_characters(text))


@given(st.text())
def test_made_visible_text_has_no_special_characters_and_every_marker_is_one(text: str) -> None:
    visible = make_visible(text)
    assert not list(special_characters(visible.text))
    for start, end in visible.markers:
        assert visible.text[start] == "⟨" and visible.text[end - 1] == "⟩"
    assert sum(
        visible.found.get(kind, {}).get(label, 0) for kind in FlagKind for label in visible.found.get(kind, {})
    ) == len(visible.markers)
