"""The macOS files, checked as files (CI has no Mac to build or run them on): the launch agent is a valid plist
that starts the .app's executable at login, and the PyInstaller spec makes the .app a menu bar app."""

from __future__ import annotations

import ast
import plistlib

from tests.conftest import ROOT

PACKAGING = ROOT / "packaging"


def test_the_launch_agent_starts_the_app_at_login_in_the_gui_session() -> None:
    with (PACKAGING / "macos" / "dev.mcp-approver.plist").open("rb") as file:
        agent = plistlib.load(file)
    assert agent["Label"] == "dev.mcp-approver"
    assert agent["ProgramArguments"] == ["/Applications/MCP Approver.app/Contents/MacOS/approver"]
    assert agent["RunAtLoad"] is True
    assert agent["LimitLoadToSessionType"] == "Aqua"


def test_the_spec_makes_an_app_without_a_dock_icon() -> None:
    spec = ast.parse((PACKAGING / "pyinstaller" / "mcp-approver.spec").read_text())
    [bundle] = [
        node
        for node in ast.walk(spec)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "BUNDLE"
    ]
    arguments = {keyword.arg: keyword.value for keyword in bundle.keywords}
    assert ast.literal_eval(arguments["name"]) == "MCP Approver.app"
    info_plist = arguments["info_plist"]
    assert isinstance(info_plist, ast.Dict)
    pairs = zip(info_plist.keys, info_plist.values, strict=True)
    entries = {ast.literal_eval(key): value for key, value in pairs if key}
    assert ast.literal_eval(entries["LSUIElement"]) is True
    executable = next(
        node
        for node in ast.walk(spec)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "EXE"
    )
    # The launch agent starts Contents/MacOS/approver: the executable's name.
    assert ast.literal_eval({k.arg: k.value for k in executable.keywords}["name"]) == "approver"
