"""The desktop app's latencies, start-up time and memory, each next to a baseline measured in the same run.

    python benchmarks/bench_ui.py [--calls N] [--starts N] [--json FILE]

- Request arrival -> dialog visible: a raw JSON-RPC client writes a `tools/call` to a real `approver proxy`, which
  asks the app (running in this process, so the dialog's first paint is timestamped on the same monotonic clock).
  "Visible" is when the event loop is next free after the dialog's first paint event: painted and flushed to the
  X server. Baseline: the same call allowed by a rule, from arrival until the MCP server reads it.
- Click -> call forwarded: the Allow button is clicked on the UI thread; the time until the MCP server (a small
  stdio server in its own process, reading the shared monotonic clock) reads the call.
- Cold start: `python -m approver` with a fresh home until it reports that it runs (service listening, tray
  shown). Baselines: `approver serve --headless` until its running line, and the bare interpreter.
- Second launch: `python -m approver` while the app runs, until it has brought the app forward and exited.
- Idle memory: RSS and PSS of the app 3 s after it started. Baseline: the headless service.

The Allow buttons' arming delay (a guard against stray clicks, 0.7 s) is off here: it is a deliberate wait, not a
cost. Needs a display: $DISPLAY, or an Xvfb (with openbox and tint2 when installed) that this script starts.
It prints figures only; nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject

from approver.platform.paths import Home
from approver.service.runtime import running_service
from approver.ui.app import create_application, run_on_qt_loop
from approver.ui.approval_dialog import ApprovalDialog
from approver.ui.approval_queue import ApprovalQueue
from approver.ui.desktop import DesktopApp
from approver.ui.desktop_approver import DesktopApprover
from approver.ui.settings import AppSettings, LoadedSettings, SettingsStore

APPROVER = [sys.executable, "-m", "approver"]
RULE_ALLOWED_TOOL = "ruled"
ASKED_TOOL = "asked"
SETTLE_SECONDS = 3.0
SERVER = """
import json, sys, time
for line in sys.stdin:
    received = time.monotonic()
    message = json.loads(line)
    if "id" not in message:
        continue
    method = message.get("method")
    if method == "initialize":
        result = {"protocolVersion": message["params"]["protocolVersion"], "capabilities": {"tools": {}},
                  "serverInfo": {"name": "bench", "version": "0"}}
    elif method == "tools/list":
        result = {"tools": [{"name": name, "description": "Says when it was called", "inputSchema": {"type": "object"}}
                            for name in ("ruled", "asked")]}
    elif method == "tools/call":
        result = {"content": [{"type": "text", "text": repr(received)}]}
    else:
        result = {}
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}) + "\\n")
    sys.stdout.flush()
