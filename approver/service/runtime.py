"""Starting and stopping the decision service: lock, policy, log, spool, socket, in that order."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

from approver.platform.instance import InstanceLock
from approver.platform.keystore import open_secret_store
from approver.platform.paths import Home, ensure_private_dir, managed_policy_path
from approver.service.decision_log import DecisionLogWriter, read_entries, take_spool
from approver.service.decisions import Approver, DecisionService
from approver.service.policy_store import Integrity, PolicyStore, load_policy_file, seal_in_log
from approver.service.server import DecisionServer
from approver.service.tool_definitions import ToolDefinitions
from approver.service.tools_seen import ToolsSeen, pin_history


@asynccontextmanager
async def running_service(
    home: Home,
    policy_file: Path | None,
    approver: Approver | None = None,
    mode: Literal["headless", "desktop"] = "headless",
    *,
    redact_results: bool = False,
) -> AsyncIterator[DecisionServer]:
    """The service, up and listening, for the duration of the block.

    Raises AlreadyRunning, PolicyError or OSError before anything listens: it never starts half-configured.
    """
    lock = InstanceLock(home)
    lock.acquire()
    try:
        ensure_private_dir(home.data_dir)
        # A bad policy stops the start before anything else happens (and before any keyring warning).
        if policy_file is not None:
            load_policy_file(policy_file)
        if managed_policy_path().exists():
            load_policy_file(managed_policy_path())
        store, store_status = open_secret_store(home.key_file)
        if not store_status.secure:
            print(f"approver: WARNING: no usable OS keyring: {store_status.describe()}", file=sys.stderr)
        log = DecisionLogWriter(home.log_file, store, store_status)
        try:
            policies = PolicyStore(
                policy_file or home.policy_file,
                explicit=policy_file is not None,
                managed_path=managed_policy_path(),
                integrity=Integrity(store),
                on_change=lambda change: log.append_event("rule-change", change),
                log_seal=seal_in_log(log.last_rules_seal_entry),
            )
            taken = take_spool(home.spool_file, log)
            if taken:
                print(
                    f"approver: took {taken} decision(s) proxies made while the service was away into the log",
                    file=sys.stderr,
                )
            # Pins are rebuilt from the signed log, where every first sight, change and acceptance is recorded;
            # so are the person's Rejects of a definition.
            pins = ToolsSeen(home.data_dir / "tools-seen.json", log.append_event, pin_history(home.log_file))
            definitions = ToolDefinitions(
                log_event=log.append_event, history=read_entries(home.log_file), accept_pin=pins.accept_definition
            )
            service = DecisionService(policies, log, approver, pins, definitions)
            service.redact_results = redact_results
            server = DecisionServer(home, service, mode)
            await server.start()
            try:
                yield server
            finally:
                await server.close()
        finally:
            log.close()
    finally:
        lock.release()


async def serve_headless(home: Home, policy_file: Path | None, *, redact_results: bool = False) -> None:
    async with running_service(home, policy_file, redact_results=redact_results) as server:
        print(
            f"MCP Approver decision service (headless) is running for {home.label}.\n"
            f"  socket: {home.socket_path}\n  policy: {server.service.policies.describe()}\n"
            f"  log:    {home.log_file}\n"
            "Calls no rule allows are denied (no approver present). Stop with Ctrl+C.",
            file=sys.stderr,
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
