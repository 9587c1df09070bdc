"""The desktop app's parts, wired together around the running decision service: the approver and its dialog
queue, the tray, lockdown, the settings and audit log windows, start at login, and the state the tray shows."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from PySide6.QtCore import QTimer

from approver.core.approval import ApprovalRequest
from approver.platform.paths import Home
from approver.service.server import DecisionServer
from approver.ui import autostart
from approver.ui.approval_queue import ApprovalQueue
from approver.ui.desktop_approver import DesktopApprover
from approver.ui.log_viewer import LogViewer
from approver.ui.presentation import make_visible
from approver.ui.settings import AppSettings, save_settings
from approver.ui.settings_window import SettingsWindow
from approver.ui.tray import Tray, TrayActions, TrayState
from approver.ui.windows import bring_forward, show_on_cursor_screen

PROBLEM_CHECK_MS = 5000  # the policy file can break (or be fixed) at any time; the tray should say so
SETTINGS_SIZE = (1000, 760)
LOG_SIZE = (1100, 720)


class DesktopApp:
    def __init__(
        self,
        home: Home,
        server: DecisionServer,
        approver: DesktopApprover,
        queue: ApprovalQueue,
        *,
        settings: AppSettings,
        settings_path: Path,
        settings_problem: str | None = None,
    ) -> None:
        self.home = home
        self.server = server
        self.service = server.service
        self.approver = approver
        self.queue = queue
        self.settings = settings
        self.settings_path = settings_path
        self.settings_problem = settings_problem
        self.lockdown = False
        self.settings_window: SettingsWindow | None = None
        self.log_viewer: LogViewer | None = None
        self._quit = asyncio.Event()
        self.tray = Tray(
            TrayActions(
                show_request=self.queue.bring_to_front,
                set_lockdown=self.set_lockdown,
                open_settings=self.open_settings,
                open_log=self.open_log,
                quit=self.quit,
                activate=self.bring_forward,
            ),
            pending=self.queue.requests,
        )
        self.queue.changed.connect(self.refresh_tray)
        self.queue.waiting.connect(self._notify_waiting)
        server.on_alarm = self._alarm
        self._problem_timer = QTimer()
        self._problem_timer.timeout.connect(self.refresh_tray)
        self._problem_timer.start(PROBLEM_CHECK_MS)
        self._sync_autostart()
        self.refresh_tray()

    # -- state -----------------------------------------------------------------------------------------------

    def problems(self) -> tuple[str, ...]:
        found = [f"ALARM: {alarm}" for alarm in self.server.alarms]
        key_store = self.service.log.store_status
        if not key_store.secure:
            found.append(f"no OS keyring: {key_store.describe()}")
        if self.service.policies.problem:
            found.append(self.service.policies.problem)
        if self.settings_problem:
            found.append(self.settings_problem)
        waiting = len(self.service.policies.pending())
        if waiting:
            found.append(f"{waiting} rule change(s) wait for your confirmation (Settings → Rules)")
        return tuple(found)

    def refresh_tray(self) -> None:
        self.tray.show(TrayState(pending=len(self.queue.requests()), lockdown=self.lockdown, problems=self.problems()))

    def set_lockdown(self, on: bool) -> None:
        """Deny every call at once, without asking and whatever the rules say, until lifted (questions on screen
        are answered "deny" too)."""
        self.lockdown = on
        self.service.lockdown = on
        self.approver.set_lockdown(on)
        if self.settings_window is not None:
            self.settings_window.general.show_lockdown(on)
        print(f"approver: lockdown {'on' if on else 'lifted'}", file=sys.stderr, flush=True)
        self.refresh_tray()

    def apply_settings(self, settings: AppSettings) -> None:
        self.settings = settings
        self.settings_problem = None
        self.approver.apply(settings)
        try:
            save_settings(self.settings_path, settings)
        except OSError as exc:
            self.settings_problem = f"the settings could not be saved: {exc}"
        self._sync_autostart()
        self.refresh_tray()

    def _sync_autostart(self) -> None:
        """Keep the login entry in step with the setting (and pointing at this installation)."""
        if not autostart.SUPPORTED:
            return
        try:
            autostart.set_start_at_login(self.settings.start_at_login, autostart.launch_command(self.home))
        except OSError as exc:
            self.settings_problem = f"start at login could not be set up: {exc}"

    def _alarm(self, text: str) -> None:
        """Something was done to the service (its socket replaced or removed): always shown, whatever the
        notification setting."""
        self.tray.notify("MCP Approver: ALARM", text)
        self.refresh_tray()

    def _notify_waiting(self, request: ApprovalRequest) -> None:
        if self.settings.notifications:
            call = request.call
            self.tray.notify(
                "MCP Approver: another call is waiting",
                f"{make_visible(call.client.name).text} wants to use {make_visible(call.tool).text} on "
                f"{make_visible(call.server).text}. It is next, after the open question.",
            )

    # -- windows ---------------------------------------------------------------------------------------------

    def bring_forward(self) -> None:
        """A second launch, or a click on the tray icon: the question in front, else the settings."""
        if not self.queue.bring_to_front():
            self.open_settings()

    def open_settings(self) -> None:
        window = self.settings_window
        if window is None:
            window = SettingsWindow(self.service.policies, self.service.tools_seen, self.settings)
            window.general.show_lockdown(self.lockdown)
            window.general.changed.connect(self.apply_settings)
            window.general.lockdown_toggled.connect(self.set_lockdown)
            window.general.open_log.connect(self.open_log)
            self.settings_window = window
            show_on_cursor_screen(window, *SETTINGS_SIZE)
            return
        if not window.rules.dirty:
            window.rules.reload()  # rules confirmed from a dialog since it was last open
        bring_forward(window)

    def open_log(self) -> None:
        if self.log_viewer is None:
            self.log_viewer = LogViewer(self.home)
            show_on_cursor_screen(self.log_viewer, *LOG_SIZE)
        else:
            bring_forward(self.log_viewer)

    # -- lifetime --------------------------------------------------------------------------------------------

    def quit(self) -> None:
        self._quit.set()

    async def until_quit(self) -> None:
        await self._quit.wait()

    def close(self) -> None:
        self._problem_timer.stop()
        for window in (self.settings_window, self.log_viewer):
            if window is not None:
                window.close()
        self.tray.icon.hide()
