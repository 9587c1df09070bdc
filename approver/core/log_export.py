"""Decision-log entries as people and SIEMs read them: plain text, JSON lines, ArcSight CEF and RFC 5424 syslog.

Everything in an entry that came from a call (a tool or server name, a reason quoting a rule's note, arguments)
is the agent's text. Each output escapes every character a terminal or a line-oriented reader acts on, so that
one entry stays one line and reaches the screen as inert text: the C0 and C1 controls and DEL (line feeds,
ESC sequences, NEL), the line and paragraph separators, and the format characters (bidi overrides and isolates,
zero-width characters, tags). Escaped, never dropped: the reader sees that they were there.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from approver import __version__

SYSLOG_ENTERPRISE_ID = 32473  # RFC 5612's example enterprise number: for structured data without a registered one
_AUTHPRIV = 10


# Unicode categories Cc (controls), Cf (format), Zl, Zp and Cs (lone surrogates), as of Unicode 15
# (tests/unit/test_log_export.py checks this class against unicodedata, code point by code point).
_HAZARD = re.compile(
    "[\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)


def _escape_for_text(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _escape_for_json(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"  # a UTF-16 surrogate pair, as JSON has


def visible(value: object) -> str:
    """`value` as text with every hazardous character written as \\uXXXX (\\UXXXXXXXX beyond the BMP)."""
    return _HAZARD.sub(_escape_for_text, str(value))


def to_json_line(entry: dict[str, Any]) -> str:
    """One JSON object on one line; the same value, with the characters json.dumps leaves raw escaped too."""
    return _HAZARD.sub(_escape_for_json, json.dumps(entry, ensure_ascii=False, separators=(",", ":")))


def _cef_header(value: str) -> str:
    return visible(value).replace("\\", "\\\\").replace("|", "\\|")


def _cef_value(value: object) -> str:
    # Line ends and every other hazard are already \uXXXX text here; CEF then escapes backslashes and '='.
    return visible(value).replace("\\", "\\\\").replace("=", "\\=")


def to_cef(entry: dict[str, Any]) -> str:
    """CEF:Version|Vendor|Product|Version|Signature ID|Name|Severity|Extension."""
    kind = entry.get("kind", "event")
    decision = entry.get("decision")
    signature = f"{kind}-{decision}" if decision else kind
    name = {"allow": "Tool call allowed", "deny": "Tool call denied"}.get(str(decision), f"Decision log {kind}")
    severity = 6 if decision == "deny" else 3
    custom = [("cs1", "server"), ("cs2", "tool"), ("cs3", "actor"), ("cs4", "client"), ("cs5", "digest")]
    extension: dict[str, object] = {"rt": _epoch_ms(entry.get("ts")), "act": decision}
    for field, key in custom:
        if entry.get(key) is not None:
            extension[f"{field}Label"] = key
            extension[field] = entry[key]
    extension.update({"cn1Label": "seq", "cn1": entry.get("seq"), "reason": entry.get("reason")})
    fields = " ".join(f"{key}={_cef_value(value)}" for key, value in extension.items() if value is not None)
    header = "|".join(
        _cef_header(part)
        for part in ("CEF:0", "MCP Approver", "mcp-approver", __version__, signature, name, str(severity))
    )
    return f"{header}|{fields}"


def _sd_value(value: object) -> str:
    return visible(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


_HEADER_FIELD = re.compile("[!-~]+")  # RFC 5424 header fields: printable US-ASCII, no spaces


def _header_field(value: object, limit: int) -> str:
    text = str(value)
    return text if len(text) <= limit and _HEADER_FIELD.fullmatch(text) else "-"


def to_syslog(entry: dict[str, Any], hostname: str) -> str:
    """RFC 5424: <PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG, facility authpriv."""
    decision = entry.get("decision")
    severity = 4 if decision == "deny" else 5  # warning for denials, notice otherwise
    params = {key: entry.get(key) for key in ("seq", "server", "tool", "decision", "actor", "rule", "digest")}
    sd = " ".join(f'{key}="{_sd_value(value)}"' for key, value in params.items() if value is not None)
    # One entry, one line: a reason (which may quote a rule's note) must not start a forged syslog line.
    message = visible(entry.get("reason") or entry.get("kind", ""))
    return (
        f"<{_AUTHPRIV * 8 + severity}>1 {_header_field(entry.get('ts', '-'), 32)} {_header_field(hostname, 255)} "
        f"mcp-approver - {_header_field(entry.get('kind', '-'), 32)} [decision@{SYSLOG_ENTERPRISE_ID} {sd}] {message}"
    )


def _epoch_ms(ts: object) -> int | None:
    if not isinstance(ts, str):
        return None
    try:
        return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None
