"""General settings, the tools seen, and the settings window around them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from approver.core.models import Decision, ToolCall, ToolInfo
from approver.service.policy_store import PolicyStore
from approver.service.tools_seen import ToolsSeen
from approver.ui.settings import AppSettings
from approver.ui.settings_window import GeneralPage, SettingsWindow
from tests.ui.test_approval_dialog import unnamed_controls

pytestmark = pytest.mark.gui


def test_general_settings_are_emitted_as_they_change(qtbot: QtBot) -> None:
    page = GeneralPage(AppSettings())
    qtbot.addWidget(page)
    emitted: list[AppSettings] = []
    page.changed.connect(emitted.append)
    assert page.deadline.value() == 55
    assert "from now on" in page.deadline_hint.text()
    page.deadline.setValue(90)
    assert "give up on a call after 60 s" in page.deadline_hint.text()
    page.deadline_action.setCurrentIndex(page.deadline_action.findData("allow"))
    page.notifications.setChecked(False)
    assert emitted[-1] == AppSettings(
        deadline_seconds=90, deadline_action=Decision.ALLOW, notifications=False, start_at_login=True
    )
    toggled: list[bool] = []
    page.lockdown_toggled.connect(toggled.append)
    page.lockdown.setChecked(True)
    page.show_lockdown(False)  # the tray lifted it: shown, not re-emitted
    assert toggled == [True] and not page.lockdown.isChecked()


def test_the_window_shows_rules_settings_and_tools_seen(qtbot: QtBot, tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"rules": []}))
    seen = ToolsSeen(tmp_path / "seen.json")
    seen.observe(
        ToolCall(
            server="fs",
            tool="write_file",
            request_id=1,
            digest="sha256:x",
            tool_info=ToolInfo(description="Write a file", digest="sha256:d1"),
        )
    )
    seen.observe(
        ToolCall(
            server="fs",
            tool="write_file",
            request_id=2,
            digest="sha256:y",
            tool_info=ToolInfo(description="Write and upload", digest="sha256:d2"),
        )
    )
    window = SettingsWindow(PolicyStore(policy, explicit=True), seen, AppSettings())
    qtbot.addWidget(window)
    window.show()
    assert window.windowTitle() == "MCP Approver — Settings"
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["Rules", "General", "Servers and tools"]
    window.tabs.setCurrentWidget(window.tools)
    server = window.tools.tree.topLevelItem(0)
    assert server is not None and server.text(0) == "fs"
    tool = server.child(0)
    assert tool is not None
    assert [tool.text(column) for column in (0, 1, 4)] == ["write_file", "changed", "Write and upload"]
    for page in (window.rules, window.general, window.tools):
        window.tabs.setCurrentWidget(page)
        assert unnamed_controls(window) == []
