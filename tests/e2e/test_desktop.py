"""The real desktop app, driven as a person would: a real X server (Xvfb) with a window manager (openbox) and a
panel with a system tray (tint2), `python -m approver` as its own process, real calls from the official SDK client
through `approver proxy`, and keys pressed with xdotool. Screenshots land in artifacts/screenshots/."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp_types import TextContent

from tests.conftest import APPROVER, ROOT, SDK_SERVER, ApproverHome

pytestmark = [pytest.mark.e2e, pytest.mark.gui]

SCREENSHOTS = ROOT / "artifacts" / "screenshots"
X_TOOLS = ("Xvfb", "openbox", "tint2", "xdotool", "import", "xwininfo")
APPROVAL_TITLE = "^MCP Approver — Allow "
ARMED_AFTER = 1.0  # the dialog's Allow buttons arm 0.7 s after it appears


@dataclass
class XSession:
    display: str
    processes: list[subprocess.Popen[bytes]]

    def env(self, base: dict[str, str]) -> dict[str, str]:
        env = {**base, "DISPLAY": self.display, "QT_QPA_PLATFORM": "xcb"}
        env.pop("WAYLAND_DISPLAY", None)
        return env


def _wait(condition: Any, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def x_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XSession]:
    missing = [tool for tool in X_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.fail(
            f"the desktop tests need {', '.join(missing)}: run scripts/test.sh (scripts/bootstrap.sh installs them)"
        )
    read_end, write_end = os.pipe()
    server = subprocess.Popen(  # -displayfd: the server picks a free display and writes its number
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    processes = [server]
    try:
        with os.fdopen(read_end) as reader:
            display = f":{reader.readline().strip()}"
        session = XSession(display, processes)
        env = session.env(dict(os.environ))
        # Each part is asked whether it is ready before the next starts: a dialog mapped before openbox manages
        # windows gets no frame and no focus, and an icon added before tint2 owns the tray never shows.
        logs = tmp_path_factory.mktemp("x-session")
        processes.append(
            _start_until_ready(
                ["openbox"],
                env,
                logs,
                lambda: _window_manager_running(env),
                "manage windows (_NET_SUPPORTING_WM_CHECK)",
            )
        )
        processes.append(
            _start_until_ready(
                ["tint2"], env, logs, lambda: _tray_owned(display), "own the system tray (_NET_SYSTEM_TRAY_S0)"
            )
        )
        yield session
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _start_until_ready(
    command: list[str], env: dict[str, str], logs: Path, ready: Any, what: str, patience: float = 60
) -> subprocess.Popen[bytes]:
    """Start a part of the X session and ask it until it says it is ready (a busy machine may take long). A part
    that exits first fails the setup with what it wrote, rather than a bare timeout."""
    log = logs / f"{command[0]}.err"
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    deadline = time.monotonic() + patience
    while not ready():
        if process.poll() is not None:
            raise AssertionError(
                f"{command[0]} exited ({process.returncode}) before it could {what}: {log.read_text()}"
            )
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{command[0]} did not {what} within {patience:g} s: {log.read_text()}")
        time.sleep(0.05)
    return process


def _window_manager_running(env: dict[str, str]) -> bool:
    """EWMH: a running window manager names its check window on the root window."""
    root = subprocess.run(
        ["xprop", "-root", "_NET_SUPPORTING_WM_CHECK"], env=env, capture_output=True, text=True, check=False
    ).stdout
    return "window id #" in root


def _tray_owned(display: str) -> bool:
    """The freedesktop tray protocol: a tray exists while some client owns the _NET_SYSTEM_TRAY_S<screen>
    selection. xprop cannot ask for a selection's owner, so this asks Xlib directly."""
    xlib = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    xlib.XOpenDisplay.restype = ctypes.c_void_p
    xlib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    xlib.XInternAtom.restype = ctypes.c_ulong
    xlib.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    xlib.XGetSelectionOwner.restype = ctypes.c_ulong
    xlib.XGetSelectionOwner.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    xlib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    connection = xlib.XOpenDisplay(display.encode())
    if not connection:
        return False
    try:
        selection = xlib.XInternAtom(connection, b"_NET_SYSTEM_TRAY_S0", 0)
        return bool(xlib.XGetSelectionOwner(connection, selection))
    finally:
        xlib.XCloseDisplay(connection)


@dataclass
class App:
    home: ApproverHome
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    stderr_path: Path
    autostart_dir: Path

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def status(self) -> str:
        result = subprocess.run(
            [*APPROVER, "status"], env=self.env, capture_output=True, text=True, timeout=30, check=False
        )
        return result.stdout if result.returncode == 0 else ""


