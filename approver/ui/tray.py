"""The tray icon and its menu. Every tray quirk lives here: the menu is rebuilt each time it opens (so it is never
stale), and a left click brings the question in front forward, or the settings when nothing waits."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from approver.core.approval import ApprovalRequest
from approver.ui.icons import TrayLook, look_icon, pending_icon
from approver.ui.presentation import make_visible


@dataclass(frozen=True)
class TrayState:
    pending: int = 0
    lockdown: bool = False
    problems: tuple[str, ...] = field(default_factory=tuple)
    unprotected: int = 0  # servers clients start without the proxy in front (also one of the problems)

    @property
    def look(self) -> TrayLook:
        if self.lockdown:
            return TrayLook.LOCKDOWN
        if self.pending:
            return TrayLook.PENDING
        return TrayLook.PROBLEM if self.problems else TrayLook.IDLE

    def tooltip(self) -> str:
        if self.lockdown:
            lines = ["MCP Approver: LOCKDOWN — every tool call is denied"]
        elif self.pending:
            lines = [f"MCP Approver: {self.pending} call{'s' if self.pending != 1 else ''} waiting for you"]
        else:
            lines = ["MCP Approver: watching tool calls"]
        lines += [f"⚠ {problem}" for problem in self.problems]
        return "\n".join(lines)


@dataclass(frozen=True)
class TrayActions:
    """What the menu's entries do (the app supplies them)."""

    show_request: Callable[[int], object]
    set_lockdown: Callable[[bool], None]
    open_settings: Callable[[], None]
    open_log: Callable[[], None]
    quit: Callable[[], None]
    activate: Callable[[], None]  # a left click on the icon
    open_clients: Callable[[], None] | None = None  # Settings → Clients, the unprotected servers selected


def _pending_label(request: ApprovalRequest, now: float) -> str:
    left = max(0, int(request.deadline_at - now))
    tool = make_visible(request.call.tool).text
    server = make_visible(request.call.server).text
    return f"{tool} on {server} ({left} s left)"


class Tray:
    def __init__(self, actions: TrayActions, pending: Callable[[], list[ApprovalRequest]]) -> None:
        self.actions = actions
        self._pending = pending
        self.state = TrayState()
        self.icon = QSystemTrayIcon()
        self.menu = QMenu()
        self.menu.setAccessibleName("MCP Approver")
        self.menu.aboutToShow.connect(self._rebuild_menu)
        self._rebuild_menu()
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.icon.messageClicked.connect(self._message_clicked)
        self._on_message_click: Callable[[], None] | None = None
        self.show(self.state)

    @staticmethod
    def available() -> bool:
        return QSystemTrayIcon.isSystemTrayAvailable()

    def show(self, state: TrayState) -> None:
        if state == self.state and self.icon.isVisible():
            return  # the problem check runs every few seconds; redraw only on a change
        self.state = state
        self.icon.setIcon(pending_icon(state.pending) if state.look is TrayLook.PENDING else look_icon(state.look))
        self.icon.setToolTip(state.tooltip())
        self.icon.show()

    def notify(self, title: str, message: str, on_click: Callable[[], None] | None = None) -> None:
        """`on_click`: what a click on this notification does (a later notification replaces it)."""
        self._on_message_click = on_click
        self.icon.showMessage(title, message, QSystemTrayIcon.MessageIcon.Information, 8000)

    def _rebuild_menu(self) -> None:
        self.menu.clear()
        requests = self._pending()
        waiting = self.menu.addMenu(f"Pending approvals ({len(requests)})")
        waiting.setEnabled(bool(requests))
        now = time.time()
        for request in requests:
            entry = waiting.addAction(_pending_label(request, now))
            entry.triggered.connect(lambda _checked=False, rid=request.id: self.actions.show_request(rid))
        lockdown = QAction("Lockdown (deny every call)", self.menu)
        lockdown.setCheckable(True)
        lockdown.setChecked(self.state.lockdown)
        lockdown.toggled.connect(self.actions.set_lockdown)
        self.menu.addAction(lockdown)
        self.menu.addSeparator()
        if self.state.unprotected and self.actions.open_clients is not None:
            count = self.state.unprotected
            self.menu.addAction(f"{count} server{'s' if count != 1 else ''} not protected: protect…").triggered.connect(
                self.actions.open_clients
            )
        self.menu.addAction("Settings…").triggered.connect(self.actions.open_settings)
        self.menu.addAction("Audit log…").triggered.connect(self.actions.open_log)
        self.menu.addSeparator()
        self.menu.addAction("Quit MCP Approver").triggered.connect(self.actions.quit)

    def _message_clicked(self) -> None:
        if self._on_message_click is not None:
            self._on_message_click()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self.actions.activate()