"""


# -- a display -------------------------------------------------------------------------------------------------


@contextmanager
def display() -> Iterator[str]:
    """$DISPLAY, or an Xvfb with a window manager and a tray panel for the duration."""
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    read_end, write_end = os.pipe()
    started = [
        subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
            pass_fds=(write_end,),
            stderr=subprocess.DEVNULL,
        )
    ]
    os.close(write_end)
    with os.fdopen(read_end) as reader:
        os.environ["DISPLAY"] = f":{reader.readline().strip()}"
    try:
        for program in ("openbox", "tint2"):
            if shutil.which(program):
                started.append(subprocess.Popen([program], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(1.5)  # the panel claims the tray
        yield os.environ["DISPLAY"]
    finally:
        for process in reversed(started):
            process.terminate()
            process.wait()
        del os.environ["DISPLAY"]


def isolated_env(root: Path) -> dict[str, str]:
    (root / "xdg").mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "APPROVER_HOME": str(root / "home"),
        "XDG_CONFIG_HOME": str(root / "xdg"),
        "QT_QPA_PLATFORM": "xcb",
        "PYTHONUNBUFFERED": "1",
    }


# -- a client of the proxy -------------------------------------------------------------------------------------


class ProxyClient:
    """A blocking JSON-RPC client of `approver proxy` in front of the small server (one request at a time)."""

    def __init__(self, env: dict[str, str], server_script: Path) -> None:
        self.process = subprocess.Popen(
            [*APPROVER, "proxy", "--name", "bench", "--", sys.executable, str(server_script)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.next_id = 0
        self.request(
            "initialize",
            {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}},
        )
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        self.request("tools/list", {})

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdout is not None
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        while True:
            reply: dict[str, Any] = json.loads(self.process.stdout.readline())
            if reply.get("id") == self.next_id:
                return reply

    def call(self, tool: str) -> tuple[float, float]:
        """(when the call was written, when the server read it), on the shared monotonic clock."""
        sent = time.monotonic()
        reply = self.request("tools/call", {"name": tool, "arguments": {"path": "/tmp/bench.txt", "n": self.next_id}})
        result = reply["result"]
        if result.get("isError"):
            raise RuntimeError(f"the call was denied: {result['content'][0]['text']}")
        return sent, float(result["content"][0]["text"])

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=15)


# -- latencies, with the app in this process -------------------------------------------------------------------


def measure_latencies(calls: int, workdir: Path) -> dict[str, list[float]]:
    env = isolated_env(workdir / "latency")
    os.environ.update({key: env[key] for key in ("APPROVER_HOME", "XDG_CONFIG_HOME", "QT_QPA_PLATFORM")})
    server_script = workdir / "server.py"
    server_script.write_text(SERVER)
    policy = workdir / "policy.json"
    policy.write_text(json.dumps({"rules": [{"effect": "allow", "server": "bench", "tool": RULE_ALLOWED_TOOL}]}))
    create_application()

    class FirstPaint(QObject):
        """Resolves `shown` once the dialog has painted and the loop is free again (the frame is out)."""

        def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
            super().__init__()
            self.loop = loop
            self.shown: asyncio.Future[tuple[float, ApprovalDialog]] = loop.create_future()

        def watch(self, dialog: ApprovalDialog) -> None:
            dialog.installEventFilter(self)

        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and isinstance(watched, ApprovalDialog) and not self.shown.done():
                self.loop.call_soon(self._out, watched)
            return False

        def _out(self, dialog: ApprovalDialog) -> None:
            if not self.shown.done():
                self.shown.set_result((time.monotonic(), dialog))

    async def run() -> dict[str, list[float]]:
        home = Home.from_environment()
        queue = ApprovalQueue(arm_delay_ms=0)
        approver = DesktopApprover(queue, AppSettings())
        figures: dict[str, list[float]] = {"rule_forwarded": [], "arrival_visible": [], "click_forwarded": []}
        async with running_service(home, policy, approver, mode="desktop") as server:
            desktop = DesktopApp(
                home,
                server,
                approver,
                queue,
                settings_store=SettingsStore(workdir / "s.json", None),
                loaded=LoadedSettings(AppSettings(start_at_login=False)),
            )
            client = await asyncio.to_thread(ProxyClient, env, server_script)
            for _ in range(calls):
                sent, received = await asyncio.to_thread(client.call, RULE_ALLOWED_TOOL)
                figures["rule_forwarded"].append(received - sent)
            loop = asyncio.get_running_loop()
            for _ in range(calls + 1):  # the first is a warm-up (first dialog: fonts, styles, icons)
                paint = FirstPaint(loop)
                queue.shown.connect(paint.watch)
                asked = asyncio.ensure_future(asyncio.to_thread(client.call, ASKED_TOOL))
                visible, dialog = await paint.shown
                clicked = time.monotonic()
                dialog.allow_once_button.click()
                sent, received = await asked
                queue.shown.disconnect(paint.watch)
                figures["arrival_visible"].append(visible - sent)
                figures["click_forwarded"].append(received - clicked)
            for key in ("arrival_visible", "click_forwarded"):
                figures[key] = figures[key][1:]
            await asyncio.to_thread(client.close)
            desktop.close()
        return figures

    return run_on_qt_loop(run())


# -- start-up and memory, as separate processes -----------------------------------------------------------------


def _memory_mb(pid: int) -> tuple[float, float]:
    rss = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("VmRSS:"))
    pss = next(line for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines() if line.startswith("Pss:"))
    return int(rss.split()[1]) / 1024, int(pss.split()[1]) / 1024


def start_until(command: list[str], env: dict[str, str], running_line: str) -> tuple[float, subprocess.Popen[bytes]]:
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert process.stderr is not None
    for raw in process.stderr:
        if running_line in raw.decode(errors="replace"):
            return time.monotonic() - started, process
    raise RuntimeError(f"{command} ended without saying it runs")


def drain(process: subprocess.Popen[bytes]) -> threading.Thread:
    """Keep reading the process's stderr so it never blocks on a full pipe."""
    assert process.stderr is not None
    stream = process.stderr
    reader = threading.Thread(target=stream.read, daemon=True)
    reader.start()
    return reader


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=20)


