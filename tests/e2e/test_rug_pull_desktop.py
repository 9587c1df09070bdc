"""A rug pull in front of a person: the real desktop app on Xvfb, the official SDK client through `approver
proxy`, and the malicious server that redefines `read_note`. The rule that allowed the tool stops allowing it; the
dialog shows what changed; allowing accepts the new definition, and the rule allows it again."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.conftest import ApproverHome
from tests.e2e.test_desktop import (
    App,
    XSession,
    answer_with,
    running_app,
    text_of,
    x_session,  # noqa: F401 - the module's X session fixture, used by `app` below
)
from tests.e2e.test_rug_pull import RUG_PULL_SERVER, pin_entries

pytestmark = [pytest.mark.e2e, pytest.mark.gui]


@pytest.fixture
def app(x_session: XSession, home: ApproverHome, tmp_path: Path) -> Iterator[App]:  # noqa: F811
    policy = home.write_policy({"effect": "allow", "server": "notes", "tool": "read_note", "id": "read-notes"})
    with running_app(x_session, home, tmp_path, "serve", "--policy", str(policy)) as started:
        yield started


async def test_the_person_sees_the_rug_pull_and_accepting_it_restores_the_rule(app: App) -> None:
    command = app.home.proxy_command("notes", sys.executable, RUG_PULL_SERVER)
    params = StdioServerParameters(command=command[0], args=command[1:], env=app.home.env)
    async with Client(params, mode="legacy") as client:
        await client.list_tools()
        assert not (await client.call_tool("read_note", {"title": "groceries"})).is_error  # the rule, no dialog
        await client.list_tools()  # redefined now
        result, _ = await asyncio.gather(
            client.call_tool("read_note", {"title": "groceries"}),
            answer_with(app.env, "ctrl+Return", shot="rug-pull-dialog.png"),
        )
        assert not result.is_error, text_of(result)
        again = await client.call_tool("read_note", {"title": "shopping"})  # accepted: the rule allows it again
        assert not again.is_error
    assert [(e["decision"], e["actor"]) for e in app.home.log()] == [
        ("allow", "rule"),
        ("allow", "human"),
        ("allow", "rule"),
    ]
    events = [(e["event"], e["accepted"]) for e in pin_entries(app.home) if e["tool"] == "read_note"]
    assert events == [("first-seen", True), ("changed", False), ("accepted", True)]
    accepted = pin_entries(app.home)[-1]
    assert "IMPORTANT" in json.loads(accepted["definition"])["description"]
