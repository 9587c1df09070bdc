"""One desktop app per user and home. The service's instance lock makes the second start fail; before that, a
second launch asks the running app (over the service's socket) to come forward, and exits."""

from __future__ import annotations

import asyncio
import contextlib
import os
from enum import Enum

from approver.ipc import protocol
from approver.ipc.client import ServiceUnavailable, connect_to_service
from approver.ipc.protocol import Activate, Activated, Hello, Welcome
from approver.platform.paths import Home


class Running(Enum):
    NOTHING = "nothing"  # no service answers: this launch starts the app
    APP = "app"  # the running app came forward
    HEADLESS = "headless"  # a service without the app holds this home


async def activate_running_app(home: Home, timeout: float = 2.0) -> Running:
    """Ask whatever service runs for this home to show its app."""
    try:
        reader, writer = await connect_to_service(home, timeout)
    except ServiceUnavailable:
        return Running.NOTHING
    try:
        writer.write(protocol.encode(Hello(role="status", pid=os.getpid())))
        writer.write(protocol.encode(Activate()))
        replies = []
        for _ in range(2):
            line = await asyncio.wait_for(reader.readline(), timeout)
            if not line:
                break
            replies.append(protocol.decode(line))
    except (OSError, TimeoutError, protocol.ProtocolError):
        return Running.NOTHING  # nothing that speaks our protocol answers: the lock decides who runs
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    welcomed = len(replies) == 2 and isinstance(replies[0], Welcome) and replies[0].v == protocol.PROTOCOL_VERSION
    if welcomed and isinstance(replies[1], Activated):
        return Running.APP if replies[1].shown else Running.HEADLESS
    return Running.NOTHING
