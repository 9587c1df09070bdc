"""The settings window: the rules editor, general settings, and the servers and tools seen so far."""

from __future__ import annotations

from PySide6.QtCore import QFileSystemWatcher, Signal
from PySide6.QtGui import QHideEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from approver.core.models import Decision
from approver.service.policy_store import PolicyStore
from approver.service.tools_seen import SeenTool, ToolsSeen
from approver.ui import autostart
from approver.ui.clients_page import ClientsPage
from approver.ui.labels import plain_label
from approver.ui.presence import PresenceGate
from approver.ui.presentation import make_visible
from approver.ui.rules_editor import RulesEditor
from approver.ui.settings import (
    CLIENT_TIMEOUT_SECONDS,
    AppSettings,
    PresenceCheck,
    changed_values,
    describe_widenings,
    widenings,
)

WINDOW_TITLE = "MCP Approver — Settings"


class GeneralPage(QWidget):
    changed = Signal(object)  # AppSettings
    lockdown_toggled = Signal(bool)
    open_log = Signal()
    confirm_outside = Signal()  # confirm the settings asked for outside the app
    keep_mine = Signal()  # drop them

    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.deadline = QSpinBox()
        self.deadline.setRange(5, 3600)
        self.deadline.setSuffix(" s")
        self.deadline.setAccessibleName("Seconds to answer before the deadline action")
        self.deadline_hint = plain_label()
        self.deadline_action = QComboBox()
        self.deadline_action.addItem("Deny the call", Decision.DENY.value)
        self.deadline_action.addItem("Allow the call", Decision.ALLOW.value)
        self.deadline_action.setAccessibleName("What happens when nobody answers in time")
        self.notifications = QCheckBox("Notify me when a call arrives while the open question is minimised")
        self.notifications.setAccessibleName("Notifications")
        self.start_at_login = QCheckBox("Start MCP Approver when I log in")
        self.start_at_login.setAccessibleName("Start at login")
        if not autostart.SUPPORTED:
            self.start_at_login.setEnabled(False)
            self.start_at_login.setToolTip("On this system the installer sets up starting at login.")
        self.start_when_needed = QCheckBox("Start MCP Approver when an AI client needs it and it is not running")
        self.start_when_needed.setAccessibleName("Start the app when a proxy needs it")
        self.start_when_needed.setToolTip(
            "A proxy that finds no MCP Approver starts this app and waits up to 10 s for it; without it, every tool "
            "call is denied until you start the app."
        )
        self._presence_widgets()
        self.lockdown = QCheckBox("Lockdown: deny every tool call without asking, whatever the rules say")
        self.lockdown.setAccessibleName("Lockdown")
        self.log_button = QPushButton("Open the &audit log…")
        self.log_button.setAccessibleName("Open the audit log")
        form = QFormLayout(self)
        form.addRow(self.outside_box)
        form.addRow("&Time to answer:", self.deadline)
        form.addRow("", self.deadline_hint)
        form.addRow("&When time runs out:", self.deadline_action)
        form.addRow("", self.notifications)
        form.addRow("", self.start_at_login)
        form.addRow("", self.start_when_needed)
        form.addRow("&Ask for proof that it is you:", self.presence_check)
        form.addRow("", self.lockdown)
        form.addRow("", self.log_button)
        self.show_settings(settings)
        self.deadline.valueChanged.connect(self._emit)
        self.deadline_action.currentIndexChanged.connect(self._emit)
        self.notifications.toggled.connect(self._emit)
        self.start_at_login.toggled.connect(self._emit)
        self.start_when_needed.toggled.connect(self._emit)
        self.presence_check.currentIndexChanged.connect(self._emit)
        self.confirm_outside_button.clicked.connect(self.confirm_outside)
        self.keep_mine_button.clicked.connect(self.keep_mine)
        self.lockdown.toggled.connect(self.lockdown_toggled)
        self.log_button.clicked.connect(self.open_log)

    def _presence_widgets(self) -> None:
        """The proof-of-presence setting, and the banner for settings changed outside the app."""
        self.presence_check = QComboBox()
        self.presence_check.addItem(
            "For critical calls and anything that allows more", PresenceCheck.CRITICAL_AND_WIDENING.value
        )
        self.presence_check.addItem("For critical calls only", PresenceCheck.CRITICAL.value)
        self.presence_check.addItem("Never (a click allows)", PresenceCheck.OFF.value)
        self.presence_check.setAccessibleName("When allowing needs proof that you are there")
        self.presence_check.setToolTip(
            "Any program running as you can click Allow for you. Proof is your password in the system's dialog, "
            "or a code shown as a picture to type."
        )
        self.outside = plain_label()
        self.outside.setAccessibleName("Settings changed outside MCP Approver")
        self.confirm_outside_button = QPushButton("&Confirm those settings")
        self.confirm_outside_button.setAccessibleName("Confirm the settings changed outside MCP Approver")
        self.keep_mine_button = QPushButton("&Keep mine")
        self.keep_mine_button.setAccessibleName("Keep the settings in force and drop the outside change")
        outside_buttons = QHBoxLayout()
        outside_buttons.addWidget(self.confirm_outside_button)
        outside_buttons.addWidget(self.keep_mine_button)
        outside_buttons.addStretch(1)
        self.outside_box = QWidget()
        outside_column = QVBoxLayout(self.outside_box)
        outside_column.setContentsMargins(0, 0, 0, 0)
        outside_column.addWidget(self.outside)
        outside_column.addLayout(outside_buttons)
        self.outside_box.setVisible(False)

    def show_settings(self, settings: AppSettings, asked: AppSettings | None = None) -> None:
        """The settings in force; `asked`: settings written outside the app whose widening part waits for a person."""
        widgets = (
            self.deadline,
            self.deadline_action,
            self.notifications,
            self.start_at_login,
            self.start_when_needed,
            self.presence_check,
        )
        for widget in widgets:
            widget.blockSignals(True)
        self.deadline.setValue(settings.deadline_seconds)
        self.deadline_action.setCurrentIndex(self.deadline_action.findData(settings.deadline_action.value))
        self.notifications.setChecked(settings.notifications)
        self.start_at_login.setChecked(settings.start_at_login)
        self.start_when_needed.setChecked(settings.start_app_when_needed)
        self.presence_check.setCurrentIndex(self.presence_check.findData(settings.presence_check.value))
        for widget in widgets:
            widget.blockSignals(False)
        self._hint(settings.deadline_seconds)
        fields = widenings(settings, asked) if asked is not None else ()
        if asked is not None and fields:
            changes = "; ".join(
                f"{name}: {change['from']} → {change['to']}" for name, change in changed_values(settings, asked).items()
            )
            self.outside.setText(
                f"⚠ The settings were changed outside MCP Approver ({changes}). What would "
                f"{describe_widenings(fields)} is not in force. Confirm?"
            )
        self.outside_box.setVisible(bool(fields))

    def show_lockdown(self, on: bool) -> None:
        self.lockdown.blockSignals(True)
        self.lockdown.setChecked(on)
        self.lockdown.blockSignals(False)

    def settings(self) -> AppSettings:
        return AppSettings(
            deadline_seconds=self.deadline.value(),
            deadline_action=Decision(self.deadline_action.currentData()),
            notifications=self.notifications.isChecked(),
            start_at_login=self.start_at_login.isChecked(),
            start_app_when_needed=self.start_when_needed.isChecked(),
            presence_check=PresenceCheck(self.presence_check.currentData()),
        )

    def _hint(self, seconds: int) -> None:
        if seconds >= CLIENT_TIMEOUT_SECONDS:
            self.deadline_hint.setText(
                f"Many AI clients give up on a call after {CLIENT_TIMEOUT_SECONDS} s; with a longer time they may "
                "report an error before you answer (unless they accept progress updates, which MCP Approver sends)."
            )
        else:
            self.deadline_hint.setText("Applies to calls that arrive from now on.")

    def _emit(self) -> None:
        settings = self.settings()
        self._hint(settings.deadline_seconds)
        self.changed.emit(settings)


