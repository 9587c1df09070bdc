"""Decision-log entries in the formats SIEMs ingest: JSON lines, ArcSight CEF, and RFC 5424 syslog."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from approver import __version__

SYSLOG_ENTERPRISE_ID = 32473  # RFC 5612's example enterprise number: for structured data without a registered one
_AUTHPRIV = 10


def to_json_line(entry: dict[str, Any]) -> str:
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))


def _cef_header(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|")


def _cef_value(value: object) -> str:
    text = str(value)
    return text.replace("\\", "\\\\").replace("=", "\\=").replace("\r", "\\r").replace("\n", "\\n")


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
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def to_syslog(entry: dict[str, Any], hostname: str) -> str:
    """RFC 5424: <PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG, facility authpriv."""
    decision = entry.get("decision")
    severity = 4 if decision == "deny" else 5  # warning for denials, notice otherwise
    params = {key: entry.get(key) for key in ("seq", "server", "tool", "decision", "actor", "rule", "digest")}
    sd = " ".join(f'{key}="{_sd_value(value)}"' for key, value in params.items() if value is not None)
    # One entry, one line: a reason (which may quote a rule's note) must not start a forged syslog line.
    message = " ".join(str(entry.get("reason") or entry.get("kind", "")).splitlines())
    return (
        f"<{_AUTHPRIV * 8 + severity}>1 {entry.get('ts', '-')} {hostname or '-'} mcp-approver - "
        f"{entry.get('kind', '-')} [decision@{SYSLOG_ENTERPRISE_ID} {sd}] {message}"
    )


def _epoch_ms(ts: object) -> int | None:
    if not isinstance(ts, str):
        return None
    try:
        return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None
