"""Many pipelined calls through one proxy into a real service: what the client got is what the log says.

With a short acknowledgement timeout the service cannot keep up, so the proxy denies part of the calls on its
own while the service, reaching them later, allows them by rule. Every call's last word in the signed log must
still be what happened to it.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import defaultdict
from typing import Any

import pytest

from tests.conftest import NODE, SERVER_EVERYTHING, ApproverHome, require_npm_tools

pytestmark = pytest.mark.e2e

CALLS = 1000
HANDSHAKE = [
    {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "load", "version": "0"}},
    },
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
]


def echo_call(request_id: int) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": "echo", "arguments": {"message": f"call {request_id}"}},
    }


def client_outcomes(process: subprocess.Popen[bytes]) -> dict[str, str]:
    """Each call's fate as the client saw it: 'allow' (the server echoed) or 'deny' (the proxy refused)."""
    assert process.stdout is not None
    outcomes: dict[str, str] = {}
    while len(outcomes) < CALLS:
        line = process.stdout.readline()
        assert line, "the proxy closed its output before answering every call"
        message = json.loads(line)
        if message.get("id") in (None, 0) or "result" not in message:
            continue
        text = message["result"]["content"][0]["text"]
        if message["result"].get("isError"):
            assert "MCP Approver" in text, text
            outcomes[str(message["id"])] = "deny"
        else:
            assert text == f"Echo: call {message['id']}", text
            outcomes[str(message["id"])] = "allow"
    return outcomes


def disagreements(home: ApproverHome, outcomes: dict[str, str]) -> tuple[list[str], set[str]]:
    """Calls whose last signed entry is not what the client got; and the calls the spool records as denied."""
    last_signed: dict[str, str] = {}
    spooled: set[str] = set()
    for entry in home.log():
        if entry.get("pending"):
            spooled.add(entry["request_id"])
        else:
            last_signed[entry["request_id"]] = entry["decision"]
    return [rid for rid, got in outcomes.items() if last_signed.get(rid) != got], spooled


def test_every_call_of_a_pipelined_burst_ends_in_the_log_as_it_ended_for_the_client(
    home: ApproverHome, start_service: Any
) -> None:
    require_npm_tools()
    start_service({"effect": "allow", "tool": "echo"})
    command = [*home.proxy_command("everything", NODE, SERVER_EVERYTHING, "stdio")]
    command[command.index("--") : command.index("--")] = ["--ack-timeout", "0.2"]
    process = subprocess.Popen(
        command, env=home.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert process.stdin is not None and process.stdout is not None
    burst = b"".join(json.dumps(m).encode() + b"\n" for m in [*HANDSHAKE, *map(echo_call, range(1, CALLS + 1))])
    writer = threading.Thread(target=lambda: (process.stdin.write(burst), process.stdin.flush()))  # type: ignore[union-attr]
    writer.start()
    try:
        outcomes = client_outcomes(process)
        writer.join()
        counts: dict[str, int] = defaultdict(int)
        for got in outcomes.values():
            counts[got] += 1
        assert counts["deny"] > 0, "the service kept up: this run did not exercise the race"
        # Late verdicts are still on their way back to the proxy: ask the log until it agrees, or give up.
        deadline = time.monotonic() + 30
        while (found := disagreements(home, outcomes))[0] and time.monotonic() < deadline:
            time.sleep(0.2)
        wrong, spooled = found
        assert wrong == [], f"{len(wrong)} of {CALLS} calls disagree with the log ({dict(counts)})"
        # The proxy recorded each of its own denials before answering, in the spool.
        assert spooled == {rid for rid, got in outcomes.items() if got == "deny"}
    finally:
        process.stdin.close()
        process.wait(timeout=30)
        process.stdout.close()
