"""Attacks on the argument matchers, end to end: the agent writes every argument, so each test crafts one the
way an agent would, sends it with the official SDK client through a real `approver proxy` to a real server
(the Python SDK server, whose tools really open files, or server-filesystem), with a real headless service
deciding, and proves the call was denied and the server never read what the rule protects.

Each test also asks `approver rules check` about the same call: it must give the same safe answer."""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp_types import TextContent

from tests.conftest import NODE, SDK_SERVER, SERVER_FILESYSTEM, ApproverHome, require_npm_tools

pytestmark = pytest.mark.e2e

SECRET = "TOP-SECRET-4711"
PUBLIC = "public-notes-0815"


def text_of(result: Any) -> str:
    return "\n".join(content.text for content in result.content if isinstance(content, TextContent))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """work/project/notes.txt (public); work/outside/secret.txt (secret); work/project/link -> work/outside/inner."""
    work = tmp_path / "work"
    project, outside = work / "project", work / "outside"
    (outside / "inner").mkdir(parents=True)
    project.mkdir()
    (project / "notes.txt").write_text(PUBLIC)
    (outside / "secret.txt").write_text(SECRET)
    (project / "link").symlink_to(outside / "inner", target_is_directory=True)
    return work


@asynccontextmanager
async def sdk_client(home: ApproverHome) -> AsyncIterator[Client]:
    command = home.proxy_command("sdk", sys.executable, SDK_SERVER)
    async with Client(StdioServerParameters(command=command[0], args=command[1:], env=home.env)) as client:
        yield client


@asynccontextmanager
async def filesystem_client(home: ApproverHome, root: Path) -> AsyncIterator[Client]:
    require_npm_tools()
    command = home.proxy_command("fs", NODE, SERVER_FILESYSTEM, root)
    async with Client(StdioServerParameters(command=command[0], args=command[1:], env=home.env)) as client:
        yield client


