import pytest

from approver.core import jsonrpc
from approver.core.jsonrpc import MalformedMessage, Notification, Request, Response


def test_duplicate_keys_are_rejected_at_any_depth() -> None:
    with pytest.raises(MalformedMessage, match="duplicate key 'name'"):
        jsonrpc.loads_strict(b'{"method":"tools/call","params":{"name":"a","name":"b"}}')


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_not_json(literal: bytes) -> None:
    with pytest.raises(MalformedMessage, match="not valid JSON"):
        jsonrpc.loads_strict(b'{"x": ' + literal + b"}")


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"1E+400", b"1.5e309", b"1" + b"0" * 400 + b".0", b"[1e400]"])
def test_a_number_a_double_cannot_hold_is_refused(number: bytes) -> None:
    # Python reads 1e400 as inf (which reaches the policy as null), JavaScript as Infinity, Go refuses it:
    # parsers disagree, so the message is refused rather than shown to the policy as something else.
    with pytest.raises(MalformedMessage, match="too large for a double"):
        jsonrpc.loads_strict(b'{"x": ' + number + b"}")


@pytest.mark.parametrize(
    ("number", "value"),
    [(b"1.7976931348623157e308", 1.7976931348623157e308), (b"1e-400", 0.0), (b"-0.0", 0.0), (b"2.5", 2.5)],
)
def test_numbers_every_double_parser_reads_alike_are_kept(number: bytes, value: float) -> None:
    assert jsonrpc.loads_strict(b'{"x": ' + number + b"}") == {"x": value}


def test_deep_nesting_is_a_clean_error_not_a_crash() -> None:
    with pytest.raises(MalformedMessage):
        jsonrpc.loads_strict(b"[" * 100_000 + b"]" * 100_000)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"jsonrpc": "2.0", "id": 1, "method": "ping"}, Request(1, "ping", {})),
        ({"jsonrpc": "2.0", "id": "a", "method": "x", "params": {"k": 1}}, Request("a", "x", {"k": 1})),
        ({"jsonrpc": "2.0", "method": "notifications/initialized"}, Notification("notifications/initialized", {})),
        ({"jsonrpc": "2.0", "id": 7, "result": {}}, Response(7, {}, False)),
        ({"jsonrpc": "2.0", "id": None, "error": {"code": 1}}, Response(None, None, True)),
    ],
)
def test_classify(raw: object, expected: object) -> None:
    assert jsonrpc.classify(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        [],
        "x",
        {"jsonrpc": "2.0", "id": 1},
        {"jsonrpc": "2.0", "id": True, "method": "x"},
        {"jsonrpc": "2.0", "id": 1.5, "method": "x"},
        {"jsonrpc": "2.0", "id": 1, "method": 5},
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": ["positional"]},
    ],
)
def test_classify_rejects_what_is_not_a_message(raw: object) -> None:
    with pytest.raises(MalformedMessage):
        jsonrpc.classify(raw)


def test_ids_of_different_types_are_different_keys() -> None:
    assert jsonrpc.id_key(1) != jsonrpc.id_key("1")