@contextlib.contextmanager
def running_app(
    x_session: XSession,
    home: ApproverHome,
    tmp_path: Path,
    *args: str,
    first_run: bool = False,
    env: dict[str, str] | None = None,
) -> Iterator[App]:
    """`python -m approver [ARGS]` on the X session, until it has stopped again (by SIGTERM, exiting 0). Unless
    `first_run`, as a launch after the first: settings saved (start at login off), so no first-run window.
    `env`: more variables (HOME, XDG_CONFIG_HOME) for the app."""
    if not first_run:
        (home.root / "config").mkdir(exist_ok=True)
        (home.root / "config" / "app-settings.json").write_text('{"start_at_login": false}')
    config = tmp_path / "xdg-config"
    app_env = x_session.env({**home.env, "XDG_CONFIG_HOME": str(config), **(env or {})})
    stderr_path = tmp_path / "app.err"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen([*APPROVER, *args], env=app_env, stderr=stderr, stdin=subprocess.DEVNULL)
    running = App(home, app_env, process, stderr_path, Path(app_env["XDG_CONFIG_HOME"]) / "autostart")
    try:
        _wait(lambda: "desktop" in running.status() or process.poll() is not None, "the app's service")
        assert process.poll() is None, f"the app exited: {running.stderr}"
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)
    assert process.returncode == 0, running.stderr


@pytest.fixture
def app(x_session: XSession, home: ApproverHome, tmp_path: Path) -> Iterator[App]:
    with running_app(x_session, home, tmp_path) as started:
        yield started


@pytest.fixture
def app_with_rules(x_session: XSession, home: ApproverHome, tmp_path: Path) -> Iterator[App]:
    """`approver serve --policy FILE` (the app, not headless) with a few rules to show in the settings."""
    policy = home.write_policy(
        {"effect": "allow", "server": "filesystem", "tool": "read_*", "id": "fs-reads", "note": "reading is fine"},
        {
            "effect": "allow",
            "server": "filesystem",
            "tool": "write_file",
            "id": "project-writes",
            "args": {"/path": {"under": "~/project"}},
        },
        {"effect": "deny", "server": "*", "tool": "get-env", "id": "no-env", "note": "environment holds secrets"},
        {"effect": "ask", "server": "github", "tool": "*"},
    )
    with running_app(x_session, home, tmp_path, "serve", "--policy", str(policy)) as started:
        yield started


# -- driving the app --------------------------------------------------------------------------------------------


