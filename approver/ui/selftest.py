"""`approver selftest`: does this installation (a wheel, a PyInstaller bundle, the .deb) have what the app needs?

Each check prints one line. It runs without a display (Qt on its offscreen platform) and never touches the user's
MCP Approver home: the service it starts lives in a temporary home, with its secrets in that home's key file.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from approver.ipc.client import query_status
from approver.platform.keystore import open_secret_store
from approver.platform.paths import Home
from approver.platform.resources import resource_path, resource_root, resource_text
from approver.service.runtime import running_service

Check = Callable[[], str]
_keep_alive: list[object] = []


def _qt() -> str:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"  # this process only: proves the import without a display
    from PySide6 import __version__ as pyside_version  # noqa: PLC0415  (loaded only when checked)
    from PySide6.QtCore import QLibraryInfo  # noqa: PLC0415
    from PySide6.QtGui import QGuiApplication  # noqa: PLC0415
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415

    if QApplication.instance() is None:
        _keep_alive.append(QApplication([sys.argv[0]]))  # the resources check paints icons with it
    detail = f"PySide6 {pyside_version}, platform {QGuiApplication.platformName()}"
    if sys.platform.startswith("linux"):
        # The desktop app needs the X11 plugin; a bundle that left it out would start only offscreen.
        plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
        if not (plugins / "libqxcb.so").is_file():
            raise RuntimeError(f"Qt's X11 platform plugin is missing from {plugins}")
        detail += ", X11 plugin present"
    return detail


def _resources() -> str:
    from approver.ui.icons import SIZES, TrayLook, app_icon  # noqa: PLC0415

    stems = ["mcp-approver", *(f"mcp-approver-{look.value}" for look in TrayLook)]
    for stem in stems:
        for size in SIZES:
            resource_path("icons", f"{stem}-{size}.png")
    if app_icon().isNull():
        raise RuntimeError("Qt could not load the app icon")
    json.loads(resource_text("policy.schema.json"))
    if "Exec=" not in resource_text("mcp-approver.desktop"):
        raise RuntimeError("the desktop entry has no Exec line")
    return f"{len(stems) * len(SIZES)} icons, policy schema, desktop entry in {resource_root()}"


def _keyring() -> str:
    with tempfile.TemporaryDirectory(prefix="approver-selftest-") as scratch:
        _, status = open_secret_store(Path(scratch) / "keys.json")
    if status.secure:
        return f"OS keyring ({status.backend})"
    return f"no usable OS keyring, the app would fall back to its key file: {status.problem}"


def _service() -> str:
    import keyring  # noqa: PLC0415
    from keyring.backends.null import Keyring as NullKeyring  # noqa: PLC0415

    # The null backend makes the service fall back to the temporary home's key file, so the log's signing key
    # for this throwaway home never lands in the user's keyring. This process ends after the self-test.
    keyring.set_keyring(NullKeyring())  # type: ignore[no-untyped-call]
    with tempfile.TemporaryDirectory(prefix="approver-selftest-") as scratch:
        root = Path(scratch)
        home = Home(root / "config", root / "data", root / "run", explicit=True)

        async def start_ask_stop() -> str:
            async with running_service(home, None):
                mode = (await query_status(home)).mode
            if home.socket_path.exists():
                raise RuntimeError(f"the service left its socket {home.socket_path} behind")
            return mode

        with contextlib.redirect_stderr(io.StringIO()):  # its "no OS keyring" warning is expected here
            mode = asyncio.run(start_ask_stop())
        if not home.log_file.is_file():
            raise RuntimeError("the service wrote no decision log")
    return f"started, answered status ({mode}), stopped, in a temporary home"


CHECKS: list[tuple[str, Check]] = [("Qt", _qt), ("resources", _resources), ("keyring", _keyring), ("service", _service)]


def run_selftest() -> int:
    failed = 0
    for name, check in CHECKS:
        try:
            detail = check()
        except Exception as exc:  # a self-test reports every failure as a result
            failed += 1
            print(f"FAIL  {name}: {type(exc).__name__}: {' '.join(str(exc).split())}", flush=True)
        else:
            print(f"ok    {name}: {detail}", flush=True)
    print("selftest passed" if not failed else f"selftest FAILED ({failed} of {len(CHECKS)} checks)", flush=True)
    return 1 if failed else 0
