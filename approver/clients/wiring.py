"""Reading and writing clients' configuration files: the thin I/O around the pure parts.

The API the CLI and the desktop app share: `scan` lists each client's files with every server and its state
(`unprotected` picks out the drift); `install` / `uninstall` change each file on its own (`dry_run` only plans:
each Outcome's change has the new bytes and a `diff()` to show), and are built from `plan_install` /
`plan_uninstall` (the new bytes of one file) and `apply` (writes one planned change, only if the file still
holds the bytes the plan was made from). Nothing here damages a file: a
file that does not parse is reported and left alone, an edit is checked by parsing it again before it is
written, writes are atomic, and the bytes a file had before our first change are kept.
"""

from __future__ import annotations

import difflib
import errno
import hashlib
import json
import os
import secrets
import shutil
import stat
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from approver.clients import catalog, documents, entries
from approver.clients.catalog import ConfigLocation, Environment
from approver.clients.documents import ConfigDocument, EditRefused, Entry
from approver.clients.entries import Change, Expected, Launcher, ServerStatus, State
from approver.clients.jsonc import DocumentError
from approver.platform.durable import fsync_fully, write_atomically
from approver.platform.paths import Home, ensure_private_dir

RECORD_VERSION = 1


def environment_from_os(projects: Sequence[Path] | None = None) -> Environment:
    return Environment(
        home=Path.home(),
        platform=sys.platform,
        variables=dict(os.environ),
        projects=tuple(projects) if projects is not None else (Path.cwd(),),
    )


def current_launcher() -> Launcher:
    """How clients should start this approver: the script that is running, else the `approver` script of this
    interpreter's environment, else this interpreter with `-m approver`."""
    running = Path(sys.argv[0])
    if running.name in ("approver", "approver.exe") and running.exists():
        return Launcher(str(running.absolute()))
    beside = shutil.which("approver", path=str(Path(sys.executable).parent))
    if beside:
        return Launcher(str(Path(beside).absolute()))
    return Launcher(sys.executable, ("-m", "approver"))


def approver_home_for_entries(home: Home) -> str | None:
    """A non-default APPROVER_HOME, which wrapped entries must carry: clients start servers with little of their
    own environment."""
    return str(home.config_dir.parent) if home.explicit else None


@dataclass
class ServerReport:
    entry: Entry
    status: ServerStatus

    def as_json(self) -> dict[str, Any]:
        document = self.status.as_json()
        if len(self.entry.container) > 1:
            document["section"] = ".".join(self.entry.container)
        return document


@dataclass
class ConfigFileReport:
    location: ConfigLocation
    path: Path
    expected: Expected | None = None
    source: bytes | None = None  # None: the file does not exist
    error: str | None = None  # one line: why it was left alone
    document: ConfigDocument | None = None
    servers: list[ServerReport] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "client": self.location.client.id,
            "client_name": self.location.client.label,
            "file": str(self.path),
            "scope": self.location.scope,
            "error": self.error,
            "servers": [server.as_json() for server in self.servers],
        }


def expected_wrapping(home: Home, launcher: Launcher | None = None) -> Expected:
    """What counts as protected here: entries that run this approver (as install writes it, or the same file by
    another path) with this home's APPROVER_HOME."""
    start = launcher or current_launcher()
    launchers = {start, Launcher(str(Path(start.command).resolve()), start.prefix)}
    return Expected(frozenset(launchers), approver_home_for_entries(home))


def read_location(location: ConfigLocation, expected: Expected | None = None) -> ConfigFileReport:
    path = Path(location.path)
    report = ConfigFileReport(location, path, expected)
    try:
        report.source = path.read_bytes()
    except FileNotFoundError:
        return report
    except OSError as exc:
        report.error = f"{path}: cannot read it ({exc.strerror or exc})"
        return report
    try:
        report.document = documents.load(report.source, location.file_format, location.containers)
    except DocumentError as exc:
        report.error = f"{path}:{exc.line}:{exc.column}: does not parse, left untouched: {exc.reason}"
        return report
    report.servers = [
        ServerReport(entry, entries.classify(entry.name, entry.data, location.url_transport, expected))
        for entry in report.document.entries()
    ]
    return report


