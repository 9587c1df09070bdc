"""General settings, the tools seen, and the settings window around them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from approver.core.models import Decision, ToolCall, ToolInfo
from approver.service.policy_store import PolicyStore
from approver.service.tools_seen import ToolsSeen
from approver.ui.settings import AppSettings, widenings
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
    seen.check(
        ToolCall(
            server="fs",
            tool="write_file",
            request_id=1,
            digest="sha256:x",
            tool_info=ToolInfo(definition={"name": "write_file", "description": "Write a file"}),
        )
    )
    seen.check(
        ToolCall(
            server="fs",
            tool="write_file",
            request_id=2,
            digest="sha256:y",
            tool_info=ToolInfo(definition={"name": "write_file", "description": "Write and upload"}),
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
    assert [tool.text(column) for column in (0, 1, 5)] == ["write_file", "none", "Write and upload"]
    assert tool.text(2).endswith("changed since first seen")
    for page in (window.rules, window.general, window.tools):
        window.tabs.setCurrentWidget(page)
        assert unnamed_controls(window) == []


def _call(server: str, tool: str, request_id: int) -> ToolCall:
    return ToolCall(
        server=server,
        tool=tool,
        request_id=request_id,
        digest=f"sha256:{request_id}",
        tool_info=ToolInfo(definition={"name": tool, "description": f"{tool} on {server}"}),
    )


def _shown_tools(window: SettingsWindow) -> list[tuple[str, list[str]]]:
    tree = window.tools.tree
    shown = []
    for index in range(tree.topLevelItemCount()):
        server = tree.topLevelItem(index)
        assert server is not None
        tools = [server.child(n) for n in range(server.childCount())]
        shown.append((server.text(0), [tool.text(0) for tool in tools if tool is not None]))
    return shown


def test_servers_and_tools_show_the_present_when_shown_and_follow_new_ones(qtbot: QtBot, tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"rules": []}))
    seen = ToolsSeen(tmp_path / "data" / "tools-seen.json")
    (tmp_path / "data").mkdir()
    window = SettingsWindow(PolicyStore(policy, explicit=True), seen, AppSettings())
    qtbot.addWidget(window)
    window.tabs.setCurrentWidget(window.tools)
    window.show()
    assert _shown_tools(window) == []
    window.close()  # closed on this page; calls come in meanwhile
    seen.check(_call("fs", "write_file", 1))
    window.show()  # opened again (from the tray): the page is current, so it shows what is there now
    assert _shown_tools(window) == [("fs", ["write_file"])]
    seen.check(_call("fs", "read_file", 2))  # while it is open, as the service sees new tools
    qtbot.waitUntil(lambda: _shown_tools(window) == [("fs", ["read_file", "write_file"])])
    seen.check(_call("github", "create_issue", 3))
    qtbot.waitUntil(lambda: [server for server, _ in _shown_tools(window)] == ["fs", "github"])
    window.tabs.setCurrentWidget(window.general)
    seen.check(_call("web", "fetch", 4))
    window.tabs.setCurrentWidget(window.tools)  # coming back to the tab shows it too
    assert [server for server, _ in _shown_tools(window)] == ["fs", "github", "web"]


def test_the_redact_results_setting_round_trips_through_the_page(qtbot: QtBot) -> None:
    """Saving the page must keep the setting as it is (it is off by default; turning it off again widens)."""
    page = GeneralPage(AppSettings(redact_results=True))
    qtbot.addWidget(page)
    assert page.settings().redact_results is True
    page.redact_results.setChecked(False)
    assert widenings(AppSettings(redact_results=True), page.settings()) == ("redact_results",)
