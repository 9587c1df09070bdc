"""Locating and editing server entries in JSON, JSONC and TOML without touching anything else."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from approver.clients import documents, jsonc
from approver.clients.entries import REMOVE, Launcher, State, classify, unwrap_changes, wrap_changes

LAUNCHER = Launcher("/opt/approver/bin/approver")


def test_jsonc_comments_and_trailing_commas_are_read_as_a_client_reads_them() -> None:
    source = b'// top\n{\n  /* a */ "a": [1, 2,], // t\n  "b": {"c": "d\\u0041", // x\n  },\n}\n'
    document = jsonc.parse(source)
    assert document.root.data == {"a": [1, 2], "b": {"c": "dA"}}


def test_strict_json_refuses_comments_with_line_and_column() -> None:
    with pytest.raises(jsonc.DocumentError) as caught:
        jsonc.parse(b'{\n  "a": 1 // no\n}', comments=False)
    assert (caught.value.line, caught.value.column) == (2, 10)


@pytest.mark.parametrize(
    "source",
    [b'{"a": 1', b'{"a": 1}}', b'{"a" 1}', b'{"a": [1 2]}', b"", b'{"a": tru}', b"\xff{}", b'{"a": 1,,}'],
)
def test_broken_documents_are_refused(source: bytes) -> None:
    with pytest.raises(jsonc.DocumentError):
        jsonc.parse(source)


def test_a_key_written_twice_on_the_way_to_a_server_is_refused() -> None:
    source = b'{"mcpServers": {"a": {"command": "x"}, "a": {"command": "y"}}}'
    with pytest.raises(jsonc.DocumentError, match="appears twice"):
        documents.load(source, "json", [("mcpServers",)])


def _wrap_all(document: documents.ConfigDocument, home: str | None = None) -> bytes:
    planned = []
    for entry in document.entries():
        status = classify(entry.name, entry.data)
        if status.state is State.UNPROTECTED and status.transport == "stdio":
            planned.append((entry, wrap_changes(status, entry.data, LAUNCHER, home)))
    return document.with_changes(planned)


def _unwrap_all(document: documents.ConfigDocument, originals: Mapping[str, Mapping[str, Any]] | None = None) -> bytes:
    planned = []
    for entry in document.entries():
        status = classify(entry.name, entry.data)
        if status.state is State.PROTECTED:
            planned.append((entry, unwrap_changes(status, entry.data, (originals or {}).get(entry.name))))
    return document.with_changes(planned)


def test_only_the_wrapped_spans_change_in_a_commented_crlf_file() -> None:
    source = (
        b'{\r\n  // my servers\r\n  "servers": {\r\n    "fs": {\r\n      "type": "stdio", /* keep */\r\n'
        b'      "command": "npx",\r\n      "args": [\r\n        "-y",\r\n        "server-fs"\r\n      ],\r\n'
        b'      "unknown": {"deep": [1, 2]},\r\n    },\r\n  },\r\n}\r\n'
    )
    wrapped = _wrap_all(documents.load(source, "jsonc", [("servers",)]), home="/h")
    assert wrapped == (
        b'{\r\n  // my servers\r\n  "servers": {\r\n    "fs": {\r\n      "type": "stdio", /* keep */\r\n'
        b'      "command": "/opt/approver/bin/approver",\r\n      "args": [\r\n        "proxy",\r\n'
        b'        "--name",\r\n        "fs",\r\n        "--",\r\n        "npx",\r\n        "-y",\r\n'
        b'        "server-fs"\r\n      ],\r\n      "env": {"APPROVER_HOME": "/h"},\r\n'
        b'      "unknown": {"deep": [1, 2]},\r\n    },\r\n  },\r\n}\r\n'
    )
    originals = {"fs": {"command": "npx", "args": ["-y", "server-fs"]}}
    assert _unwrap_all(documents.load(wrapped, "jsonc", [("servers",)]), originals) == source


def test_a_missing_args_key_is_added_and_removed_again() -> None:
    source = b'{"mcpServers": {"t": {"command": "uvx"}, "u": {"url": "https://x"}}}'
    wrapped = _wrap_all(documents.load(source, "json", [("mcpServers",)]))
    expected = {"command": LAUNCHER.command, "args": ["proxy", "--name", "t", "--", "uvx"]}
    assert json.loads(wrapped)["mcpServers"]["t"] == expected
    back = _unwrap_all(documents.load(wrapped, "json", [("mcpServers",)]), {"t": {"command": "uvx"}})
    assert back == source


def test_toml_keeps_comments_and_other_tables() -> None:
    source = (
        b'# Codex\nmodel = "o3"\n\n[mcp_servers.docs]  # docs\ncommand = "npx"\nargs = ["-y", "docs"]  # pinned\n'
        b'env = { KEY = "k" }\n\n[mcp_servers.web]\nurl = "https://example.com/mcp"\n'
    )
    document = documents.load(source, "toml", [("mcp_servers",)])
    planned = [
        (entry, wrap_changes(classify(entry.name, entry.data), entry.data, LAUNCHER, None))
        for entry in document.entries()
        if entry.name == "docs"
    ]
    wrapped = document.with_changes(planned)
    assert b'# Codex\nmodel = "o3"\n\n[mcp_servers.docs]  # docs\n' in wrapped
    assert b"# pinned" in wrapped
    assert b'[mcp_servers.web]\nurl = "https://example.com/mcp"\n' in wrapped
    assert tomllib.loads(wrapped.decode())["mcp_servers"]["docs"] == {
        "command": LAUNCHER.command,
        "args": ["proxy", "--name", "docs", "--", "npx", "-y", "docs"],
        "env": {"KEY": "k"},
    }
    back = _unwrap_all(documents.load(wrapped, "toml", [("mcp_servers",)]))
    assert back == source


def test_removing_the_only_member_keeps_a_comment_beside_it() -> None:
    document = jsonc.parse(b'{"env": {"A": "1" /* why */}}')
    env = document.root.members[0].value  # type: ignore[index]
    jsonc.remove_member(document, env, "A")
    assert jsonc.apply(document) == b'{"env": { /* why */}}'


def test_remove_marker_is_distinct_from_values() -> None:
    assert REMOVE is not None and repr(REMOVE) == "REMOVE"


_names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=8).filter(
    lambda name: name.strip() and name.isprintable() and not name.startswith("-")
)
_strings = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


@settings(max_examples=60, deadline=None)
@given(
    servers=st.dictionaries(_names, st.lists(_strings, max_size=4), min_size=1, max_size=4),
    indent=st.sampled_from([None, 2, 4, "\t"]),
    crlf=st.booleans(),
    ensure_ascii=st.booleans(),
)
def test_wrapping_then_unwrapping_gives_the_same_bytes(
    servers: dict[str, list[str]], indent: int | str | None, crlf: bool, ensure_ascii: bool
) -> None:
    """Whatever the layout and the text in it, wrap then unwrap restores every byte, and the wrapped file reads
    as exactly the wrapped entries."""
    entries = {name: {"command": "cmd " + name, "args": args, "keep": {"x": name}} for name, args in servers.items()}
    text = json.dumps({"before": 1, "mcpServers": entries, "after": [None]}, indent=indent, ensure_ascii=ensure_ascii)
    source = (text.replace("\n", "\r\n") if crlf else text).encode()
    wrapped = _wrap_all(documents.load(source, "jsonc", [("mcpServers",)]))
    read_back = json.loads(wrapped)
    for name, args in servers.items():
        assert read_back["mcpServers"][name]["args"] == ["proxy", "--name", name, "--", "cmd " + name, *args]
        assert read_back["mcpServers"][name]["keep"] == {"x": name}
    originals = {name: {"command": "cmd " + name, "args": args} for name, args in servers.items()}
    assert _unwrap_all(documents.load(wrapped, "jsonc", [("mcpServers",)]), originals) == source


def test_a_key_written_twice_where_we_write_refuses_the_edit_instead_of_guessing() -> None:
    source = b'{"mcpServers": {"a": {"command": "x", "env": {"APPROVER_HOME": "1", "APPROVER_HOME": "2"}}}}'
    document = documents.load(source, "json", [("mcpServers",)])
    with pytest.raises(documents.EditRefused, match="'APPROVER_HOME' appears twice"):
        _wrap_all(document, home="/h")


def test_toml_gets_an_inline_env_and_stays_crlf() -> None:
    source = b'[mcp_servers.t]\r\ncommand = "uvx"\r\nargs = [\r\n  "mcp-server-time",\r\n]\r\n'
    wrapped = _wrap_all(documents.load(source, "toml", [("mcp_servers",)]), home="/h")
    assert b"\n" not in wrapped.replace(b"\r\n", b"")
    assert b'env = {APPROVER_HOME = "/h"}' in wrapped.replace(b"{ ", b"{").replace(b" }", b"}")
    assert b'args = [\r\n    "proxy",' in wrapped or b'args = [\r\n  "proxy",' in wrapped
    entry = tomllib.loads(wrapped.decode())["mcp_servers"]["t"]
    assert entry["args"] == ["proxy", "--name", "t", "--", "uvx", "mcp-server-time"]
    assert (
        _unwrap_all(
            documents.load(wrapped, "toml", [("mcp_servers",)]), {"t": {"command": "uvx", "args": ["mcp-server-time"]}}
        )
        == source
    )


def test_a_toml_file_that_does_not_parse_names_line_and_column() -> None:
    with pytest.raises(jsonc.DocumentError) as caught:
        documents.load(b'[mcp_servers.a]\ncommand = "x"\nargs = [1,\n', "toml", [("mcp_servers",)])
    assert caught.value.line >= 3


def test_comments_among_the_args_stay_through_wrap_and_unwrap() -> None:
    source = (
        b'{"mcpServers": {"a": {\n  "command": "npx",\n  "args": [\n    // the package\n'
        b'    "-y", "pkg" /* pinned */\n  ]\n}}}'
    )
    wrapped = _wrap_all(documents.load(source, "jsonc", [("mcpServers",)]))
    assert b'"args": [\n    // the package\n    "proxy",\n    "--name",\n    "a",\n    "--",\n    "npx",\n' in wrapped
    assert b'"-y", "pkg" /* pinned */' in wrapped
    originals = {"a": {"command": "npx", "args": ["-y", "pkg"]}}
    assert _unwrap_all(documents.load(wrapped, "jsonc", [("mcpServers",)]), originals) == source


_printable = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=10)


@st.composite
def _toml_string(draw: st.DrawFn) -> tuple[str, str]:
    """A string and one way TOML may spell it: 'literal' when it can be, else "basic" with escapes."""
    text = draw(_printable)
    if "'" not in text and draw(st.booleans()):
        return text, f"'{text}'"
    # \u escapes for the Basic Multilingual Plane only: TOML has no surrogate pairs.
    ascii_escapes = draw(st.booleans()) and all(ord(character) < 0x10000 for character in text)
    return text, json.dumps(text, ensure_ascii=ascii_escapes)


@settings(max_examples=40, deadline=None)
# One value spelled two ways in one array: each element keeps its own spelling (found by this test in CI).
@example(servers={"a": (("0", "'0'"), [("", '""'), ("", "''")], "")}, multiline=None, trailing_comma=False, crlf=False)
@given(
    servers=st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_-]{0,6}", fullmatch=True),
        st.tuples(
            _toml_string().filter(lambda command: bool(command[0].strip())),
            st.lists(_toml_string(), max_size=3),
            st.sampled_from(["", "  # note"]),
        ),
        min_size=1,
        max_size=3,
    ),
    multiline=st.sampled_from([None, "  ", "    "]),
    trailing_comma=st.booleans(),
    crlf=st.booleans(),
)
def test_toml_wrapping_then_unwrapping_gives_the_same_bytes(
    servers: dict[str, tuple[tuple[str, str], list[tuple[str, str]], str]],
    multiline: str | None,
    trailing_comma: bool,
    crlf: bool,
) -> None:
    lines = ["# Codex", 'model = "o3"', ""]
    for name, ((_, command), args, comment) in servers.items():
        spelled = [spelling for _, spelling in args]
        if multiline is not None and spelled:
            body = "".join(f"\n{multiline}{item}," for item in spelled)
            array = "[" + (body if trailing_comma else body[:-1]) + "\n]"
        else:
            array = "[" + ", ".join(spelled) + "]"
        lines += [f"[mcp_servers.{name}]{comment}", f"command = {command}", f"args = {array}{comment}", ""]
    text = "\n".join(lines)
    source = (text.replace("\n", "\r\n") if crlf else text).encode()
    wrapped = _wrap_all(documents.load(source, "toml", [("mcp_servers",)]))
    read_back = tomllib.loads(wrapped.decode())["mcp_servers"]
    for name, ((command, _), args, _) in servers.items():
        assert read_back[name]["args"] == ["proxy", "--name", name, "--", command, *[value for value, _ in args]]
    originals = {
        name: {"command": command, "args": [value for value, _ in args]}
        for name, ((command, _), args, _) in servers.items()
    }
    assert _unwrap_all(documents.load(wrapped, "toml", [("mcp_servers",)]), originals) == source