def scan(
    environment: Environment, clients: Iterable[str] | None = None, expected: Expected | None = None
) -> list[ConfigFileReport]:
    """Every configuration file that exists, for the clients named (default: all), with its servers; a wrapped
    server counts as protected only if it runs as `expected` says (see `expected_wrapping`)."""
    wanted = set(clients) if clients is not None else None
    seen: set[PurePath] = set()
    reports = []
    for location in catalog.locations(environment):
        if (wanted is not None and location.client.id not in wanted) or location.path in seen:
            continue
        seen.add(location.path)
        report = read_location(location, expected)
        if report.source is not None or report.error is not None:
            reports.append(report)
    return reports


def unprotected(reports: Iterable[ConfigFileReport]) -> list[tuple[ConfigFileReport, ServerReport]]:
    """Drift: servers a client starts without the proxy in front."""
    return [
        (report, server) for report in reports for server in report.servers if server.status.state != State.PROTECTED
    ]


# ---------------------------------------------------------------------------------------------------------------
# The record of what install changed, so uninstall can give back exactly what was there.


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _entry_key(entry: Entry) -> str:
    return json.dumps([*entry.container, entry.name], ensure_ascii=False)


class WiringRecord:
    """`clients/wiring.json` in the data directory: per file, the digest and a copy of the bytes before our
    first change, the digest of what we last wrote, and each wrapped entry's fields as they were."""

    def __init__(self, home: Home) -> None:
        self.directory = home.data_dir / "clients"
        self.file = self.directory / "wiring.json"

    def load(self) -> dict[str, Any]:
        try:
            document = json.loads(self.file.read_bytes())
        except FileNotFoundError:
            return {"version": RECORD_VERSION, "files": {}}
        except ValueError as exc:
            raise OSError(f"{self.file}: not valid JSON ({exc}); move it aside to start a new record") from None
        if not isinstance(document, dict) or not isinstance(document.get("files"), dict):
            raise OSError(f"{self.file}: not a wiring record; move it aside to start a new record")
        return document

    def for_file(self, path: Path) -> dict[str, Any] | None:
        found = self.load()["files"].get(str(path))
        return found if isinstance(found, dict) else None

    def original_bytes(self, path: Path) -> bytes | None:
        record = self.for_file(path)
        if record is None:
            return None
        try:
            data = (self.directory / "originals" / record["original_copy"]).read_bytes()
        except (OSError, KeyError, TypeError):
            return None
        return data if _digest(data) == record.get("original_sha256") else None

    def _save(self, document: dict[str, Any]) -> None:
        ensure_private_dir(self.directory)
        write_atomically(self.file, json.dumps(document, indent=2, ensure_ascii=False).encode() + b"\n")

    def before_write(self, change: FileChange) -> None:
        """Before install writes a file: the bytes it had before our first change, and each entry's fields."""
        document = self.load()
        files = document["files"]
        record = files.get(str(change.path))
        if not isinstance(record, dict):
            copy_name = f"{_digest(str(change.path).encode())[:16]}-{_digest(change.before)[:16]}"
            # Private, like every file written here: clients' configurations hold tokens in their env.
            ensure_private_dir(self.directory / "originals")
            write_atomically(self.directory / "originals" / copy_name, change.before)
            record = {
                "original_sha256": _digest(change.before),
                "original_copy": copy_name,
                "written_sha256": _digest(change.before),
                "only_our_changes": True,
                "entries": {},
            }
            files[str(change.path)] = record
        for key, original in change.originals.items():
            record["entries"].setdefault(key, original)
        self._save(document)

    def after_write(self, change: FileChange) -> None:
        """After a write: what the file now holds, and whether every change since the original was ours (only
        then may uninstall hand back the original bytes)."""
        document = self.load()
        files = document["files"]
        record = files.get(str(change.path))
        if not isinstance(record, dict):
            return
        if record.get("written_sha256") != _digest(change.before):
            record["only_our_changes"] = False
        record["written_sha256"] = _digest(change.after)
        for key in change.restored:
            record["entries"].pop(key, None)
        if change.kind == "uninstall" and not change.still_wrapped:
            del files[str(change.path)]  # the file is the user's alone again; its original copy stays on disk
        self._save(document)

    def can_restore_bytes(self, path: Path, current: bytes) -> bool:
        record = self.for_file(path)
        return bool(
            record and record.get("only_our_changes") is True and record.get("written_sha256") == _digest(current)
        )


