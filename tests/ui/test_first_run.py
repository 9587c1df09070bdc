"""The first-run window: start at login is asked, on by default, and nothing is written before OK."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from approver.platform.paths import Home
from approver.service.runtime import running_service
from approver.ui.approval_queue import ApprovalQueue
from approver.ui.desktop import DesktopApp
from approver.ui.desktop_approver import DesktopApprover
from approver.ui.first_run import FirstRunWindow
from approver.ui.settings import AppSettings, SettingsStore, settings_file
from tests.ui.test_approval_dialog import unnamed_controls

pytestmark = pytest.mark.gui


def test_the_window_asks_with_start_at_login_on_and_says_where_the_entry_goes(qtbot: QtBot, tmp_path: Path) -> None:
    entry = tmp_path / "autostart" / "mcp-approver.desktop"
    window = FirstRunWindow(entry)
    qtbot.addWidget(window)
    window.show()
    answers: list[bool] = []
    window.answered.connect(answers.append)
    assert window.start_at_login.isChecked() and window.start_at_login.isEnabled()
    assert any(str(entry) in label.text() for label in window.findChildren(QLabel))
    assert window.ok_button.isDefault()
    assert unnamed_controls(window) == []
    QTest.keyClick(window, Qt.Key.Key_Escape)  # closed without OK: no answer, asked again next time
    assert answers == [] and not window.isVisible()
    window.show()
    window.start_at_login.setChecked(False)
    window.ok_button.click()
    assert answers == [False]


def test_sections_stack_in_the_window(qtbot: QtBot) -> None:
    window = FirstRunWindow(None)  # where the installer sets up starting at login
    qtbot.addWidget(window)
    assert not window.start_at_login.isEnabled()
    before = window.sections.count()
    window.add_section("Unprotected servers", QLabel("none found"))
    assert window.sections.count() == before + 1


@pytest.fixture
def autostart_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "autostart" / "mcp-approver.desktop"


@asynccontextmanager
async def desktop_app(qtbot: QtBot, home: Home, *, first_run: bool) -> AsyncIterator[DesktopApp]:
    queue = ApprovalQueue(arm_delay_ms=0)
    approver = DesktopApprover(queue, AppSettings())
    async with running_service(home, None, approver, mode="desktop") as server:
        integrity = server.service.policies.integrity  # the settings are sealed with the rules' key, as in app.py
        store = SettingsStore(settings_file(home), integrity.mac if integrity is not None else None)
        app = DesktopApp(home, server, approver, queue, settings_store=store, loaded=store.load(), first_run=first_run)
        if app.first_run_window is not None:
            qtbot.addWidget(app.first_run_window)
        try:
            yield app
        finally:
            app.close()


@pytest.mark.parametrize("start_at_login", [True, False])
async def test_the_first_launch_writes_the_login_entry_only_after_ok_and_only_if_chosen(
    qtbot: QtBot,
    tmp_path: Path,
    autostart_entry: Path,
    capsys: pytest.CaptureFixture[str],
    start_at_login: bool,
) -> None:
    home = Home(tmp_path / "config", tmp_path / "data", tmp_path / "run", explicit=True)
    async with desktop_app(qtbot, home, first_run=True) as app:
        window = app.first_run_window
        assert window is not None and window.isVisible()
        assert not autostart_entry.exists() and not settings_file(home).exists()  # nothing before the click
        app.bring_forward()  # a second launch meanwhile brings this window forward, not the settings
        assert app.settings_window is None
        window.start_at_login.setChecked(start_at_login)
        window.ok_button.click()
        assert autostart_entry.exists() is start_at_login
        assert json.loads(settings_file(home).read_text())["start_at_login"] is start_at_login
        said = capsys.readouterr().err
        assert (f"start at login: wrote {autostart_entry}" in said) is start_at_login
    async with desktop_app(qtbot, home, first_run=False) as app:  # the next launch: asked once is enough
        assert app.first_run_window is None
        assert autostart_entry.exists() is start_at_login


async def test_later_launches_keep_the_entry_in_step_without_asking(
    qtbot: QtBot, tmp_path: Path, autostart_entry: Path
) -> None:
    home = Home(tmp_path / "config", tmp_path / "data", tmp_path / "run", explicit=True)
    settings_file(home).parent.mkdir(parents=True)
    settings_file(home).write_text(AppSettings(start_at_login=True).model_dump_json())
    async with desktop_app(qtbot, home, first_run=False) as app:
        assert app.first_run_window is None
        assert "-m approver" in autostart_entry.read_text()