def measure_starts(starts: int, workdir: Path) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {
        key: [] for key in ("interpreter", "headless", "app", "second", "rss", "pss", "headless_rss", "headless_pss")
    }
    for attempt in range(starts):
        env = isolated_env(workdir / f"start-{attempt}")
        began = time.monotonic()
        subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
        figures["interpreter"].append(time.monotonic() - began)

        seconds, headless = start_until(
            [*APPROVER, "serve", "--headless"], env, "decision service (headless) is running"
        )
        figures["headless"].append(seconds)
        drain(headless)
        time.sleep(SETTLE_SECONDS)
        rss, pss = _memory_mb(headless.pid)
        figures["headless_rss"].append(rss)
        figures["headless_pss"].append(pss)
        stop(headless)

        seconds, app = start_until(APPROVER, env, "MCP Approver is running for")
        figures["app"].append(seconds)
        drain(app)
        time.sleep(SETTLE_SECONDS)
        rss, pss = _memory_mb(app.pid)
        figures["rss"].append(rss)
        figures["pss"].append(pss)
        began = time.monotonic()
        subprocess.run(APPROVER, env=env, check=True, capture_output=True)
        figures["second"].append(time.monotonic() - began)
        stop(app)
    return figures


# -- report ----------------------------------------------------------------------------------------------------


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"{statistics.median(values) * 1000:7.1f} / {p95 * 1000:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=30, help="approval dialogs to time (default %(default)s)")
    parser.add_argument("--starts", type=int, default=5, help="cold starts to time (default %(default)s)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the raw figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as temporary, display() as shown_on:
        workdir = Path(temporary)
        starts = measure_starts(args.starts, workdir)
        latencies = measure_latencies(args.calls, workdir)
    print(f"MCP Approver desktop app, display {shown_on}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"{'measure':44} {'median / p95':>22}  goal")
    print(f"{'rule-allowed call: arrival -> server reads it':44} {ms(latencies['rule_forwarded']):>22}  (baseline)")
    print(f"{'asked call: arrival -> dialog visible':44} {ms(latencies['arrival_visible']):>22}  <= 100 ms")
    print(f"{'asked call: click Allow -> server reads it':44} {ms(latencies['click_forwarded']):>22}  <= 20 ms")
    print(f"{'interpreter start (python -c pass)':44} {ms(starts['interpreter']):>22}  (baseline)")
    print(f"{'headless service: start -> running':44} {ms(starts['headless']):>22}  (baseline)")
    print(f"{'desktop app: cold start -> running':44} {ms(starts['app']):>22}  <= 1500 ms")
    print(f"{'second launch: brings the app forward, exits':44} {ms(starts['second']):>22}")
    for label, rss, pss, goal in (
        ("headless service, idle", "headless_rss", "headless_pss", "(baseline)"),
        ("desktop app, idle", "rss", "pss", "<= 150 MB"),
    ):
        figure = f"RSS {statistics.median(starts[rss]):.0f} MB, PSS {statistics.median(starts[pss]):.0f} MB"
        print(f"{label:44} {figure:>22}  {goal}")
    if args.json:
        args.json.write_text(json.dumps({"latencies": latencies, "starts": starts}, indent=1))


if __name__ == "__main__":
    main()
