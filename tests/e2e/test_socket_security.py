"""Attacks on the decision service's socket by processes of the same user (issue 9, items 7 and 10), each
reproduced against a real headless service, with real proxies and a real MCP server where a call is involved.

The impostor (tests/servers/impostor_service.py) is what an agent with a shell could run: it unlinks the
service's socket, binds its own and allows everything, speaking the real protocol."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp_types import TextContent

from approver.ipc import protocol
from approver.ipc.protocol import Decide, Hello, StatusRequest
from approver.service import server
from tests.conftest import APPROVER, NODE, ROOT, SERVER_EVERYTHING, ApproverHome, Service, require_npm_tools

pytestmark = pytest.mark.e2e

IMPOSTOR = ROOT / "tests" / "servers" / "impostor_service.py"
ALLOW_ECHO = {"effect": "allow", "schema": "any", "server": "everything", "tool": "echo", "id": "echo-ok"}
MIB = 1024 * 1024


def socket_path(home: ApproverHome) -> Path:
    return home.root / "run" / "service.sock"


def everything(home: ApproverHome) -> Client:
    require_npm_tools()
    command = home.proxy_command("everything", NODE, SERVER_EVERYTHING, "stdio")
    return Client(StdioServerParameters(command=command[0], args=command[1:], env=home.env), mode="legacy")


def text_of(result: Any) -> str:
    [content] = result.content
    assert isinstance(content, TextContent)
    return content.text


@contextlib.contextmanager
def impostor(home: ApproverHome, real_pid: int) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    """The impostor, listening on the service's socket path: (its process, its socket's inode, what reached it)."""
    record = home.root / "impostor-received.jsonl"
    record.touch()
    process = subprocess.Popen(
        [sys.executable, str(IMPOSTOR), str(socket_path(home)), str(record), str(real_pid)],
        env=home.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process, int(process.stdout.readline()), record
    finally:
        process.kill()
        process.wait()
        assert process.stdout is not None
        process.stdout.close()


def log_entries(home: ApproverHome, kind: str) -> list[dict[str, Any]]:
    exported = home.approver("log", "export", "--format", "jsonl")
    assert exported.returncode == 0, exported.stderr
    return [entry for entry in map(json.loads, exported.stdout.splitlines()) if entry["kind"] == kind]


def memory_kib(pid: int, field: str) -> int:
    """VmRSS (resident now) or VmHWM (the peak) of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for pid {pid}")


def greet(sock: socket.socket, role: str = "proxy") -> None:
    sock.sendall(protocol.encode(Hello.model_validate({"role": role, "pid": os.getpid()})))
    assert b'"welcome"' in sock.recv(4096)


# -- the socket taken over -------------------------------------------------------------------------------------------


async def test_a_proxy_refuses_an_impostor_on_the_socket(home: ApproverHome, start_service: Any) -> None:
    service = start_service()  # no rule allows echo: the real service would deny it
    # Stopped, the service cannot take its socket back: this isolates what the proxy itself can tell.
    os.kill(service.process.pid, signal.SIGSTOP)
    try:
        with impostor(home, service.process.pid) as (fake, _inode, received):
            status = home.approver("status")
            async with everything(home) as client:
                result = await client.call_tool("echo", {"message": "the impostor says yes"})
            reached_impostor = received.read_text()
    finally:
        os.kill(service.process.pid, signal.SIGCONT)
    assert result.is_error, text_of(result)
    assert f"pid {fake.pid}" in text_of(result)
    assert "decide" not in reached_impostor  # the proxy never even asked it
    assert status.returncode == 1, status.stdout
    assert f"pid {fake.pid}" in status.stdout
    assert f"pid {service.process.pid}" in status.stdout


