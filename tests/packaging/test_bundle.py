"""The standalone bundle (PyInstaller, one folder) and the .deb that installs it under /opt: `approver selftest`
passes from the bundle, from /opt and from PATH; the package puts the desktop entry and hicolor icons where the
desktop's menu finds them; and the app the menu entry launches starts on a real X server."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_desktop import XSession, x_session
from tests.packaging.conftest import run, selftest, start_and_stop_desktop_app

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(900)]  # the session builds count towards the first test
__all__ = ["x_session"]  # the X server fixture of the desktop tests, used here as it is

BUNDLE_LIMIT_MB = 220  # 180 MB when measured: Qt Core/Gui/Widgets, ICU's data, Python, cryptography


def _selftest(approver: Path | str, cwd: Path) -> str:
    out = selftest(approver, cwd)
    assert "X11 plugin present" in out
    return out


def _size_mb(folder: Path) -> float:
    """On disk: PyInstaller links the Qt libraries into _internal/ too, so links are not counted twice."""
    files = [path for path in folder.rglob("*") if path.is_file() and not path.is_symlink()]
    return sum(path.stat().st_size for path in files) / 1e6


def test_the_bundle_passes_its_selftest_without_python_or_the_checkout(bundle: Path, tmp_path: Path) -> None:
    out = _selftest(bundle / "approver", tmp_path)
    assert f"in {bundle}/_internal/approver/resources" in out
    assert _size_mb(bundle) < BUNDLE_LIMIT_MB
    # Only the Qt modules the app uses, and none of the test tools of the environment it was built in.
    internal = bundle / "_internal"
    assert sorted(path.name for path in (internal / "PySide6").glob("Qt*.so")) == [
        "QtCore.abi3.so",
        "QtGui.abi3.so",
        "QtWidgets.abi3.so",
    ]
    assert not [name for name in ("pytest", "keyrings", "mcp", "hypothesis") if (internal / name).exists()]


def test_the_deb_puts_approver_on_path_and_in_the_menu(installed_deb: Path, tmp_path: Path) -> None:
    listed = run(["dpkg", "-L", "mcp-approver"]).splitlines()
    assert "/usr/share/applications/mcp-approver.desktop" in listed
    for size in (16, 22, 32, 48, 64, 128, 256):
        assert f"/usr/share/icons/hicolor/{size}x{size}/apps/mcp-approver.png" in listed
    assert "/usr/share/icons/hicolor/scalable/apps/mcp-approver.svg" in listed
    assert "/opt/mcp-approver/approver" in listed
    assert "/usr/share/polkit-1/actions/org.mcp-approver.confirm-presence.policy" in listed
    assert shutil.which("approver", path="/usr/bin") == "/usr/bin/approver"

    assert "in /opt/mcp-approver/_internal/approver/resources" in _selftest("/opt/mcp-approver/approver", tmp_path)
    _selftest("/usr/bin/approver", tmp_path)
    if shutil.which("desktop-file-validate"):
        # Hints (suggestions) are allowed; errors and warnings are not.
        result = subprocess.run(
            ["desktop-file-validate", "/usr/share/applications/mcp-approver.desktop"],
            capture_output=True,
            text=True,
            check=False,
        )
        problems = [line for line in result.stdout.splitlines() if ": hint:" not in line]
        assert result.returncode == 0 and not problems, result.stdout


def test_the_menu_entry_of_the_deb_starts_the_desktop_app(
    installed_deb: Path, x_session: XSession, tmp_path: Path
) -> None:
    entry = Path("/usr/share/applications/mcp-approver.desktop").read_text()
    [command] = [line.removeprefix("Exec=") for line in entry.splitlines() if line.startswith("Exec=")]
    executable = shutil.which(command, path="/usr/bin")
    assert executable == "/usr/bin/approver"
    said = start_and_stop_desktop_app(executable, {"DISPLAY": x_session.display}, tmp_path)
    assert "MCP Approver is running for" in said
    # The package's menu entry is the one: the app adds none of its own.
    assert not (tmp_path / "user" / ".local" / "share" / "applications").exists()
