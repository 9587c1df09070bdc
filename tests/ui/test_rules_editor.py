"""The rules editor against a real policy store: validation messages, editing, reordering, saving, import,
export, the sample-call check, and the administrator's rules shown read-only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QTableWidget
from pytestqt.qtbot import QtBot

from approver.platform.keystore import FileStore
from approver.service.policy_store import Integrity, PolicyStore
from approver.ui.rule_documents import Document
from approver.ui.rules_editor import RulesEditor
from tests.ui.test_approval_dialog import unnamed_controls

pytestmark = pytest.mark.gui

READS: Document = {"effect": "allow", "server": "fs", "tool": "read_*", "id": "reads"}
NO_ENV: Document = {"effect": "deny", "tool": "get-env", "id": "no-env"}


def policy_file(tmp_path: Path, *rules: dict[str, object]) -> Path:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"version": 1, "rules": list(rules)}))
    return path


def editor(qtbot: QtBot, tmp_path: Path, *rules: dict[str, object], managed: Path | None = None) -> RulesEditor:
    store = PolicyStore(policy_file(tmp_path, *rules), explicit=True, managed_path=managed)
    widget = RulesEditor(store)
    qtbot.addWidget(widget)
    widget.show()
    return widget


def cell(table: QTableWidget, row: int, column: int) -> str:
    item = table.item(row, column)
    assert item is not None
    return item.text()


def saved_rules(widget: RulesEditor) -> list[dict[str, object]]:
    rules: list[dict[str, object]] = json.loads(widget.policies.path.read_text())["rules"]
    return rules


def test_the_rules_are_listed_and_the_selected_one_is_in_the_form(qtbot: QtBot, tmp_path: Path) -> None:
    widget = editor(qtbot, tmp_path, READS, NO_ENV)
    assert widget.table.rowCount() == 2
    assert [cell(widget.table, 0, column) for column in range(4)] == ["allow", "fs", "read_*", "reads"]
    assert widget.form.server.text() == "fs"
    assert not widget.save_button.isEnabled()
    assert widget.message.text() == f"Saved in {widget.policies.path}."
    assert unnamed_controls(widget) == []


def test_an_invalid_rule_shows_the_parser_message_and_cannot_be_saved(qtbot: QtBot, tmp_path: Path) -> None:
    widget = editor(qtbot, tmp_path, READS)
    widget.form.extra.setPlainText('{"args": {"/path": {"under": "not/absolute"}}}')
    assert "⚠ Cannot save yet — Rules: rule 1 ('reads'), args./path.under" in widget.message.text()
    assert not widget.save_button.isEnabled()
    widget.form.extra.setPlainText('{"args": ')
    assert widget.message.text().startswith("⚠ Cannot save yet — Rule 1: Other fields: not valid JSON")
    widget.table.selectRow(0)  # what was typed survives moving around the table
    assert widget.form.extra.toPlainText() == '{"args": '
    widget.form.extra.setPlainText('{"args": {"/path": {"under": "/srv"}}}')
    assert widget.message.text() == "Unsaved changes. The rules are valid."
    assert widget.save_button.isEnabled()


def test_add_reorder_delete_and_save(qtbot: QtBot, tmp_path: Path) -> None:
    widget = editor(qtbot, tmp_path, READS, NO_ENV)
    widget.table.selectRow(1)
    QTest.mouseClick(widget.add_button, Qt.MouseButton.LeftButton)
    assert widget.selected() == 2
    widget.form.tool.setText("write_*")
    widget.form.tool.textEdited.emit("write_*")
    widget.form.effect.setCurrentIndex(widget.form.effect.findData("deny"))
    assert cell(widget.table, 2, 2) == "write_*"
    widget.activateWindow()
    widget.table.setFocus()
    qtbot.waitUntil(widget.table.hasFocus)
    QTest.keyClick(widget.table, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert widget.selected() == 1
    QTest.mouseClick(widget.up_button, Qt.MouseButton.LeftButton)
    assert [row.document.get("tool") for row in widget.rows] == ["write_*", "read_*", "get-env"]
    widget.table.selectRow(2)
    QTest.keyClick(widget.table, Qt.Key.Key_Delete)
    assert [row.document.get("tool") for row in widget.rows] == ["write_*", "read_*"]
    assert widget.save_button.isEnabled()
    QTest.mouseClick(widget.save_button, Qt.MouseButton.LeftButton)
    assert saved_rules(widget) == [{"effect": "deny", "server": "*", "tool": "write_*"}, READS]
    assert not widget.save_button.isEnabled()
    assert widget.message.text().startswith("Saved in")


def test_revert_discards_unsaved_edits(qtbot: QtBot, tmp_path: Path) -> None:
    widget = editor(qtbot, tmp_path, READS)
    widget.delete_rule()
    assert widget.rows == [] and widget.revert_button.isEnabled()
    QTest.mouseClick(widget.revert_button, Qt.MouseButton.LeftButton)
    assert [row.document for row in widget.rows] == [READS]


def test_export_then_import(qtbot: QtBot, tmp_path: Path) -> None:
    widget = editor(qtbot, tmp_path, READS, NO_ENV)
    exported = tmp_path / "exported.json"
    assert widget.export_file(exported)
    assert json.loads(exported.read_text()) == {"version": 1, "rules": [READS, NO_ENV]}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    other = editor(qtbot, elsewhere)
    assert other.rows == []
    assert other.import_file(exported)
    assert [row.document for row in other.rows] == [READS, NO_ENV]
    assert other.message.text() == f"Imported 2 rules from {exported}. Press Save to use them."
    assert other.save()
    assert saved_rules(other) == [READS, NO_ENV]


def test_a_broken_import_changes_nothing(qtbot: QtBot, tmp_path: Path) -> None:
    widget = editor(qtbot, tmp_path, READS)
    broken = tmp_path / "broken.json"
    broken.write_text('{"rules": [{"effect": "perhaps"}]}')
    assert not widget.import_file(broken)
    assert widget.message.text() == (
        f"⚠ Not imported: {broken}: rule 1, effect: 'perhaps' is not one of allow, deny, ask"
    )
    assert [row.document for row in widget.rows] == [READS]


def test_a_sample_call_is_checked_against_the_unsaved_rules(qtbot: QtBot, tmp_path: Path) -> None:
    widget = editor(qtbot, tmp_path, READS, NO_ENV)
    widget.sample_server.setText("fs")
    widget.sample_tool.setText("read_file")
    widget.sample_arguments.setText('{"path": "/tmp/x"}')
    widget.table.selectRow(1)
    QTest.mouseClick(widget.check_button, Qt.MouseButton.LeftButton)
    assert widget.check_result.text() == (
        "A call of read_file on fs would be allowed: rule reads says allow. "
        "The selected rule (rule 2) does not match it."
    )
    widget.sample_arguments.setText("[")
    QTest.keyClick(widget.sample_arguments, Qt.Key.Key_Return)
    assert widget.check_result.text().startswith("The arguments are not valid JSON")


def test_the_administrators_rules_are_shown_read_only(qtbot: QtBot, tmp_path: Path) -> None:
    managed = tmp_path / "managed.json"
    managed.write_text(json.dumps({"rules": [{"effect": "deny", "tool": "delete_*", "id": "corp-no-delete"}]}))
    widget = editor(qtbot, tmp_path, READS, managed=managed)
    assert widget.managed_table.rowCount() == 1
    assert cell(widget.managed_table, 0, 3) == "corp-no-delete"
    assert not widget.managed_none.isVisible()
    assert widget.managed_table.editTriggers() == widget.managed_table.EditTrigger.NoEditTriggers
    assert [row.document for row in widget.rows] == [READS]


def test_rules_changed_outside_the_app_are_confirmed_by_saving_them(qtbot: QtBot, tmp_path: Path) -> None:
    widget = editor(qtbot, tmp_path, READS)
    policy_file(tmp_path, READS, {"effect": "allow", "tool": "*", "id": "everything"})  # e.g. an agent with a shell
    widget.reload()
    assert "changed outside MCP Approver" in widget.store_problem.text()
    assert [row.document.get("id") for row in widget.rows] == ["reads", "everything"]
    assert widget.message.text() == "These rules were changed outside MCP Approver: press Save to confirm them."
    assert widget.save_button.isEnabled()
    QTest.mouseClick(widget.save_button, Qt.MouseButton.LeftButton)
    assert widget.policies.current().user_trusted
    assert not widget.store_problem.isVisibleTo(widget)
    assert not widget.save_button.isEnabled()


def test_changes_asked_for_outside_the_app_wait_for_confirmation_here(qtbot: QtBot, tmp_path: Path) -> None:
    widget = editor(qtbot, tmp_path, READS, NO_ENV)
    assert not widget.pending_box.isVisibleTo(widget)
    widget.policies.request({"action": "add", "rule": {"effect": "allow", "tool": "*"}, "by": "command line"})
    widget.policies.request({"action": "remove", "id": "no-env", "by": "command line"})
    widget.reload()
    assert widget.pending_box.isVisibleTo(widget)
    first, second = (widget.pending_list.item(row).text() for row in range(2))
    assert first.startswith('Add the rule {"effect": "allow", "tool": "*"} (asked by the command line at ')
    assert second.startswith("Remove the rule 'no-env' (asked by the command line at ")
    widget.delete_rule()  # unsaved edits: settle them first
    assert not widget.confirm_button.isEnabled()
    assert widget.pending_hint.text() == "Save or revert your edits first."
    widget.reload()
    widget.pending_list.setCurrentRow(1)
    QTest.mouseClick(widget.confirm_button, Qt.MouseButton.LeftButton)
    assert saved_rules(widget) == [READS]
    QTest.mouseClick(widget.discard_button, Qt.MouseButton.LeftButton)
    assert widget.policies.pending() == []
    assert saved_rules(widget) == [READS]
    assert not widget.pending_box.isVisibleTo(widget)


def test_a_removed_seal_next_to_the_trusted_rules_is_renewed_by_saving(qtbot: QtBot, tmp_path: Path) -> None:
    store = PolicyStore(tmp_path / "policy.json", explicit=False, integrity=Integrity(FileStore(tmp_path / "k.json")))
    store.replace_user_rules([READS, NO_ENV])
    widget = RulesEditor(store)
    qtbot.addWidget(widget)
    widget.show()
    store.trust_file.unlink()  # e.g. an agent with a shell
    widget.reload()
    assert "policy.json.trust was removed" in widget.store_problem.text()
    assert widget.save_button.isEnabled()
    QTest.mouseClick(widget.save_button, Qt.MouseButton.LeftButton)
    assert store.problem is None
    assert json.loads(store.trust_file.read_text())["version"] == 2
    assert not widget.save_button.isEnabled()
