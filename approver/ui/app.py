"""`approver` with no arguments: the desktop app, hosting the decision service on Qt's event loop.

The only module that imports qasync. asyncio runs on the Qt loop, so the service's socket, the proxies' questions,
the dialogs and the tray share one thread without a nested event loop or a blocking call; slow work (building
the text of a large call, reading and verifying the log) goes to worker threads.

A second launch finds the running app through the service's socket, asks it to come forward and exits 0.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import qasync
from PySide6.QtWidgets import QApplication, QMessageBox

from approver.core.policy import PolicyError
from approver.platform.instance import AlreadyRunning
from approver.platform.keystore import KeyStoreError
from approver.platform.paths import Home
from approver.service.decision_log import LogError
from approver.service.runtime import running_service
from approver.ui.approval_queue import ApprovalQueue
from approver.ui.desktop import DesktopApp
from approver.ui.desktop_approver import DesktopApprover
from approver.ui.icons import app_icon
from approver.ui.presence import PresenceGate
from approver.ui.settings import AppSettings, SettingsStore, settings_file
from approver.ui.single_instance import Running, activate_running_app
from approver.ui.tray import Tray

T = TypeVar("T")
EXIT_FAILED = 1
EXIT_NO_DISPLAY = 2


def _say(message: str) -> None:
    print(f"approver: {message}", file=sys.stderr, flush=True)


def _handed_over(running: Running, home: Home) -> int | None:
    """The exit code when another process already serves this home, else None (this launch starts the app)."""
    if running is Running.APP:
        _say(f"MCP Approver is already running for {home.label}; its window was brought forward")
        return 0
    if running is Running.HEADLESS:
        _say(
            f"a headless decision service is running for {home.label}; stop it (`approver serve --headless`) "
            "to use the desktop app"
        )
        return EXIT_FAILED
    return None


async def _show_failure(message: str) -> None:
    """Started from a login session there is no terminal to read: say it in a window too, and wait for it."""
    box = QMessageBox(QMessageBox.Icon.Critical, "MCP Approver could not start", message)
    closed = asyncio.Event()
    box.finished.connect(lambda _result: closed.set())
    box.open()
    await closed.wait()


async def _run(home: Home, policy_file: Path | None) -> int:
    first_run = not settings_file(home).exists()  # asked before the service writes anything
    queue = ApprovalQueue()
    # Until the sealed settings are read, a question that arrives meets the defaults: deny at the deadline, and
    # proof of presence for critical calls and for anything that allows more.
    approver = DesktopApprover(queue, AppSettings())
    queue.presence = PresenceGate(lambda: AppSettings().presence_check)
    try:
        async with running_service(home, policy_file, approver, mode="desktop") as server:
            # The settings are sealed with the rules' integrity key, which lives in the keyring the service opened.
            integrity = server.service.policies.integrity
            store = SettingsStore(settings_file(home), integrity.mac if integrity is not None else None)
            loaded = await asyncio.to_thread(store.load)  # a keyring call: off the UI thread
            if loaded.problem:
                _say(loaded.problem)
            desktop = DesktopApp(
                home, server, approver, queue, settings_store=store, loaded=loaded, first_run=first_run
            )
            server.on_activate = desktop.bring_forward
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.add_signal_handler(signum, desktop.quit)
            _say(
                f"MCP Approver is running for {home.label} (system tray available: {Tray.available()}); "
                f"policy {server.service.policies.describe()}"
            )
            await desktop.until_quit()
            desktop.close()
    except AlreadyRunning:
        # Another launch won the race for the lock between our look and our start: hand over to it.
        code = _handed_over(await activate_running_app(home), home)
        if code is None:
            _say("another MCP Approver holds this home but does not answer; try again in a moment")
            return EXIT_FAILED
        return code
    except (PolicyError, LogError, KeyStoreError, OSError) as exc:
        _say(str(exc))
        await _show_failure(str(exc))
        return EXIT_FAILED
    return 0


def _no_display() -> bool:
    """On X11/Wayland desktops Qt aborts the process when there is no display; say why instead."""
    if sys.platform == "darwin" or sys.platform == "win32" or os.environ.get("QT_QPA_PLATFORM"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_desktop_app(home: Home, policy_file: Path | None = None) -> int:
    code = _handed_over(asyncio.run(activate_running_app(home)), home)
    if code is not None:
        return code
    if _no_display():
        _say(
            "there is no graphical display for the desktop app (DISPLAY and WAYLAND_DISPLAY are unset); "
            "without a desktop, run `approver serve --headless`"
        )
        return EXIT_NO_DISPLAY
    create_application()
    return run_on_qt_loop(_run(home, policy_file))


def create_application() -> QApplication:
    app = QApplication([sys.argv[0]])
    app.setApplicationName("mcp-approver")  # also names Qt's helper windows: never "MCP Approver", so a search
    app.setDesktopFileName("mcp-approver")  # for the dialogs' titles finds only dialogs
    app.setWindowIcon(app_icon())
    app.setQuitOnLastWindowClosed(False)  # a tray app: closing its windows does not end it
    return app


def run_on_qt_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine with asyncio on Qt's event loop (the application object must exist)."""
    result: T = qasync.run(main)
    return result
