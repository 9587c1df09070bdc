"""Settings → Clients, and the watch that keeps it (and the tray) current: each MCP client's configuration files,
their servers and whether each goes through `approver proxy`; Protect and Unprotect show the exact diff first.

Reading the files is I/O (a large ~/.claude.json takes a second or two), so scans and plans run in worker
threads; the UI thread only shows results. Protecting narrows (more calls meet the gate) and needs only the
click on Apply; unprotecting widens, so it asks for proof of presence when the settings want it for widening
acts, and goes on the decision log before the file is written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QFileSystemWatcher, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from approver.clients import catalog, wiring
from approver.clients.catalog import Environment
from approver.clients.entries import State
from approver.clients.wiring import ConfigFileReport, FileChange, ServerReport, WiringRecord
from approver.platform.aio import TaskSet
from approver.platform.paths import Home
from approver.ui.labels import plain_label
from approver.ui.presence import PresenceGate, Proof
from approver.ui.presentation import make_visible

T = TypeVar("T")
DEBOUNCE_MS = 500  # a client writes its file in several steps (temporary file, rename): scan once they are done
SERVER_ROLE = Qt.ItemDataRole.UserRole  # a server row's ServerKey


def desktop_environment() -> Environment:
    """The user's clients as the app sees them: no project folder counts (the app's working directory is not
    a project the person chose)."""
    return wiring.environment_from_os(projects=[])


@dataclass(frozen=True)
class ServerKey:
    """One server entry, across scans: its file, where in the file, and its name."""

    path: str
    container: tuple[str, ...]
    name: str


def server_key(report: ConfigFileReport, server: ServerReport) -> ServerKey:
    return ServerKey(str(report.path), tuple(server.entry.container), server.entry.name)


def protectable(reports: Iterable[ConfigFileReport]) -> list[tuple[ConfigFileReport, ServerReport]]:
    """The drift a click can fix: unprotected stdio servers. Remote ones are unprotected too (the page shows
    them, and why), but the proxy relays stdio only, so they would be a warning nothing can clear."""
    return [
        (report, server)
        for report, server in wiring.unprotected(reports)
        if server.status.state is State.UNPROTECTED and server.status.transport == "stdio"
    ]


def shown_path(path: Path, user_home: Path | None) -> str:
    """A configuration file as a person knows it: ~/.claude.json rather than its absolute path."""
    if user_home is not None and path.is_relative_to(user_home):
        return str(Path("~") / path.relative_to(user_home))
    return str(path)


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return (found.st_ino, found.st_size, found.st_mtime_ns)


class ClientWatch(QObject):
    """Scans the clients' configuration files off the UI thread, and again whenever one of them changes on disk.

    Clients replace their files atomically, which ends a watch on the file itself, so the folders are watched
    too and the files are watched again after every scan. A folder changes for other files as well (the home
    folder holds ~/.claude.json): only a change in one of the candidate files' size, mtime or inode rescans."""

    scanned = Signal(object)  # list[ConfigFileReport]

    def __init__(
        self,
        home: Home,
        environment: Callable[[], Environment] = desktop_environment,
        parent: QObject | None = None,
        *,
        debounce_ms: int = DEBOUNCE_MS,
    ) -> None:
        super().__init__(parent)
        self.home = home
        self._environment = environment
        self.reports: list[ConfigFileReport] | None = None  # None until the first scan is done
        self.user_home: Path | None = None  # the home the last scan looked in
        self._candidates: list[Path] = []
        self._seen: dict[Path, tuple[int, int, int] | None] = {}
        self._watcher = QFileSystemWatcher(self)
        self._watcher.fileChanged.connect(self._changed)
        self._watcher.directoryChanged.connect(self._changed)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(debounce_ms)
        self._debounce.timeout.connect(self._rescan_if_changed)
        self._tasks = TaskSet()
        self._scanning: asyncio.Task[list[ConfigFileReport]] | None = None
        self._again = False

    def _changed(self, _path: str) -> None:
        self._debounce.start()

    def _rescan_if_changed(self) -> None:
        if any(_signature(path) != self._seen.get(path) for path in self._candidates):
            self.request_scan()

    def request_scan(self) -> None:
        """Scan soon (once more after a scan under way, so the last change is never missed)."""
        if self._scanning is not None and not self._scanning.done():
            self._again = True
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # Qt without asyncio on its loop (some widget tests): nothing to scan with
            return
        self._scanning = self._tasks.spawn(self.rescan(), "scan client configurations")

    async def rescan(self) -> list[ConfigFileReport]:
        while True:
            self._again = False
            environment = self._environment()
            reports, candidates = await asyncio.to_thread(self._scan, environment)
            self.reports = reports
            self.user_home = Path(environment.home)
            self._follow(candidates)
            self.scanned.emit(reports)
            if not self._again:
                return reports

    def _scan(self, environment: Environment) -> tuple[list[ConfigFileReport], list[Path]]:
        candidates = list(dict.fromkeys(Path(location.path) for location in catalog.locations(environment)))
        self._seen = {path: _signature(path) for path in candidates}
        return wiring.scan(environment, expected=wiring.expected_wrapping(self.home)), candidates

    def _follow(self, candidates: list[Path]) -> None:
        self._candidates = candidates
        wanted = {str(path) for path in candidates if path.is_file()}
        wanted |= {str(path.parent) for path in candidates if path.parent.is_dir()}
        watched = set(self._watcher.files()) | set(self._watcher.directories())
        if watched - wanted:
            self._watcher.removePaths(sorted(watched - wanted))
        if wanted - watched:
            self._watcher.addPaths(sorted(wanted - watched))

    def watched(self) -> set[str]:
        return set(self._watcher.files()) | set(self._watcher.directories())

    def stop(self) -> None:
        self._debounce.stop()
        watched = sorted(self.watched())
        if watched:
            self._watcher.removePaths(watched)
        if self._scanning is not None:
            self._scanning.cancel()