async def test_the_service_takes_its_socket_back_and_raises_the_alarm(home: ApproverHome, start_service: Any) -> None:
    service = start_service(ALLOW_ECHO)
    path = socket_path(home)
    with impostor(home, service.process.pid) as (fake, inode, received):
        swapped = time.monotonic()
        while True:
            with contextlib.suppress(FileNotFoundError):
                if os.lstat(path).st_ino != inode:
                    break
            assert time.monotonic() - swapped < 10, "the service never took its socket back"
            await asyncio.sleep(0.01)
        taken_back_after = time.monotonic() - swapped
        status = home.approver("status")
        doctor = home.approver("doctor")
        async with everything(home) as client:
            result = await client.call_tool("echo", {"message": "the real service decides"})
        impostor_exe = str(Path(f"/proc/{fake.pid}/exe").readlink())
    print(f"the service took its socket back {taken_back_after * 1000:.0f} ms after the impostor bound it")
    assert taken_back_after < 1.5
    assert status.returncode == 0, status.stdout
    assert "ALARM" in status.stdout
    assert f"pid {fake.pid}" in status.stdout
    assert doctor.returncode == 1
    assert f"pid {fake.pid}" in doctor.stdout
    assert text_of(result) == "Echo: the real service decides"
    assert received.read_text() == ""
    # (The watch may also catch the instant between the impostor's unlink and its bind: a "socket-removed" alarm.)
    [alarm] = [alarm for alarm in log_entries(home, "service-alarm") if alarm["alarm"] == "socket-replaced"]
    assert alarm["culprit"] == {"pid": fake.pid, "exe": impostor_exe}
    assert alarm["taken_back"] is True
    verified = home.approver("log", "verify")
    assert verified.returncode == 0, verified.stdout


async def test_the_service_puts_back_a_removed_socket(home: ApproverHome, start_service: Any) -> None:
    start_service()
    path = socket_path(home)
    path.unlink()
    removed = time.monotonic()
    while not path.exists():
        assert time.monotonic() - removed < 10, "the service never put its socket back"
        await asyncio.sleep(0.01)
    print(f"the service put its socket back {(time.monotonic() - removed) * 1000:.0f} ms after it was removed")
    assert time.monotonic() - removed < 1.5
    status = home.approver("status")
    assert status.returncode == 0
    assert "ALARM" in status.stdout
    assert "removed" in status.stdout
    [alarm] = log_entries(home, "service-alarm")
    assert alarm["alarm"] == "socket-removed"


# -- one service per home ---------------------------------------------------------------------------------------------


def test_a_second_service_refuses_even_after_the_lock_file_is_removed(home: ApproverHome, start_service: Any) -> None:
    first = start_service()
    for leftover in (home.root / "run").iterdir():
        if not leftover.is_socket():
            leftover.unlink()  # the lock file, wherever the lock is kept as one
    second = subprocess.run(
        [*APPROVER, "serve", "--headless"], env=home.env, capture_output=True, text=True, timeout=30, check=False
    )
    assert second.returncode == 1
    assert "already running" in second.stderr
    assert f"pid {first.process.pid}" in second.stderr
    status = home.approver("status")
    assert f"pid {first.process.pid}" in status.stdout


# -- clients that hold on --------------------------------------------------------------------------------------------


def test_a_client_that_never_greets_is_cut_off(home: ApproverHome, start_service: Any) -> None:
    start_service()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(socket_path(home)))
        sock.settimeout(30)
        connected = time.monotonic()
        assert sock.recv(1) == b""
    assert time.monotonic() - connected < 15


def test_a_line_that_never_ends_is_cut_off(home: ApproverHome, start_service: Any) -> None:
    start_service()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(socket_path(home)))
        greet(sock)
        sock.sendall(b'{"type":"decide","ref":1,')
        sock.settimeout(30)
        started = time.monotonic()
        assert sock.recv(1) == b""
    assert time.monotonic() - started < 25


