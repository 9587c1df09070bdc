"""Settings → Clients, the diff before every write, drift in the tray and the first-run list of unprotected servers,
on real configuration files (Claude Code, Cursor and VS Code, shaped as their documentation shows them) in a
temporary home. Screenshots of the page, the diff and the first-run window land in artifacts/screenshots/."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from approver.clients import wiring
from approver.clients.catalog import Environment
from approver.clients.entries import State
from approver.platform.paths import Home
from approver.service.decision_log import read_entries
from approver.service.runtime import running_service
from approver.ui.approval_queue import ApprovalQueue
from approver.ui.clients_page import ClientsPage, ClientWatch, DiffDialog, ServerKey, protectable
from approver.ui.desktop import DesktopApp
from approver.ui.desktop_approver import DesktopApprover
from approver.ui.presence import CodeDialog, Proof
from approver.ui.settings import AppSettings, SettingsStore, settings_file
from tests.conftest import ROOT
from tests.ui.test_approval_dialog import unnamed_controls

pytestmark = pytest.mark.gui

SCREENSHOTS = ROOT / "artifacts" / "screenshots"

CLAUDE_CODE = (
    '{\n  "numStartups": 4,\n  "mcpServers": {\n    "everything": {\n      "type": "stdio",\n'
    '      "command": "npx",\n      "args": ["-y", "@modelcontextprotocol/server-everything"],\n'
    '      "env": {"EXAMPLE_TOKEN": "t-1"}\n    },\n'
    '    "remote": {"type": "http", "url": "https://mcp.example.com/mcp"}\n  }\n}\n'
)
CURSOR = (
    '{\n  // Cursor: JSONC\n  "mcpServers": {\n    "filesystem": {\n      "command": "npx",\n'
    '      "args": ["-y", "@modelcontextprotocol/server-filesystem", "/home/u/project"]\n    }\n  }\n}\n'
)
VSCODE = (
    '{\r\n\t// VS Code: "servers", JSONC\r\n\t"servers": {\r\n\t\t"time": {\r\n\t\t\t"type": "stdio",\r\n'
    '\t\t\t"command": "uvx",\r\n\t\t\t"args": ["mcp-server-time"],\r\n\t\t},\r\n\t},\r\n\t"inputs": [],\r\n}\r\n'
)


class ClientHome:
    """A user's home with three clients configured, and the approver home beside it."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "user"
        self.config = self.dir / ".config"
        self.approver = Home(root / "config", root / "data", root / "run", explicit=True)
        self.claude = self.write(".claude.json", CLAUDE_CODE)
        self.cursor = self.write(".cursor/mcp.json", CURSOR)
        self.vscode = self.write(".config/Code/User/mcp.json", VSCODE)

    def write(self, relative: str, text: str) -> Path:
        path = self.dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode())
        return path

    def environment(self) -> Environment:
        return Environment(self.dir, "linux", {"XDG_CONFIG_HOME": str(self.config)}, ())

    def watch(self, *, debounce_ms: int = 50) -> ClientWatch:
        return ClientWatch(self.approver, self.environment, debounce_ms=debounce_ms)

    def states(self) -> dict[str, str]:
        reports = wiring.scan(self.environment(), expected=wiring.expected_wrapping(self.approver))
        return {server.entry.name: server.status.state.value for report in reports for server in report.servers}


@pytest.fixture
def clients(tmp_path: Path) -> ClientHome:
    return ClientHome(tmp_path)


async def until(condition: Callable[[], object], what: str, timeout: float = 15) -> None:
    """Wait by asking, with Qt's events (the file watcher, timers) and asyncio's tasks (the scans) both running."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        QApplication.processEvents()
        await asyncio.sleep(0.02)


def screenshot(widget: QWidget, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    QApplication.processEvents()
    assert widget.grab().save(str(SCREENSHOTS / name))


def replace_atomically(path: Path, text: str) -> None:
    """As clients save: a temporary file renamed over the old one (a watch on the file itself ends)."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    temporary.replace(path)


def scanned_bytes(watch: ClientWatch, path: Path) -> bytes:
    """What the watch's last scan read from a file."""
    return next((report.source or b"" for report in watch.reports or [] if report.path == path), b"")


def server_item_texts(page: ClientsPage) -> dict[str, tuple[str, str]]:
    return {item.text(0): (item.text(1), item.text(2)) for item in page._server_items()}


