"""The app's settings file and the XDG autostart entry."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from approver.core.models import Decision
from approver.platform.paths import Home
from approver.platform.resources import resource_path, resource_text
from approver.ui.autostart import desktop_entry, entry_path, launch_command, set_start_at_login, sync_menu_entry
from approver.ui.settings import AppSettings, load_settings, save_settings, settings_file


def test_defaults_stay_under_common_client_timeouts(tmp_path: Path) -> None:
    settings, problem = load_settings(tmp_path / "missing.json")
    assert problem is None
    assert settings == AppSettings(
        deadline_seconds=55, deadline_action=Decision.DENY, notifications=True, start_at_login=True
    )


def test_settings_round_trip_and_a_broken_file_falls_back_to_defaults(tmp_path: Path) -> None:
    home = Home(tmp_path / "config", tmp_path / "data", tmp_path / "run", explicit=True)
    path = settings_file(home)
    chosen = AppSettings(deadline_seconds=120, deadline_action=Decision.ALLOW, notifications=False)
    save_settings(path, chosen)
    assert load_settings(path) == (chosen, None)
    path.write_text('{"deadline_seconds": 1}')
    settings, problem = load_settings(path)
    assert settings == AppSettings()
    assert problem is not None and "deadline_seconds" in problem and str(path) in problem


def test_the_autostart_entry_follows_xdg_config_home(tmp_path: Path) -> None:
    environ = {"XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    command = ["/opt/my venv/bin/python", "-m", "approver"]
    path = set_start_at_login(True, command, environ)
    assert path == tmp_path / "cfg" / "autostart" / "mcp-approver.desktop"
    text = path.read_text()
    assert 'Exec="/opt/my venv/bin/python" -m approver\n' in text
    assert "Type=Application\n" in text
    set_start_at_login(False, command, environ)
    assert not path.exists()
    set_start_at_login(False, command, environ)  # removing twice is fine


def test_exec_quoting_follows_the_desktop_entry_spec() -> None:
    entry = desktop_entry(["/bin/x", 'a"b', "50%", "c$d", "back\\slash"])
    [exec_line] = [line for line in entry.splitlines() if line.startswith("Exec=")]
    assert exec_line == 'Exec=/bin/x "a\\\\"b" 50%% "c\\\\$d" "back\\\\\\\\slash"'


def test_the_launch_command_carries_an_explicit_home(tmp_path: Path) -> None:
    home = Home(tmp_path / "h" / "config", tmp_path / "h" / "data", tmp_path / "h" / "run", explicit=True)
    command = launch_command(home)
    assert command[:2] == ["env", f"APPROVER_HOME={tmp_path / 'h'}"]
    assert command[-2:] == ["-m", "approver"]
    assert shlex.join(command)


def test_without_xdg_config_home_the_entry_is_under_dot_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert entry_path({}) == tmp_path / ".config" / "autostart" / "mcp-approver.desktop"


def test_in_a_pyinstaller_bundle_the_launch_command_is_the_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundle's executable is `approver` itself: `-m approver` would be taken as arguments."""
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    home = Home(Path("/h/config"), Path("/h/data"), Path("/h/run"), explicit=False)
    assert launch_command(home) == [sys.executable]


def test_the_autostart_entry_is_the_menu_entry_with_this_command() -> None:
    entry = desktop_entry(["/opt/mcp-approver/approver"]).splitlines()
    menu_entry = resource_text("mcp-approver.desktop").splitlines()
    assert "Exec=/opt/mcp-approver/approver" in entry
    assert [line for line in entry if not line.startswith("Exec=")] == [
        *(line for line in menu_entry if not line.startswith("Exec=")),
        "X-GNOME-Autostart-enabled=true",
    ]


def _default_home(root: Path) -> Home:
    return Home(root / "config", root / "data", root / "run", explicit=False)


def test_an_install_without_a_menu_entry_gets_one_for_this_user(tmp_path: Path) -> None:
    environ = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_DATA_DIRS": str(tmp_path / "system")}
    entry = sync_menu_entry(_default_home(tmp_path), environ)
    assert entry == tmp_path / "data" / "applications" / "mcp-approver.desktop"
    text = entry.read_text()
    assert f"Exec={sys.executable} -m approver\n" in text
    assert "X-GNOME-Autostart-enabled" not in text
    for size in (16, 22, 32, 48, 64, 128, 256):
        icon = tmp_path / "data" / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "mcp-approver.png"
        assert icon.read_bytes() == resource_path("icons", f"mcp-approver-{size}.png").read_bytes()
    if shutil.which("desktop-file-validate"):
        subprocess.run(["desktop-file-validate", str(entry)], check=True, capture_output=True)
    written = entry.stat().st_mtime_ns
    assert sync_menu_entry(_default_home(tmp_path), environ) == entry
    assert entry.stat().st_mtime_ns == written  # unchanged: not written again


def test_a_packaged_menu_entry_or_an_explicit_home_adds_none(tmp_path: Path) -> None:
    system = tmp_path / "system"
    (system / "applications").mkdir(parents=True)
    (system / "applications" / "mcp-approver.desktop").write_text("[Desktop Entry]\n")
    environ = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_DATA_DIRS": f"/nonexistent:{system}"}
    assert sync_menu_entry(_default_home(tmp_path), environ) is None
    explicit = Home(tmp_path / "config", tmp_path / "data", tmp_path / "run", explicit=True)
    assert sync_menu_entry(explicit, {**environ, "XDG_DATA_DIRS": "/nonexistent"}) is None
    assert not (tmp_path / "data").exists()