def rules_check(home: ApproverHome, server: str, tool: str, arguments: dict[str, Any]) -> str:
    checked = home.approver(
        "rules", "check", "--policy", str(home.policy_file), "--server", server, "--tool", tool,
        "--args", json.dumps(arguments),
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    return str(json.loads(checked.stdout)["decision"])


def assert_denied_unread(result: Any) -> None:
    assert result.is_error, text_of(result)
    assert SECRET not in text_of(result)
    assert "MCP Approver" in text_of(result)  # the proxy's denial, not the server's own error


# -- 1. `under` and symlinks -----------------------------------------------------------------------------------


async def test_an_allow_under_a_folder_never_lets_a_symlink_and_dotdot_escape(
    home: ApproverHome, start_service: Any, tree: Path
) -> None:
    project = tree / "project"
    start_service(
        {
            "effect": "allow",
            "schema": "any",
            "server": "sdk",
            "tool": "read_file",
            "args": {"/path": {"under": str(project)}},
        }
    )
    escape = {"path": f"{project}/link/../secret.txt"}  # the OS follows link first: work/outside/secret.txt
    async with sdk_client(home) as client:
        inside = await client.call_tool("read_file", {"path": str(project / "notes.txt")})
        assert text_of(inside) == PUBLIC  # the rule allows what it should, and the server really reads
        assert_denied_unread(await client.call_tool("read_file", escape))
    assert rules_check(home, "sdk", "read_file", escape) == "ask"


async def test_a_deny_under_a_folder_catches_the_path_the_os_opens(
    home: ApproverHome, start_service: Any, tree: Path
) -> None:
    start_service(
        {"effect": "allow", "schema": "any", "server": "sdk", "tool": "read_file"},
        {"effect": "deny", "tool": "read_file", "args": {"/path": {"under": str(tree / "outside")}}},
    )
    escape = {"path": f"{tree}/project/link/../secret.txt"}
    async with sdk_client(home) as client:
        assert_denied_unread(await client.call_tool("read_file", escape))
    assert rules_check(home, "sdk", "read_file", escape) == "deny"


async def test_a_deny_under_a_folder_catches_the_path_node_resolves_as_text_first(
    home: ApproverHome, start_service: Any, tree: Path
) -> None:
    # server-filesystem drops link/.. as text (path.resolve) before it looks at the disk, so it opens
    # project/danger/secret.txt, where the OS would have followed the link to outside/danger/secret.txt
    danger = tree / "project" / "danger"
    danger.mkdir()
    (danger / "secret.txt").write_text(SECRET)
    start_service(
        {"effect": "allow", "schema": "any", "server": "fs"},
        {"effect": "deny", "server": "fs", "args": {"/path": {"under": str(danger)}}},
    )
    spelled = {"path": f"{tree}/project/link/../danger/secret.txt"}
    async with filesystem_client(home, tree) as client:
        assert PUBLIC in text_of(await client.call_tool("read_text_file", {"path": f"{tree}/project/notes.txt"}))
        assert_denied_unread(await client.call_tool("read_text_file", spelled))
    assert rules_check(home, "fs", "read_text_file", spelled) == "deny"


# -- 2. Unicode equivalence ------------------------------------------------------------------------------------


async def test_the_nfd_spelling_of_a_folder_cannot_slip_past_an_nfc_deny(
    home: ApproverHome, start_service: Any, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    private, public = root / unicodedata.normalize("NFC", "café"), root / unicodedata.normalize("NFC", "résumé")
    private.mkdir(parents=True)
    public.mkdir()
    (private / "secret.txt").write_text(SECRET)
    (public / "notes.txt").write_text(PUBLIC)
    start_service(
        {"effect": "allow", "schema": "any", "server": "fs"},
        {"effect": "deny", "server": "fs", "args": {"/path": {"under": str(private)}}},
    )
    attack = {"path": unicodedata.normalize("NFD", str(private / "secret.txt"))}
    async with filesystem_client(home, root) as client:
        # server-filesystem does open a file by a Unicode-equivalent spelling of its name
        equivalent = await client.call_tool(
            "read_text_file", {"path": unicodedata.normalize("NFD", str(public / "notes.txt"))}
        )
        assert PUBLIC in text_of(equivalent)
        assert_denied_unread(await client.call_tool("read_text_file", attack))
    assert rules_check(home, "fs", "read_text_file", attack) == "deny"


# -- 3. Arguments in another shape -----------------------------------------------------------------------------


async def test_an_array_sent_as_json_text_cannot_slip_past_a_deny_on_its_element(
    home: ApproverHome, start_service: Any, tree: Path
) -> None:
    secret = str(tree / "outside" / "secret.txt")
    start_service(
        {"effect": "allow", "schema": "any", "server": "sdk"},
        {"effect": "deny", "tool": "read_multiple_files", "args": {"/paths/0": {"under": str(tree / "outside")}}},
    )
    attack = {"paths": json.dumps([secret])}
    async with sdk_client(home) as client:
        public = await client.call_tool("read_multiple_files", {"paths": json.dumps([str(tree / "project/notes.txt")])})
        assert PUBLIC in text_of(public)  # the SDK server parses the text back into a list and reads the file
        assert_denied_unread(await client.call_tool("read_multiple_files", {"paths": [secret]}))
        assert_denied_unread(await client.call_tool("read_multiple_files", attack))
    assert rules_check(home, "sdk", "read_multiple_files", attack) == "deny"


async def test_a_deny_on_any_element_catches_every_position_and_shape(
    home: ApproverHome, start_service: Any, tree: Path
) -> None:
    notes, secret = str(tree / "project" / "notes.txt"), str(tree / "outside" / "secret.txt")
    start_service(
        {"effect": "allow", "schema": "any", "server": "sdk"},
        {"effect": "deny", "tool": "read_multiple_files", "args": {"/paths/*": {"under": str(tree / "outside")}}},
    )
    attacks: list[dict[str, Any]] = [{"paths": [notes, secret]}, {"paths": json.dumps([notes, secret])}]
    async with sdk_client(home) as client:
        assert PUBLIC in text_of(await client.call_tool("read_multiple_files", {"paths": [notes]}))
        for attack in attacks:
            assert_denied_unread(await client.call_tool("read_multiple_files", attack))
    for attack in attacks:
        assert rules_check(home, "sdk", "read_multiple_files", attack) == "deny"


# -- 4. Regex and glob -----------------------------------------------------------------------------------------


async def test_a_newline_cannot_slip_past_a_regex_deny(home: ApproverHome, start_service: Any) -> None:
    start_service(
        {"effect": "allow", "schema": "any", "server": "sdk", "tool": "echo"},
        {"effect": "deny", "tool": "echo", "args": {"/message": {"regex": ".*rm -rf.*"}}},
    )
    attack = {"message": "echo hi\nrm -rf /tmp/x"}
    async with sdk_client(home) as client:
        assert text_of(await client.call_tool("echo", {"message": "echo hi"})) == "echo hi"
        denied = await client.call_tool("echo", attack)
        assert denied.is_error
        assert "rm -rf" not in text_of(denied)  # the server never echoed it
    assert rules_check(home, "sdk", "echo", attack) == "deny"


async def test_dotdot_cannot_slip_out_of_an_allow_glob(home: ApproverHome, start_service: Any, tree: Path) -> None:
    start_service(
        {
            "effect": "allow",
            "schema": "any",
            "server": "sdk",
            "tool": "read_file",
            "args": {"/path": {"glob": f"{tree}/project/*"}},
        }
    )
    escape = {"path": f"{tree}/project/../outside/secret.txt"}
    async with sdk_client(home) as client:
        assert text_of(await client.call_tool("read_file", {"path": f"{tree}/project/notes.txt"})) == PUBLIC
        assert_denied_unread(await client.call_tool("read_file", escape))
    assert rules_check(home, "sdk", "read_file", escape) == "ask"


async def test_dotdot_cannot_slip_past_a_deny_glob(home: ApproverHome, start_service: Any, tree: Path) -> None:
    start_service(
        {"effect": "allow", "schema": "any", "server": "sdk", "tool": "read_file"},
        {"effect": "deny", "tool": "read_file", "args": {"/path": {"glob": f"{tree}/outside/*"}}},
    )
    escape = {"path": f"{tree}/project/../outside/secret.txt"}
    async with sdk_client(home) as client:
        assert_denied_unread(await client.call_tool("read_file", escape))
    assert rules_check(home, "sdk", "read_file", escape) == "deny"
