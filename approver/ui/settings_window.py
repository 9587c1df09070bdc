"""The settings window: the rules editor, general settings, and the servers and tools seen so far."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from PySide6.QtCore import QFileSystemWatcher, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QHideEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from approver.core.models import Decision
from approver.core.risk import RiskLevel, RiskReason, max_level
from approver.service.policy_store import PolicyStore
from approver.service.tool_definitions import ToolDefinitions
from approver.service.tools_seen import ToolsSeen
from approver.ui import autostart
from approver.ui.clients_page import ClientsPage
from approver.ui.labels import plain_label
from approver.ui.presence import PresenceGate, Proof
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
        self.redact_results = QCheckBox("Redact secrets found in tool results before the AI client gets them")
        self.redact_results.setAccessibleName("Redact secrets in results")
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
        form.addRow("", self.redact_results)
        form.addRow("", self.lockdown)
        form.addRow("", self.log_button)
        self.show_settings(settings)
        self.deadline.valueChanged.connect(self._emit)
        self.deadline_action.currentIndexChanged.connect(self._emit)
        self.notifications.toggled.connect(self._emit)
        self.start_at_login.toggled.connect(self._emit)
        self.start_when_needed.toggled.connect(self._emit)
        self.presence_check.currentIndexChanged.connect(self._emit)
        self.redact_results.toggled.connect(self._emit)
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
            self.redact_results,
        )
        for widget in widgets:
            widget.blockSignals(True)
        self.deadline.setValue(settings.deadline_seconds)
        self.deadline_action.setCurrentIndex(self.deadline_action.findData(settings.deadline_action.value))
        self.notifications.setChecked(settings.notifications)
        self.start_at_login.setChecked(settings.start_at_login)
        self.start_when_needed.setChecked(settings.start_app_when_needed)
        self.presence_check.setCurrentIndex(self.presence_check.findData(settings.presence_check.value))
        self.redact_results.setChecked(settings.redact_results)
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
            redact_results=self.redact_results.isChecked(),
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


FINDING_LABELS = {
    "definition.instructions": "instructions to the AI",
    "definition.parameter_instructions": "instructions in a parameter",
    "definition.concealment": "keeps things from you",
    "definition.parameter_concealment": "keeps things from you",
    "definition.secret_files": "sends the AI to secret files",
    "definition.parameter_secret_files": "secret files in a parameter",
    "definition.hidden_text": "hidden text",
    "tool.description_hidden_text": "hidden text",
    "definition.long": "very long",
    "definition.shadowing": "another server has this name",
    "definition.other_tools": "steers other servers' tools",
}
REFRESH_MS = 2000  # the definitions arrive with calls, in memory: looked at again while the page is on screen


def findings_summary(reasons: list[RiskReason]) -> str:
    """One cell: the highest level and what was found, in a few words."""
    if not reasons:
        return "none"
    labels = list(dict.fromkeys(FINDING_LABELS.get(reason.code, reason.code) for reason in reasons))
    return f"{max_level(reason.level for reason in reasons).value}: {', '.join(labels)}"


@dataclass(frozen=True)
class ToolRow:
    """What the page shows for one tool of one server."""

    server: str
    tool: str
    findings: tuple[RiskReason, ...]
    pin: str
    digest: str | None  # of the definition the Accept and Reject buttons answer; None: nothing to answer
    first_seen: str
    last_seen: str
    description: str
    history: tuple[str, ...]


def tool_rows(tools_seen: ToolsSeen | None, definitions: ToolDefinitions | None) -> list[ToolRow]:
    seen = tools_seen.tools if tools_seen is not None else {}
    known = definitions.servers if definitions is not None else {}
    rows: list[ToolRow] = []
    for server in sorted(set(seen) | set(known)):
        for tool in sorted(set(seen.get(server, {})) | set(known.get(server, {}))):
            pinned = seen.get(server, {}).get(tool)
            listed = known.get(server, {}).get(tool)
            digest = listed.digest if listed is not None else None
            rejected = definitions is not None and (server, tool, digest) in definitions.rejected
            pin_digest = digest or (pinned.digest if pinned is not None else None) or "no definition listed"
            state = "changed since first seen" if pinned is not None and pinned.changed else "as first seen"
            history = list(listed.history) if listed is not None else []
            if pinned is not None and pinned.changed:
                history.append(f"{pinned.last_seen}: its definition differs from the one first seen")
            description = listed.definition.get("description") if listed is not None else None
            rows.append(
                ToolRow(
                    server=server,
                    tool=tool,
                    findings=tuple(definitions.findings(server, tool)) if definitions is not None else (),
                    pin=f"{pin_digest[:19]}… · {'rejected by you' if rejected else state}",
                    digest=digest,
                    first_seen=pinned.first_seen if pinned is not None else (listed.first_seen if listed else ""),
                    last_seen=pinned.last_seen if pinned is not None else "",
                    description=(description if isinstance(description, str) else None)
                    or (pinned.description if pinned is not None else None)
                    or "",
                    history=tuple(history),
                )
            )
    return rows


class ToolsSeenPage(QWidget):
    """Every server and tool the service has seen, what was found in each tool's definition, its pin and history,
    and the person's Accept or Reject of the definition shown. Read when the page comes on screen and followed while
    it is there (the service saves the tools it sees by replacing a file in its directory; definitions arrive with
    calls, so they are also looked at again every few seconds)."""

    def __init__(
        self,
        tools_seen: ToolsSeen | None,
        parent: QWidget | None = None,
        *,
        definitions: ToolDefinitions | None = None,
        presence: PresenceGate | None = None,
    ) -> None:
        super().__init__(parent)
        self.tools_seen = tools_seen
        self.definitions = definitions
        self.presence = presence
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Server / tool", "Findings", "Pin", "First seen", "Last seen", "Description"])
        self.tree.setAccessibleName("Servers and tools seen")
        self.tree.setAlternatingRowColors(True)
        self.tree.currentItemChanged.connect(self._show_details)
        intro = plain_label(
            "The servers and tools MCP Approver has seen. Findings are what a tool's definition tells the AI that "
            "it should not: instructions, hidden text, secret files, or another server's tool names. Reject a "
            "definition to deny every call to that tool until you accept it."
        )
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setAccessibleName("Findings, pin and history of the selected tool")
        self.details.setMaximumHeight(170)
        self.accept_button = QPushButton("Accept definition")
        self.accept_button.setAccessibleName("Accept the selected tool's definition")
        self.reject_button = QPushButton("Reject definition")
        self.reject_button.setAccessibleName("Reject the selected tool's definition")
        self.accept_button.clicked.connect(self.accept_selected)
        self.reject_button.clicked.connect(self.reject_selected)
        self.message = plain_label()
        buttons = QHBoxLayout()
        buttons.addWidget(self.message, 1)
        buttons.addWidget(self.reject_button)
        buttons.addWidget(self.accept_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.details)
        layout.addLayout(buttons)
        self._shown: list[ToolRow] | None = None
        self._rows: dict[tuple[str, str], ToolRow] = {}
        self._items: dict[tuple[str, str], QTreeWidgetItem] = {}
        self._cancel_proof: Callable[[], None] | None = None
        self._watcher = QFileSystemWatcher(self)
        self._watcher.directoryChanged.connect(self._seen_changed)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._show_details(None)

    def showEvent(self, event: QShowEvent) -> None:  # the window opened on this page, or the tab was chosen
        super().showEvent(event)
        if self.tools_seen is not None and self.tools_seen.path.parent.is_dir():
            self._watcher.addPath(str(self.tools_seen.path.parent))
        self._timer.start(REFRESH_MS)
        self.refresh()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._timer.stop()
        watched = self._watcher.directories()
        if watched:
            self._watcher.removePaths(watched)

    def _seen_changed(self, _directory: str) -> None:
        if self.isVisible():
            self.refresh()

    def refresh(self) -> None:
        rows = tool_rows(self.tools_seen, self.definitions)
        if rows == self._shown:
            return  # nothing new: keep the tree as the person left it
        self._shown = rows
        selected = self.selected()
        self._rows = {(row.server, row.tool): row for row in rows}
        self.tree.clear()
        self._items = {}
        servers: dict[str, QTreeWidgetItem] = {}
        for row in rows:
            server_item = servers.get(row.server)
            if server_item is None:
                count = sum(1 for other in rows if other.server == row.server)
                server_item = QTreeWidgetItem([make_visible(row.server).text, f"{count} tools", "", "", "", ""])
                servers[row.server] = server_item
                self.tree.addTopLevelItem(server_item)
                server_item.setExpanded(True)
            item = QTreeWidgetItem(
                server_item,
                [
                    make_visible(row.tool).text,
                    findings_summary(list(row.findings)),
                    row.pin,
                    row.first_seen,
                    row.last_seen,
                    make_visible(" ".join(row.description[:300].split())).text,  # one line per tool
                ],
            )
            item.setData(0, Qt.ItemDataRole.UserRole, (row.server, row.tool))
            self._items[(row.server, row.tool)] = item
            if row.findings:
                item.setToolTip(1, "\n".join(make_visible(reason.text).text for reason in row.findings))
                level = max_level(reason.level for reason in row.findings)
                if level.rank >= RiskLevel.HIGH.rank:
                    item.setForeground(1, QBrush(QColor("#b00020")))
                    item.setForeground(0, QBrush(QColor("#b00020")))
            if (row.server, row.tool) == selected:
                self.tree.setCurrentItem(item)
        for column in range(5):
            self.tree.resizeColumnToContents(column)
        self._show_details(self.tree.currentItem())

    def selected(self) -> tuple[str, str] | None:
        item = self.tree.currentItem()
        key = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        return (str(key[0]), str(key[1])) if isinstance(key, tuple | list) and len(key) == 2 else None

    def select(self, server: str, tool: str) -> bool:
        item = self._items.get((server, tool))
        if item is not None:
            self.tree.setCurrentItem(item)
        return item is not None

    def _show_details(self, _item: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None = None) -> None:
        key = self.selected()
        row = self._rows.get(key) if key is not None else None
        answerable = row is not None and row.digest is not None and self.definitions is not None
        self.accept_button.setEnabled(answerable)
        self.reject_button.setEnabled(answerable)
        if row is None:
            self.details.setPlainText("Choose a tool to see what was found in its definition, its pin and history.")
            return
        lines = [f"{make_visible(row.tool).text} on {make_visible(row.server).text}", "", "Findings:"]
        lines += [f"  • [{r.level.value}] {make_visible(r.text).text}" for r in row.findings] or ["  none"]
        lines += ["", f"Pin: {row.digest or 'no definition listed'} ({row.pin.split(' · ', 1)[-1]})", "", "History:"]
        lines += [f"  • {entry}" for entry in row.history] or ["  nothing recorded yet"]
        self.details.setPlainText("\n".join(lines))

    # -- a person's answer ----------------------------------------------------------------------------------

    def reject_selected(self) -> None:
        """Rejecting only narrows what gets through: no proof of presence is needed."""
        self._answer("reject")

    def accept_selected(self) -> None:
        """Accepting lets calls through again: the same proof of presence as any widening, when set."""
        if self.presence is None or not self.presence.required(widening=True):
            self._answer("accept")
            return
        if self._cancel_proof is None:

            def proved(proof: Proof | None) -> None:
                self._cancel_proof = None
                if proof is None:
                    self.message.setText("⚠ Not accepted: the proof that it is you was not given.")
                else:
                    self._answer("accept")

            self.message.setText("Waiting for the proof that it is you…")
            self._cancel_proof = self.presence.prove(self, "You are accepting a tool's definition.", proved)

    def _answer(self, answer: Literal["accept", "reject"]) -> None:
        key = self.selected()
        row = self._rows.get(key) if key is not None else None
        if row is None or row.digest is None or self.definitions is None:
            return
        act = self.definitions.accept if answer == "accept" else self.definitions.reject
        name = f"'{make_visible(row.tool).text}' on '{make_visible(row.server).text}'"
        try:
            done = act(row.server, row.tool, row.digest)
        except Exception as exc:  # the log could not record it, so it did not take effect
            self.message.setText(f"⚠ Not {answer}ed: it could not be recorded in the log ({exc}).")
            return
        if not done:
            self.message.setText(f"⚠ Not {answer}ed: the server changed {name} meanwhile; look again.")
        elif answer == "accept":
            self.message.setText(f"Accepted the definition of {name}.")
        else:
            self.message.setText(f"Rejected the definition of {name}: calls to it are denied.")
        self._shown = None
        self.refresh()


class SettingsWindow(QWidget):
    def __init__(
        self,
        policies: PolicyStore,
        tools_seen: ToolsSeen | None,
        settings: AppSettings,
        parent: QWidget | None = None,
        *,
        presence: PresenceGate | None = None,
        definitions: ToolDefinitions | None = None,
        clients: ClientsPage | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(WINDOW_TITLE)
        self.rules = RulesEditor(policies, presence=presence)
        self.general = GeneralPage(settings)
        self.tools = ToolsSeenPage(tools_seen, definitions=definitions, presence=presence)
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