# ---------------------------------------------------------------------------------------------------------------
# Planning and applying


@dataclass
class FileChange:
    kind: str  # install or uninstall
    report: ConfigFileReport
    before: bytes
    after: bytes
    servers: list[str]  # the servers changed, by name
    originals: dict[str, Any] = field(default_factory=dict)  # install: entry key -> its fields as they were
    restored: list[str] = field(default_factory=list)  # uninstall: entry keys put back
    still_wrapped: bool = False  # uninstall: wrapped entries remain in the file (not all were asked for)

    @property
    def path(self) -> Path:
        return self.report.path

    def diff(self) -> str:
        old = self.before.decode("utf-8", "replace").splitlines(keepends=True)
        new = self.after.decode("utf-8", "replace").splitlines(keepends=True)
        return "".join(difflib.unified_diff(old, new, f"{self.path} (now)", f"{self.path} ({self.kind})"))


def _selected(server: ServerReport, servers: Iterable[str] | None) -> bool:
    return servers is None or server.entry.name in set(servers)


def plan_install(
    report: ConfigFileReport, launcher: Launcher, approver_home: str | None, servers: Iterable[str] | None = None
) -> FileChange | None:
    """The file with each selected unprotected stdio server wrapped; None when nothing would change."""
    if report.document is None or report.source is None:
        return None
    planned: list[tuple[Entry, Sequence[Change]]] = []
    originals = {}
    for server in report.servers:
        if (
            server.status.state is State.UNPROTECTED
            and server.status.transport == "stdio"
            and _selected(server, servers)
        ):
            planned.append(
                (server.entry, entries.wrap_changes(server.status, server.entry.data, launcher, approver_home))
            )
            originals[_entry_key(server.entry)] = entries.original_fields(server.entry.data)
    if not planned:
        return None
    after = report.document.with_changes(planned)
    names = [entry.name for entry, _ in planned]
    return FileChange("install", report, report.source, after, names, originals=originals)


def plan_uninstall(
    report: ConfigFileReport, record: WiringRecord, servers: Iterable[str] | None = None
) -> FileChange | None:
    """The file with each selected wrapped server put back. When the file is exactly as we last wrote it and
    every wrapped server goes back, it is the file as it was before our first change, byte for byte."""
    if report.document is None or report.source is None:
        return None
    wrapped = [server for server in report.servers if server.status.wrapped is not None]
    chosen = [server for server in wrapped if _selected(server, servers)]
    if not chosen:
        return None
    file_record = record.for_file(report.path) or {}
    names = [server.entry.name for server in chosen]
    keys = [_entry_key(server.entry) for server in chosen]
    still_wrapped = len(chosen) < len(wrapped)
    original = record.original_bytes(report.path)
    if original is not None and not still_wrapped and record.can_restore_bytes(report.path, report.source):
        return FileChange("uninstall", report, report.source, original, names, restored=keys)
    recorded = file_record.get("entries", {})
    planned: list[tuple[Entry, Sequence[Change]]] = [
        (server.entry, entries.unwrap_changes(server.status, server.entry.data, recorded.get(_entry_key(server.entry))))
        for server in chosen
    ]
    after = report.document.with_changes(planned)
    return FileChange("uninstall", report, report.source, after, names, restored=keys, still_wrapped=still_wrapped)


class FileChangedMeanwhile(RuntimeError):
    """Another program wrote the file after we read it: plan again from what it holds now."""


