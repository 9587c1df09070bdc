"""The window at the app's first launch: what a person settles once before MCP Approver works for them.

Nothing it asks about is done before they press OK; closing it instead leaves everything as it was, and it asks
again at the next launch. It is a column of sections (start at login first), so later questions can join it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QGroupBox,
    QVBoxLayout,
    QWidget,
)

from approver.ui.labels import plain_label

WINDOW_TITLE = "MCP Approver — Welcome"


class FirstRunWindow(QDialog):
    answered = Signal(bool)  # OK was pressed: whether to start at login

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
        self.add_section("Start at login", self.start_at_login, where)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setAccessibleName("OK: apply these choices")
        self.ok_button.setDefault(True)
        buttons.accepted.connect(self.accept)
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

    def accept(self) -> None:
        self.answered.emit(self.start_at_login.isChecked())
        super().accept()