async def _command(env: dict[str, str], *command: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    out, _ = await process.communicate()
    return out.decode().strip()


async def dialogs(env: dict[str, str]) -> list[str]:
    return (await _command(env, "xdotool", "search", "--name", APPROVAL_TITLE)).split()


async def wait_for_window(env: dict[str, str], title: str = APPROVAL_TITLE, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = (await _command(env, "xdotool", "search", "--onlyvisible", "--name", title)).split()
        if found:
            return found[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no window titled {title!r} appeared")


async def wait_until_gone(env: dict[str, str], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while await _command(env, "xdotool", "search", "--onlyvisible", "--name", APPROVAL_TITLE):
        if time.monotonic() > deadline:
            raise AssertionError("the approval dialog did not close")
        await asyncio.sleep(0.05)


async def press(env: dict[str, str], window: str, *keys: str) -> None:
    await _command(env, "xdotool", "windowactivate", "--sync", window, "key", "--clearmodifiers", *keys)


async def screenshot(env: dict[str, str], name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    await _command(env, "import", "-window", "root", str(path))
    assert path.stat().st_size > 0
    return path


async def answer_with(env: dict[str, str], keys: str, shot: str | None = None) -> None:
    window = await wait_for_window(env)
    await asyncio.sleep(ARMED_AFTER)  # also lets the window paint before a screenshot
    if shot is not None:
        await screenshot(env, shot)
    await press(env, window, keys)


def sdk_client(app: App) -> Client:
    command = app.home.proxy_command("sdk", APPROVER[0], SDK_SERVER)
    return Client(StdioServerParameters(command=command[0], args=command[1:], env=app.home.env), mode="legacy")


def text_of(result: Any) -> str:
    [content] = result.content
    assert isinstance(content, TextContent)
    return str(content.text)


async def call_and_answer(app: App, tool: str, arguments: dict[str, Any], keys: str, shot: str | None = None) -> Any:
    async with sdk_client(app) as client:
        result, _ = await asyncio.gather(client.call_tool(tool, arguments), answer_with(app.env, keys, shot))
    return result


def tray_icon_centre(env: dict[str, str]) -> tuple[int, int]:
    """Where the app's icon sits in the panel's tray (Qt names its tray window after the application)."""
    tree = subprocess.run(["xwininfo", "-root", "-tree"], env=env, capture_output=True, text=True, check=True).stdout
    for match in re.finditer(r'"mcp-approver": \([^)]*\)\s+(\d+)x(\d+)\+-?\d+\+-?\d+\s+\+(-?\d+)\+(-?\d+)', tree):
        width, height, x, y = map(int, match.groups())
        if width > 1 and height > 1:
            return x + width // 2, y + height // 2
    raise AssertionError(f"the tray icon is not in the panel:\n{tree}")


async def _visible_app_windows(env: dict[str, str]) -> set[str]:
    return set((await _command(env, "xdotool", "search", "--onlyvisible", "--class", "mcp-approver")).split())


async def open_from_the_tray(app: App, entries_down: int) -> None:
    """Right-click the tray icon and choose the menu entry that many enabled entries down, once the menu is
    mapped (keys sent before it grabs the keyboard would go elsewhere)."""
    before = await _visible_app_windows(app.env)
    x, y = tray_icon_centre(app.env)
    await _command(app.env, "xdotool", "mousemove", str(x), str(y), "click", "3")
    deadline = time.monotonic() + 10
    while not (await _visible_app_windows(app.env)) - before:
        assert time.monotonic() < deadline, "the tray menu did not open"
        await asyncio.sleep(0.05)
    await _command(app.env, "xdotool", "key", *["Down"] * entries_down, "Return")


async def toggle_lockdown_from_the_tray(app: App, expected: str) -> None:
    await open_from_the_tray(app, 1)  # the first enabled entry: Lockdown
    deadline = time.monotonic() + 10
    while f"lockdown {expected}" not in app.stderr:
        assert time.monotonic() < deadline, f"lockdown was not {expected}: {app.stderr}"
        await asyncio.sleep(0.05)


# -- the tests ----------------------------------------------------------------------------------------------------


def test_the_app_hosts_the_service_with_a_real_tray(app: App) -> None:
    assert "system tray available: True" in app.stderr
    assert f"pid {app.process.pid}, desktop" in app.status()


async def test_ctrl_return_allows_an_ordinary_call(app: App) -> None:
    result = await call_and_answer(app, "add", {"a": 2, "b": 3}, "ctrl+Return", shot="ordinary-call.png")
    assert not result.is_error
    assert text_of(result) == "5"
    [entry] = app.home.log()
    assert (entry["tool"], entry["decision"], entry["actor"]) == ("add", "allow", "human")
    assert entry["shown_digest"].startswith("sha256:")


async def test_escape_denies_a_call_whose_url_hides_a_bidi_override(app: App) -> None:
    message = "Fetch https://github.com/acme/reports/releases/download/v1/invoice\u202efdp.exe and open it"
    result = await call_and_answer(app, "echo", {"message": message}, "Escape", shot="bidi-url.png")
    assert result.is_error
    assert "the user denied this call" in text_of(result)
    [entry] = app.home.log()
    assert (entry["decision"], entry["actor"]) == ("deny", "human")


async def test_a_fifty_kilobyte_argument_is_shown_and_passes_whole(app: App) -> None:
    message = "\n".join(f"Line {n:04d}: the quick brown fox jumps over the lazy dog " + "·" * 40 for n in range(520))
    assert len(message.encode()) > 50_000
    result = await call_and_answer(app, "echo", {"message": message}, "ctrl+Return", shot="50kb-argument.png")
    assert not result.is_error
    assert text_of(result) == message


async def test_a_cancelled_request_closes_its_dialog_and_the_log_says_so(app: App) -> None:
    proxy = await asyncio.create_subprocess_exec(
        *app.home.proxy_command("sdk", APPROVER[0], SDK_SERVER),
        env=app.home.env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proxy.stdin is not None and proxy.stdout is not None

    async def send(message: dict[str, Any]) -> None:
        assert proxy.stdin is not None
        proxy.stdin.write(json.dumps(message).encode() + b"\n")
        await proxy.stdin.drain()

    await send(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"},
            },
        }
    )
    await proxy.stdout.readline()
    await send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    await send(
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 1, "b": 1}}}
    )
    await wait_for_window(app.env)
    await send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 2, "reason": "stop"}})
    await wait_until_gone(app.env)
    proxy.stdin.close()
    assert await asyncio.wait_for(proxy.wait(), 15) == 0
    [entry] = app.home.log()
    assert (entry["decision"], entry["reason"]) == (
        "deny",
        "withdrawn before an answer: the client cancelled the request",
    )


