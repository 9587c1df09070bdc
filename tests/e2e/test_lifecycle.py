"""Processes and failures: no orphans, one service per home, clear errors for bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from typing import Any

import pytest

from tests.conftest import NODE, SERVER_EVERYTHING, ApproverHome, Service, children_of, process_gone, require_npm_tools

pytestmark = pytest.mark.e2e

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
}


def wait_for(condition: Any, what: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def start_proxy(home: ApproverHome) -> tuple[subprocess.Popen[bytes], int]:
    require_npm_tools()
    proxy = subprocess.Popen(
        home.proxy_command("everything", NODE, SERVER_EVERYTHING, "stdio"),
        env=home.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proxy.stdin is not None and proxy.stdout is not None
    proxy.stdin.write(json.dumps(INITIALIZE).encode() + b"\n")
    proxy.stdin.flush()
    assert json.loads(proxy.stdout.readline())["id"] == 1  # the server is up and answering
    [server] = children_of(proxy.pid)
    return proxy, server


def test_closing_stdin_ends_the_server_and_the_proxy(home: ApproverHome) -> None:
    proxy, server = start_proxy(home)
    assert proxy.stdin is not None
    proxy.stdin.close()
    assert proxy.wait(timeout=15) == 0
    wait_for(lambda: process_gone(server), "the server to end")
    proxy.stdout.close()  # type: ignore[union-attr]
    proxy.stderr.close()  # type: ignore[union-attr]


def test_a_server_that_ignores_eof_and_sigterm_is_killed(home: ApproverHome, tmp_path: Any) -> None:
    stubborn = tmp_path / "stubborn.py"
    stubborn.write_text(
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', file=sys.stderr, flush=True)\n"
        "while True:\n    time.sleep(1)\n"
    )
    proxy = subprocess.Popen(
        home.proxy_command("stubborn", "python3", stubborn),
        env=home.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proxy.stderr is not None and proxy.stdin is not None
    while b"ready" not in proxy.stderr.readline():  # the server's stderr reaches ours, among the proxy's own lines
        pass
    [server] = children_of(proxy.pid)
    proxy.stdin.close()
    assert proxy.wait(timeout=20) == 0
    assert process_gone(server)
    proxy.stdout.close()  # type: ignore[union-attr]
    proxy.stderr.close()


def test_a_killed_proxy_takes_its_server_with_it(home: ApproverHome) -> None:
    proxy, server = start_proxy(home)
    proxy.kill()
    proxy.wait(timeout=10)
    wait_for(lambda: process_gone(server), "the orphaned server to end")
    for stream in (proxy.stdin, proxy.stdout, proxy.stderr):
        stream.close()  # type: ignore[union-attr]


def test_status_reports_whether_a_service_runs(home: ApproverHome) -> None:
    down = home.approver("status")
    assert down.returncode == 3
    assert "not running" in down.stdout
    service = Service(home, "--policy", str(home.write_policy({"effect": "allow", "tool": "echo"})))
    try:
        up = home.approver("status")
        assert up.returncode == 0
        assert "headless" in up.stdout
        assert "(1 rules)" in up.stdout
        second = home.approver("serve", "--headless", "--policy", str(home.policy_file))
        assert second.returncode == 1
        assert second.stderr.strip() == (
            f"approver: MCP Approver is already running for this home (pid {service.process.pid})"
        )
    finally:
        service.stop()
    assert home.approver("status").returncode == 3


def test_services_of_different_homes_are_independent(home: ApproverHome, tmp_path: Any) -> None:
    other = ApproverHome(tmp_path / "other")
    other.root.mkdir()
    first = Service(home)
    try:
        assert other.approver("status").returncode == 3
        second = Service(other)
        second.stop()
    finally:
        first.stop()


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ('{"rules": [{"effect": "alow"}]}', "effect: 'alow' is not one of allow, deny, ask (did you mean 'allow'?)"),
        ('{"rules": [{"effect": "deny", "tool": "ech[o"}]}', "tool: the [ at position 4 of 'ech[o' opens a set"),
        ('{"rules": [', "not valid JSON"),
    ],
)
def test_an_invalid_policy_stops_the_service_from_starting(home: ApproverHome, policy: str, expected: str) -> None:
    home.policy_file.write_text(policy)
    result = home.approver("serve", "--headless", "--policy", str(home.policy_file))
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"approver: {home.policy_file}: ")
    assert expected in line
    assert home.approver("status").returncode == 3


def test_a_policy_broken_while_running_leaves_no_rule_in_force(home: ApproverHome) -> None:
    policy = home.write_policy({"effect": "allow", "tool": "*"})
    service = Service(home, "--policy", str(policy))
    try:
        policy.write_text('{"rules": [{"effect": "allow", "tool": 1}]}')
        status = home.approver("status")
        assert "the policy file is invalid, none of its rules is in force" in status.stdout
    finally:
        service.stop()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["proxy", "--name", "x"], 2, "proxy needs the server command after `--`"),
        (["proxy", "--name", "x", "--", "/nonexistent/server"], 127, "cannot start server 'x'"),
        (["serve", "--headless", "--policy", "/nonexistent.json"], 1, "/nonexistent.json: no such file"),
        (["log", "show", "--limit", "-1"], 2, "--limit must be 0 or more"),
        (["frobnicate"], 2, "invalid choice"),
    ],
)
def test_errors_are_one_clear_line(home: ApproverHome, args: list[str], code: int, message: str) -> None:
    result = home.approver(*args)
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_sigterm_to_the_proxy_shuts_the_server_down(home: ApproverHome) -> None:
    proxy, server = start_proxy(home)
    os.kill(proxy.pid, signal.SIGTERM)
    assert proxy.wait(timeout=15) == 0
    wait_for(lambda: process_gone(server), "the server to end")
    for stream in (proxy.stdin, proxy.stdout, proxy.stderr):
        stream.close()  # type: ignore[union-attr]


def test_a_client_that_never_reads_stderr_cannot_stall_the_relay(home: ApproverHome, tmp_path: Any) -> None:
    noisy = tmp_path / "noisy.py"
    noisy.write_text(
        "import sys\n"
        "sys.stderr.write('x' * 8_000_000)\n"  # far more than a pipe holds
        "sys.stderr.flush()\n"
        "for line in sys.stdin:\n"
        "    sys.stdout.write(line)\n"
        "    sys.stdout.flush()\n"
    )
    proxy = subprocess.Popen(
        home.proxy_command("noisy", "python3", noisy),
        env=home.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,  # never read
    )
    assert proxy.stdin is not None and proxy.stdout is not None
    ping = b'{"jsonrpc":"2.0","id":7,"method":"ping"}\n'
    proxy.stdin.write(ping)
    proxy.stdin.flush()
    assert proxy.stdout.readline() == ping  # relayed although stderr is full
    proxy.stdin.close()
    assert proxy.wait(timeout=15) == 0
    proxy.stdout.close()
    proxy.stderr.close()  # type: ignore[union-attr]


def test_the_proxy_says_on_stderr_when_nothing_decides_and_when_that_changes(home: ApproverHome, tmp_path: Any) -> None:
    """A wrapped server looks healthy to its client ("Connected") even when every call will be denied; the proxy's
    stderr, which clients keep in their logs, is where the person learns why, and when it changes."""
    require_npm_tools()
    stderr_path = tmp_path / "proxy.err"
    with stderr_path.open("wb") as stderr:
        proxy = subprocess.Popen(
            home.proxy_command("everything", NODE, SERVER_EVERYTHING, "stdio"),
            env=home.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    lines = stderr_path.read_text
    try:
        wait_for(lambda: "MCP Approver is not running" in lines(), "the proxy to say nothing decides")
        assert "every tool call will be denied until it starts" in lines()
        service = Service(home)
        wait_for(lambda: "MCP Approver is back" in lines(), "the proxy to notice the service")
        service.stop()
        wait_for(lambda: "lost MCP Approver" in lines(), "the proxy to notice the service went away")
        again = Service(home)
        wait_for(lambda: lines().count("MCP Approver is back") == 2, "the proxy to notice it came back")
        again.stop()
        wait_for(lambda: lines().count("lost MCP Approver") == 2, "the proxy to notice it went away again")
    finally:
        assert proxy.stdin is not None
        proxy.stdin.close()
        proxy.wait(timeout=15)
    said = [line for line in lines().splitlines() if line.startswith("approver proxy [everything]")]
    assert len(said) == 5, said  # one line per change, not one per attempt


def test_a_proxy_started_with_the_service_up_says_it_is_connected(home: ApproverHome, tmp_path: Any) -> None:
    service = Service(home)
    try:
        proxy, _ = start_proxy(home)
        assert proxy.stdin is not None and proxy.stderr is not None
        proxy.stdin.close()
        assert proxy.wait(timeout=15) == 0
        said = proxy.stderr.read().decode()
        proxy.stdout.close()  # type: ignore[union-attr]
        proxy.stderr.close()
    finally:
        service.stop()
    assert "connected to MCP Approver: tool calls wait for its decision" in said
    assert "not running" not in said
