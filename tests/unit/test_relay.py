"""The gate, driven by events alone (no processes, no sockets)."""

import json
from typing import Any, TypeVar

import pytest

from approver.core.models import Actor, Decision, ProtocolEra, Verdict, request_digest
from approver.proxy.relay import (
    AskDecision,
    CloseServerInput,
    Command,
    Relay,
    Report,
    ToClient,
    ToServer,
    Withdraw,
)

T = TypeVar("T")


def line(message: dict[str, Any] | list[Any]) -> bytes:
    return json.dumps(message).encode()


def call(request_id: int | str, tool: str = "write", **arguments: Any) -> bytes:
    return line(
        {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    )


def only(commands: list[Command], kind: type) -> list[Any]:
    return [c for c in commands if isinstance(c, kind)]


def single(commands: list[Command], kind: type[T]) -> T:
    [command] = commands
    assert isinstance(command, kind)
    return command


def allow(ask: AskDecision) -> Verdict:
    return Verdict(decision=Decision.ALLOW, actor=Actor.RULE, reason="ok", digest=ask.call.digest)


def deny(ask: AskDecision) -> Verdict:
    return Verdict(decision=Decision.DENY, actor=Actor.HUMAN, reason="not today", digest=ask.call.digest)


def test_ungated_messages_pass_byte_for_byte_in_both_directions() -> None:
    relay = Relay("fs")
    odd = b'{"jsonrpc":"2.0","id":"s-1","method":"resources/list","params":{"cursor":"x","x-unknown":{"\\u00e9":1}}}'
    assert relay.client_data(odd + b"\n") == [ToServer(odd)]
    reply = b'{"jsonrpc":"2.0","id":"s-1","result":{"resources":[],"extra":true},   "z":1}'
    assert relay.server_data(reply + b"\r\n") == [ToClient(reply)]


def test_notifications_and_server_requests_pass_through() -> None:
    relay = Relay("fs")
    progress = b'{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":0.5}}'
    sampling = b'{"jsonrpc":"2.0","id":0,"method":"sampling/createMessage","params":{"messages":[]}}'
    answer = b'{"jsonrpc":"2.0","id":0,"result":{"role":"assistant"}}'
    assert relay.server_data(progress + b"\n" + sampling + b"\n") == [ToClient(progress), ToClient(sampling)]
    assert relay.client_data(answer + b"\n") == [ToServer(answer)]


def test_a_tool_call_is_held_and_an_allow_releases_the_exact_bytes() -> None:
    relay = Relay("fs", ["npx", "server"])
    raw = b'{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"write","arguments":{"p":"/tmp/x"}}}'
    commands = relay.client_data(raw + b"\n")
    [ask] = commands
    assert isinstance(ask, AskDecision)
    assert ask.call.tool == "write"
    assert ask.call.arguments == {"p": "/tmp/x"}
    assert ask.call.digest == request_digest(raw)
    assert ask.call.server_command == ["npx", "server"]
    assert relay.held_count == 1
    assert relay.decided(ask.hold, allow(ask)) == [ToServer(raw)]
    assert relay.held_count == 0


def test_a_deny_answers_the_client_with_an_is_error_result_and_forwards_nothing() -> None:
    relay = Relay("fs")
    ask = single(relay.client_data(call("req-9") + b"\n"), AskDecision)
    answer = single(relay.decided(ask.hold, deny(ask)), ToClient)
    assert isinstance(answer, ToClient)
    message = json.loads(answer.data)
    assert message["id"] == "req-9"
    assert message["result"]["isError"] is True
    text = message["result"]["content"][0]["text"]
    assert "the user" in text
    assert "not today" in text
    assert "Do not retry" in text


def test_an_approval_for_other_bytes_is_refused() -> None:
    relay = Relay("fs")
    ask = single(relay.client_data(call(1) + b"\n"), AskDecision)
    forged = Verdict(decision=Decision.ALLOW, actor=Actor.HUMAN, reason="ok", digest=request_digest(b"other"))
    commands = relay.decided(ask.hold, forged)
    assert only(commands, ToServer) == []
    [answer] = only(commands, ToClient)
    assert json.loads(answer.data)["result"]["isError"] is True


def test_a_verdict_for_a_withdrawn_call_releases_nothing() -> None:
    relay = Relay("fs")
    ask = single(relay.client_data(call(1) + b"\n"), AskDecision)
    cancel = line({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}})
    assert relay.client_data(cancel + b"\n") == [Withdraw(ask.hold, "the client cancelled the request")]
    assert relay.decided(ask.hold, allow(ask)) == []


