"""The audit log viewer: the signed decision log as a filterable table, one entry's details, and verification.

Reading and verifying the log run on a worker thread (a long log takes a while to hash, and verification asks the
keyring for the trusted key), so the window, the dialogs and the service keep going meanwhile.
"""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelection,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from approver.platform.aio import TaskSet
from approver.platform.paths import Home
from approver.service.decision_log import LogError, read_entries
from approver.service.log_tools import Verification, verify_log
from approver.ui.log_rows import ANY, LogRow, matches, to_rows
from approver.ui.presentation import visible_json

WINDOW_TITLE = "MCP Approver — Audit log"
COLUMNS = ("#", "Time", "Decision", "Actor", "Server", "Tool", "Reason")
ModelIndex = QModelIndex | QPersistentModelIndex


def _cells(row: LogRow) -> tuple[str, ...]:
    return (str(row.seq), row.ts, row.outcome, row.actor, row.server, row.tool, row.reason)


class LogTableModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[LogRow] = []

    def set_rows(self, rows: list[LogRow]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008  (Qt's own signature)
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return _cells(self.rows[index.row()])[index.column()]
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None


class LogFilter(QSortFilterProxyModel):
    def __init__(self, model: LogTableModel) -> None:
        super().__init__()
        self.table = model
        self.setSourceModel(model)
        self.text = ANY
        self.outcome = ANY
        self.actor = ANY

    def set_filter(self, text: str = ANY, outcome: str = ANY, actor: str = ANY) -> None:
        self.beginFilterChange()
        self.text, self.outcome, self.actor = text, outcome, actor
        self.endFilterChange()

    def filterAcceptsRow(self, source_row: int, source_parent: ModelIndex) -> bool:
        return matches(self.table.rows[source_row], self.text, self.outcome, self.actor)


def describe(verification: Verification) -> str:
    audit = verification.audit
    if audit.problem is not None:
        text = f"✗ NOT INTACT: {audit.problem}"
    elif audit.trusted:
        keys = ", ".join(vkey for _, vkey in audit.keys)
        text = f"✓ Intact: {audit.entries} entries, signed by the trusted key ({keys})"
    else:
        text = f"⚠ Consistent but not verified against a trusted key: {audit.entries} entries"
    anchors = "; ".join(verification.anchors)
    if anchors:
        text += f"\nChecked against: {anchors}"
    return "\n".join([text, *(f"⚠ {warning}" for warning in verification.warnings)])


def _read_all(home: Home) -> list[dict[str, Any]]:
    return list(read_entries(home.log_file))


class LogViewer(QWidget):
    def __init__(self, home: Home, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.home = home
        self.setWindowTitle(WINDOW_TITLE)
        self._tasks = TaskSet()
        self.model = LogTableModel()
        self.filter = LogFilter(self.model)
        self._make_filters()
        self._make_views()
        self._lay_out()
        self._connect()

    def _make_filters(self) -> None:
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter: server, tool, reason, time…")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Filter text")
        self.outcome = QComboBox()
        for label, value in (
            ("Every entry", ANY),
            ("Allowed", "allow"),
            ("Denied", "deny"),
            ("Other entries", "other"),
        ):
            self.outcome.addItem(label, value)
        self.outcome.setAccessibleName("Show decisions")
        self.actor = QComboBox()
        for label, value in (
            ("Anyone", ANY),
            ("A rule", "rule"),
            ("A person", "human"),
            ("Timeout", "timeout"),
            ("Nobody present", "none"),
            ("An error", "error"),
        ):
            self.actor.addItem(label, value)
        self.actor.setAccessibleName("Decided by")
        self.refresh_button = QPushButton("&Refresh")
        self.refresh_button.setAccessibleName("Read the log again")
        self.verify_button = QPushButton("&Verify")
        self.verify_button.setAccessibleName("Verify the log's chain and signatures")

    def _make_views(self) -> None:
        self.table = QTableView()
        self.table.setModel(self.filter)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setTabKeyNavigation(False)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.setAccessibleName("Log entries")
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setTabChangesFocus(True)
        self.details.setAccessibleName("Entry details")
        self.details.setPlaceholderText("Select an entry to see everything recorded for it.")
        self.status = QLabel()
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setAccessibleName("Log status")
        self.verify_result = QLabel()
        self.verify_result.setTextFormat(Qt.TextFormat.PlainText)
        self.verify_result.setWordWrap(True)
        self.verify_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.verify_result.setAccessibleName("Verification result")

    def _lay_out(self) -> None:
        filters = QHBoxLayout()
        filters.addWidget(self.search, 1)
        filters.addWidget(self.outcome)
        filters.addWidget(self.actor)
        filters.addWidget(self.refresh_button)
        filters.addWidget(self.verify_button)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.verify_result)

    def _connect(self) -> None:
        self.search.textChanged.connect(self.apply_filter)
        self.outcome.currentIndexChanged.connect(self.apply_filter)
        self.actor.currentIndexChanged.connect(self.apply_filter)
        self.table.selectionModel().selectionChanged.connect(self._show_details)
        self.refresh_button.clicked.connect(lambda: self._tasks.spawn(self.reload(), name="log-reload"))
        self.verify_button.clicked.connect(lambda: self._tasks.spawn(self.verify(), name="log-verify"))
        QShortcut(QKeySequence(QKeySequence.StandardKey.Find), self, self.search.setFocus)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Close), self, self.close)
        QShortcut(QKeySequence("Escape"), self, self.close)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._tasks.spawn(self.reload(), name="log-reload")

    def apply_filter(self) -> None:
        self.filter.set_filter(self.search.text(), str(self.outcome.currentData()), str(self.actor.currentData()))
        self.status.setText(f"{self.filter.rowCount()} of {self.model.rowCount()} entries shown — {self.home.log_file}")

    async def reload(self) -> None:
        self.status.setText("Reading the log…")
        try:
            entries = await asyncio.to_thread(_read_all, self.home)
        except (LogError, OSError) as exc:
            self.status.setText(f"⚠ The log cannot be read: {exc}")
            return
        self.model.set_rows(to_rows(entries))
        self.table.resizeColumnsToContents()
        self.apply_filter()
        if self.filter.rowCount():
            self.table.scrollToBottom()  # the newest entries are what one usually comes for

    async def verify(self) -> None:
        self.verify_button.setEnabled(False)
        self.verify_result.setText("Verifying…")
        try:
            verification = await asyncio.to_thread(verify_log, self.home, [], None)
        except LogError as exc:
            self.verify_result.setText(f"✗ Could not verify: {exc}")
        else:
            self.verify_result.setText(describe(verification))
        finally:
            self.verify_button.setEnabled(True)

    def _show_details(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        if not indexes:
            self.details.clear()
            return
        row = self.model.rows[self.filter.mapToSource(indexes[0]).row()]
        self.details.setPlainText(visible_json(row.entry))