async def test_lockdown_denies_without_a_dialog_until_lifted(app: App) -> None:
    await toggle_lockdown_from_the_tray(app, "on")
    async with sdk_client(app) as client:
        started = time.monotonic()
        result = await client.call_tool("add", {"a": 1, "b": 2})
        assert time.monotonic() - started < 5  # answered at once, nobody was asked
        assert await dialogs(app.env) == []
    assert result.is_error
    assert "MCP Approver is in lockdown" in text_of(result)
    await toggle_lockdown_from_the_tray(app, "lifted")
    result = await call_and_answer(app, "add", {"a": 1, "b": 2}, "Escape")
    assert result.is_error and "the user denied this call" in text_of(result)
    assert [(e["actor"], e["reason"]) for e in app.home.log()] == [
        ("none", "MCP Approver is in lockdown"),
        ("human", "the user denied this call"),
    ]


async def test_a_second_launch_brings_the_first_forward_and_exits(app_with_rules: App) -> None:
    app = app_with_rules
    second = await asyncio.create_subprocess_exec(
        *APPROVER, env=app.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(second.communicate(), 30)
    assert second.returncode == 0, stderr
    assert b"already running" in stderr
    await wait_for_window(app.env, "^MCP Approver — Settings$")
    await asyncio.sleep(1)  # painted
    await screenshot(app.env, "settings.png")
    assert f"pid {app.process.pid}, desktop" in app.status()


def test_without_a_display_the_app_says_so_in_one_line(home: ApproverHome) -> None:
    env = {
        key: value for key, value in home.env.items() if key not in {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"}
    }
    result = subprocess.run([*APPROVER], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert "there is no graphical display for the desktop app" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# -- first run, the queue's count, the audit log following ------------------------------------------------------


async def window_name(env: dict[str, str], window: str) -> str:
    return await _command(env, "xdotool", "getwindowname", window)


async def test_the_first_launch_asks_about_start_at_login_and_writes_the_entry_after_ok(
    x_session: XSession, home: ApproverHome, tmp_path: Path
) -> None:
    with running_app(x_session, home, tmp_path, first_run=True) as app:
        entry = app.autostart_dir / "mcp-approver.desktop"
        window = await wait_for_window(app.env, "^MCP Approver — Welcome$")
        await asyncio.sleep(1)  # painted
        await screenshot(app.env, "first-run.png")
        assert not entry.exists()  # nothing written before the person answers
        await press(app.env, window, "Return")  # OK, with "Start MCP Approver when I log in" as it came: on
        _wait(lambda: f"start at login: wrote {entry}" in app.stderr, "the entry to be written")
        text = entry.read_text()
        assert "-m approver" in text and f"APPROVER_HOME={home.root}" in text
    with running_app(x_session, home, tmp_path, first_run=True) as app:  # the settings were saved: not asked again
        # A second launch brings the first-run window forward while it is open, else the settings.
        await _command(app.env, *APPROVER)
        await wait_for_window(app.env, "^MCP Approver — Settings$")
        assert await _command(app.env, "xdotool", "search", "--onlyvisible", "--name", "^MCP Approver — Welcome$") == ""


async def test_the_open_dialog_counts_the_calls_waiting_behind_it(app: App) -> None:
    async with sdk_client(app) as first, sdk_client(app) as second:
        first_call = asyncio.ensure_future(first.call_tool("add", {"a": 1, "b": 2}))
        window = await wait_for_window(app.env)
        assert "more waiting" not in await window_name(app.env, window)
        second_call = asyncio.ensure_future(second.call_tool("add", {"a": 3, "b": 4}))
        assert await wait_for_window(app.env, APPROVAL_TITLE + ".* — 1 more waiting$") == window
        await asyncio.sleep(ARMED_AFTER)  # painted
        await screenshot(app.env, "one-more-waiting.png")
        await press(app.env, window, "Escape")
        assert "the user denied this call" in text_of(await first_call)
        next_window = await wait_for_window(app.env)
        while next_window == window:  # the answered dialog is still being taken down
            await asyncio.sleep(0.05)
            next_window = await wait_for_window(app.env)
        assert "more waiting" not in await window_name(app.env, next_window)
        await asyncio.sleep(ARMED_AFTER)
        await press(app.env, next_window, "ctrl+Return")
        assert text_of(await second_call) == "7"


async def test_the_audit_log_window_follows_new_decisions(app: App) -> None:
    await open_from_the_tray(app, 3)  # Lockdown, Settings…, Audit log…
    window = await wait_for_window(app.env, "^MCP Approver — Audit log — [0-9]+ entr")
    before = int((await window_name(app.env, window)).rsplit(" — ", 1)[1].split()[0])
    await call_and_answer(app, "add", {"a": 2, "b": 2}, "Escape")
    await wait_for_window(app.env, f"^MCP Approver — Audit log — {before + 1} entries$")
    await asyncio.sleep(0.5)  # painted
    await screenshot(app.env, "audit-log-following.png")


# -- the AI clients' servers: first run protects them; a proxy may start the app --------------------------------


async def test_the_first_launch_lists_the_clients_unprotected_servers_and_protect_wraps_them(
    x_session: XSession, home: ApproverHome, tmp_path: Path
) -> None:
    """A fresh machine: Claude Code, Cursor and VS Code each start a server directly. The first-run window lists
    them checked; Protect wraps them, and the next call through Claude Code's entry meets the gate."""
    user = tmp_path / "user"
    config = tmp_path / "xdg-config"
    server = [APPROVER[0], str(SDK_SERVER)]
    files = {
        "Claude Code": user / ".claude.json",
        "Cursor": user / ".cursor" / "mcp.json",
        "VS Code": config / "Code" / "User" / "mcp.json",
    }
    texts = {
        "Claude Code": {
            "numStartups": 3,
            "mcpServers": {"sdk": {"type": "stdio", "command": server[0], "args": server[1:]}},
        },
        "Cursor": {
            "mcpServers": {"files": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem"]}}
        },
        "VS Code": {
            "servers": {"time": {"type": "stdio", "command": "uvx", "args": ["mcp-server-time"]}},
            "inputs": [],
        },
    }
    for client, path in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(texts[client], indent=2))
    with running_app(x_session, home, tmp_path, first_run=True, env={"HOME": str(user)}) as app:
        window = await wait_for_window(app.env, "^MCP Approver — Welcome$")
        # Listed once the files are read (off the UI thread): the app says so on stderr too.
        _wait(lambda: "3 servers not protected" in app.stderr, "the servers to be found")
        await asyncio.sleep(1)  # painted
        await screenshot(app.env, "first-run-servers-xvfb.png")
        assert all(path.read_text() == json.dumps(texts[client], indent=2) for client, path in files.items())
        await press(app.env, window, "Return")  # Protect, with every server checked as it came
        _wait(lambda: "protected 3 server(s) in 3 file(s)" in app.stderr, "the servers to be protected", timeout=30)
        entry = json.loads(files["Claude Code"].read_text())["mcpServers"]["sdk"]
        assert entry["args"][-3:] == ["--", *server] and "proxy" in entry["args"]
        assert "proxy" in json.loads(files["Cursor"].read_text())["mcpServers"]["files"]["args"]
        assert "proxy" in json.loads(files["VS Code"].read_text())["servers"]["time"]["args"]
        # Claude Code's next start of that server goes through the proxy: the call waits for the person.
        wrapped = Client(
            StdioServerParameters(command=entry["command"], args=entry["args"], env={**app.env, **entry["env"]}),
            mode="legacy",
        )
        async with wrapped as session:
            result, _ = await asyncio.gather(
                session.call_tool("add", {"a": 4, "b": 5}), answer_with(app.env, "ctrl+Return")
            )
        assert text_of(result) == "9"
        [logged] = app.home.log()
        assert (logged["server"], logged["tool"], logged["actor"]) == ("sdk", "add", "human")


def _app_pid(home: ApproverHome) -> int | None:
    found = re.search(r"pid (\d+), desktop", home.approver("status").stdout)
    return int(found.group(1)) if found else None


async def test_a_proxy_starts_the_app_when_the_person_turned_that_on(
    x_session: XSession, home: ApproverHome, tmp_path: Path
) -> None:
    (home.root / "config").mkdir(exist_ok=True)
    (home.root / "config" / "app-settings.json").write_text(
        json.dumps({"start_at_login": False, "start_app_when_needed": True})
    )
    env = x_session.env({**home.env, "XDG_CONFIG_HOME": str(tmp_path / "xdg-config")})
    assert _app_pid(home) is None  # nothing decides yet
    command = home.proxy_command("sdk", APPROVER[0], SDK_SERVER)
    client = Client(StdioServerParameters(command=command[0], args=command[1:], env=env), mode="legacy")
    try:
        async with client:
            result, _ = await asyncio.gather(client.call_tool("add", {"a": 1, "b": 1}), answer_with(env, "ctrl+Return"))
        assert text_of(result) == "2"  # the proxy started the app, which asked the person
        assert _app_pid(home) is not None
    finally:
        pid = _app_pid(home)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            _wait(lambda: _app_pid(home) is None, "the started app to stop")