def apply(change: FileChange, record: WiringRecord) -> None:
    """Write the planned bytes atomically, only if the file still holds the bytes the plan was made from. A
    symlinked file is written through to its target (the link stays)."""
    target = change.path.resolve()
    if target.read_bytes() != change.before:
        raise FileChangedMeanwhile(str(change.path))
    if not target.stat().st_mode & stat.S_IWUSR:  # a file made read-only was meant to stay as it is (even for root)
        raise PermissionError(errno.EACCES, "it is read-only", str(change.path))
    if change.kind == "install":
        record.before_write(change)
    mode = target.stat().st_mode & 0o7777
    temporary = target.with_name(f".{target.name}.approver-{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            view = memoryview(change.after)
            while view:
                view = view[os.write(fd, view) :]
            fsync_fully(fd)
        finally:
            os.close(fd)
        temporary.chmod(mode)  # the umask may have narrowed it
        # The last look before the swap: a client that rewrote the file while we prepared ours wins.
        if target.read_bytes() != change.before:
            raise FileChangedMeanwhile(str(change.path))
        temporary.replace(target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if os.name == "posix":  # the rename itself survives a crash once its folder is synced
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    record.after_write(change)


ATTEMPTS = 3  # a client rewriting its file while we write ours (Claude Code does): plan again, this often

Planner = Callable[[ConfigFileReport], "FileChange | None"]


@dataclass
class Outcome:
    """What became of one file: changed (or, in a dry run, the change planned), nothing to change, or an error
    (one line; the file was left as it was)."""

    report: ConfigFileReport
    change: FileChange | None = None
    error: str | None = None
    written: bool = False


def change_file(report: ConfigFileReport, plan: Planner, record: WiringRecord, *, dry_run: bool = False) -> Outcome:
    """Plan and write one file on its own, planning again from the new bytes when another program wrote the file
    meanwhile. Never raises for a file that cannot be changed: that is the Outcome's error."""
    for _ in range(ATTEMPTS):
        if report.error:
            return Outcome(report, error=report.error)
        try:
            change = plan(report)
        except EditRefused as exc:
            return Outcome(report, error=f"{report.path}: left untouched: {exc}")
        except OSError as exc:  # the record of what install changed cannot be read
            return Outcome(report, error=f"{report.path}: left untouched: {exc.strerror or exc}")
        if change is None or dry_run:
            return Outcome(report, change)
        try:
            apply(change, record)
        except FileChangedMeanwhile:
            report = read_location(report.location, report.expected)
            continue
        except OSError as exc:
            return Outcome(report, change, error=f"{report.path}: not written: {exc.strerror or exc}")
        return Outcome(report, change, written=True)
    return Outcome(report, error=f"{report.path}: another program kept rewriting it; left as it is, try again")


def install(
    reports: Iterable[ConfigFileReport],
    home: Home,
    *,
    servers: Iterable[str] | None = None,
    launcher: Launcher | None = None,
    dry_run: bool = False,
) -> list[Outcome]:
    """Wrap every unprotected stdio server (or those named) in each file; each file on its own."""
    chosen = list(servers) if servers is not None else None
    start = launcher or current_launcher()
    approver_home = approver_home_for_entries(home)
    record = WiringRecord(home)
    return [
        change_file(report, lambda now: plan_install(now, start, approver_home, chosen), record, dry_run=dry_run)
        for report in reports
    ]


def uninstall(
    reports: Iterable[ConfigFileReport], home: Home, *, servers: Iterable[str] | None = None, dry_run: bool = False
) -> list[Outcome]:
    """Put every wrapped server (or those named) back in each file; each file on its own."""
    chosen = list(servers) if servers is not None else None
    record = WiringRecord(home)
    return [
        change_file(report, lambda now: plan_uninstall(now, record, chosen), record, dry_run=dry_run)
        for report in reports
    ]


__all__ = [
    "ConfigFileReport",
    "EditRefused",
    "FileChange",
    "FileChangedMeanwhile",
    "Outcome",
    "ServerReport",
    "WiringRecord",
    "apply",
    "approver_home_for_entries",
    "change_file",
    "current_launcher",
    "environment_from_os",
    "expected_wrapping",
    "install",
    "plan_install",
    "plan_uninstall",
    "scan",
    "uninstall",
    "unprotected",
]