# -- planning and applying, off the UI thread ---------------------------------------------------------------


Selection = dict[str, list[str]]  # file path -> server names chosen in it


def plan(reports: Sequence[ConfigFileReport], home: Home, selection: Selection, *, protect: bool) -> list[FileChange]:
    """The change to each chosen file (files with nothing to change are left out)."""
    launcher = wiring.current_launcher()
    approver_home = wiring.approver_home_for_entries(home)
    record = WiringRecord(home)
    changes = []
    for report in reports:
        names = selection.get(str(report.path))
        if not names:
            continue
        change = (
            wiring.plan_install(report, launcher, approver_home, names)
            if protect
            else wiring.plan_uninstall(report, record, names)
        )
        if change is not None:
            changes.append(change)
    return changes


def write_changes(changes: Sequence[FileChange], home: Home) -> list[str]:
    """Write each change exactly as planned (and shown); returns one line per file that was not written."""
    record = WiringRecord(home)
    problems = []
    for change in changes:
        try:
            wiring.apply(change, record)
        except wiring.FileChangedMeanwhile:
            problems.append(
                f"{change.path} was changed by another program after the diff was shown; nothing was written to "
                "it. Look at the new diff and apply again."
            )
        except OSError as exc:
            problems.append(f"{change.path}: not written: {exc.strerror or exc}")
    return problems


class DiffDialog(QDialog):
    """The unified diff of every file a change would write, read-only, with Apply and Cancel (Cancel is the
    default: Return does not write)."""

    def __init__(self, title: str, changes: Sequence[FileChange], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"MCP Approver — {title}")
        self.setAccessibleName(title)
        files = len(changes)
        self.intro = plain_label(
            f"{title}: these lines change in {files} file{'s' if files != 1 else ''}. Nothing is written before "
            "you press Apply, and only what is shown here is written."
        )
        self.diff = QPlainTextEdit()
        self.diff.setReadOnly(True)
        self.diff.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.diff.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.diff.setTabStopDistance(4 * self.diff.fontMetrics().horizontalAdvance(" "))  # VS Code's files use tabs
        # Line ends are not what a change is about (the file keeps its own); every other invisible is shown.
        self.diff.setPlainText("".join(make_visible(change.diff().replace("\r\n", "\n")).text for change in changes))
        self.diff.setAccessibleName("The changes to the configuration files")
        buttons = QDialogButtonBox()
        self.apply_button = buttons.addButton("&Apply", QDialogButtonBox.ButtonRole.AcceptRole)
        self.apply_button.setAccessibleName("Apply: write these changes")
        self.apply_button.setAutoDefault(False)
        self.cancel_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setAccessibleName("Cancel: write nothing")
        self.cancel_button.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.diff, 1)
        layout.addWidget(buttons)
        self.resize(900, 560)
        self.diff.setFocus()


# -- the page ------------------------------------------------------------------------------------------------

LogWidening = Callable[[str, dict[str, Any]], bool]  # writes to the decision log; False: it refused


