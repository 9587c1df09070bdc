"""The rules editor: the user's rules (add, edit, delete, reorder, import, export, test against a sample call,
save) and the administrator's rules, read-only.

Rules are edited as documents and judged only by the policy parser, whose message is shown as it is; nothing is
written until the whole set is valid and the person presses Save. Order does not change what the rules decide
(deny beats ask beats allow), but it is the order of the file and of the messages, so it is the person's to set.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QListWidget,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from approver.core.jsonrpc import MalformedMessage, loads_strict
from approver.core.policy import Effect, PolicyError
from approver.platform.keystore import KeyStoreError
from approver.service.policy_store import PolicyStore
from approver.ui.labels import plain_label
from approver.ui.presence import PresenceGate, Proof
from approver.ui.presentation import make_visible
from approver.ui.rule_documents import (
    Document,
    RuleEditError,
    explain_sample,
    policy_text,
    problem_with,
    rule_matches,
    rules_from_file_text,
    summary,
)
from approver.ui.rule_form import RuleForm

NEW_RULE: Document = {"effect": Effect.ASK.value, "server": "*", "tool": "*"}
COLUMNS = ("Effect", "Server", "Tool", "Id or note")


@dataclass
class _Row:
    document: Document
    form_problem: str | None = None  # what the person typed cannot become a rule yet (e.g. broken JSON)
    typed_extra: str | None = None  # the "other fields" text as typed, kept while it cannot be read


def _rules_table(name: str) -> QTableWidget:
    table = QTableWidget(0, len(COLUMNS))
    table.setHorizontalHeaderLabels(COLUMNS)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setTabKeyNavigation(False)  # Tab leaves the table; arrows move within it
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    table.setAccessibleName(name)
    return table


def describe_pending(change: dict[str, object]) -> str:
    """One line for a queued change: what it does, who asked, when."""
    asked = f" (asked by the {change.get('by', 'unknown')} at {change.get('requested_at', '?')})"
    if change.get("action") == "add":
        rule = json.dumps(change.get("rule"), ensure_ascii=False, sort_keys=True)
        return make_visible(f"Add the rule {rule}{asked}").text
    if change.get("action") == "remove":
        return make_visible(f"Remove the rule {change.get('id')!r}{asked}").text
    return make_visible(f"{json.dumps(change, ensure_ascii=False)}{asked}").text


def _fill_row(table: QTableWidget, row: int, document: Document) -> None:
    for column, text in enumerate(summary(document)):
        item = QTableWidgetItem(text)
        item.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
        table.setItem(row, column, item)


def widens(before: list[Document], after: list[Document]) -> bool:
    """Whether `after` lets through anything `before` did not: an allow rule added (or edited, which is a new
    one), or a deny or ask rule removed (or edited)."""
    added_allow = any(doc.get("effect") == Effect.ALLOW.value and doc not in before for doc in after)
    dropped_limit = any(doc.get("effect") != Effect.ALLOW.value and doc not in after for doc in before)
    return added_allow or dropped_limit


class RulesEditor(QWidget):
    def __init__(
        self, policies: PolicyStore, parent: QWidget | None = None, *, presence: PresenceGate | None = None
    ) -> None:
        super().__init__(parent)
        self.policies = policies
        self.presence = presence
        self._cancel_proof: Callable[[], None] | None = None  # a proof of presence being asked for
        self.rows: list[_Row] = []
        self._saved: list[Document] = []
        self._shown_pending: list[Document] = []
        self.needs_confirmation = False

        self.store_problem = plain_label()
        self.store_problem.setAccessibleName("Problem with the rules file")
        self.table = _rules_table("Your rules")
        self.form = RuleForm()
        self.add_button = QPushButton("&Add")
        self.add_button.setAccessibleName("Add a rule")
        self.delete_button = QPushButton("Re&move")
        self.delete_button.setAccessibleName("Remove the selected rule")
        self.up_button = QPushButton("Move &up")
        self.up_button.setAccessibleName("Move the selected rule up")
        self.down_button = QPushButton("Move do&wn")
        self.down_button.setAccessibleName("Move the selected rule down")
        self.message = plain_label()
        self.message.setAccessibleName("Validation message")
        self.import_button = QPushButton("Im&port…")
        self.import_button.setAccessibleName("Import rules from a file")
        self.export_button = QPushButton("E&xport…")
        self.export_button.setAccessibleName("Export the rules to a file")
        self.revert_button = QPushButton("&Revert")
        self.revert_button.setAccessibleName("Discard unsaved changes")
        self.save_button = QPushButton("&Save")
        self.save_button.setAccessibleName("Save the rules")
        self.managed_table = _rules_table("Rules set by your administrator (read-only)")
        self.managed_none = plain_label("None: no administrator policy is installed.")

        self._lay_out()
        self._connect()
        self.reload()

    def _connect(self) -> None:
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.form.changed.connect(self._form_changed)
        self.add_button.clicked.connect(self.add_rule)
        self.delete_button.clicked.connect(self.delete_rule)
        self.up_button.clicked.connect(lambda: self.move_rule(-1))
        self.down_button.clicked.connect(lambda: self.move_rule(1))
        self.import_button.clicked.connect(self._choose_import)
        self.export_button.clicked.connect(self._choose_export)
        self.revert_button.clicked.connect(self.reload)
        self.save_button.clicked.connect(self.save)
        self.check_button.clicked.connect(self.check_sample)
        self.confirm_button.clicked.connect(lambda: self.settle_pending(confirm=True))
        self.discard_button.clicked.connect(lambda: self.settle_pending(confirm=False))
        self.sample_arguments.returnPressed.connect(self.check_sample)
        for keys, action in (
            (QKeySequence.StandardKey.Delete, self.delete_rule),
            ("Alt+Up", lambda: self.move_rule(-1)),
            ("Alt+Down", lambda: self.move_rule(1)),
        ):
            QShortcut(QKeySequence(keys), self.table, action, context=Qt.ShortcutContext.WidgetShortcut)

    def _lay_out(self) -> None:
        moves = QVBoxLayout()
        for button in (self.add_button, self.delete_button, self.up_button, self.down_button):
            moves.addWidget(button)
        moves.addStretch(1)
        mine = QHBoxLayout()
        mine.addWidget(self.table, 3)
        mine.addLayout(moves)
        mine.addWidget(self.form, 4)
        files = QHBoxLayout()
        files.addWidget(self.import_button)
        files.addWidget(self.export_button)
        files.addStretch(1)
        files.addWidget(self.revert_button)
        files.addWidget(self.save_button)
        user_box = QGroupBox("Your rules")
        user_layout = QVBoxLayout(user_box)
        user_layout.addWidget(self.store_problem)
        user_layout.addLayout(mine, 1)
        user_layout.addWidget(self.message)
        user_layout.addLayout(files)
        managed_box = QGroupBox("Set by your administrator (read-only)")
        managed_layout = QVBoxLayout(managed_box)
        managed_layout.addWidget(self.managed_table)
        managed_layout.addWidget(self.managed_none)
        layout = QVBoxLayout(self)
        layout.addWidget(self._pending_box())
        layout.addWidget(user_box, 3)
        layout.addWidget(managed_box, 1)
        layout.addWidget(self._sample_box())

    def _pending_box(self) -> QGroupBox:
        self.pending_list = QListWidget()
        self.pending_list.setAccessibleName("Rule changes waiting for your confirmation")
        self.pending_list.setMaximumHeight(90)
        self.confirm_button = QPushButton("&Confirm")
        self.confirm_button.setAccessibleName("Confirm the selected rule change")
        self.discard_button = QPushButton("D&iscard")
        self.discard_button.setAccessibleName("Discard the selected rule change")
        self.pending_hint = plain_label()
        buttons = QVBoxLayout()
        buttons.addWidget(self.confirm_button)
        buttons.addWidget(self.discard_button)
        buttons.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.pending_list, 1)
        row.addLayout(buttons)
        self.pending_box = QGroupBox("Changes waiting for your confirmation (asked for outside the app)")
        column = QVBoxLayout(self.pending_box)
        column.addLayout(row)
        column.addWidget(self.pending_hint)
        return self.pending_box

    def _sample_box(self) -> QGroupBox:
        self.sample_server = QLineEdit()
        self.sample_server.setAccessibleName("Sample call: server")
        self.sample_server.setPlaceholderText("filesystem")
        self.sample_tool = QLineEdit()
        self.sample_tool.setAccessibleName("Sample call: tool")
        self.sample_tool.setPlaceholderText("write_file")
        self.sample_arguments = QLineEdit()
        self.sample_arguments.setAccessibleName("Sample call: arguments (JSON)")
        self.sample_arguments.setPlaceholderText('{"path": "~/project/notes.md"}')
        self.check_button = QPushButton("Chec&k")
        self.check_button.setAccessibleName("Check what the rules would do with the sample call")
        self.check_result = plain_label()
        self.check_result.setAccessibleName("Result of the check")
        sample_box = QGroupBox("Test your rules above (unsaved changes included) against a sample call")
        sample_form = QFormLayout()
        sample_form.addRow("Server:", self.sample_server)
        sample_form.addRow("Tool:", self.sample_tool)
        sample_form.addRow("Arguments:", self.sample_arguments)
        sample_row = QHBoxLayout()
        sample_row.addLayout(sample_form, 1)
        sample_row.addWidget(self.check_button, 0, Qt.AlignmentFlag.AlignBottom)
        sample_layout = QVBoxLayout(sample_box)
        sample_layout.addLayout(sample_row)
        sample_layout.addWidget(self.check_result)
        return sample_box

    # -- loading and showing -----------------------------------------------------------------------------------

    def reload(self) -> None:
        """Show the rules as the service has them now (discarding unsaved edits)."""
        # A rules file changed outside the app waits for a person: saving it here (after reading it) confirms it.
        effective = self.policies.current()  # also picks up changes on disk
        self.needs_confirmation = not effective.user_trusted or effective.reseal
        self._saved = self.policies.user_rules()
        self._set_rows([_Row(dict(document)) for document in self._saved])
        problem = self.policies.problem
        self.store_problem.setText(
            f"⚠ {problem}. Review the rules below; saving them here confirms them." if problem else ""
        )
        self.store_problem.setVisible(bool(problem))
        self._show_pending()
        managed = self.policies.managed_rules()
        self.managed_table.setRowCount(len(managed))
        for row, document in enumerate(managed):
            _fill_row(self.managed_table, row, document)
        self.managed_table.setVisible(bool(managed))
        self.managed_none.setVisible(not managed)

    def _set_rows(self, rows: list[_Row], select: int | None = 0) -> None:
        self.rows = rows
        self.table.blockSignals(True)
        self.table.setRowCount(len(rows))
        for index, row in enumerate(rows):
            _fill_row(self.table, index, row.document)
        self.table.blockSignals(False)
        if rows and select is not None:
            self.table.selectRow(max(0, min(select, len(rows) - 1)))
        self._selection_changed()

    def selected(self) -> int | None:
        indexes = self.table.selectionModel().selectedRows()
        return indexes[0].row() if indexes else None

    def _selection_changed(self) -> None:
        index = self.selected()
        self.form.setEnabled(index is not None)
        for button in (self.delete_button, self.up_button, self.down_button):
            button.setEnabled(index is not None)
        if index is not None:
            row = self.rows[index]
            self.form.set_document(row.document)
            if row.typed_extra is not None:
                self.form.extra.blockSignals(True)
                self.form.extra.setPlainText(row.typed_extra)
                self.form.extra.blockSignals(False)
        else:
            self.form.set_document(NEW_RULE)
        self._validate()

    def _form_changed(self) -> None:
        index = self.selected()
        if index is None:
            return
        row = self.rows[index]
        try:
            row.document = self.form.document()
            row.form_problem = row.typed_extra = None
        except RuleEditError as exc:
            row.form_problem = str(exc)
            row.typed_extra = self.form.extra.toPlainText()
        _fill_row(self.table, index, row.document)
        self._validate()

    def documents(self) -> list[Document]:
        return [row.document for row in self.rows]

    def problem(self) -> str | None:
        for index, row in enumerate(self.rows):
            if row.form_problem is not None:
                return f"Rule {index + 1}: {row.form_problem}"
        return problem_with(self.documents())

    @property
    def dirty(self) -> bool:
        return self.documents() != self._saved or any(row.form_problem for row in self.rows)

    def _validate(self) -> None:
        problem = self.problem()
        if problem is not None:
            self.message.setText(f"⚠ Cannot save yet — {problem}")
        elif self.dirty:
            self.message.setText("Unsaved changes. The rules are valid.")
        elif self.needs_confirmation:
            self.message.setText("These rules were changed outside MCP Approver: press Save to confirm them.")
        else:
            self.message.setText(f"Saved in {self.policies.path}.")
        self.save_button.setEnabled(problem is None and (self.dirty or self.needs_confirmation))
        self.revert_button.setEnabled(self.dirty)
        self.export_button.setEnabled(problem is None)
        has_pending = self.pending_list.count() > 0
        for button in (self.confirm_button, self.discard_button):
            button.setEnabled(has_pending and not self.dirty)
        self.pending_hint.setText("Save or revert your edits first." if has_pending and self.dirty else "")

    # -- editing -------------------------------------------------------------------------------------------------

    def add_rule(self) -> None:
        index = self.selected()
        position = len(self.rows) if index is None else index + 1
        rows = list(self.rows)
        rows.insert(position, _Row(dict(NEW_RULE)))
        self._set_rows(rows, select=position)
        self.form.effect.setFocus()

    def delete_rule(self) -> None:
        index = self.selected()
        if index is None:
            return
        rows = list(self.rows)
        del rows[index]
        self._set_rows(rows, select=index)

    def move_rule(self, step: int) -> None:
        index = self.selected()
        if index is None or not 0 <= index + step < len(self.rows):
            return
        rows = list(self.rows)
        rows[index], rows[index + step] = rows[index + step], rows[index]
        self._set_rows(rows, select=index + step)

    def _prove_then(self, why: str, act: Callable[[], bool]) -> bool:
        """Run `act` now, or — when the settings want proof of presence for widening rules — once it is given.
        Returns what `act` returned, or False while the proof is being asked for."""
        if self.presence is None or not self.presence.required(widening=True):
            return act()
        if self._cancel_proof is None:

            def proved(proof: Proof | None) -> None:
                self._cancel_proof = None
                if proof is None:
                    self.message.setText("⚠ Not confirmed: the proof that it is you was not given.")
                else:
                    act()

            self.message.setText("Waiting for the proof that it is you…")
            self._cancel_proof = self.presence.prove(self, why, proved)
        return False

    def save(self) -> bool:
        problem = self.problem()
        if problem is not None:
            self._validate()
            return False
        documents = self.documents()
        if self.needs_confirmation or widens(self._saved, documents):
            return self._prove_then(
                "You are saving rules that let more calls through without asking.", lambda: self._write(documents)
            )
        return self._write(documents)

    def _write(self, documents: list[Document]) -> bool:
        if documents != self.documents():  # edited (by someone) while the proof was asked for: look again
            self.message.setText("⚠ Not saved: the rules changed while you confirmed; check them and save again.")
            return False
        try:
            self.policies.replace_user_rules(documents)
        except (PolicyError, OSError, KeyStoreError) as exc:
            self.message.setText(f"⚠ Not saved: {exc}")
            return False
        self.reload()
        return True

    def _show_pending(self) -> None:
        self.pending_list.clear()
        self._shown_pending = self.policies.pending()  # what the person sees is what a confirmation applies
        for change in self._shown_pending:
            self.pending_list.addItem(describe_pending(change))
        if self.pending_list.count():
            self.pending_list.setCurrentRow(0)
        self.pending_box.setVisible(self.pending_list.count() > 0)

    def settle_pending(self, *, confirm: bool) -> bool:
        """Confirm (apply and seal) or discard the selected queued change."""
        index = self.pending_list.currentRow()
        if index < 0 or self.dirty or index >= len(self._shown_pending):
            return False
        change = self._shown_pending[index]
        if confirm:  # every queued change widens (the command line applies narrowing ones at once)
            return self._prove_then(
                f"You are confirming a rule change asked for outside the app: {describe_pending(change)}",
                lambda: self._settle(change, confirm=True),
            )
        return self._settle(change, confirm=False)

    def _settle(self, change: dict[str, object], *, confirm: bool) -> bool:
        try:
            if confirm:
                self.policies.confirm_pending(change)
            else:
                self.policies.discard_pending(change)
        except (PolicyError, OSError, KeyStoreError) as exc:
            self.message.setText(f"⚠ Not {'confirmed' if confirm else 'discarded'}: {exc}")
            return False
        self.reload()
        return True

    # -- import, export, test ------------------------------------------------------------------------------------

    def _file_dialog(self, title: str, mode: QFileDialog.AcceptMode) -> QFileDialog:
        dialog = QFileDialog(self, title, str(Path.home()), "Policy files (*.json);;All files (*)")
        dialog.setAcceptMode(mode)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        return dialog

    def _choose_import(self) -> None:
        dialog = self._file_dialog("Import rules", QFileDialog.AcceptMode.AcceptOpen)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(lambda chosen: self.import_file(Path(chosen)))
        dialog.open()  # no nested event loop: the answer comes back as a signal

    def _choose_export(self) -> None:
        dialog = self._file_dialog("Export rules", QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("json")
        dialog.selectFile("mcp-approver-rules.json")
        dialog.fileSelected.connect(lambda chosen: self.export_file(Path(chosen)))
        dialog.open()

    def import_file(self, path: Path) -> bool:
        """Replace the rules being edited with a file's (saved only when the person presses Save)."""
        try:
            documents = rules_from_file_text(path.read_text(encoding="utf-8"), str(path))
        except (OSError, UnicodeDecodeError, PolicyError) as exc:
            self.message.setText(f"⚠ Not imported: {exc}")
            return False
        self._set_rows([_Row(document) for document in documents])
        self.message.setText(f"Imported {len(documents)} rules from {path}. Press Save to use them.")
        return True

    def export_file(self, path: Path) -> bool:
        problem = self.problem()
        if problem is not None:
            self.message.setText(f"⚠ Not exported — {problem}")
            return False
        try:
            path.write_text(policy_text(self.documents()), encoding="utf-8")
        except OSError as exc:
            self.message.setText(f"⚠ Not exported: {exc}")
            return False
        self.message.setText(f"Exported {len(self.rows)} rules to {path}.")
        return True

    def check_sample(self) -> None:
        server, tool = self.sample_server.text().strip(), self.sample_tool.text().strip()
        if not server or not tool:
            self.check_result.setText("Give the sample call a server and a tool.")
            return
        try:
            arguments = loads_strict(self.sample_arguments.text().encode("utf-8") or b"{}")
        except MalformedMessage as exc:
            self.check_result.setText(f"The arguments are not valid JSON: {exc}")
            return
        if not isinstance(arguments, dict):
            self.check_result.setText('The arguments must be a JSON object, like {"path": "/tmp/x"}.')
            return
        problem = self.problem()
        if problem is not None:
            self.check_result.setText(f"Fix the rules first — {problem}")
            return
        lines = [explain_sample(self.documents(), server, tool, arguments)]
        index = self.selected()
        if index is not None:
            matched = rule_matches(self.rows[index].document, server, tool, arguments)
            lines.append(f"The selected rule (rule {index + 1}) {'matches' if matched else 'does not match'} it.")
        self.check_result.setText(" ".join(lines))
