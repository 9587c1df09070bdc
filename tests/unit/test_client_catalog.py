"""Where each client's configuration is, per OS, from HOME, XDG_CONFIG_HOME and APPDATA as given."""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath

from approver.clients.catalog import Environment, locations


def _paths(environment: Environment) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for location in locations(environment):
        found.setdefault(location.client.id, []).append(str(location.path))
    return found


def test_linux_honours_xdg_config_home() -> None:
    home = PurePosixPath("/home/u")
    paths = _paths(Environment(home, "linux", {"XDG_CONFIG_HOME": "/cfg"}, projects=(PurePosixPath("/p"),)))
    assert paths["claude-desktop"] == ["/cfg/Claude/claude_desktop_config.json"]
    assert paths["claude-code"] == ["/home/u/.claude.json", "/p/.mcp.json"]
    assert paths["cursor"] == ["/home/u/.cursor/mcp.json", "/p/.cursor/mcp.json"]
    assert paths["vscode"] == ["/cfg/Code/User/mcp.json", "/cfg/Code/User/settings.json", "/p/.vscode/mcp.json"]
    assert paths["vscode-insiders"][0] == "/cfg/Code - Insiders/User/mcp.json"
    assert paths["windsurf"] == ["/home/u/.codeium/windsurf/mcp_config.json"]
    assert paths["cline"][0] == "/cfg/Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json"
    assert paths["gemini"] == ["/home/u/.gemini/settings.json", "/p/.gemini/settings.json"]
    assert paths["codex"] == ["/home/u/.codex/config.toml"]
    assert paths["zed"] == ["/cfg/zed/settings.json"]


def test_linux_without_xdg_uses_dot_config_and_codex_home_moves_codex() -> None:
    paths = _paths(Environment(PurePosixPath("/home/u"), "linux", {"CODEX_HOME": "/c"}))
    assert paths["claude-desktop"] == ["/home/u/.config/Claude/claude_desktop_config.json"]
    assert paths["codex"] == ["/c/config.toml"]


def test_macos_uses_application_support_but_zed_keeps_dot_config() -> None:
    paths = _paths(Environment(PurePosixPath("/Users/u"), "darwin", {}))
    assert paths["claude-desktop"] == ["/Users/u/Library/Application Support/Claude/claude_desktop_config.json"]
    assert paths["vscode"][0] == "/Users/u/Library/Application Support/Code/User/mcp.json"
    assert paths["zed"] == ["/Users/u/.config/zed/settings.json"]


def test_windows_uses_appdata() -> None:
    home = PureWindowsPath("C:/Users/u")
    paths = _paths(Environment(home, "win32", {"APPDATA": "D:/Roaming"}))
    assert paths["claude-desktop"] == [str(PureWindowsPath("D:/Roaming/Claude/claude_desktop_config.json"))]
    assert paths["vscode"][0] == str(PureWindowsPath("D:/Roaming/Code/User/mcp.json"))
    assert paths["zed"] == [str(PureWindowsPath("D:/Roaming/Zed/settings.json"))]
    assert paths["claude-code"] == [str(PureWindowsPath("C:/Users/u/.claude.json"))]
