"""Who is on the other end of a Unix socket, as the kernel reports it: the service talks only to its own user, and
the proxy checks which process answers (see `approver.platform.instance`)."""

from __future__ import annotations

import socket
import struct
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PeerCredentials:
    uid: int | None  # None where the platform cannot tell (then the socket's 0700 directory guards)
    pid: int | None  # the peer process; None where the platform cannot tell, or it is in another pid namespace


def peer_credentials(sock: socket.socket) -> PeerCredentials:
    """For a connected socket: the process that connected (seen by a server), or the one that called listen()
    (seen by a client). Recorded by the kernel at connect time; a process cannot claim another's."""
    uid: int | None = None
    pid: int | None = None
    if sys.platform == "linux":
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, _gid = struct.unpack("3i", creds)
    elif sys.platform == "darwin":
        # LOCAL_PEERCRED (1) at level SOL_LOCAL (0) fills a struct xucred {u_int version; uid_t uid; ...};
        # LOCAL_PEERPID (2) gives the pid.
        creds = sock.getsockopt(0, 1, 76)
        _version, uid = struct.unpack_from("Ii", creds)
        (pid,) = struct.unpack("i", sock.getsockopt(0, 2, 4))
    return PeerCredentials(uid=uid, pid=pid or None)  # pid 0: the peer is outside our pid namespace


def peer_uid(sock: socket.socket) -> int | None:
    return peer_credentials(sock).uid


def executable_of(pid: int) -> str | None:
    """The program a process runs, as the kernel names it (/proc/PID/exe): unlike its command line, the process
    cannot rewrite it. None where it cannot be read (another platform, the process gone)."""
    try:
        return str(Path(f"/proc/{pid}/exe").readlink())
    except OSError:
        return None


def describe_process(pid: int | None) -> str:
    if pid is None:
        return "an unknown process"
    exe = executable_of(pid)
    return f"pid {pid}" + (f" ({exe})" if exe else "")
