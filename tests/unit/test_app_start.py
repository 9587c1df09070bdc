"""A proxy that finds no service starts the desktop app only when the person turned that on, only in a desktop
session, once per while, and waits a bounded time: an app that never comes leaves the call denied as before."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from approver.core.models import Actor, Decision, ToolCall
from approver.ipc.app_start import AppStarter, graphical_session, wants_app_started
from approver.ipc.client import DecisionClient, Timeouts
from approver.platform.paths import Home

CALL = ToolCall(server="fs", tool="write_file", arguments={"path": "/tmp/x"}, request_id=7, digest="sha256:ab")


@pytest.fixture
def home(tmp_path: Path) -> Home:
    made = Home(tmp_path / "config", tmp_path / "data", tmp_path / "run", explicit=True)
    made.config_dir.mkdir(parents=True)
    return made


def set_setting(home: Home, text: str) -> None:
    (home.config_dir / "app-settings.json").write_text(text)


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        (None, False),
        ('{"start_app_when_needed": true}', True),
        ('{"start_app_when_needed": false}', False),
        ('{"start_app_when_needed": "true"}', False),
        ('{"deadline_seconds": 30}', False),
        ("[true]", False),
        ("{not json", False),
    ],
)
def test_the_setting_is_on_only_when_the_file_says_true(home: Home, text: str | None, wanted: bool) -> None:
    if text is not None:
        set_setting(home, text)
    assert wants_app_started(home) is wanted


def test_a_desktop_session_is_one_with_a_display() -> None:
    assert not graphical_session({})
    assert graphical_session({"DISPLAY": ":0"}) and graphical_session({"WAYLAND_DISPLAY": "wayland-0"})


@pytest.mark.parametrize(("setting_on", "environ"), [(False, {"DISPLAY": ":0"}), (True, {})])
async def test_without_the_setting_or_a_desktop_nothing_is_started(
    home: Home, setting_on: bool, environ: dict[str, str]
) -> None:
    set_setting(home, f'{{"start_app_when_needed": {str(setting_on).lower()}}}')
    said: list[str] = []
    starter = AppStarter(home, said.append, environ=environ)
    assert await starter.start_and_wait() is False
    assert said == []  # not even an attempt


async def test_an_app_that_cannot_come_up_leaves_the_call_denied_within_the_bound(home: Home) -> None:
    """The real app, on a display that does not exist: it fails to start; the proxy stops waiting, says so, and
    the call is denied; the next call does not start it again."""
    set_setting(home, '{"start_app_when_needed": true}')
    said: list[str] = []
    environ = {**os.environ, "DISPLAY": ":65000", "QT_QPA_PLATFORM": "xcb"}
    environ.pop("WAYLAND_DISPLAY", None)
    starter = AppStarter(home, said.append, wait_seconds=20, environ=environ)
    client = DecisionClient(home, "fs", Timeouts(connect=0.5), starter.start_and_wait)
    started = time.monotonic()
    outcome = await client.decide(1, CALL)
    assert outcome.decided_locally and outcome.verdict.decision is Decision.DENY
    assert outcome.verdict.actor is Actor.NONE
    assert time.monotonic() - started < 20  # it saw the app fail instead of waiting out the bound
    assert said[0].startswith("MCP Approver is not running: starting the app")
    assert "did not come up" in said[-1]
    count = len(said)
    again = await asyncio.wait_for(client.decide(2, CALL), 5)  # within RETRY_AFTER: no second start
    assert again.verdict.decision is Decision.DENY and len(said) == count
    await client.close()