class ClientsPage(QWidget):
    """Each client, its files and their servers with their state; Protect / Unprotect what is selected (a
    client or a file selects all its servers)."""

    def __init__(
        self,
        watch: ClientWatch,
        *,
        presence: PresenceGate | None = None,
        log_widening: LogWidening | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.watch = watch
        self.home = watch.home
        self.presence = presence
        self.log_widening = log_widening
        self.dialog: DiffDialog | None = None
        self._tasks = TaskSet()
        self._busy = False
        intro = plain_label(
            "The MCP servers your AI clients start. A protected server runs behind MCP Approver, so its tool "
            "calls wait for your rules or for you; an unprotected one is started directly. Select servers (or a "
            "client, or a file) and protect or unprotect them: the exact change to each file is shown first."
        )
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Client / file / server", "State", "Details"])
        self.tree.setAccessibleName("Clients, their configuration files and servers")
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setAlternatingRowColors(True)
        self.protect_button = QPushButton("&Protect…")
        self.protect_button.setAccessibleName("Protect the selected servers")
        self.unprotect_button = QPushButton("&Unprotect…")
        self.unprotect_button.setAccessibleName("Unprotect the selected servers")
        self.protect_all_button = QPushButton("Protect &all unprotected…")
        self.protect_all_button.setAccessibleName("Protect every unprotected server")
        self.rescan_button = QPushButton("&Look again")
        self.rescan_button.setAccessibleName("Read the configuration files again")
        self.message = plain_label(selectable=True)
        self.message.setAccessibleName("What happened")
        buttons = QHBoxLayout()
        for button in (self.protect_button, self.unprotect_button, self.protect_all_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.rescan_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        self.protect_button.clicked.connect(lambda: self._start(self.selection(), protect=True))
        self.unprotect_button.clicked.connect(lambda: self._start(self.selection(), protect=False))
        self.protect_all_button.clicked.connect(lambda: self._start(self.all_unprotected(), protect=True))
        self.rescan_button.clicked.connect(self.watch.request_scan)
        self.tree.itemSelectionChanged.connect(self._enable)
        watch.scanned.connect(self.show_reports)
        if watch.reports is not None:
            self.show_reports(watch.reports)
        else:
            self.message.setText("Reading the clients' configuration files…")
        self._enable()

    # -- showing ---------------------------------------------------------------------------------------------

    def show_reports(self, reports: list[ConfigFileReport]) -> None:
        selected = {self._key_of(item) for item in self.tree.selectedItems()} - {None}
        self.tree.clear()
        by_client: dict[str, QTreeWidgetItem] = {}
        for report in reports:
            client = by_client.get(report.location.client.id)
            if client is None:
                client = QTreeWidgetItem([report.location.client.label, "", ""])
                client.setData(0, SERVER_ROLE, f"client:{report.location.client.id}")
                self.tree.addTopLevelItem(client)
                by_client[report.location.client.id] = client
            counts = {state: 0 for state in State}
            for server in report.servers:
                counts[server.status.state] += 1
            summary = ", ".join(f"{count} {state.value}" for state, count in counts.items() if count)
            file_item = QTreeWidgetItem(
                client,
                [
                    shown_path(report.path, self.watch.user_home),
                    "not read" if report.error else summary or "no servers",
                    report.error or "",
                ],
            )
            file_item.setToolTip(0, str(report.path))
            file_item.setData(0, SERVER_ROLE, f"file:{report.path}")
            if f"file:{report.path}" in selected:
                file_item.setSelected(True)
            for server in report.servers:
                key = server_key(report, server)
                item = QTreeWidgetItem(
                    file_item,
                    [
                        make_visible(".".join([*key.container[1:], key.name])).text,
                        server.status.state.value,
                        make_visible(server.status.reason).text,
                    ],
                )
                item.setData(0, SERVER_ROLE, key)
                item.setToolTip(2, make_visible(server.status.reason).text)
                if key in selected:
                    item.setSelected(True)
            client.setExpanded(True)
            file_item.setExpanded(True)
        for column in range(2):
            self.tree.resizeColumnToContents(column)
        if not self._busy:
            count = len(protectable(reports))
            self.message.setText(
                "No configuration files of known clients were found."
                if not reports
                else f"{count} server{'s' if count != 1 else ''} not protected."
                if count
                else "Every server that can be protected is."
            )
        self._enable()

    @staticmethod
    def _key_of(item: QTreeWidgetItem) -> object:
        return item.data(0, SERVER_ROLE)

    def _enable(self) -> None:
        idle = not self._busy
        chosen = bool(self.selection())
        self.protect_button.setEnabled(idle and chosen)
        self.unprotect_button.setEnabled(idle and chosen)
        self.protect_all_button.setEnabled(idle and bool(self.all_unprotected()))
        self.rescan_button.setEnabled(idle)

    def selection(self) -> Selection:
        """The servers selected: server rows, and every server under a selected client or file row."""
        chosen: Selection = {}

        def add(item: QTreeWidgetItem) -> None:
            key = self._key_of(item)
            if isinstance(key, ServerKey):
                names = chosen.setdefault(key.path, [])
                if key.name not in names:
                    names.append(key.name)
            for child in _children(item):
                add(child)

        for item in self.tree.selectedItems():
            add(item)
        return chosen

    def all_unprotected(self) -> Selection:
        chosen: Selection = {}
        for report, server in protectable(self.watch.reports or []):
            chosen.setdefault(str(report.path), []).append(server.entry.name)
        return chosen

    def select_unprotected(self) -> None:
        """Select every unprotected server (the tray's "protect them" lands here)."""
        wanted = {server_key(report, server) for report, server in protectable(self.watch.reports or [])}
        self.tree.clearSelection()
        for item in self._server_items():
            if self._key_of(item) in wanted:
                item.setSelected(True)

    def _server_items(self) -> list[QTreeWidgetItem]:
        root = self.tree.invisibleRootItem()
        return [
            server for client in _children(root) for file_item in _children(client) for server in _children(file_item)
        ]

    # -- changing --------------------------------------------------------------------------------------------

    def _start(self, selection: Selection, *, protect: bool) -> None:
        if self._busy or not selection:
            return
        self._tasks.spawn(self.change(selection, protect=protect), "protect" if protect else "unprotect")

    async def change(self, selection: Selection, *, protect: bool) -> bool:
        """Plan, show the diff, and on Apply (and, to unprotect, proof of presence) write it; True if written."""
        self._busy = True
        self._enable()
        try:
            return await self._change(selection, protect=protect)
        finally:
            self._busy = False
            self._enable()

    async def _change(self, selection: Selection, *, protect: bool) -> bool:
        reports = list(self.watch.reports or [])
        changes = await asyncio.to_thread(plan, reports, self.home, selection, protect=protect)
        if not changes:
            self.message.setText(
                "Nothing to change: the selected servers are already "
                + ("protected (or cannot be)." if protect else "unprotected.")
            )
            return False
        title = "Protect servers" if protect else "Unprotect servers"
        if not await self._confirmed(DiffDialog(title, changes, self)):
            self.message.setText("Cancelled: nothing was written.")
            return False
        if not protect and not await self._widening_allowed(changes):
            return False
        problems = await asyncio.to_thread(write_changes, changes, self.home)
        written = len(changes) - len(problems)
        done = f"{'Protected' if protect else 'Unprotected'}: {written} file{'s' if written != 1 else ''} written."
        self.message.setText(" ".join([done, *problems]) if problems else done)
        await self.watch.rescan()
        return not problems

    async def _confirmed(self, dialog: DiffDialog) -> bool:
        self.dialog = dialog
        answered: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        dialog.finished.connect(lambda result: _settle(answered, result == QDialog.DialogCode.Accepted))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()  # no nested event loop
        try:
            return await answered
        finally:
            self.dialog = None

    async def _widening_allowed(self, changes: Sequence[FileChange]) -> bool:
        """Unprotecting lets a server's calls bypass the gate: proof of presence when the settings ask for it for
        widening acts, and a line in the decision log before anything is written."""
        servers = [f"{name} ({change.path})" for change in changes for name in change.servers]
        proof: Proof | None = None
        if self.presence is not None and self.presence.required(widening=True):
            proved: asyncio.Future[Proof | None] = asyncio.get_running_loop().create_future()
            self.message.setText("Waiting for the proof that it is you…")
            self.presence.prove(
                self,
                "You are unprotecting MCP servers: their tool calls will no longer wait for your rules or for you.",
                lambda given: _settle(proved, given),
            )
            proof = await proved
            if proof is None:
                self.message.setText("⚠ Not unprotected: the proof that it is you was not given.")
                return False
        if self.log_widening is not None and not self.log_widening(
            f"the user unprotected MCP servers in Settings → Clients: {', '.join(servers)}",
            {
                "trusted": True,
                "widening": ["unprotect-servers"],
                "servers": servers,
                "presence": proof.value if proof is not None else "not required by the settings",
            },
        ):
            self.message.setText("⚠ Not unprotected: the change could not be written to the decision log.")
            return False
        return True


def _children(item: QTreeWidgetItem) -> list[QTreeWidgetItem]:
    return [child for child in (item.child(index) for index in range(item.childCount())) if child is not None]


def _settle(future: asyncio.Future[T], value: T) -> None:
    if not future.done():  # a dialog closed after its waiter was cancelled
        future.set_result(value)


def describe_unprotected(found: Sequence[tuple[ConfigFileReport, ServerReport]]) -> str:
    """ "name (Client)" for each, for a notification."""
    return ", ".join(
        f"{make_visible(server.entry.name).text} ({report.location.client.label})" for report, server in found
    )


__all__ = [
    "ClientWatch",
    "ClientsPage",
    "DiffDialog",
    "ServerKey",
    "describe_unprotected",
    "desktop_environment",
    "plan",
    "protectable",
    "server_key",
    "write_changes",
]
