"""Every output format of the log escapes what a terminal or a line-oriented reader would act on."""

from __future__ import annotations

import json
import unicodedata

import pytest

from approver.core.log_export import to_cef, to_json_line, to_syslog, visible

HAZARDS = "\n\r\x1b\x00\x7f\x85\x9b\u2028\u2029\u202e\u2066\u200b\ufeff\U000e0041"
ENTRY = {
    "v": 1,
    "seq": 7,
    "ts": "2026-01-01T00:00:00.000Z",
    "kind": "decision",
    "server": "fs" + HAZARDS,
    "tool": "read\n<13>1 forged",
    "decision": "deny",
    "actor": "none",
    "reason": "x\x1b[2J\u2028y",
    "arguments": {"p": HAZARDS, HAZARDS: 1},
}
HAZARD_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def raw_hazards(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c) in HAZARD_CATEGORIES]


def test_every_control_format_and_separator_character_is_escaped_in_text() -> None:
    every = "".join(chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) in HAZARD_CATEGORIES)
    shown = visible(every)
    assert raw_hazards(shown) == []
    assert visible("a\nb\x1b[2J\u2028\U000e0041") == "a\\u000ab\\u001b[2J\\u2028\\U000e0041"
    assert visible("plain, ünïcode, 漢字 and emoji 🎉") == "plain, ünïcode, 漢字 and emoji 🎉"


def test_json_lines_escape_every_hazard_and_keep_the_value() -> None:
    line = to_json_line(ENTRY)
    assert raw_hazards(line) == []
    assert json.loads(line) == ENTRY
    lone = {"s": "\ud800"}  # a lone surrogate cannot even be encoded raw
    assert json.loads(to_json_line(lone).encode("utf-8")) == lone


@pytest.mark.parametrize("render", [to_cef, lambda entry: to_syslog(entry, "host")])
def test_cef_and_syslog_are_one_inert_line(render: object) -> None:
    assert callable(render)
    line = render(ENTRY)
    assert raw_hazards(line) == []
    assert "\\u000a" in line or "\\\\u000a" in line
    assert "<13>1 forged" in line  # still there, as text inside the one line


def test_syslog_header_fields_are_printable_ascii_or_nil() -> None:
    line = to_syslog({**ENTRY, "kind": "a b\nc", "ts": "2026\u2028"}, "host name")
    assert line.startswith("<84>1 - - mcp-approver - - [decision@")
