"""Many pipelined calls through one proxy into a real service: what the client got is what the log says.

A service busy with a burst is not a stuck one: the proxy waits while it keeps answering. A service that does
stop (here: SIGSTOP) makes the proxy deny on its own; when it resumes it allows the calls it finds by rule. Every
call's last entry in the signed log must still be what happened to it.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from typing import Any

import pytest

from approver.platform.paths import Home
from tests.conftest import NODE, SERVER_EVERYTHING, ApproverHome, require_npm_tools

pytestmark = pytest.mark.e2e

HANDSHAKE: list[dict[str, Any]] = [
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


def client_outcomes(process: subprocess.Popen[bytes], calls: range) -> dict[str, str]:
    """Each call's fate as the client saw it: 'allow' (the server echoed) or 'deny' (the proxy refused)."""
    assert process.stdout is not None
    outcomes: dict[str, str] = {}
    while len(outcomes) < len(calls):
        line = process.stdout.readline()
        assert line, "the proxy closed its output before answering every call"
        message = json.loads(line)
        if message.get("id") not in calls or "result" not in message:
            continue
        text = message["result"]["content"][0]["text"]
        if message["result"].get("isError"):
            assert "MCP Approver" in text, text
            outcomes[str(message["id"])] = "deny"
        else:
            assert text == f"Echo: call {message['id']}", text
            outcomes[str(message["id"])] = "allow"
    return outcomes


def send(process: subprocess.Popen[bytes], messages: list[dict[str, Any]]) -> threading.Thread:
    """Write in a thread: a burst is larger than the pipe, and the answers must be read meanwhile."""
    assert process.stdin is not None
    stdin = process.stdin
    data = b"".join(json.dumps(message).encode() + b"\n" for message in messages)
    writer = threading.Thread(target=lambda: (stdin.write(data), stdin.flush()))
    writer.start()
    return writer


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


def assert_the_log_agrees(home: ApproverHome, outcomes: dict[str, str]) -> None:
    counts = Counter(outcomes.values())
    # Late verdicts may still be on their way back to the proxy: ask the log until it agrees, or give up.
    deadline = time.monotonic() + 30
    while (found := disagreements(home, outcomes))[0] and time.monotonic() < deadline:
        time.sleep(0.2)
    wrong, spooled = found
    assert wrong == [], f"{len(wrong)} of {len(outcomes)} calls disagree with the log ({dict(counts)})"
    # The proxy recorded each of its own denials before answering, in the spool.
    assert spooled == {rid for rid, got in outcomes.items() if got == "deny"}


def proxy(home: ApproverHome, *options: str) -> subprocess.Popen[bytes]:
    command = home.proxy_command("everything", NODE, SERVER_EVERYTHING, "stdio")
    command[command.index("--") : command.index("--")] = options
    return subprocess.Popen(
        command, env=home.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )


def finish(process: subprocess.Popen[bytes]) -> None:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.close()
    process.wait(timeout=30)
    process.stdout.close()


def test_a_pipelined_burst_is_answered_not_denied_for_arriving_at_once(home: ApproverHome, start_service: Any) -> None:
    # Before: with the 2 s acknowledgement timeout, 1,077 of 3,000 such calls were denied (and logged as allowed).
    require_npm_tools()
    start_service({"effect": "allow", "schema": "any", "tool": "echo"})
    process = proxy(home)
    calls = range(1, 3001)
    try:
        writer = send(process, [*HANDSHAKE, *map(echo_call, calls)])
        outcomes = client_outcomes(process, calls)
        writer.join()
        assert Counter(outcomes.values()) == {"allow": len(calls)}
        assert_the_log_agrees(home, outcomes)
    finally:
        finish(process)


def test_calls_denied_while_the_service_was_stopped_end_in_the_log_as_denied(
    home: ApproverHome, start_service: Any
) -> None:
    # Before: every one of these was denied to the client and logged only as "allowed by rule".
    require_npm_tools()
    service = start_service({"effect": "allow", "schema": "any", "tool": "echo"})
    process = proxy(home, "--ack-timeout", "0.2")
    try:
        send(process, [*HANDSHAKE, echo_call(1)]).join()
        assert client_outcomes(process, range(1, 2)) == {"1": "allow"}  # connected to the service
        service.process.send_signal(signal.SIGSTOP)
        try:
            calls = range(2, 502)
            writer = send(process, list(map(echo_call, calls)))
            outcomes = client_outcomes(process, calls)
            writer.join()
        finally:
            service.process.send_signal(signal.SIGCONT)
        assert Counter(outcomes.values()) == {"deny": len(calls)}
        assert_the_log_agrees(home, outcomes)
    finally:
        finish(process)


def test_no_other_connection_can_disown_a_call_a_proxy_forwarded(
    home: ApproverHome, start_service: Any, monkeypatch: Any
) -> None:
    require_npm_tools()
    start_service({"effect": "allow", "schema": "any", "tool": "echo"})
    process = proxy(home)
    try:
        send(process, [*HANDSHAKE, echo_call(1)]).join()
        assert client_outcomes(process, range(1, 2)) == {"1": "allow"}
        [allowed] = home.log()
        # An agent on the same socket claims that call was not carried out, naming it exactly.
        monkeypatch.setenv("APPROVER_HOME", str(home.root))
        forged = {
            "type": "not-carried-out",
            "ref": 1,
            "call": {"server": "everything", "tool": "echo", "request_id": 1, "digest": allowed["digest"]},
            "actor": "none",
            "reason": "the proxy denied it: the service did not acknowledge the call within 2 s",
        }
        with socket.socket(socket.AF_UNIX) as agent:
            agent.connect(str(Home.from_environment().socket_path))
            replies = agent.makefile("rb")
            agent.sendall(json.dumps({"type": "hello", "v": 2, "role": "proxy", "pid": 1}).encode() + b"\n")
            assert json.loads(replies.readline())["type"] == "welcome"
            agent.sendall(json.dumps(forged).encode() + b"\n" + b'{"type":"status"}\n')
            assert json.loads(replies.readline())["type"] == "status-reply"  # the forgery has been read
        assert [(e["request_id"], e["decision"]) for e in home.log()] == [("1", "allow")]
    finally:
        finish(process)
