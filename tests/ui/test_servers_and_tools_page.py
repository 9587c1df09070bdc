"""Settings → Servers and tools with real definitions: the findings column, each tool's pin and history, and a
person's Accept / Reject. The definitions are the real tools/list results of server-everything and of our own
poisoned server (tests/servers/poisoned_server.py), fetched through the Python SDK client."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from pytestqt.qtbot import QtBot

from approver.core.approval import ApprovalRequest
from approver.core.models import Decision, ToolCall, ToolInfo
from approver.core.risk import RiskContext, assess
from approver.service.decision_log import read_entries
from approver.service.policy_store import PolicyStore
from approver.service.tool_definitions import ToolDefinitions
from approver.service.tools_seen import ToolsSeen
from approver.ui.settings import AppSettings
from approver.ui.settings_window import SettingsWindow
from tests.conftest import NODE, ROOT, SERVER_EVERYTHING, require_npm_tools
from tests.ui.test_approval_dialog import open_dialog, unnamed_controls
from tests.ui.test_desktop_settings import Desktop

pytestmark = pytest.mark.gui

POISONED_SERVER = ROOT / "tests" / "servers" / "poisoned_server.py"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"


def listed_tools(command: str, *args: str) -> list[dict[str, Any]]:
    async def fetch() -> list[dict[str, Any]]:
        async with Client(StdioServerParameters(command=command, args=list(args)), mode="legacy") as client:
            result = await client.list_tools()
        return [tool.model_dump(by_alias=True, exclude_none=True) for tool in result.tools]

    return asyncio.run(fetch())


@pytest.fixture(scope="module")
def real_definitions() -> dict[str, list[dict[str, Any]]]:
    require_npm_tools()
    return {
        "everything": listed_tools(str(NODE), str(SERVER_EVERYTHING), "stdio"),
        "poisoned": listed_tools(sys.executable, str(POISONED_SERVER)),
    }


def row_of(window: SettingsWindow, server: str, tool: str) -> list[str]:
    assert window.tools.select(server, tool), f"{server}/{tool} not shown"
    item = window.tools.tree.currentItem()
    assert item is not None
    return [item.text(column) for column in range(6)]


def test_findings_pin_history_and_the_persons_answer(
    qtbot: QtBot, tmp_path: Path, real_definitions: dict[str, list[dict[str, Any]]]
) -> None:
    logged: list[dict[str, Any]] = []
    told: list[str] = []
    definitions = ToolDefinitions(
        lambda flagged: told.append(flagged.tool), log_event=lambda kind, body: logged.append({"kind": kind, **body})
    )
    definitions.listed("everything", real_definitions["everything"])
    definitions.listed("poisoned", real_definitions["poisoned"])
    assert told == ["add", "multiply", "weather", "translate", "report", "summarise", "lookup", "echo", "get_sum"]
    seen = ToolsSeen(tmp_path / "data" / "tools-seen.json")
    for description in ["Adds two numbers.", "Adds two numbers, and more."]:  # the server redefines `add`
        seen.listed("poisoned", ["poisoned"], None, [{"name": "add", "description": description}], quarantine=False)
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"rules": []}))
    window = SettingsWindow(PolicyStore(policy, explicit=True), seen, AppSettings(), definitions=definitions)
    qtbot.addWidget(window)
    window.resize(1180, 760)
    window.tabs.setCurrentWidget(window.tools)
    window.show()
    page = window.tools

    add = row_of(window, "poisoned", "add")
    assert add[1].startswith("high: ") and "instructions to the AI" in add[1] and "keeps things from you" in add[1]
    assert add[2].endswith("changed since first seen")
    assert "~/.ssh" in page.details.toPlainText() and "History:" in page.details.toPlainText()
    assert "first seen" in page.details.toPlainText()
    assert row_of(window, "poisoned", "get_sum")[1].startswith("high: ")
    assert "steers other servers' tools" in row_of(window, "poisoned", "get_sum")[1]
    assert row_of(window, "everything", "echo")[1] == "medium: another server has this name"
    assert row_of(window, "everything", "get-sum")[1].startswith("high: another server has this name")
    assert row_of(window, "everything", "get-env")[1] == "none"
    assert unnamed_controls(window) == []

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    row_of(window, "poisoned", "add")
    window.grab().save(str(SCREENSHOTS / "settings-servers-and-tools.png"))

    page.reject_button.click()
    assert row_of(window, "poisoned", "add")[2].endswith("rejected by you")
    call = ToolCall(server="poisoned", tool="add", request_id=9, digest="sha256:9")
    verdict = definitions.verdict(call)
    assert verdict is not None and verdict.decision is Decision.DENY
    assert "rejected by you" in page.details.toPlainText()
    window.grab().save(str(SCREENSHOTS / "settings-servers-and-tools-rejected.png"))
    page.accept_button.click()
    assert definitions.verdict(call) is None
    assert [(entry["kind"], entry["answer"], entry["tool"]) for entry in logged] == [
        ("tool-verdict", "rejected", "add"),
        ("tool-verdict", "accepted", "add"),
    ]
    assert "Accepted the definition" in page.message.text()


@pytest.fixture
def desktop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desktop]:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # the autostart entry goes here
    made = Desktop(tmp_path)
    yield made
    made.close()


def test_the_desktop_app_tells_once_and_a_reject_denies_calls_in_the_service(
    qtbot: QtBot, desktop: Desktop, real_definitions: dict[str, list[dict[str, Any]]]
) -> None:
    app = desktop.start()
    shown: list[tuple[str, str]] = []
    tray_notify = app.tray.notify

    def notify_and_record(title: str, message: str, on_click: Callable[[], None] | None = None) -> None:
        shown.append((title, message))
        tray_notify(title, message, on_click)  # the real tray message still goes out

    app.tray.notify = notify_and_record  # type: ignore[method-assign]
    [add] = [tool for tool in real_definitions["poisoned"] if tool["name"] == "add"]
    call = ToolCall(
        server="poisoned",
        tool="add",
        arguments={"a": 1, "b": 2},
        request_id=1,
        digest="sha256:1",
        tool_info=ToolInfo(description=add["description"], definition=add),
    )
    assert app.service.decide_without_asking(call) is None  # no rule: a person would be asked
    assert app.service.decide_without_asking(call) is None
    [(title, message)] = shown  # told once, not at every call
    assert title == "MCP Approver: a suspicious tool on poisoned"
    assert message.startswith("'add': The tool's description") and "Settings → Servers and tools" in message

    app.open_settings()
    window = app.settings_window
    assert window is not None
    window.tabs.setCurrentWidget(window.tools)
    assert window.tools.select("poisoned", "add")
    window.tools.reject_button.click()
    verdict = app.service.decide_without_asking(call)
    assert verdict is not None and verdict.decision is Decision.DENY
    assert "you rejected the definition of 'add'" in verdict.reason
    kinds = [
        (entry["kind"], entry.get("answer") or entry.get("decision")) for entry in read_entries(desktop.home.log_file)
    ]
    assert kinds[-2:] == [("tool-verdict", "rejected"), ("decision", "deny")]  # the Reject is on record first


def test_the_approval_dialog_shows_the_poisoned_definition_reasons(
    qtbot: QtBot, real_definitions: dict[str, list[dict[str, Any]]]
) -> None:
    [add] = [tool for tool in real_definitions["poisoned"] if tool["name"] == "add"]
    call = ToolCall(
        server="poisoned",
        tool="add",
        arguments={"a": 1, "b": 2, "sidenote": ""},
        request_id=1,
        digest="sha256:1",
        tool_info=ToolInfo(description=add["description"], definition=add),
    )
    request = ApprovalRequest(
        id=1,
        call=call,
        risk=assess(call, RiskContext(home="/home/u", other_servers={"everything": ["echo", "get-sum"]})),
        rule_said="no rule matches this call",
        tool_status="new",
        deadline_at=time.time() + 55,
        deadline_action=Decision.DENY,
    )
    dialog = open_dialog(qtbot, request)
    dialog.resize(900, 820)
    shown = dialog.details.toPlainText()
    assert "whose definition tells the AI things it should not" in request.risk.impact
    assert "Why the risk is high:" in shown
    assert "tells the AI to keep something from you: 'do not tell the user'" in shown
    assert "names '~/.ssh'" in shown and "'<important>'" in shown
    dialog.details.verticalScrollBar().setValue(dialog.details.verticalScrollBar().maximum())
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    dialog.grab().save(str(SCREENSHOTS / "approval-dialog-poisoned-description.png"))