@pytest.mark.parametrize("greeted", [False, True], ids=["before-hello", "after-hello"])
def test_300_mb_without_a_newline_is_cut_off_and_memory_stays_bounded(
    home: ApproverHome, start_service: Any, greeted: bool
) -> None:
    service = start_service()
    pid = service.process.pid
    resident_before = memory_kib(pid, "VmRSS")
    chunk = b"x" * MIB
    sent = 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(socket_path(home)))
        if greeted:
            greet(sock)
        sock.settimeout(30)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while sent < 300 * MIB:
                sock.sendall(chunk)
                sent += len(chunk)
            assert sock.recv(1) == b"", "the service kept the connection after 300 MB without a newline"
    peak = memory_kib(pid, "VmHWM")
    deadline = time.monotonic() + 10
    while (resident_after := memory_kib(pid, "VmRSS")) > resident_before + 32 * 1024 and time.monotonic() < deadline:
        time.sleep(0.05)
    print(
        f"sent {sent // MIB} MiB before the cut; service RSS {resident_before // 1024} MiB before, "
        f"peak {peak // 1024} MiB, {resident_after // 1024} MiB after"
    )
    assert sent < 300 * MIB
    assert resident_after < resident_before + 32 * 1024
    bound = protocol.MAX_MESSAGE_BYTES + 64 * MIB if greeted else 32 * MIB
    assert (peak - resident_before) * 1024 < bound


def test_a_client_that_does_not_read_its_replies_is_cut_off(home: ApproverHome, start_service: Any) -> None:
    start_service()
    asks = 200_000
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(socket_path(home)))
        greet(sock, role="status")
        sock.settimeout(30)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(protocol.encode(StatusRequest()) * asks)
            sock.shutdown(socket.SHUT_WR)
        replies = b""
        with contextlib.suppress(ConnectionResetError):
            while block := sock.recv(MIB):
                replies += block
    assert replies.count(b"\n") < asks / 2


def test_connections_beyond_the_limit_are_refused_and_the_service_lives_on(
    home: ApproverHome, start_service: Any
) -> None:
    start_service()
    held: list[socket.socket] = []
    try:
        for _ in range(server.MAX_CONNECTIONS):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            held.append(sock)
            sock.connect(str(socket_path(home)))
            greet(sock)  # a greeted proxy may stay idle: only the limit bounds how many
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as one_more:
            one_more.connect(str(socket_path(home)))
            one_more.settimeout(30)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                one_more.sendall(protocol.encode(Hello(role="proxy", pid=os.getpid())))
                assert one_more.recv(4096) == b"", "welcomed beyond the limit"
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 20
    while home.approver("status").returncode != 0:
        assert time.monotonic() < deadline, "the service did not recover once the connections closed"
        time.sleep(0.05)


# -- what the service cannot vouch for ------------------------------------------------------------------------------


def test_a_call_asked_for_over_the_socket_is_logged_as_unverified_with_its_peer(
    home: ApproverHome, start_service: Any
) -> None:
    start_service()
    invented = {"server": "fs", "tool": "delete_everything", "request_id": 1, "digest": "sha256:" + "0" * 64}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(socket_path(home)))
        greet(sock)
        sock.sendall(protocol.encode(Decide.model_validate({"ref": 1, "call": invented})))
        sock.settimeout(30)
        assert b'"verdict"' in sock.recv(65536)
    [entry] = [entry for entry in home.log() if entry["tool"] == "delete_everything"]
    assert entry["source"] == "unverified-socket-client"
    assert entry["requester"] == {"pid": os.getpid(), "exe": str(Path("/proc/self/exe").readlink())}


# -- a home too deep for a socket path --------------------------------------------------------------------------------


async def test_a_deep_home_keeps_its_socket_in_its_own_directory(tmp_path: Path, monkeypatch: Any) -> None:
    deep = ApproverHome(tmp_path / ("d" * 60) / ("e" * 60) / "home")
    deep.root.mkdir(parents=True)
    # A shared temporary directory in which another user already made the name the old fallback used.
    shared = tmp_path / "shared-tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    squatted = shared / f"approver-{os.getuid()}"
    squatted.mkdir()
    squatted.chmod(0o777)
    if os.getuid() == 0:
        os.chown(squatted, 65534, 65534)
    monkeypatch.setenv("TMPDIR", str(shared))
    service = Service(deep, "--policy", str(deep.write_policy(ALLOW_ECHO)))
    try:
        async with everything(deep) as client:
            result = await client.call_tool("echo", {"message": "deep"})
    finally:
        service.stop()
    assert text_of(result) == "Echo: deep"
    assert list(squatted.iterdir()) == []
    assert (deep.root / "run").stat().st_mode & 0o777 == 0o700
