"""The wire itself, byte by byte, against server-everything: what a direct connection sees, the proxy relays."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import NODE, SDK_SERVER, SERVER_EVERYTHING, ApproverHome, require_npm_tools

pytestmark = pytest.mark.e2e

SESSION = [
    b'{"jsonrpc":"2.0","id":"init-\\u00e9","method":"initialize","params":{"protocolVersion":"2025-11-25",'
    b'"capabilities":{"x-vendor":{"a":1}},"clientInfo":{"name":"raw","version":"0"},"unknownField":[1,2]}}',
    b'{"jsonrpc":"2.0","method":"notifications/initialized"}',
    b'{"jsonrpc":"2.0","id":"list-1","method":"tools/list","params":{"_meta":{"x":true}}}',
    b'{"jsonrpc":"2.0","id":7,"method":"resources/list"}',
    b'{"jsonrpc":"2.0","id":8,"method":"prompts/list"}',
]


def converse(command: list[str], lines: list[bytes], env: dict[str, str], answers: int) -> list[bytes]:
    process = subprocess.Popen(
        command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert process.stdin is not None and process.stdout is not None
    received: list[bytes] = []
    for line in lines:
        process.stdin.write(line + b"\n")
        process.stdin.flush()
    while len([r for r in received if b'"id"' in r]) < answers:
        received.append(process.stdout.readline().rstrip(b"\n"))
    process.stdin.close()
    process.wait(timeout=15)
    process.stdout.close()
    return received


def test_the_proxy_relays_exactly_what_a_direct_connection_receives(home: ApproverHome) -> None:
    require_npm_tools()
    server = [str(NODE), str(SERVER_EVERYTHING), "stdio"]
    direct = converse(server, SESSION, home.env, answers=4)
    proxied = converse(home.proxy_command("everything", *server), SESSION, home.env, answers=4)
    # Byte-for-byte equal; sorted because the server may interleave its own notifications differently per run.
    assert sorted(proxied) == sorted(direct)
    assert any(b'"id":"init-' in line for line in proxied)


def task_call(request_id: int) -> bytes:
    return json.dumps(
        {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "tools/call",
            "params": {"name": "simulate-research-query", "arguments": {"topic": "gates"}, "task": {"ttl": 60000}},
        }
    ).encode()


@pytest.mark.parametrize("effect", ["allow", "deny"])
def test_task_augmented_calls_are_gated(home: ApproverHome, start_service: Any, effect: str) -> None:
    require_npm_tools()
    start_service({"effect": effect, "tool": "simulate-research-query", "schema": "any"})
    command = home.proxy_command("everything", NODE, SERVER_EVERYTHING, "stdio")
    answers = converse(command, [*SESSION[:2], task_call(2)], home.env, answers=2)
    [reply] = [m for m in map(json.loads, answers) if m.get("id") == 2]
    if effect == "allow":
        assert reply["result"]["task"]["status"] in {"working", "input_required", "completed"}
    else:
        assert reply["error"]["code"] == -32003
        assert "simulate-research-query" in reply["error"]["message"]
    assert [(e["tool"], e["decision"]) for e in home.log()] == [("simulate-research-query", effect)]


def test_a_call_hidden_behind_a_carriage_return_never_reaches_the_python_sdk_server(
    home: ApproverHome, start_service: Any
) -> None:
    start_service({"effect": "deny", "tool": "*"})
    hidden = (
        b'{"jsonrpc":"2.0","id":2,"method":"ping","params":{"x":\r'
        b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"delete_file","arguments":{"path":"/x"}}}'
        b"\r}}"
    )
    lines = [
        b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},'
        b'"clientInfo":{"name":"raw","version":"0"}}}',
        b'{"jsonrpc":"2.0","method":"notifications/initialized"}',
        hidden,
        b'{"jsonrpc":"2.0","id":4,"method":"ping"}',
    ]
    command = home.proxy_command("sdk", sys.executable, SDK_SERVER)
    answers = [json.loads(line) for line in converse(command, lines, home.env, answers=3)]
    assert not any("would delete" in json.dumps(answer) for answer in answers)
    assert any(answer.get("error", {}).get("code") == -32700 for answer in answers)
    assert home.log() == []  # nothing was even asked about: the line never became a call


HANDSHAKE_2025_03_26 = [
    b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},'
    b'"clientInfo":{"name":"raw","version":"0"}}}',
    b'{"jsonrpc":"2.0","method":"notifications/initialized"}',
]


def recording_stdin(record: Path, *server: str | Path) -> list[str]:
    """The server, with every byte it reads from its stdin copied to `record`: proof of what reached it."""
    return ["sh", "-c", 'tee "$0" | exec "$@"', str(record), *map(str, server)]


def test_a_tool_call_notification_inside_a_batch_never_reaches_the_server(
    home: ApproverHome, start_service: Any, tmp_path: Path
) -> None:
    start_service({"effect": "allow", "tool": "*"})  # even an allow-all policy must not let an ungated call by
    hidden = b'{"jsonrpc":"2.0","method":"tools/call","params":{"name":"delete_file","arguments":{"path":"/x"}}}'
    batch = b'[{"jsonrpc":"2.0","id":2,"method":"ping"},' + hidden + b"]"
    received = tmp_path / "server-stdin"
    command = home.proxy_command("sdk", *recording_stdin(received, sys.executable, SDK_SERVER))
    lines = [*HANDSHAKE_2025_03_26, batch, b'{"jsonrpc":"2.0","id":3,"method":"ping"}']
    # Two answers: the handshake's and the ping beside the hidden call (its batch is split, the ping relayed alone).
    # Before the fix the batch went whole to the server, which answered nothing in it; the last ping ends the wait.
    answers = [json.loads(line) for line in converse(command, lines, home.env, answers=2)]
    assert b"delete_file" not in received.read_bytes()
    assert [answer["id"] for answer in answers if "id" in answer] == [1, 2]
    assert home.log() == []  # and nothing was decided: a call without an id is not a call we forward


def test_a_number_too_large_for_a_double_never_reaches_the_server(
    home: ApproverHome, start_service: Any, tmp_path: Path
) -> None:
    # Python reads 1e400 as inf, which the service used to receive as null; the server reads Infinity. A rule
    # judging null must not approve what the server will run with Infinity.
    start_service({"effect": "allow", "schema": "any", "tool": "double", "args": {"/value": {"equals": None}}})
    overflowing = (
        b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"double","arguments":{"value":1e400}}}'
    )
    received = tmp_path / "server-stdin"
    command = home.proxy_command("sdk", *recording_stdin(received, sys.executable, SDK_SERVER))
    answers = [json.loads(line) for line in converse(command, [*HANDSHAKE_2025_03_26, overflowing], home.env, 2)]
    [refusal] = [answer for answer in answers if "id" in answer and answer["id"] != 1]
    assert refusal["error"]["code"] == -32700
    assert "too large for a double" in refusal["error"]["message"]
    assert b"1e400" not in received.read_bytes()
    assert home.log() == []
