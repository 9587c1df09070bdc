"""The window at the app's first launch: what a person settles once before MCP Approver works for them.

Nothing it asks about is done before they press OK (or Protect / Not now when it lists servers that are not
protected); closing it instead leaves everything as it was, and it asks again at the next launch. It is a column
of sections (start at login first, then the AI clients' servers that do not go through MCP Approver yet).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from approver.ui.labels import plain_label

WINDOW_TITLE = "MCP Approver — Welcome"


class FirstRunWindow(QDialog):
    answered = Signal(bool)  # OK, Protect or Not now was pressed: whether to start at login
    protect = Signal(list)  # Protect was pressed: the checked servers' keys (as given to show_servers)

    def __init__(self, autostart_entry: Path | None, parent: QWidget | None = None) -> None:
        """`autostart_entry`: where the login entry would be written; None where the installer sets it up."""
        super().__init__(parent)
        self.setWindowTitle(WINDOW_TITLE)
        self.setAccessibleName("Welcome to MCP Approver")
        intro = plain_label(
            "MCP Approver is running. From now on, when an AI assistant calls a tool through it, your rules decide "
            "or it asks you first. Its shield in the system tray opens the settings and the audit log."
        )
        self.sections = QVBoxLayout()
        self.start_at_login = QCheckBox("Start MCP Approver when I log in")
        self.start_at_login.setAccessibleName("Start at login")
        self.start_at_login.setChecked(True)
        if autostart_entry is None:
            self.start_at_login.setEnabled(False)
            where = plain_label("On this system the installer sets up starting at login.")
        else:
            where = plain_label(
                f"When you press OK, MCP Approver writes its login entry to {autostart_entry}. You can change this "
                "later in Settings → General.",
                selectable=True,
            )
        where.setAccessibleName("Where the login entry goes")
        self.where = where
        self.add_section("Start at login", self.start_at_login, where)
        self.servers_said = plain_label("Looking for the MCP servers your AI clients start…")
        self.servers_said.setAccessibleName("Servers not protected")
        self.servers = QListWidget()
        self.servers.setAccessibleName("Servers to protect")
        self.servers.setVisible(False)
        self.add_section("AI clients' servers", self.servers_said, self.servers)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setAccessibleName("OK: apply these choices")
        self.ok_button.setDefault(True)
        self.not_now_button = QPushButton("&Not now")
        self.not_now_button.setAccessibleName("Not now: protect nothing, apply the other choices")
        self.not_now_button.setAutoDefault(False)
        self.not_now_button.setVisible(False)
        buttons.addButton(self.not_now_button, QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self._protect_and_accept)
        self.not_now_button.clicked.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(self.sections)
        layout.addStretch(1)
        layout.addWidget(buttons)
        self.ok_button.setFocus()

    def add_section(self, title: str, *widgets: QWidget) -> QGroupBox:
        box = QGroupBox(title)
        column = QVBoxLayout(box)
        for widget in widgets:
            column.addWidget(widget)
        self.sections.addWidget(box)
        return box

    def show_servers(self, servers: Sequence[tuple[str, object]]) -> None:
        """The servers found not protected, as (what to show, key): listed checked, and the OK button becomes
        Protect. None found: the section says so and OK stays."""
        self.servers.clear()
        if not servers:
            self.servers_said.setText("Every MCP server your AI clients start goes through MCP Approver.")
            return
        count = len(servers)
        self.servers_said.setText(
            f"{count} MCP server{'s' if count != 1 else ''} your AI clients start do{'es' if count == 1 else ''} not "
            "go through MCP Approver, so their tool calls are not checked. Protect wraps the checked ones in their "
            "clients' configuration files (Settings → Clients shows each change and can undo it); the clients use "
            "it the next time they start a server."
        )
        for label, key in servers:
            item = QListWidgetItem(label)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            item.setData(Qt.ItemDataRole.UserRole, key)
            self.servers.addItem(item)
        self.servers.setVisible(True)
        self.servers.setMinimumHeight(min(count, 8) * self.servers.sizeHintForRow(0) + 8)
        self.ok_button.setText("&Protect")
        self.where.setText(self.where.text().replace("When you press OK,", "When you press Protect or Not now,"))
        self.ok_button.setAccessibleName("Protect the checked servers and apply these choices")
        self.not_now_button.setVisible(True)

    def checked_servers(self) -> list[object]:
        items = (self.servers.item(row) for row in range(self.servers.count()))
        return [item.data(Qt.ItemDataRole.UserRole) for item in items if item.checkState() == Qt.CheckState.Checked]

    def _protect_and_accept(self) -> None:
        chosen = self.checked_servers()
        if chosen:
            self.protect.emit(chosen)
        self.accept()

    def accept(self) -> None:
        self.answered.emit(self.start_at_login.isChecked())
        super().accept()