def select_servers(page: ClientsPage, *names: str) -> None:
    page.tree.clearSelection()
    for item in page._server_items():
        if item.text(0) in names:
            item.setSelected(True)


async def opened_dialog(page: ClientsPage) -> DiffDialog:
    await until(lambda: page.dialog is not None and page.dialog.isVisible(), "the diff dialog")
    assert page.dialog is not None
    return page.dialog


async def test_the_page_shows_each_client_its_files_and_servers_with_their_state(
    qtbot: QtBot, clients: ClientHome
) -> None:
    watch = clients.watch()
    page = ClientsPage(watch)
    qtbot.addWidget(page)
    page.resize(1000, 520)
    page.show()
    await watch.rescan()
    clients_shown = [page.tree.topLevelItem(index).text(0) for index in range(page.tree.topLevelItemCount())]  # type: ignore[union-attr]
    assert sorted(clients_shown) == ["Claude Code", "Cursor", "VS Code"]
    servers = server_item_texts(page)
    assert {name: state for name, (state, _) in servers.items()} == {
        "everything": "unprotected",
        "remote": "unprotected",
        "filesystem": "unprotected",
        "time": "unprotected",
    }
    assert "remote server" in servers["remote"][1]  # why it stays so
    assert page.message.text() == "3 servers not protected."
    assert unnamed_controls(page) == []
    page.tree.setFocus()  # from the keyboard: the arrows select a server
    first = page.tree.topLevelItem(0)
    assert first is not None
    page.tree.setCurrentItem(first)
    for _ in range(2):
        QTest.keyClick(page.tree, Qt.Key.Key_Down)
    assert page.selection() == {str(clients.claude): ["everything"]}
    assert page.protect_button.isEnabled() and page.unprotect_button.isEnabled()
    screenshot(page, "clients-page.png")


async def test_protect_shows_the_diff_and_apply_writes_exactly_it(qtbot: QtBot, clients: ClientHome) -> None:
    watch = clients.watch()
    page = ClientsPage(watch)
    qtbot.addWidget(page)
    page.show()
    await watch.rescan()
    before = {path: path.read_bytes() for path in (clients.claude, clients.cursor, clients.vscode)}
    select_servers(page, "everything", "time")
    changing = asyncio.ensure_future(page.change(page.selection(), protect=True))
    dialog = await opened_dialog(page)
    shown = dialog.diff.toPlainText()
    assert dialog.diff.isReadOnly()
    assert dialog.diff.font().family() == QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont).family()
    assert f"--- {clients.claude} (now)" in shown and f"--- {clients.vscode} (now)" in shown
    assert str(clients.cursor) not in shown  # nothing chosen there
    assert '"proxy"' in shown and '"--name"' in shown and '"everything"' in shown
    assert dialog.cancel_button.isDefault() and not dialog.apply_button.isDefault()  # Return writes nothing
    assert unnamed_controls(dialog) == []
    assert {path: path.read_bytes() for path in before} == before  # nothing written while it is shown
    dialog.resize(1000, 560)
    screenshot(dialog, "clients-diff.png")
    dialog.apply_button.click()
    assert await changing is True
    assert clients.states() == {
        "everything": "protected",
        "remote": "unprotected",
        "filesystem": "unprotected",
        "time": "protected",
    }
    assert clients.cursor.read_bytes() == before[clients.cursor]
    assert server_item_texts(page)["everything"][0] == "protected"  # the page shows the files as they are now
    written = clients.vscode.read_bytes()
    assert b"// VS Code" in written and b"\r\n" in written  # comments and line ends kept


async def test_cancel_writes_nothing(qtbot: QtBot, clients: ClientHome) -> None:
    watch = clients.watch()
    page = ClientsPage(watch)
    qtbot.addWidget(page)
    page.show()
    await watch.rescan()
    before = clients.claude.read_bytes()
    changing = asyncio.ensure_future(page.change(page.all_unprotected(), protect=True))
    dialog = await opened_dialog(page)
    QTest.keyClick(dialog.diff, Qt.Key.Key_Escape)
    assert await changing is False
    assert clients.claude.read_bytes() == before
    assert "nothing was written" in page.message.text()


