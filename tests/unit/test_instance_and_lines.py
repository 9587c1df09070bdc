"""The instance lock and the impostor check (`approver.platform.instance`), long socket paths, and the service's
bounded line reader."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from approver.platform.instance import AlreadyRunning, InstanceLock, impostor_problem, lock_holder
from approver.platform.paths import Home, socket_address
from approver.platform.peercred import PeerCredentials
from approver.service import server
from approver.service.server import _Cut, _LineBudget, _LineReader

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="the abstract socket namespace is Linux's")


def make_home(root: Path) -> Home:
    return Home(root / "config", root / "data", root / "run", explicit=True)


@linux_only
def test_the_lock_survives_its_directory_being_removed(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    lock = InstanceLock(home)
    lock.acquire()
    try:
        shutil.rmtree(home.run_dir, ignore_errors=True)
        with pytest.raises(AlreadyRunning, match=f"pid {os.getpid()}"):
            InstanceLock(home).acquire()
    finally:
        lock.release()
    again = InstanceLock(home)
    again.acquire()  # released: free again
    again.release()


@linux_only
def test_the_kernel_names_the_lock_holder(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    assert lock_holder(home) is None
    lock = InstanceLock(home)
    lock.acquire()
    try:
        for _ in range(200):  # more than the listen backlog: every probe is accepted and let go
            holder = lock_holder(home)
            assert holder is not None
            assert (holder.pid, holder.uid) == (os.getpid(), os.getuid())
    finally:
        lock.release()
    assert lock_holder(home) is None


@linux_only
def test_only_the_lock_holder_passes_for_the_service(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    me = PeerCredentials(uid=os.getuid(), pid=os.getpid())
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as other:
        try:
            nobody = impostor_problem(home, PeerCredentials(uid=os.getuid(), pid=other.pid))
            assert nobody is not None
            assert f"pid {other.pid}" in nobody
            assert "no MCP Approver service holds this home's lock" in nobody
            lock = InstanceLock(home)
            lock.acquire()
            try:
                assert impostor_problem(home, me) is None
                replaced = impostor_problem(home, PeerCredentials(uid=os.getuid(), pid=other.pid))
                assert replaced is not None
                assert f"pid {other.pid}" in replaced
                assert f"the MCP Approver service of this home is pid {os.getpid()}" in replaced
                unknown = impostor_problem(home, PeerCredentials(uid=os.getuid(), pid=None))
                assert unknown is not None
            finally:
                lock.release()
        finally:
            other.kill()


@linux_only
def test_a_socket_deeper_than_sun_path_stays_in_its_directory(tmp_path: Path) -> None:
    directory = tmp_path / ("d" * 100) / ("e" * 100)
    directory.mkdir(parents=True)
    path = directory / "service.sock"
    assert len(os.fsencode(path)) > 108
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        with socket_address(path) as address:
            listener.bind(address)
        listener.listen()
        assert path.is_socket()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client, socket_address(path) as address:
            client.connect(address)


def reader_with(*chunks: bytes, eof: bool = True) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    for chunk in chunks:
        reader.feed_data(chunk)
    if eof:
        reader.feed_eof()
    return reader


async def test_lines_are_split_wherever_the_chunks_end() -> None:
    budget = _LineBudget(1000)
    lines = _LineReader(reader_with(b'{"a"', b':1}\n{"b":2}\n{"c"', b":3}\n"), budget)
    assert [await lines.next_line(100, None) for _ in range(4)] == [b'{"a":1}', b'{"b":2}', b'{"c":3}', None]
    assert budget.used == 0


async def test_a_line_over_the_limit_is_cut_even_before_its_end() -> None:
    lines = _LineReader(reader_with(b"x" * 200, eof=False), _LineBudget(1000))
    with pytest.raises(_Cut, match="longer than 100 bytes"):
        await lines.next_line(100, None)
    ended = _LineReader(reader_with(b"x" * 200 + b"\n"), _LineBudget(1000))
    with pytest.raises(_Cut, match="longer than 100 bytes"):
        await ended.next_line(100, None)


async def test_unfinished_lines_of_all_connections_share_one_budget() -> None:
    budget = _LineBudget(300)
    first = _LineReader(reader_with(b"x" * 200, eof=False), budget)
    second = _LineReader(reader_with(b"y" * 200, eof=False), budget)
    first_task = asyncio.ensure_future(first.next_line(1000, None))
    await asyncio.sleep(0)
    with pytest.raises(_Cut, match="memory"):
        await second.next_line(1000, None)
    assert budget.used == 200
    first_task.cancel()
    first.close()
    assert budget.used == 0


async def test_an_unfinished_line_and_an_idle_client_time_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "LINE_TIMEOUT", 0.05)
    unfinished = _LineReader(reader_with(b'{"type":', eof=False), _LineBudget(1000))
    with pytest.raises(_Cut, match="unfinished"):
        await unfinished.next_line(100, None)
    idle = _LineReader(reader_with(eof=False), _LineBudget(1000))
    with pytest.raises(_Cut, match="idle"):
        await idle.next_line(100, 0.05)
