"""The audit log viewer: the signed decision log as a filterable table, one entry's details, and verification.

It shows the log as it is: read when the window is shown, then followed while it is open (a file watcher says
the log grew, and only the appended lines are read; a log replaced or truncated is read again). Reading and
verifying the log run on a worker thread (a long log takes a while to hash, and verification asks the keyring for
the trusted key), so the window, the dialogs and the service keep going meanwhile.
"""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QFileSystemWatcher,
    QItemSelection,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QHideEvent, QKeySequence, QShortcut, QShowEvent
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
from approver.service.decision_log import LogError
from approver.service.log_tools import Verification, verify_log
from approver.ui.log_rows import ANY, LogPosition, LogRow, matches, read_log_from, to_rows
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

    def append_rows(self, rows: list[LogRow]) -> None:
        self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows) + len(rows) - 1)
        self.rows.extend(rows)
        self.endInsertRows()

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


class LogViewer(QWidget):
    def __init__(self, home: Home, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.home = home
        self.setWindowTitle(WINDOW_TITLE)
        self._tasks = TaskSet()
        self._position: LogPosition | None = None  # how far the rows shown go
        self._reading = asyncio.Lock()  # one read at a time, so rows are never added twice or out of order
        self._catch_up_queued = False
        self._watcher = QFileSystemWatcher(self)
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
        self._watcher.fileChanged.connect(self._log_changed)
        self._watcher.directoryChanged.connect(self._log_changed)
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
        self._watch()
        self._log_changed()  # what was appended while the window was closed

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        watched = self._watcher.files() + self._watcher.directories()
        if watched:
            self._watcher.removePaths(watched)

    def _watch(self) -> None:
        """The log, for appends; and its directory, for a log created, replaced or removed (a watch on a file
        ends when the file is replaced)."""
        log = self.home.log_file
        wanted = [str(path) for path in (log.parent, log) if path.exists()]
        new = [path for path in wanted if path not in self._watcher.files() + self._watcher.directories()]
        if new:
            self._watcher.addPaths(new)

    def _log_changed(self, _path: str = "") -> None:
        self._watch()
        if not self._catch_up_queued:  # a burst of appends needs one read, not one per line
            self._catch_up_queued = True
            self._tasks.spawn(self.catch_up(), name="log-catch-up")

    def apply_filter(self) -> None:
        self.filter.set_filter(self.search.text(), str(self.outcome.currentData()), str(self.actor.currentData()))
        self._show_count()

    def _show_count(self) -> None:
        total = self.model.rowCount()
        self.status.setText(f"{self.filter.rowCount()} of {total} entries shown — {self.home.log_file}")
        self.setWindowTitle(f"{WINDOW_TITLE} — {total} {'entry' if total == 1 else 'entries'}")

    async def reload(self) -> None:
        """Read the whole log again."""
        async with self._reading:
            self._position = None
            await self._read()

    async def catch_up(self) -> None:
        """Add what was appended since the last read (all of it, the first time)."""
        async with self._reading:
            self._catch_up_queued = False  # changes from here on need another read
            await self._read()

    async def _read(self) -> None:
        if self._position is None:
            self.status.setText("Reading the log…")
        try:
            chunk = await asyncio.to_thread(read_log_from, self.home.log_file, self._position)
        except (LogError, OSError) as exc:
            self.status.setText(f"⚠ The log cannot be read: {exc}")
            return
        self._position = chunk.position
        rows = to_rows(chunk.entries)
        if chunk.from_start:
            self.model.set_rows(rows)
            self.table.resizeColumnsToContents()
            self.apply_filter()
            if self.filter.rowCount():
                self.table.scrollToBottom()  # the newest entries are what one usually comes for
        elif rows:
            scroll = self.table.verticalScrollBar()
            following = scroll.value() == scroll.maximum()  # not when the person scrolled up to read
            self.model.append_rows(rows)
            self._show_count()
            if following:
                self.table.scrollToBottom()
            self._widen_columns()

    def _widen_columns(self) -> None:
        """Make room for new entries' text, never narrowing a column the person sized."""
        header = self.table.horizontalHeader()
        for column in range(len(COLUMNS) - 1):  # the last one stretches
            wanted = self.table.sizeHintForColumn(column)
            if wanted > header.sectionSize(column):
                header.resizeSection(column, wanted)

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
