"""One decision service per user and home, and how a proxy tells that service from a process that took its socket.

On Linux the instance lock is a listening socket in the abstract namespace (`Home.lock_address`). Binding the name
is taking the lock, so nothing done to files — removing the lock file, renaming the run directory — frees it; only
the holder's exit does. And whoever connects to the name learns from the kernel (SO_PEERCRED) which process holds
it, which no process can forge. A proxy compares that process with the one answering on the service's socket: a
process that replaced the socket answers there, but cannot hold the lock while the service lives.

Elsewhere the lock is an flock on a file (which a removed file does defeat) and the check cannot be made.
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import threading
from typing import IO

from approver.platform.paths import Home, ensure_private_dir
from approver.platform.peercred import PeerCredentials, describe_process, peer_credentials

ABSTRACT_LOCK = sys.platform == "linux"
PROBE_TIMEOUT = 1.0


class AlreadyRunning(RuntimeError):
    pass


class InstanceLock:
    """The home's instance lock, held for the service's lifetime (or a `log rotate-key`)."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self._listener: socket.socket | None = None
        self._answering: threading.Thread | None = None
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        if ABSTRACT_LOCK:
            self._bind_name()
        else:
            self._lock_file()

    def release(self) -> None:
        if self._listener is not None:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            if self._answering is not None:
                self._answering.join()
            self._listener.close()
            self._listener = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def _bind_name(self) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(self.home.lock_address)
        except OSError:
            listener.close()
            holder = lock_holder(self.home)
            if holder is not None and holder.uid != os.getuid():
                raise AlreadyRunning(
                    f"another user (uid {holder.uid}) holds this home's lock name; MCP Approver cannot start here"
                ) from None
            owner = f"pid {holder.pid}" if holder is not None and holder.pid else "another process"
            raise AlreadyRunning(f"MCP Approver is already running for this home ({owner})") from None
        listener.listen(socket.SOMAXCONN)
        self._listener = listener
        # Those who connect only read the kernel's record of who holds the lock; accept them so they never
        # fill the backlog. A thread, so that this works whatever the event loop is doing.
        self._answering = threading.Thread(target=_accept_and_close, args=(listener,), name="lock", daemon=True)
        self._answering.start()

    def _lock_file(self) -> None:
        path = self.home.lock_file
        ensure_private_dir(path.parent)
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            raise AlreadyRunning(f"MCP Approver is already running for this home (pid {owner})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle


def _accept_and_close(listener: socket.socket) -> None:
    while True:
        try:
            connection, _ = listener.accept()
        except OSError:
            return  # released
        connection.close()


def lock_holder(home: Home) -> PeerCredentials | None:
    """The process holding the home's instance lock (Linux), or None when no process does. Waits for at most
    PROBE_TIMEOUT, and only when many probes arrive at once (the holder accepts them on a thread)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(PROBE_TIMEOUT)
        try:
            probe.connect(home.lock_address)
        except ConnectionRefusedError:
            return None
        return peer_credentials(probe)


def impostor_problem(home: Home, answering: PeerCredentials) -> str | None:
    """Why the process answering on the service's socket is not this home's service, or None when it is (or when
    the platform cannot tell: then the socket's private directory is the only guard)."""
    if not ABSTRACT_LOCK:
        return None
    who = describe_process(answering.pid)
    try:
        holder = lock_holder(home)
    except OSError as exc:
        return f"{who} answers on the service's socket, but the service's lock cannot be checked ({exc})"
    if holder is None:
        return f"{who} answers on the service's socket, but no MCP Approver service holds this home's lock"
    if answering.pid is None or holder.pid != answering.pid:
        return (
            f"{who} answers on the service's socket, but the MCP Approver service of this home is "
            f"{describe_process(holder.pid)}: something replaced its socket"
        )
    return None
