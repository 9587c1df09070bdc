"""The desktop app's settings with a real decision service (log, policy store, integrity key) but no socket:
an unsealed file's widening values wait, the person confirms them (with proof of presence) on the General page,
and every widening change is in the signed log before it applies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from approver.core.models import Decision
from approver.platform.keystore import FileStore, KeyStoreStatus
from approver.platform.paths import Home
from approver.service.decision_log import DecisionLogWriter, read_entries
from approver.service.decisions import DecisionService
from approver.service.policy_store import Integrity, PolicyStore
from approver.service.server import DecisionServer
from approver.ui.approval_queue import ApprovalQueue
from approver.ui.desktop import DesktopApp
from approver.ui.desktop_approver import DesktopApprover
from approver.ui.presence import CodeDialog
from approver.ui.settings import AppSettings, PresenceCheck, SettingsStore, settings_file

pytestmark = pytest.mark.gui


class Desktop:
    def __init__(self, tmp_path: Path) -> None:
        self.home = Home(tmp_path / "config", tmp_path / "data", tmp_path / "run", explicit=True)
        self.home.config_dir.mkdir(parents=True, exist_ok=True)
        key_store = FileStore(tmp_path / "keys.json")  # the labelled fallback: same HMAC, no keyring needed
        status = KeyStoreStatus(backend="file", secure=False, problem="test")
        self.log = DecisionLogWriter(self.home.log_file, key_store, status)
        self.policies = PolicyStore(self.home.policy_file, explicit=False, integrity=Integrity(key_store))
        self.queue = ApprovalQueue()
        self.approver = DesktopApprover(self.queue, AppSettings())
        self.server = DecisionServer(self.home, DecisionService(self.policies, self.log, self.approver))
        self.store = SettingsStore(settings_file(self.home), Integrity(key_store).mac)
        self.app: DesktopApp | None = None

    def start(self) -> DesktopApp:
        loaded = self.store.load()
        self.app = DesktopApp(
            self.home, self.server, self.approver, self.queue, settings_store=self.store, loaded=loaded
        )
        return self.app

    def action_in_force(self) -> Decision:
        """What the approver does at the deadline (a call, so that checks before and after an act are apart)."""
        return self.approver.deadline_action

    def presence_in_force(self) -> PresenceCheck:
        assert self.app is not None
        return self.app.settings.presence_check

    def settings_changes(self) -> list[dict[str, Any]]:
        return [entry for entry in read_entries(self.home.log_file) if entry["kind"] == "settings-change"]

    def close(self) -> None:
        if self.app is not None:
            self.app.close()
        self.log.close()


@pytest.fixture
def desktop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desktop]:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # the autostart entry goes here
    made = Desktop(tmp_path)
    yield made
    made.close()


def type_the_code(qtbot: QtBot, app: DesktopApp) -> None:
    assert app.settings_window is not None
    qtbot.waitUntil(lambda: bool([c for c in app.settings_window.findChildren(CodeDialog) if c.isVisible()]))  # type: ignore[union-attr]
    [asking] = [c for c in app.settings_window.findChildren(CodeDialog) if c.isVisible()]
    QTest.keyClicks(asking.entry, asking._code)
    QTest.keyClick(asking.entry, Qt.Key.Key_Return)


def test_an_outside_change_waits_then_is_confirmed_with_proof_and_logged(qtbot: QtBot, desktop: Desktop) -> None:
    desktop.store.path.write_text(json.dumps({"deadline_action": "allow", "deadline_seconds": 20}))
    app = desktop.start()
    assert app.settings == AppSettings(deadline_seconds=20)  # the narrowing part applies
    assert desktop.action_in_force() is Decision.DENY and desktop.approver.deadline_ms == 20_000
    assert any("changed outside MCP Approver" in problem for problem in app.problems())
    [noticed] = desktop.settings_changes()
    assert (noticed["trusted"], noticed["ignored"]) == (False, ["deadline_action"])
    app.open_settings()
    window = app.settings_window
    assert window is not None
    qtbot.addWidget(window)
    general = window.general
    assert window.tabs.currentWidget() is general and not general.outside_box.isHidden()
    assert "deadline_action: deny → allow" in general.outside.text()
    QTest.mouseClick(general.confirm_outside_button, Qt.MouseButton.LeftButton)
    assert desktop.action_in_force() is Decision.DENY  # not before the proof
    type_the_code(qtbot, app)
    assert desktop.action_in_force() is Decision.ALLOW
    assert general.outside_box.isHidden()
    assert desktop.store.load().trusted  # sealed now
    confirmed = desktop.settings_changes()[-1]
    assert confirmed["trusted"] is True and confirmed["widening"] == ["deadline_action"]
    assert confirmed["presence"] == "a typed code"
    assert confirmed["changed"] == {"deadline_action": {"from": "deny", "to": "allow"}}


def test_keep_mine_seals_what_is_in_force(qtbot: QtBot, desktop: Desktop) -> None:
    desktop.store.path.write_text(json.dumps({"start_at_login": False}))
    app = desktop.start()
    app.open_settings()
    assert app.settings_window is not None
    qtbot.addWidget(app.settings_window)
    QTest.mouseClick(app.settings_window.general.keep_mine_button, Qt.MouseButton.LeftButton)
    assert desktop.store.load().settings == AppSettings() and desktop.store.load().trusted
    assert not app.problems() or all("outside" not in problem for problem in app.problems())


def test_a_widening_change_on_the_page_needs_proof_and_a_refused_one_is_undone(qtbot: QtBot, desktop: Desktop) -> None:
    app = desktop.start()
    app.open_settings()
    window = app.settings_window
    assert window is not None
    qtbot.addWidget(window)
    general = window.general
    general.deadline_action.setCurrentIndex(general.deadline_action.findData("allow"))
    assert not general.isEnabled()  # nothing changes while the proof is asked for
    [asking] = [c for c in window.findChildren(CodeDialog) if c.isVisible()]
    QTest.mouseClick(asking.cancel_button, Qt.MouseButton.LeftButton)
    assert general.isEnabled()
    assert general.deadline_action.currentData() == "deny" and app.settings.deadline_action is Decision.DENY
    assert desktop.settings_changes() == []
    general.deadline.setValue(30)  # narrowing or neutral: no proof, no log entry
    assert app.settings.deadline_seconds == 30 and desktop.settings_changes() == []
    general.presence_check.setCurrentIndex(general.presence_check.findData(PresenceCheck.CRITICAL.value))
    type_the_code(qtbot, app)
    assert app.settings.presence_check is PresenceCheck.CRITICAL
    general.deadline_action.setCurrentIndex(general.deadline_action.findData("allow"))  # critical only: no proof
    assert desktop.action_in_force() is Decision.ALLOW
    assert [entry["widening"] for entry in desktop.settings_changes()] == [["presence_check"], ["deadline_action"]]
    assert desktop.settings_changes()[-1]["presence"] == "not required by the settings"
    general.presence_check.setCurrentIndex(general.presence_check.findData(PresenceCheck.OFF.value))
    assert desktop.presence_in_force() is PresenceCheck.CRITICAL  # turning it off needs proof itself
    type_the_code(qtbot, app)
    assert desktop.presence_in_force() is PresenceCheck.OFF


def test_sealed_settings_wider_than_the_defaults_are_logged_at_every_start(qtbot: QtBot, desktop: Desktop) -> None:
    desktop.store.save(AppSettings(deadline_action=Decision.ALLOW, notifications=False))  # sealed, as by the app
    desktop.start()
    [at_start] = desktop.settings_changes()
    assert at_start["reason"] == "settings in force at start: MCP Approver will allow calls nobody answered"
    assert at_start["trusted"] is True and at_start["widening"] == ["deadline_action"]
