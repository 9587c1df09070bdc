import pytest

from approver.core.models import Actor, Decision, ToolCall, Verdict
from approver.ipc import protocol
from approver.ipc.protocol import Decide, ProtocolError, VerdictMessage


def test_messages_round_trip_with_arbitrary_arguments() -> None:
    call = ToolCall(
        server="fs",
        tool="write",
        arguments={"path": "/tmp/\u202ex", "n": 10**30, "nested": [{"a": None}], "f": 1.5},
        request_id="r1",
        digest="sha256:ab",
    )
    decoded = protocol.decode(protocol.encode(Decide(ref=3, call=call)))
    assert decoded == Decide(ref=3, call=call)
    verdict = Verdict(decision=Decision.DENY, actor=Actor.NONE, reason="x", digest="sha256:ab")
    assert protocol.decode(protocol.encode(VerdictMessage(ref=3, verdict=verdict))) == VerdictMessage(
        ref=3, verdict=verdict
    )


@pytest.mark.parametrize("line", [b"", b"{", b'{"type":"nope"}', b'{"type":"decide","ref":"x"}'])
def test_anything_else_is_a_protocol_error(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        protocol.decode(line)