async def test_a_file_changed_after_the_diff_was_shown_is_not_written(qtbot: QtBot, clients: ClientHome) -> None:
    watch = clients.watch(debounce_ms=60_000)  # only this test's own rescan
    page = ClientsPage(watch)
    qtbot.addWidget(page)
    page.show()
    await watch.rescan()
    select_servers(page, "filesystem")
    changing = asyncio.ensure_future(page.change(page.selection(), protect=True))
    dialog = await opened_dialog(page)
    theirs = CURSOR.replace("/home/u/project", "/home/u/other")  # Cursor rewrote its file meanwhile
    replace_atomically(clients.cursor, theirs)
    dialog.apply_button.click()
    assert await changing is False
    assert clients.cursor.read_text() == theirs  # what was shown was not what would have been written: nothing
    assert "changed by another program after the diff was shown" in page.message.text()
    assert b"/home/u/other" in scanned_bytes(watch, clients.cursor)  # and read again


@asynccontextmanager
async def desktop_app(
    qtbot: QtBot, clients: ClientHome, *, first_run: bool = False, settings: AppSettings | None = None
) -> AsyncIterator[DesktopApp]:
    home = clients.approver
    queue = ApprovalQueue(arm_delay_ms=0)
    approver = DesktopApprover(queue, AppSettings())
    async with running_service(home, None, approver, mode="desktop") as server:
        integrity = server.service.policies.integrity
        store = SettingsStore(settings_file(home), integrity.mac if integrity is not None else None)
        if settings is not None:
            store.save(settings)
        app = DesktopApp(
            home,
            server,
            approver,
            queue,
            settings_store=store,
            loaded=store.load(),
            first_run=first_run,
            client_watch=clients.watch(),
        )
        if app.first_run_window is not None:
            qtbot.addWidget(app.first_run_window)
        try:
            yield app
        finally:
            app.close()
            if app.settings_window is not None:
                app.settings_window.deleteLater()


def unprotections(home: Home) -> list[dict[str, Any]]:
    return [
        entry
        for entry in read_entries(home.log_file)
        if entry["kind"] == "settings-change" and "unprotect-servers" in entry.get("widening", [])
    ]


