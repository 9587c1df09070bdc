"""The desktop app's parts, wired together around the running decision service: the approver and its dialog
queue, the tray, lockdown, the first-run, settings and audit log windows, start at login, and the state the tray
shows."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer

from approver.clients.wiring import ConfigFileReport
from approver.core.approval import ApprovalRequest
from approver.platform.aio import TaskSet
from approver.platform.keystore import KeyStoreError
from approver.platform.paths import Home
from approver.service.server import DecisionServer
from approver.service.tool_definitions import FlaggedTool
from approver.ui import autostart
from approver.ui.approval_queue import ApprovalQueue
from approver.ui.clients_page import (
    ClientsPage,
    ClientWatch,
    ServerKey,
    describe_unprotected,
    plan,
    protectable,
    server_key,
    shown_path,
    write_changes,
)
from approver.ui.desktop_approver import DesktopApprover
from approver.ui.first_run import FirstRunWindow
from approver.ui.log_viewer import LogViewer
from approver.ui.presence import PresenceGate, Proof, needs_presence
from approver.ui.presentation import make_visible
from approver.ui.settings import (
    AppSettings,
    LoadedSettings,
    PresenceCheck,
    SettingsStore,
    changed_values,
    describe_widenings,
    widenings,
)
from approver.ui.settings_window import SettingsWindow
from approver.ui.tray import Tray, TrayActions, TrayState
from approver.ui.windows import bring_forward, show_on_cursor_screen

PROBLEM_CHECK_MS = 5000  # the policy file can break (or be fixed) at any time; the tray should say so
SETTINGS_SIZE = (1000, 760)
LOG_SIZE = (1100, 720)
FIRST_RUN_WIDTH = 560  # its height is what its sections need at this width


class DesktopApp:
    def __init__(
        self,
        home: Home,
        server: DecisionServer,
        approver: DesktopApprover,
        queue: ApprovalQueue,
        *,
        settings_store: SettingsStore,
        loaded: LoadedSettings,
        first_run: bool = False,
        client_watch: ClientWatch | None = None,
    ) -> None:
        """`first_run`: no settings were ever saved; start at login is asked about, not set up unasked.
        `client_watch`: follows the AI clients' configuration files (default: the user's, as the app sees them)."""
        self.home = home
        self.server = server
        self.service = server.service
        self.approver = approver
        self.queue = queue
        self.settings_store = settings_store
        self.settings = loaded.settings
        self.settings_asked = loaded.asked  # an outside change's widening settings, waiting for a person
        self.settings_problem = loaded.problem
        self.presence = PresenceGate(lambda: self.settings.presence_check)
        self.queue.presence = self.presence
        self._cancel_settings_proof: Callable[[], None] | None = None
        approver.apply(self.settings)
        self.service.redact_results = self.settings.redact_results
        in_force = widenings(AppSettings(), self.settings)
        if loaded.trusted and in_force:
            # Sealed, but wider than the defaults: on record at every start, so a seal forged with the keyring's
            # key (which a same-user agent can read) or an old sealed file put back still shows in the log.
            self._log_settings(
                f"settings in force at start: MCP Approver will {describe_widenings(in_force)}",
                {"trusted": True, "widening": list(in_force), "changed": changed_values(AppSettings(), self.settings)},
            )
        if not loaded.trusted:
            self._log_settings(
                "the settings file was changed outside MCP Approver"
                + (f"; ignored until confirmed: {describe_widenings(loaded.ignored)}" if loaded.ignored else ""),
                {
                    "trusted": False,
                    "ignored": list(loaded.ignored),
                    "asked": changed_values(loaded.settings, loaded.asked) if loaded.asked else {},
                },
            )
        self.lockdown = False
        self.settings_window: SettingsWindow | None = None
        self.log_viewer: LogViewer | None = None
        self.first_run_window: FirstRunWindow | None = None
        self._quit = asyncio.Event()
        self._tasks = TaskSet()
        self.client_watch = client_watch or ClientWatch(home)
        self.client_watch.scanned.connect(self._clients_scanned)
        self.unprotected: list[ServerKey] = []  # drift the tray shows; notified once per server while it lasts
        self.clients_page: ClientsPage | None = None
        self.tray = Tray(
            TrayActions(
                show_request=self.queue.bring_to_front,
                set_lockdown=self.set_lockdown,
                open_settings=self.open_settings,
                open_log=self.open_log,
                quit=self.quit,
                activate=self.bring_forward,
                open_clients=self.open_clients,
            ),
            pending=self.queue.requests,
        )
        self.queue.changed.connect(self.refresh_tray)
        self.queue.waiting_unseen.connect(self._notify_waiting)
        server.on_alarm = self._alarm
        self.service.definitions.on_flagged = self._notify_flagged_tool
        self._problem_timer = QTimer()
        self._problem_timer.timeout.connect(self.refresh_tray)
        self._problem_timer.start(PROBLEM_CHECK_MS)
        if first_run:
            self._ask_first_run_questions()
        else:
            self._sync_autostart()
        self.client_watch.request_scan()
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
        if self.unprotected:
            count = len(self.unprotected)
            found.append(f"{count} server{'s' if count != 1 else ''} not protected (Settings → Clients)")
        return tuple(found)

    def refresh_tray(self) -> None:
        self.tray.show(
            TrayState(
                pending=len(self.queue.requests()),
                lockdown=self.lockdown,
                problems=self.problems(),
                unprotected=len(self.unprotected),
            )
        )

    def _clients_scanned(self, reports: list[ConfigFileReport]) -> None:
        """Drift: servers a client starts without the proxy. One notification names the servers newly found
        unprotected (a server protected again and then unwrapped once more counts as new)."""
        found = protectable(reports)
        new = [(report, server) for report, server in found if server_key(report, server) not in self.unprotected]
        self.unprotected = [server_key(report, server) for report, server in found]
        if new:
            count = len(new)
            print(
                f"approver: {count} server{'s' if count != 1 else ''} not protected: {describe_unprotected(new)}",
                file=sys.stderr,
                flush=True,
            )
        if self.first_run_window is not None and self.first_run_window.isVisible():
            self.first_run_window.show_servers(
                [
                    (
                        f"{make_visible(server.entry.name).text} — {report.location.client.label} "
                        f"({shown_path(report.path, self.client_watch.user_home)})",
                        server_key(report, server),
                    )
                    for report, server in found
                ]
            )
            self._fit_first_run_window()
        elif new:
            count = len(new)
            self.tray.notify(
                f"MCP Approver: {count} server{'s' if count != 1 else ''} not protected",
                f"{describe_unprotected(new)} start{'s' if count == 1 else ''} without MCP Approver. Click to "
                "protect (Settings → Clients).",
                on_click=self.open_clients,
            )
        self.refresh_tray()

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
        """A change made on the settings page. One that widens needs a person (with proof of presence when the
        settings ask for it) and is written to the decision log before it applies."""
        fields = widenings(self.settings, settings)
        if fields:
            self._widen_settings(settings, fields, outside=False)
        else:
            self._use_settings(settings)

    def confirm_outside_settings(self) -> None:
        """The person confirms, on the settings page, the widening settings an outside change asked for."""
        if self.settings_asked is not None:
            asked = self.settings_asked
            self._widen_settings(asked, widenings(self.settings, asked), outside=True)

    def keep_settings(self) -> None:
        """The person keeps the settings in force: the outside change's widening values are dropped (sealed)."""
        self.settings_asked = None
        self._use_settings(self.settings)

    def _settings_need_proof(self, fields: tuple[str, ...]) -> bool:
        current = self.settings.presence_check
        weaker_proof = "presence_check" in fields and current is not PresenceCheck.OFF  # turning it down needs it
        return weaker_proof or needs_presence(current, critical=False, widening=True)

    def _widen_settings(self, settings: AppSettings, fields: tuple[str, ...], *, outside: bool) -> None:
        window = self.settings_window
        if not self._settings_need_proof(fields):
            self._widened(settings, fields, None, outside=outside)
            return
        if window is None or self._cancel_settings_proof is not None:
            self._show_settings_page()
            return
        window.general.setEnabled(False)  # what is being confirmed cannot change meanwhile

        def proved(proof: Proof | None) -> None:
            self._cancel_settings_proof = None
            window.general.setEnabled(True)
            if proof is None:
                self._show_settings_page()  # not confirmed: the page shows what is in force again
            else:
                self._widened(settings, fields, proof, outside=outside)

        self._cancel_settings_proof = self.presence.prove(
            window, f"You are changing the settings so that MCP Approver will {describe_widenings(fields)}.", proved
        )

    def _widened(self, settings: AppSettings, fields: tuple[str, ...], proof: Proof | None, *, outside: bool) -> None:
        logged = self._log_settings(
            f"the user changed the settings to {describe_widenings(fields)}"
            + (" (asked for outside MCP Approver, confirmed in the app)" if outside else ""),
            {
                "trusted": True,
                "widening": list(fields),
                "changed": changed_values(self.settings, settings),
                "presence": proof.value if proof is not None else "not required by the settings",
            },
        )
        if not logged:  # a widening nobody can audit does not happen
            self._show_settings_page()
            return
        if outside:
            self.settings_asked = None
        self._use_settings(settings)

    def _log_settings(self, reason: str, details: dict[str, Any]) -> bool:
        try:
            self.service.log.append_event("settings-change", {"reason": reason, **details})
        except Exception as exc:  # the log refuses: say so, and let the caller fail closed
            self.settings_problem = f"a settings change could not be written to the decision log: {exc}"
            print(f"approver: {self.settings_problem}", file=sys.stderr, flush=True)
            return False
        return True

    def _use_settings(self, settings: AppSettings) -> Path | None:
        """Use, save and act on settings; returns where the login entry was written, if it was."""
        self.settings = settings
        self.settings_problem = None
        self.approver.apply(settings)
        self.service.redact_results = settings.redact_results
        try:
            self.settings_store.save(settings)
        except (OSError, KeyStoreError) as exc:
            self.settings_problem = f"the settings could not be saved: {exc}"
        if self.settings_asked is not None:
            self.settings_problem = "the settings were changed outside MCP Approver; confirm them in Settings → General"
        written = self._sync_autostart()
        self._show_settings_page()
        self.refresh_tray()
        return written

    def _show_settings_page(self) -> None:
        if self.settings_window is not None:
            self.settings_window.general.show_settings(self.settings, self.settings_asked)

    def _sync_autostart(self) -> Path | None:
        """Keep the login entry in step with the setting (and pointing at this installation); returns where the
        entry was written, if it was."""
        if not autostart.SUPPORTED:
            return None
        try:
            autostart.sync_menu_entry(self.home)
        except OSError as exc:
            self.settings_problem = f"the menu entry could not be written: {exc}"
        try:
            path = autostart.set_start_at_login(self.settings.start_at_login, autostart.launch_command(self.home))
        except OSError as exc:
            self.settings_problem = f"start at login could not be set up: {exc}"
            return None
        return path if self.settings.start_at_login else None

    def _ask_first_run_questions(self) -> None:
        window = FirstRunWindow(autostart.entry_path() if autostart.SUPPORTED else None)
        window.answered.connect(self._first_run_answered)
        window.protect.connect(lambda keys: self._tasks.spawn(self._protect_first_run(keys), "protect servers"))
        self.first_run_window = window
        self._fit_first_run_window()

    def _fit_first_run_window(self) -> None:
        """Its height is what its sections need at its width: again once the servers are listed."""
        window = self.first_run_window
        if window is None:
            return
        height = window.heightForWidth(FIRST_RUN_WIDTH)
        show_on_cursor_screen(window, FIRST_RUN_WIDTH, max(height, window.sizeHint().height()))

    def _first_run_answered(self, start_at_login: bool) -> None:
        """OK in the first-run window: save the answers (so it is not asked again) and act on them, saying where
        the login entry went."""
        chosen = self.settings.model_copy(update={"start_at_login": start_at_login})
        fields = widenings(self.settings, chosen)
        # The first answer is the person's own, in the app, about nothing that was in force before: no proof of
        # presence is asked, but a widening choice is on record like any other.
        if fields and not self._log_settings(
            f"the user chose in the first-run window that MCP Approver will {describe_widenings(fields)}",
            {"trusted": True, "widening": list(fields), "changed": changed_values(self.settings, chosen)},
        ):
            return
        written = self._use_settings(chosen)
        if written is not None:
            print(f"approver: start at login: wrote {written}", file=sys.stderr, flush=True)
            self.tray.notify("MCP Approver will start when you log in", f"Its login entry is {written}")
        elif start_at_login and self.settings_problem:
            self.tray.notify("MCP Approver: start at login is not set up", self.settings_problem)

    def _alarm(self, text: str) -> None:
        """Something was done to the service (its socket replaced or removed): always shown, whatever the
        notification setting."""
        self.tray.notify("MCP Approver: ALARM", text)
        self.refresh_tray()

    async def _protect_first_run(self, keys: list[ServerKey]) -> None:
        """Protect in the first-run window: wrap the servers that were checked (narrowing: more calls meet the
        gate, so the click is all it takes), as the clients' files hold them now."""
        reports = await self.client_watch.rescan()
        selection: dict[str, list[str]] = {}
        for key in keys:
            selection.setdefault(key.path, []).append(key.name)
        changes = await asyncio.to_thread(plan, reports, self.home, selection, protect=True)
        problems = await asyncio.to_thread(write_changes, changes, self.home)
        protected = sum(len(change.servers) for change in changes) - len(problems)
        print(f"approver: protected {protected} server(s) in {len(changes)} file(s)", file=sys.stderr, flush=True)
        for problem in problems:
            print(f"approver: {problem}", file=sys.stderr, flush=True)
        await self.client_watch.rescan()
        if problems:
            self.tray.notify("MCP Approver: some servers were not protected", problems[0], on_click=self.open_clients)

    def _notify_waiting(self, request: ApprovalRequest) -> None:
        """Only while the question in front is minimised: on screen, it says "N more waiting" itself, and a
        notification would cover its buttons."""
        if self.settings.notifications:
            call = request.call
            self.tray.notify(
                "MCP Approver: a call is waiting",
                f"{make_visible(call.client.name).text} wants to use {make_visible(call.tool).text} on "
                f"{make_visible(call.server).text}. The question before it is minimised.",
            )

    def _notify_flagged_tool(self, flagged: FlaggedTool) -> None:
        """A server offers a tool whose definition has findings, first time with that definition: said whatever
        the notification setting, since the AI reads that definition before the person sees any call."""
        self.tray.notify(
            f"MCP Approver: a suspicious tool on {make_visible(flagged.server).text}",
            f"'{make_visible(flagged.tool).text}': {make_visible(flagged.reasons[0].text).text} "
            "See Settings → Servers and tools.",
        )

    # -- windows ---------------------------------------------------------------------------------------------

    def bring_forward(self) -> None:
        """A second launch, or a click on the tray icon: the question in front, else the first-run window while it
        is open, else the settings."""
        if self.queue.bring_to_front():
            return
        if self.first_run_window is not None and self.first_run_window.isVisible():
            bring_forward(self.first_run_window)
        else:
            self.open_settings()

    def open_clients(self) -> None:
        """Settings → Clients with the unprotected servers selected (the tray's entry and its notification)."""
        self.open_settings()
        window = self.settings_window
        if window is not None and window.clients is not None:
            window.tabs.setCurrentWidget(window.clients)
            window.clients.select_unprotected()

    def open_settings(self) -> None:
        window = self.settings_window
        if window is None:
            self.clients_page = ClientsPage(self.client_watch, presence=self.presence, log_widening=self._log_settings)
            window = SettingsWindow(
                self.service.policies,
                self.service.tools_seen,
                self.settings,
                presence=self.presence,
                definitions=self.service.definitions,
                clients=self.clients_page,
            )
            window.general.show_settings(self.settings, self.settings_asked)
            window.general.show_lockdown(self.lockdown)
            window.general.changed.connect(self.apply_settings)
            window.general.confirm_outside.connect(self.confirm_outside_settings)
            window.general.keep_mine.connect(self.keep_settings)
            if self.settings_asked is not None:
                window.tabs.setCurrentWidget(window.general)  # where the confirmation waits
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
        self.client_watch.stop()
        # Deleted by Qt at a safe point: left to Python's garbage collector it can go mid-event and crash.
        self.client_watch.deleteLater()
        for window in (self.first_run_window, self.settings_window, self.log_viewer):
            if window is not None:
                window.close()
        self.tray.icon.hide()