class ToolsSeenPage(QWidget):
    """What the service has seen, as it is now: read when the page comes on screen, and followed while it is
    there (the service saves the tools it sees by replacing a file, so that file's directory changes each time)."""

    def __init__(self, tools_seen: ToolsSeen | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tools_seen = tools_seen
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Server / tool", "Definition", "First seen", "Last seen", "Description"])
        self.tree.setAccessibleName("Servers and tools seen")
        self.tree.setAlternatingRowColors(True)
        intro = plain_label(
            "The servers and tools MCP Approver was asked about. A tool marked changed was redefined by its "
            "server after it was first seen."
        )
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.tree, 1)
        self._shown: dict[str, dict[str, SeenTool]] | None = None
        self._watcher = QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(self._seen_changed)

    def showEvent(self, event: QShowEvent) -> None:  # the window opened on this page, or the tab was chosen
        super().showEvent(event)
        if self.tools_seen is not None and self.tools_seen.path.parent.is_dir():
            self._watcher.addPath(str(self.tools_seen.path.parent))
        self.refresh()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        watched = self._watcher.directories()
        if watched:
            self._watcher.removePaths(watched)

    def _seen_changed(self, _directory: str) -> None:
        if self.isVisible():
            self.refresh()

    def refresh(self) -> None:
        tools = self.tools_seen.tools if self.tools_seen is not None else {}
        now = {server: dict(seen) for server, seen in tools.items()}
        if now == self._shown:
            return  # the directory changed for another file: keep the tree as the person left it
        self._shown = now
        self.tree.clear()
        for server, seen in sorted(now.items()):
            server_item = QTreeWidgetItem([make_visible(server).text, f"{len(seen)} tools", "", "", ""])
            for name, tool in sorted(seen.items()):
                QTreeWidgetItem(
                    server_item,
                    [
                        make_visible(name).text,
                        "changed" if tool.changed else "unchanged",
                        tool.first_seen,
                        tool.last_seen,
                        make_visible(tool.description or "").text,
                    ],
                )
            self.tree.addTopLevelItem(server_item)
            server_item.setExpanded(True)
        for column in range(4):
            self.tree.resizeColumnToContents(column)


class SettingsWindow(QWidget):
    def __init__(
        self,
        policies: PolicyStore,
        tools_seen: ToolsSeen | None,
        settings: AppSettings,
        parent: QWidget | None = None,
        *,
        presence: PresenceGate | None = None,
        clients: ClientsPage | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(WINDOW_TITLE)
        self.rules = RulesEditor(policies, presence=presence)
        self.general = GeneralPage(settings)
        self.tools = ToolsSeenPage(tools_seen)
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Settings pages")
        self.tabs.addTab(self.rules, "Rules")
        self.tabs.addTab(self.general, "General")
        self.tabs.addTab(self.tools, "Servers and tools")
        self.clients = clients
        if clients is not None:
            self.tabs.addTab(clients, "Clients")
        self.close_button = QPushButton("Close")
        self.close_button.setAccessibleName("Close settings")
        self.close_button.clicked.connect(self.close)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Close), self, self.close)
        QShortcut(QKeySequence("Escape"), self, self.close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(buttons)