def test_cancelling_a_forwarded_request_is_relayed() -> None:
    relay = Relay("fs")
    cancel = line({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "1"}})
    [ask] = relay.client_data(call(1) + b"\n")  # held id is the integer 1, not the string "1"
    assert relay.client_data(cancel + b"\n") == [ToServer(cancel)]
    assert relay.held_count == 1
    del ask


def test_other_traffic_flows_while_a_call_is_held() -> None:
    relay = Relay("fs")
    relay.client_data(call(1) + b"\n")
    ping = line({"jsonrpc": "2.0", "id": 2, "method": "ping"})
    assert relay.client_data(ping + b"\n") == [ToServer(ping)]


@pytest.mark.parametrize(
    "params",
    [{"arguments": {}}, {"name": 3}, {"name": "x", "arguments": [1, 2]}],
)
def test_a_tool_call_without_a_readable_name_or_arguments_is_refused(params: dict[str, Any]) -> None:
    relay = Relay("fs")
    commands = relay.client_data(line({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}) + b"\n")
    assert only(commands, ToServer) == []
    assert only(commands, AskDecision) == []
    [answer] = only(commands, ToClient)
    assert json.loads(answer.data)["error"]["code"] == -32602


def test_duplicate_keys_never_reach_the_server() -> None:
    relay = Relay("fs")
    sneaky = b'{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call","params":{"name":"rm"}}'
    commands = relay.client_data(sneaky + b"\n")
    assert only(commands, ToServer) == []
    assert only(commands, AskDecision) == []
    [answer] = only(commands, ToClient)
    assert json.loads(answer.data)["error"]["code"] == -32700
    assert only(commands, Report)


def test_garbage_from_the_client_gets_a_parse_error() -> None:
    relay = Relay("fs")
    commands = relay.client_data(b"this is not json\n")
    [answer] = only(commands, ToClient)
    assert json.loads(answer.data) == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32700, "message": json.loads(answer.data)["error"]["message"]},
    }
    assert only(commands, ToServer) == []


def test_non_json_server_output_is_reported_not_forwarded() -> None:
    relay = Relay("fs")
    commands = relay.server_data(b"Server listening on stdio\n")
    assert only(commands, ToClient) == []
    [report] = only(commands, Report)
    assert "Server listening on stdio" in report.text


def test_oversized_messages_are_refused_with_a_clear_error() -> None:
    relay = Relay("fs", max_line=64)
    commands = relay.client_data(call(1, data="x" * 200) + b"\n")
    assert only(commands, AskDecision) == []
    assert "too large" in json.loads(only(commands, ToClient)[0].data)["error"]["message"]
    assert only(relay.server_data(b"y" * 100 + b"\n"), ToClient) == []


def test_a_batch_without_tool_calls_is_relayed_whole() -> None:
    relay = Relay("fs")
    batch = b'[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/x"}]'
    assert relay.client_data(batch + b"\n") == [ToServer(batch)]


