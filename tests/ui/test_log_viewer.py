"""The audit log viewer over a real signed log: the table, its filter, an entry's details, and verification."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel
from pytestqt.qtbot import QtBot

from approver.core.log_format import DecisionFacts
from approver.core.models import Actor, Decision, ToolCall, Verdict
from approver.platform.keystore import open_secret_store
from approver.platform.paths import Home
from approver.service.decision_log import DecisionLogWriter
from approver.ui.log_viewer import LogViewer
from tests.ui.test_approval_dialog import unnamed_controls

pytestmark = pytest.mark.gui


def write_log(home: Home) -> None:
    store, status = open_secret_store(home.key_file)
    writer = DecisionLogWriter(home.log_file, store, status)
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
