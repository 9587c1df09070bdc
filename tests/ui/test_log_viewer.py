"""The audit log viewer over a real signed log: the table, its filter, an entry's details, and verification."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from approver.core.log_format import DecisionFacts
from approver.core.models import Actor, Decision, ToolCall, Verdict
from approver.platform.keystore import open_secret_store
from approver.platform.paths import Home
from approver.service.decision_log import DecisionLogWriter
from approver.ui.log_viewer import LogViewer
from tests.ui.test_approval_dialog import unnamed_controls

pytestmark = pytest.mark.gui


def open_log(home: Home) -> DecisionLogWriter:
    store, status = open_secret_store(home.key_file)
    return DecisionLogWriter(home.log_file, store, status)


def append_decision(writer: DecisionLogWriter, tool: str) -> None:
    call = ToolCall(server="fs", tool=tool, arguments={}, request_id=1, digest="sha256:n")
    writer.append(
        DecisionFacts.of(call, Verdict(decision=Decision.ALLOW, actor=Actor.RULE, reason="r", digest="sha256:n"))
    )


def write_log(home: Home) -> None:
    writer = open_log(home)
    for number, (tool, decision, actor) in enumerate(
        [
            ("read_file", Decision.ALLOW, Actor.RULE),
            ("write_file", Decision.DENY, Actor.HUMAN),
            ("get-env", Decision.DENY, Actor.RULE),
        ]
    ):
        call = ToolCall(
            server="fs",
            tool=tool,
            arguments={"path": f"/tmp/{number}", "token": "ghp_" + "a" * 36},
            request_id=number,
            digest=f"sha256:{number}",
        )
        verdict = Verdict(decision=decision, actor=actor, reason=f"reason {number}", digest=call.digest)
        writer.append(DecisionFacts.of(call, verdict))
    writer.close()


@pytest.fixture
def viewer(qtbot: QtBot, tmp_path: Path) -> LogViewer:
    home = Home(tmp_path / "config", tmp_path / "data", tmp_path / "run", explicit=True)
    write_log(home)
    widget = LogViewer(home)
    qtbot.addWidget(widget)
    return widget


async def test_entries_filter_and_details(viewer: LogViewer) -> None:
    await viewer.reload()
    assert viewer.model.rowCount() == 4  # the genesis entry and three decisions
    assert viewer.filter.rowCount() == 4
    viewer.outcome.setCurrentIndex(viewer.outcome.findData("deny"))
    assert viewer.filter.rowCount() == 2
    viewer.actor.setCurrentIndex(viewer.actor.findData("human"))
    assert viewer.filter.rowCount() == 1
    assert viewer.status.text().startswith("1 of 4 entries shown")
    viewer.actor.setCurrentIndex(0)
    viewer.search.setText("GET-ENV")
    assert viewer.filter.rowCount() == 1
    viewer.table.selectionModel().select(
        viewer.filter.index(0, 0),
        QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
    )
    details = viewer.details.toPlainText()
    assert '"tool": "get-env"' in details
    assert "ghp_" not in details and "[redacted:" in details  # what the log holds: redacted arguments
    assert unnamed_controls(viewer) == []


async def test_verify_reports_an_intact_log_then_tampering(viewer: LogViewer) -> None:
    await viewer.verify()
    assert viewer.verify_result.text().startswith("✓ Intact: 4 entries, signed by the trusted key")
    assert viewer.verify_button.isEnabled()
    log = viewer.home.log_file
    log.write_text(log.read_text().replace("reason 1", "reason X"))
    await viewer.verify()
    assert viewer.verify_result.text().startswith("✗ NOT INTACT: line 3")


async def test_a_missing_log_is_said_plainly(qtbot: QtBot, tmp_path: Path) -> None:
    home = Home(tmp_path / "config", tmp_path / "data", tmp_path / "run", explicit=True)
    widget = LogViewer(home)
    qtbot.addWidget(widget)
    await widget.reload()
    assert widget.model.rowCount() == 0
    await widget.verify()
    assert widget.verify_result.text() == f"✗ Could not verify: {home.log_file}: there is no decision log yet"


async def until(condition: Callable[[], bool], timeout: float = 10) -> None:
    """Wait for the condition, running both Qt's events (the file watcher) and asyncio's (the viewer's reads):
    in these tests they are two loops, where the app runs asyncio on Qt's."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"the viewer did not get there in {timeout} s")
        QApplication.processEvents()
        await asyncio.sleep(0.01)


def tools_shown(viewer: LogViewer) -> list[str]:
    return [row.tool for row in viewer.model.rows]


async def test_the_window_follows_the_log_while_open_and_catches_up_when_shown(qtbot: QtBot, viewer: LogViewer) -> None:
    viewer.show()
    await until(lambda: viewer.model.rowCount() == 4)
    writer = open_log(viewer.home)  # the service, appending decisions as calls come
    try:
        append_decision(writer, "list_directory")
        await until(lambda: tools_shown(viewer)[-1:] == ["list_directory"])
        assert viewer.status.text().startswith("5 of 5 entries shown")
        assert viewer.windowTitle() == "MCP Approver — Audit log — 5 entries"
        viewer.outcome.setCurrentIndex(viewer.outcome.findData("deny"))
        append_decision(writer, "move_file")  # allowed: counted, not shown under the "Denied" filter
        await until(lambda: viewer.model.rowCount() == 6)
        assert viewer.filter.rowCount() == 2 and viewer.status.text().startswith("2 of 6 entries shown")
        viewer.outcome.setCurrentIndex(0)
        viewer.close()
        append_decision(writer, "search_files")  # while the window is closed
        viewer.show()
        await until(lambda: tools_shown(viewer)[-1:] == ["search_files"])
        assert tools_shown(viewer).count("search_files") == 1
    finally:
        writer.close()


async def test_a_log_replaced_under_the_window_is_read_again(qtbot: QtBot, viewer: LogViewer, tmp_path: Path) -> None:
    viewer.show()
    await until(lambda: viewer.model.rowCount() == 4)
    other = Home(tmp_path / "other-config", tmp_path / "other-data", tmp_path / "other-run", explicit=True)
    writer = open_log(other)
    append_decision(writer, "only_this")
    writer.close()
    other.log_file.replace(viewer.home.log_file)  # as a rotation would
    await until(lambda: tools_shown(viewer) == ["", "only_this"])  # its genesis entry, then the decision
