"""A server entry's transport, its protection, and the wrapped form."""

from __future__ import annotations

import pytest

from approver.clients.entries import (
    REMOVE,
    Expected,
    Launcher,
    State,
    apply_changes,
    classify,
    unwrap_args,
    unwrap_changes,
    wrap_changes,
)

SCRIPT = Launcher("/home/u/.venv/bin/approver")
MODULE = Launcher("/usr/bin/python3.11", ("-m", "approver"))


@pytest.mark.parametrize(
    ("entry", "transport", "state"),
    [
        ({"command": "npx", "args": ["-y", "x"]}, "stdio", State.UNPROTECTED),
        ({"type": "stdio", "command": "npx"}, "stdio", State.UNPROTECTED),
        ({"type": "http", "url": "https://x/mcp"}, "http", State.UNPROTECTED),
        ({"type": "sse", "url": "https://x/sse"}, "sse", State.UNPROTECTED),
        ({"url": "https://x/mcp"}, "http", State.UNPROTECTED),
        ({"serverUrl": "https://x/mcp"}, "http", State.UNPROTECTED),
        ({"httpUrl": "https://x/mcp"}, "http", State.UNPROTECTED),
        ({"command": {"path": "npx", "args": []}}, "stdio", State.CANNOT),
        ({"command": "npx", "args": "-y x"}, "stdio", State.CANNOT),
        ({"command": "npx", "args": [1]}, "stdio", State.CANNOT),
        ({"type": "http", "command": "npx"}, "http", State.CANNOT),
        ({"env": {}}, "unknown", State.CANNOT),
        ("npx", "unknown", State.CANNOT),
        ({"command": "approver", "args": ["serve"]}, "stdio", State.CANNOT),
    ],
)
def test_classify(entry: object, transport: str, state: State) -> None:
    status = classify("s", entry)
    assert (status.transport, status.state) == (transport, state)
    assert status.reason


@pytest.mark.parametrize("name", ["", " ", "-x", "tab\there", "\x7f"])
def test_a_name_the_proxy_would_refuse_is_not_wrapped(name: str) -> None:
    status = classify(name, {"command": "npx"})
    assert status.state is State.CANNOT and "--name" in status.reason


def test_gemini_reads_a_bare_url_as_sse() -> None:
    assert classify("s", {"url": "https://x/sse"}, url_transport="sse").transport == "sse"


@pytest.mark.parametrize("launcher", [SCRIPT, MODULE])
def test_a_wrapped_entry_is_recognised_and_never_wrapped_twice(launcher: Launcher) -> None:
    entry = {"command": "npx", "args": ["-y", "srv", "--", "x"], "env": {"A": "1"}, "cwd": "/p", "x-custom": [1]}
    status = classify("fs", entry)
    wrapped = {**entry}
    apply_changes(wrapped, wrap_changes(status, entry, launcher, "/home/u/alt"))
    assert wrapped["command"] == launcher.command
    assert wrapped["args"] == [*launcher.prefix, "proxy", "--name", "fs", "--", "npx", "-y", "srv", "--", "x"]
    assert wrapped["env"] == {"A": "1", "APPROVER_HOME": "/home/u/alt"}
    assert (wrapped["cwd"], wrapped["x-custom"]) == ("/p", [1])
    again = classify("fs", wrapped)
    assert again.state is State.PROTECTED
    assert again.wrapped is not None
    assert (again.wrapped.command, again.wrapped.args) == ("npx", ("-y", "srv", "--", "x"))
    apply_changes(wrapped, unwrap_changes(again, wrapped, {k: entry[k] for k in ("command", "args", "env")}))
    assert wrapped == entry


def test_unwrapping_without_a_record_uses_the_wrapper_itself() -> None:
    entry = {"command": "C:\\Tools\\approver.exe", "args": ["proxy", "--name", "n", "--ack-timeout", "3", "--", "srv"]}
    status = classify("n", entry)
    assert status.state is State.PROTECTED
    changes = unwrap_changes(status, entry, None)
    assert changes == [(("command",), "srv"), (("args",), [])]


def test_the_env_we_added_goes_and_one_the_user_had_stays() -> None:
    ours = {"command": "approver", "args": ["proxy", "--name", "n", "--", "srv"], "env": {"APPROVER_HOME": "/h"}}
    assert (("env",), REMOVE) in unwrap_changes(classify("n", ours), ours, {"command": "srv"})
    theirs = {**ours, "env": {"APPROVER_HOME": "/h", "K": "v"}}
    assert (("env", "APPROVER_HOME"), REMOVE) in unwrap_changes(classify("n", theirs), theirs, {"command": "srv"})
    kept = unwrap_changes(classify("n", theirs), theirs, {"command": "srv", "env": {"APPROVER_HOME": "/h"}})
    assert not [change for change in kept if change[0][0] == "env"]


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("approver", ["proxy", "--name", "n"]),  # no `--`
        ("approver", ["proxy", "--name", "n", "--"]),  # nothing behind it
        ("approver", ["proxy", "--", "srv"]),  # no --name
        ("/usr/bin/python3", ["-m", "other", "proxy", "--name", "n", "--", "srv"]),
        ("approver-proxy", ["proxy", "--name", "n", "--", "srv"]),
    ],
)
def test_what_is_not_a_wrapper(command: str, args: list[str]) -> None:
    assert unwrap_args(command, args) is None


def test_only_this_installations_approver_and_home_count_as_protected() -> None:
    expected = Expected(frozenset({SCRIPT, MODULE}), "/home/u/alt")
    args = ["proxy", "--name", "n", "--", "srv"]
    env = {"APPROVER_HOME": "/home/u/alt"}
    script = {"command": SCRIPT.command, "args": args, "env": env}
    assert classify("n", script, expected=expected).state is State.PROTECTED
    module = {"command": MODULE.command, "args": [*MODULE.prefix, *args], "env": env}
    assert classify("n", module, expected=expected).state is State.PROTECTED
    for entry in (
        {"command": "/tmp/agent/approver", "args": args, "env": env},  # a lookalike
        {"command": "/usr/bin/python3", "args": ["-m", "approver", *args], "env": env},  # another interpreter
        {"command": SCRIPT.command, "args": args},  # the default home's service, not ours
        {"command": SCRIPT.command, "args": args, "env": {"APPROVER_HOME": "/tmp/agent-home"}},
    ):
        status = classify("n", entry, expected=expected)
        assert status.state is State.CANNOT and status.wrapped is not None, entry