async def test_unprotecting_needs_proof_of_presence_and_is_on_the_log_before_the_write(
    qtbot: QtBot, clients: ClientHome, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # the autostart entry goes here
    wiring.install(wiring.scan(clients.environment()), clients.approver, servers=["everything"])
    wrapped = clients.claude.read_bytes()
    async with desktop_app(qtbot, clients, settings=AppSettings(start_at_login=False)) as app:
        await until(lambda: app.client_watch.reports is not None, "the first scan")
        app.open_clients()
        page = app.clients_page
        assert page is not None and app.settings_window is not None
        qtbot.addWidget(app.settings_window)
        await until(lambda: "everything" in server_item_texts(page), "the page")
        assert server_item_texts(page)["everything"][0] == "protected"
        select_servers(page, "everything")

        async def unprotect(prove: bool) -> bool:
            changing = asyncio.ensure_future(page.change(page.selection(), protect=False))
            (await opened_dialog(page)).apply_button.click()
            await until(lambda: [c for c in page.findChildren(CodeDialog) if c.isVisible()], "the proof dialog")
            [asking] = [c for c in page.findChildren(CodeDialog) if c.isVisible()]
            if prove:
                QTest.keyClicks(asking.entry, asking._code)
                QTest.keyClick(asking.entry, Qt.Key.Key_Return)
            else:
                asking.cancel_button.click()
            return await changing

        assert await unprotect(prove=False) is False
        assert clients.claude.read_bytes() == wrapped and unprotections(clients.approver) == []
        assert "proof that it is you was not given" in page.message.text()
        assert await unprotect(prove=True) is True
        assert clients.states()["everything"] == "unprotected"
        [logged] = unprotections(clients.approver)
        assert "unprotected MCP servers" in logged["reason"] and f"everything ({clients.claude})" in logged["reason"]
        assert logged["presence"] == Proof.CODE.value


async def test_drift_shows_in_the_tray_once_per_server_and_the_watch_survives_atomic_saves(
    qtbot: QtBot, clients: ClientHome, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    async with desktop_app(qtbot, clients, settings=AppSettings(start_at_login=False)) as app:
        notified: list[str] = []
        show_notification = app.tray.notify

        def recording(title: str, message: str, on_click: Callable[[], None] | None = None) -> None:
            notified.append(message)
            show_notification(title, message, on_click)

        monkeypatch.setattr(app.tray, "notify", recording)
        await until(lambda: app.tray.state.unprotected == 3, "the first scan's count")
        assert "3 servers not protected (Settings → Clients)" in app.tray.state.tooltip()
        # Protected elsewhere (`approver install`): the count follows.
        wiring.install(wiring.scan(clients.environment()), clients.approver)
        await until(lambda: app.tray.state.unprotected == 0, "the count after install")
        # A client adds a server, saving its file atomically (twice: the watch must still be there the second time).
        for added in ("git", "fetch"):
            entry = json.dumps({"command": "uvx", "args": [f"mcp-server-{added}"]})
            text = clients.cursor.read_text().replace(
                '"mcpServers": {', f'"mcpServers": {{\n    "{added}": {entry},', 1
            )
            replace_atomically(clients.cursor, text)
            await until(lambda: any(message.startswith(added) for message in notified), f"a notification for {added}")  # noqa: B023 (awaited here, in this iteration)
            assert str(clients.cursor) in app.client_watch.watched()
        assert app.tray.state.unprotected == 2
        assert [message.split(" start")[0] for message in notified[-2:]] == ["git (Cursor)", "fetch (Cursor)"]
        count = len(notified)
        clients.claude.write_text(clients.claude.read_text() + "\n")  # a rescan that finds nothing new
        await until(lambda: b"\n\n" in scanned_bytes(app.client_watch, clients.claude), "the rescan")
        assert len(notified) == count  # not notified again for the same servers
        # The tray's entry opens Settings → Clients with them selected.
        app.open_clients()
        assert app.settings_window is not None
        qtbot.addWidget(app.settings_window)
        assert app.settings_window.tabs.currentWidget() is app.clients_page
        assert app.clients_page is not None
        assert sorted(app.clients_page.selection()[str(clients.cursor)]) == ["fetch", "git"]


async def test_the_first_run_window_lists_unprotected_servers_checked_and_protects_only_on_protect(
    qtbot: QtBot, clients: ClientHome, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    async with desktop_app(qtbot, clients, first_run=True) as app:
        window = app.first_run_window
        assert window is not None
        await until(lambda: window.servers.count() == 3, "the servers listed")
        listed = [window.servers.item(row) for row in range(window.servers.count())]
        assert all(item.checkState() == Qt.CheckState.Checked for item in listed if item is not None)
        assert window.ok_button.text() == "&Protect" and window.not_now_button.isVisible()
        assert unnamed_controls(window) == []
        window.resize(620, window.heightForWidth(620) if window.heightForWidth(620) > 0 else 600)
        screenshot(window, "first-run-servers.png")
        assert clients.states()["filesystem"] == "unprotected"  # nothing before the click
        [cursor_item] = [item for item in listed if item is not None and item.text().startswith("filesystem")]
        cursor_item.setCheckState(Qt.CheckState.Unchecked)
        window.ok_button.click()
        await until(lambda: clients.states()["everything"] == "protected", "the checked servers to be protected")
        await until(lambda: app.tray.state.unprotected == 1, "the count")
        assert clients.states() == {
            "everything": "protected",
            "remote": "unprotected",
            "filesystem": "unprotected",
            "time": "protected",
        }
        assert settings_file(clients.approver).exists()  # the start-at-login answer saved too


async def test_not_now_saves_the_answers_and_protects_nothing(
    qtbot: QtBot, clients: ClientHome, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    before = clients.claude.read_bytes()
    async with desktop_app(qtbot, clients, first_run=True) as app:
        window = app.first_run_window
        assert window is not None
        await until(lambda: window.servers.count() == 3, "the servers listed")
        window.start_at_login.setChecked(False)
        window.not_now_button.click()
        assert json.loads(settings_file(clients.approver).read_text())["start_at_login"] is False
        for _ in range(20):  # a protect task, if one were started, would have run by now
            QApplication.processEvents()
            await asyncio.sleep(0.02)
    assert clients.claude.read_bytes() == before


def test_only_servers_the_proxy_can_wrap_count_as_drift(clients: ClientHome) -> None:
    reports = wiring.scan(clients.environment(), expected=wiring.expected_wrapping(clients.approver))
    assert sorted(server.entry.name for _, server in protectable(reports)) == ["everything", "filesystem", "time"]
    [remote] = [server for _, server in wiring.unprotected(reports) if server.status.transport != "stdio"]
    assert remote.entry.name == "remote" and remote.status.state is State.UNPROTECTED
    assert ServerKey(str(clients.claude), ("mcpServers",), "everything") in {
        ServerKey(str(report.path), tuple(server.entry.container), server.entry.name)
        for report, server in protectable(reports)
    }
