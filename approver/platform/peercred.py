"""Which user is on the other end of a Unix socket: the service talks only to its own user."""

from __future__ import annotations

import socket
import struct
import sys


def peer_uid(sock: socket.socket) -> int | None:
    """The peer's user id, or None where the platform cannot tell (then the socket's 0700 directory guards)."""
    uid: int | None = None
    if sys.platform == "linux":
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
    elif sys.platform == "darwin":
        # LOCAL_PEERCRED (1) at level SOL_LOCAL (0) fills a struct xucred {u_int version; uid_t uid; ...}.
        creds = sock.getsockopt(0, 1, 76)
        _version, uid = struct.unpack_from("Ii", creds)
    return uid
