"""The app's settings file and the XDG autostart entry."""

from __future__ import annotations

import hashlib
import hmac
import json
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
from approver.ui.settings import (
    AppSettings,
    LoadedSettings,
    PresenceCheck,
    SettingsStore,
    settings_file,
    settings_text,
    widenings,
)


def fake_mac(data: bytes) -> str:
    """Stands in for the keyring-keyed HMAC (the real one is exercised end to end)."""
    return hmac.new(b"k" * 32, data, hashlib.sha256).hexdigest()


def test_defaults_stay_under_common_client_timeouts_and_ask_for_presence(tmp_path: Path) -> None:
    loaded = SettingsStore(tmp_path / "missing.json", fake_mac).load()
    assert loaded == LoadedSettings(AppSettings())
    assert loaded.settings == AppSettings(
        deadline_seconds=55,
        deadline_action=Decision.DENY,
        notifications=True,
        start_at_login=True,
        presence_check=PresenceCheck.CRITICAL_AND_WIDENING,
    )


def test_settings_round_trip_sealed_and_a_broken_file_falls_back(tmp_path: Path) -> None:
    home = Home(tmp_path / "config", tmp_path / "data", tmp_path / "run", explicit=True)
    store = SettingsStore(settings_file(home), fake_mac)
    chosen = AppSettings(deadline_seconds=120, deadline_action=Decision.ALLOW, notifications=False)
    store.save(chosen)
    assert store.load() == LoadedSettings(chosen)
    store.path.write_text('{"deadline_seconds": 1}')
    loaded = store.load()
    assert loaded.settings == chosen and not loaded.trusted  # the last sealed settings stay
    assert loaded.problem is not None and "deadline_seconds" in loaded.problem and str(store.path) in loaded.problem


def test_an_unsealed_file_narrows_at_once_and_its_widening_values_wait(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "app-settings.json", fake_mac)
    store.save(AppSettings(deadline_seconds=30))
    store.path.write_text(
        json.dumps(
            {"deadline_action": "allow", "deadline_seconds": 5, "start_at_login": False, "presence_check": "off"}
        )
    )
    loaded = store.load()
    assert loaded.settings == AppSettings(deadline_seconds=5)  # the shorter deadline applies, nothing else
    assert loaded.ignored == ("deadline_action", "start_at_login", "presence_check")
    assert loaded.asked == AppSettings(
        deadline_seconds=5, deadline_action=Decision.ALLOW, start_at_login=False, presence_check=PresenceCheck.OFF
    )
    assert loaded.problem is not None and "allow calls nobody answered" in loaded.problem


def test_a_seal_made_with_another_key_or_for_the_rules_does_not_count(tmp_path: Path) -> None:
    path = tmp_path / "app-settings.json"
    SettingsStore(path, lambda data: hmac.new(b"x" * 32, data, hashlib.sha256).hexdigest()).save(
        AppSettings(deadline_action=Decision.ALLOW)
    )
    assert SettingsStore(path, fake_mac).load().settings == AppSettings()  # not the key: the defaults
    text = settings_text(AppSettings(deadline_action=Decision.ALLOW)).decode()
    path.write_text(text)
    # A MAC over the bare text (as the rules are sealed) is not a settings seal.
    (tmp_path / "app-settings.json.trust").write_text(json.dumps({"mac": fake_mac(text.encode()), "text": text}))
    assert SettingsStore(path, fake_mac).load().settings.deadline_action is Decision.DENY
    assert SettingsStore(path, None).load().settings.deadline_action is Decision.DENY  # no key store: nothing sealed


def test_what_widens() -> None:
    base = AppSettings()
    assert widenings(base, base.model_copy(update={"deadline_seconds": 3600, "notifications": False})) == ()
    assert widenings(base, base.model_copy(update={"presence_check": PresenceCheck.CRITICAL})) == ("presence_check",)
    allowing = base.model_copy(update={"deadline_action": Decision.ALLOW})
    assert widenings(base, allowing) == ("deadline_action",)
    assert widenings(allowing, base) == ()  # back to deny narrows
    assert widenings(base, base.model_copy(update={"start_at_login": False})) == ("start_at_login",)


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