def test_a_batch_with_a_tool_call_is_split_and_the_call_held() -> None:
    relay = Relay("fs")
    batch = (
        b'[{"jsonrpc":"2.0","id":1,"method":"ping"},'
        b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"rm","arguments":{}}}]'
    )
    commands = relay.client_data(batch + b"\n")
    [ping] = only(commands, ToServer)
    assert json.loads(ping.data) == {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    [ask] = only(commands, AskDecision)
    released = single(relay.decided(ask.hold, allow(ask)), ToServer)
    assert isinstance(released, ToServer)
    assert request_digest(released.data) == ask.call.digest
    assert json.loads(released.data)["params"]["name"] == "rm"


def test_when_the_server_exits_every_waiting_request_is_answered() -> None:
    relay = Relay("fs")
    relay.client_data(line({"jsonrpc": "2.0", "id": "a", "method": "resources/list"}) + b"\n")
    ask = single(relay.client_data(call(2) + b"\n"), AskDecision)
    commands = relay.server_exited("exit code 1")
    assert Withdraw(ask.hold, "the server exited") in commands
    answered = sorted(str(json.loads(c.data)["id"]) for c in only(commands, ToClient))
    assert answered == ["2", "a"]
    for command in only(commands, ToClient):
        assert "exit code 1" in json.loads(command.data)["error"]["message"]
    # and later requests are answered at once rather than written into a dead pipe
    later = relay.client_data(line({"jsonrpc": "2.0", "id": 3, "method": "ping"}) + b"\n")
    assert only(later, ToServer) == []
    assert json.loads(only(later, ToClient)[0].data)["id"] == 3


def test_answered_requests_are_not_answered_again_when_the_server_exits() -> None:
    relay = Relay("fs")
    relay.client_data(line({"jsonrpc": "2.0", "id": 1, "method": "ping"}) + b"\n")
    relay.server_data(b'{"jsonrpc":"2.0","id":1,"result":{}}\n')
    assert relay.server_exited("exit code 0") == []


def test_client_eof_withdraws_held_calls_and_closes_the_server_input() -> None:
    relay = Relay("fs")
    ask = single(relay.client_data(call(1) + b"\n"), AskDecision)
    assert relay.client_eof() == [Withdraw(ask.hold, "the client disconnected"), CloseServerInput()]


def test_the_session_facts_enrich_the_held_call() -> None:
    relay = Relay("fs")
    relay.client_data(
        line(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "clientInfo": {"name": "Claude Code", "version": "2.1"}},
            }
        )
        + b"\n"
    )
    relay.client_data(line({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}) + b"\n")
    tools = {
        "tools": [
            {"name": "write", "description": "Write a file", "annotations": {"destructiveHint": True}},
            {"name": 5},
        ]
    }
    relay.server_data(line({"jsonrpc": "2.0", "id": 2, "result": tools}) + b"\n")
    ask = single(relay.client_data(call(3) + b"\n"), AskDecision)
    assert relay.era is ProtocolEra.HANDSHAKE
    assert ask.call.client.name == "Claude Code"
    assert ask.call.tool_info is not None
    assert ask.call.tool_info.description == "Write a file"
    assert ask.call.tool_info.annotations == {"destructiveHint": True}


def test_stateless_era_calls_carry_their_client_in_meta() -> None:
    relay = Relay("fs")
    relay.client_data(line({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {}}) + b"\n")
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "Cursor", "version": "3"},
    }
    raw = line(
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "write", "arguments": {}, "_meta": meta},
        }
    )
    ask = single(relay.client_data(raw + b"\n"), AskDecision)
    assert ask.call.era is ProtocolEra.STATELESS
    assert ask.call.client.name == "Cursor"
    answer = single(relay.decided(ask.hold, deny(ask)), ToClient)
    assert json.loads(answer.data)["result"]["resultType"] == "complete"  # required on 2026-07-28 results


def test_a_denied_task_augmented_call_gets_a_json_rpc_error() -> None:
    relay = Relay("fs")
    raw = line(
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "w", "arguments": {}, "task": {}}}
    )
    ask = single(relay.client_data(raw + b"\n"), AskDecision)
    assert ask.call.task is True
    answer = single(relay.decided(ask.hold, deny(ask)), ToClient)
    error = json.loads(answer.data)["error"]
    assert error["code"] == -32003
    assert "MCP Approver denied" in error["message"]


def test_an_input_required_retry_is_gated_like_any_call() -> None:
    relay = Relay("fs")
    retry = {"name": "w", "arguments": {}, "inputResponses": {"k": {"action": "accept"}}, "requestState": "opaque"}
    ask = single(
        relay.client_data(line({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": retry}) + b"\n"),
        AskDecision,
    )
    assert isinstance(ask, AskDecision)
    assert ask.call.continuation is True


def test_keepalive_progress_only_for_requests_that_asked_for_progress() -> None:
    relay = Relay("fs")
    with_token = line(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "w", "arguments": {}, "_meta": {"progressToken": "tok"}},
        }
    )
    ask = single(relay.client_data(with_token + b"\n"), AskDecision)
    first = single(relay.keepalive(ask.hold, "waiting"), ToClient)
    second = single(relay.keepalive(ask.hold, "waiting"), ToClient)
    assert json.loads(first.data)["params"] == {"progressToken": "tok", "progress": 1, "message": "waiting"}
    assert json.loads(second.data)["params"]["progress"] == 2  # progress must increase
    plain = single(relay.client_data(call(2) + b"\n"), AskDecision)
    assert relay.keepalive(plain.hold, "waiting") == []
    relay.decided(ask.hold, allow(ask))
    assert relay.keepalive(ask.hold, "waiting") == []  # nothing once decided


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        # A raw CR is whitespace to JSON but a line end to servers reading with universal newlines (Python SDK).
        (
            b'{"jsonrpc":"2.0","id":2,"method":"ping","params":{"x":\r'
            b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"rm","arguments":{}}}\r}}',
            "carriage return",
        ),
        ('{"jsonrpc":"2.0","id":1,"method":"ping"}'.encode("utf-16"), "not UTF-8"),
        (b'\xef\xbb\xbf{"jsonrpc":"2.0","id":1,"method":"ping"}', "not valid JSON"),
        (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\\ud800","arguments":{}}}', "surrogate"),
    ],
)
def test_messages_a_server_could_read_differently_are_refused(raw: bytes, why: str) -> None:
    relay = Relay("fs")
    commands = relay.client_data(raw + b"\n")
    assert only(commands, ToServer) == []
    assert only(commands, AskDecision) == []
    [report] = only(commands, Report)
    assert why in report.text


def test_text_with_a_line_separator_in_a_string_still_passes() -> None:
    relay = Relay("fs")
    raw = '{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"a\u2028b"}}'.encode()
    assert relay.client_data(raw + b"\n") == [ToServer(raw)]


def test_a_tool_call_sent_as_a_notification_is_not_forwarded() -> None:
    relay = Relay("fs")
    raw = line({"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "rm", "arguments": {}}})
    commands = relay.client_data(raw + b"\n")
    assert only(commands, ToServer) == []
    assert "as a notification" in single(commands, Report).text


def test_a_tool_call_sent_as_a_notification_inside_a_batch_is_not_forwarded() -> None:
    relay = Relay("fs")
    hidden = {"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "rm", "arguments": {}}}
    batch = line([{"jsonrpc": "2.0", "id": 1, "method": "ping"}, hidden])
    commands = relay.client_data(batch + b"\n")
    [ping] = only(commands, ToServer)
    assert json.loads(ping.data) == {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    assert any("as a notification" in report.text for report in only(commands, Report))
    assert only(commands, AskDecision) == []


def test_a_batch_of_only_a_tool_call_notification_forwards_nothing() -> None:
    relay = Relay("fs")
    batch = line([{"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "rm", "arguments": {}}}])
    assert only(relay.client_data(batch + b"\n"), ToServer) == []


def test_a_tool_call_with_a_number_too_large_for_a_double_is_refused_not_asked() -> None:
    relay = Relay("fs")
    raw = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"f","arguments":{"n":1e400}}}'
    commands = relay.client_data(raw + b"\n")
    assert only(commands, AskDecision) == [] and only(commands, ToServer) == []
    [answer] = only(commands, ToClient)
    assert json.loads(answer.data)["error"]["code"] == -32700
