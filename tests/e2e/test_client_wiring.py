"""`approver clients`, `install`, `uninstall` on configuration files shaped as the clients' docs show them, in a
temporary HOME; then the clients' own CLIs read what install wrote, and a real call through an installed entry
is gated by the service."""

from __future__ import annotations

import json
import os
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp_types import TextContent

from approver.clients import wiring
from approver.clients.catalog import Environment
from approver.clients.entries import Launcher
from approver.platform.paths import Home
from tests.conftest import APPROVER, NODE, NPM_MODULES, SERVER_EVERYTHING, ApproverHome, require_npm_tools

pytestmark = pytest.mark.e2e

CLAUDE = NPM_MODULES / ".bin" / "claude"
GEMINI = NPM_MODULES / ".bin" / "gemini"
CODEX = NPM_MODULES / ".bin" / "codex"


class Clients:
    """A user's home with MCP clients configured, and `approver` run against it."""

    def __init__(self, root: Path, home: ApproverHome) -> None:
        self.home_dir = root / "home"
        self.project = root / "project"
        self.approver_home = home
        for folder in (self.home_dir / ".config", self.project):
            folder.mkdir(parents=True)

    @property
    def env(self) -> dict[str, str]:
        return {
            **self.approver_home.env,
            "HOME": str(self.home_dir),
            "XDG_CONFIG_HOME": str(self.home_dir / ".config"),
            "PATH": f"{NODE.parent}{os.pathsep}{os.environ['PATH']}",
        }

    def write(self, relative: str, text: str | bytes) -> Path:
        path = self.home_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        return path

    def approver(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(*APPROVER, *args, timeout=60)

    def run(self, *command: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(part) for part in command],
            env=self.env,
            cwd=self.project,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )


@pytest.fixture
def clients(tmp_path: Path, home: ApproverHome) -> Clients:
    return Clients(tmp_path, home)


def _server() -> list[str]:
    return [str(NODE), str(SERVER_EVERYTHING), "stdio"]


def configure(clients: Clients) -> dict[str, Path]:
    """Configurations in the shapes each client's documentation shows: comments in the JSONC and TOML ones,
    keys we do not know, a remote entry, env values."""
    node, script, mode = (json.dumps(part) for part in _server())
    return {
        "claude-code": clients.write(
            ".claude.json",
            '{\n  "numStartups": 1,\n  "mcpServers": {\n    "everything": {\n      "type": "stdio",\n'
            f'      "command": {node},\n      "args": [{script}, {mode}],\n'
            '      "env": {"EXAMPLE_TOKEN": "t-1"}\n    },\n'
            '    "remote": {"type": "http", "url": "http://127.0.0.1:9/mcp", "headers": {"X-Team": "a"}}\n  },\n'
            '  "projects": {\n    "/elsewhere": {"allowedTools": [], "mcpServers": {"git": {"command": "uvx", '
            '"args": ["mcp-server-git"]}}}\n  }\n}\n',
        ),
        "gemini": clients.write(
            ".gemini/settings.json",
            "{\n  // Gemini CLI lists servers only in a trusted folder\n"
            '  "security": {"folderTrust": {"enabled": false}},\n  "mcpServers": {\n    "everything": {\n'
            f'      "command": {node},\n      "args": [\n        {script},\n        {mode}\n      ],\n'
            '      "env": {"EXAMPLE_TOKEN": "$TOKEN"}, /* expanded by Gemini */\n'
            '      "timeout": 30000 // milliseconds\n    },\n'
            '    "remote": {"httpUrl": "http://127.0.0.1:9/mcp"}\n  }\n}\n',
        ),
        "codex": clients.write(
            ".codex/config.toml",
            '# Codex CLI\nmodel = "gpt-5"\n\n[mcp_servers.everything]  # the reference server\n'
            f"command = {node}\nargs = [{script}, {mode}]  # stdio mode\n"
            'env = { EXAMPLE_TOKEN = "t-1" }\nstartup_timeout_sec = 20\n\n'
            '[mcp_servers.remote]\nurl = "http://127.0.0.1:9/mcp"\n',
        ),
        "vscode": clients.write(
            ".config/Code/User/mcp.json",
            '{\r\n\t// VS Code: "servers", JSONC\r\n\t"servers": {\r\n\t\t"time": {\r\n\t\t\t"type": "stdio",\r\n'
            '\t\t\t"command": "uvx",\r\n\t\t\t"args": ["mcp-server-time", "--local-timezone=Europe/Paris"],\r\n'
            '\t\t\t"envFile": "${workspaceFolder}/.env",\r\n\t\t},\r\n\t},\r\n\t"inputs": [],\r\n}\r\n',
        ),
        "zed": clients.write(
            ".config/zed/settings.json",
            '// Zed settings\n{\n  "theme": "One Dark",\n  "context_servers": {\n    "café": {\n'
            '      "source": "custom",\n      "command": "caf\\u00e9-server",\n      "args": [],\n'
            '      "env": {}\n    }\n  }\n}\n',
        ),
    }


def test_install_twice_then_uninstall_gives_every_file_back_byte_for_byte(clients: Clients) -> None:
    files = configure(clients)
    broken = clients.write(".cursor/mcp.json", '{\n  "mcpServers": {\n    "a": {"command": "x",,}\n  }\n}\n')
    originals = {path: path.read_bytes() for path in [*files.values(), broken]}

    listed = clients.approver("clients", "--json")
    assert listed.returncode == 1  # the broken file
    found = {report["client"]: report for report in json.loads(listed.stdout)}
    assert {server["name"]: server["state"] for server in found["claude-code"]["servers"]} == {
        "everything": "unprotected",
        "remote": "unprotected",
        "git": "unprotected",
    }
    remote = next(server for server in found["claude-code"]["servers"] if server["name"] == "remote")
    assert remote["transport"] == "http"
    assert "remote" in remote["reason"]
    assert found["cursor"]["error"].startswith(f"{broken}:3:")

    installed = clients.approver("install", "--all")
    assert installed.returncode == 1, installed.stderr
    [error] = installed.stderr.splitlines()
    assert error.startswith(f"approver: {broken}:3:") and "left untouched" in error
    assert broken.read_bytes() == originals[broken]
    for client in ("claude-code", "gemini", "codex", "vscode", "zed"):
        assert f"{client}: {files[client]}: wrapped" in installed.stdout
        assert files[client].read_bytes() != originals[files[client]]

    claude = json.loads(files["claude-code"].read_bytes())
    entry = claude["mcpServers"]["everything"]
    assert entry["args"][entry["args"].index("proxy") :] == ["proxy", "--name", "everything", "--", *_server()]
    assert entry["env"] == {"EXAMPLE_TOKEN": "t-1", "APPROVER_HOME": str(clients.approver_home.root)}
    assert entry["type"] == "stdio"
    assert claude["mcpServers"]["remote"] == {
        "type": "http",
        "url": "http://127.0.0.1:9/mcp",
        "headers": {"X-Team": "a"},
    }
    assert claude["projects"]["/elsewhere"]["mcpServers"]["git"]["args"][-3:] == ["--", "uvx", "mcp-server-git"]
    gemini_text = files["gemini"].read_text()
    assert "// Gemini CLI lists servers only in a trusted folder" in gemini_text
    assert "/* expanded by Gemini */" in gemini_text and "// milliseconds" in gemini_text
    codex = tomllib.loads(files["codex"].read_text())
    assert codex["mcp_servers"]["everything"]["startup_timeout_sec"] == 20
    assert "# the reference server" in files["codex"].read_text()
    vscode = files["vscode"].read_bytes()
    assert b"\n" not in vscode.replace(b"\r\n", b"")  # still CRLF throughout
    assert b'\t\t\t"envFile": "${workspaceFolder}/.env",\r\n\t\t},' in vscode

    wrapped = {path: path.read_bytes() for path in files.values()}
    again = clients.approver("install", "--all")
    assert "nothing to change" in again.stdout
    assert {path: path.read_bytes() for path in files.values()} == wrapped  # never wrapped twice

    listed = json.loads(clients.approver("clients", "--json").stdout)
    states = {(report["client"], server["name"]): server["state"] for report in listed for server in report["servers"]}
    assert states[("claude-code", "everything")] == "protected"
    assert states[("claude-code", "remote")] == "unprotected"

    removed = clients.approver("uninstall", "--all")
    assert removed.returncode == 1  # the broken file again
    for path, original in originals.items():
        assert path.read_bytes() == original, path


def test_dry_run_prints_a_diff_and_writes_nothing(clients: Clients) -> None:
    files = configure(clients)
    before = {path: path.read_bytes() for path in files.values()}
    shown = clients.approver("install", "codex", "gemini", "--dry-run")
    assert shown.returncode == 0, shown.stderr
    assert f"--- {files['codex']} (now)" in shown.stdout
    assert f"+++ {files['gemini']} (install)" in shown.stdout
    assert '-command = "' in shown.stdout
    assert "claude" not in shown.stdout
    assert {path: path.read_bytes() for path in files.values()} == before
    assert not (clients.approver_home.root / "data" / "clients").exists()


def test_only_the_named_servers_are_wrapped_and_put_back(clients: Clients) -> None:
    files = configure(clients)
    original = files["claude-code"].read_bytes()
    mistyped = clients.approver("install", "claude-code", "--server", "gti")
    assert mistyped.returncode == 1
    assert "no server named 'gti' in claude-code" in mistyped.stderr
    assert files["claude-code"].read_bytes() == original
    assert clients.approver("install", "claude-code", "--server", "git").returncode == 0
    claude = json.loads(files["claude-code"].read_bytes())
    assert claude["mcpServers"]["everything"]["command"] == str(NODE)
    assert "proxy" in claude["projects"]["/elsewhere"]["mcpServers"]["git"]["args"]
    assert clients.approver("install", "claude-code").returncode == 0
    assert clients.approver("uninstall", "claude-code", "--server", "everything").returncode == 0
    claude = json.loads(files["claude-code"].read_bytes())
    assert claude["mcpServers"]["everything"]["command"] == str(NODE)
    assert "APPROVER_HOME" not in claude["mcpServers"]["everything"]["env"]
    assert clients.approver("uninstall", "claude-code").returncode == 0
    assert files["claude-code"].read_bytes() == original


def test_a_file_its_client_rewrote_since_keeps_the_clients_changes(clients: Clients) -> None:
    """Claude Code rewrites ~/.claude.json as it runs: uninstall then puts our entries back as they were and
    keeps everything else the client wrote."""
    files = configure(clients)
    original = json.loads(files["claude-code"].read_bytes())
    assert clients.approver("install", "claude-code").returncode == 0
    rewritten = json.loads(files["claude-code"].read_bytes())
    rewritten["numStartups"] = 2
    rewritten["tipsHistory"] = {"shift-enter": 1}
    files["claude-code"].write_text(json.dumps(rewritten, indent=2))
    removed = clients.approver("uninstall", "claude-code")
    assert removed.returncode == 0, removed.stderr
    assert json.loads(files["claude-code"].read_bytes()) == {
        **original,
        "numStartups": 2,
        "tipsHistory": {"shift-enter": 1},
    }
    assert files["claude-code"].read_text() == json.dumps(
        {**original, "numStartups": 2, "tipsHistory": {"shift-enter": 1}}, indent=2
    )


def test_a_file_changed_between_plan_and_write_is_not_overwritten(clients: Clients) -> None:
    files = configure(clients)
    environment = Environment(clients.home_dir, "linux", {"XDG_CONFIG_HOME": str(clients.home_dir / ".config")}, ())
    [report] = wiring.scan(environment, ["codex"])
    change = wiring.plan_install(report, Launcher("/opt/approver"), None)
    assert change is not None
    concurrent = files["codex"].read_bytes() + b"\n# written by Codex meanwhile\n"
    files["codex"].write_bytes(concurrent)
    record = wiring.WiringRecord(Home(clients.approver_home.root / "config", clients.approver_home.root / "data",
                                      clients.approver_home.root / "run", explicit=True))  # fmt: skip
    with pytest.raises(wiring.FileChangedMeanwhile):
        wiring.apply(change, record)
    assert files["codex"].read_bytes() == concurrent
    assert not list(files["codex"].parent.glob("*.tmp"))


def test_doctor_reports_servers_not_protected(clients: Clients) -> None:
    configure(clients)
    before = clients.approver("doctor")
    assert "[warn] clients: " in before.stdout and "codex everything (starts the server directly)" in before.stdout
    assert clients.approver("install", "--all").returncode == 0
    after = clients.approver("doctor")
    assert "codex everything" not in after.stdout
    assert "codex remote (a remote server" in after.stdout


def _text(result: Any) -> str:
    [content] = result.content
    assert isinstance(content, TextContent)
    return content.text


async def test_the_clients_own_clis_run_what_install_wrote_and_calls_are_gated(
    clients: Clients, start_service: Any
) -> None:
    require_npm_tools()
    if not (CLAUDE.exists() and GEMINI.exists() and CODEX.exists()):
        pytest.fail("the clients' CLIs are missing: run scripts/test.sh, which installs them")
    files = configure(clients)
    originals = {client: files[client].read_bytes() for client in ("gemini", "codex")}
    start_service({"effect": "allow", "server": "everything", "tool": "echo", "id": "echo-ok"})
    installed = clients.approver("install", "claude-code", "gemini", "codex")
    assert installed.returncode == 0, installed.stderr

    claude = clients.run(CLAUDE, "mcp", "list")
    assert claude.returncode == 0, claude.stderr
    [line] = [line for line in claude.stdout.splitlines() if line.startswith("everything:")]
    assert "proxy --name everything --" in line and "✔ Connected" in line, claude.stdout

    gemini = clients.run(GEMINI, "mcp", "list")
    assert gemini.returncode == 0, gemini.stderr
    listing = gemini.stdout + gemini.stderr  # it prints the list on stderr
    [line] = [line for line in listing.splitlines() if "everything:" in line]
    assert "proxy --name everything --" in line and "- Connected" in line and "✓" in line, listing

    codex = clients.run(CODEX, "mcp", "list")
    assert codex.returncode == 0, codex.stderr
    [line] = [line for line in codex.stdout.splitlines() if line.startswith("everything ")]
    assert "proxy --name everything --" in line and str(SERVER_EVERYTHING) in line

    # A real call through the entry exactly as installed: the service decides.
    entry = tomllib.loads(files["codex"].read_text())["mcp_servers"]["everything"]
    parameters = StdioServerParameters(command=entry["command"], args=entry["args"], env=entry["env"])
    async with Client(parameters, mode="legacy") as session:
        await session.list_tools()  # as clients do: the proxy checks arguments against the listed schemas
        allowed = await session.call_tool("echo", {"message": "through the installed entry"})
        assert not allowed.is_error and _text(allowed) == "Echo: through the installed entry"
        denied = await session.call_tool("get-env", {})
        assert denied.is_error and "no approver present" in _text(denied)
    decided = [(entry["tool"], entry["decision"]) for entry in clients.approver_home.log()]
    assert decided == [("echo", "allow"), ("get-env", "deny")]

    removed = clients.approver("uninstall", "--all")
    assert removed.returncode == 0, removed.stderr
    for name, original in originals.items():
        assert files[name].read_bytes() == original, name
    claude_config = json.loads(files["claude-code"].read_bytes())  # Claude Code rewrote it as it ran
    assert claude_config["mcpServers"]["everything"] == {
        "type": "stdio",
        "command": str(NODE),
        "args": _server()[1:],
        "env": {"EXAMPLE_TOKEN": "t-1"},
    }


def test_a_lookalike_wrapper_or_another_home_is_not_counted_as_protected(clients: Clients, tmp_path: Path) -> None:
    """An agent can write an entry that looks wrapped — its own program named `approver`, which starts the
    server directly, or our approver pointed at a home whose service the agent runs — so that doctor and
    `approver clients` would call the server protected. Neither is."""
    lookalike = tmp_path / "agent" / "approver"
    lookalike.parent.mkdir()
    lookalike.write_text('#!/bin/sh\nshift 4\nexec "$@"\n')  # drops `proxy --name NAME --`: no gate at all
    lookalike.chmod(0o755)
    clients.write(
        ".cursor/mcp.json",
        json.dumps(
            {
                "mcpServers": {
                    "lookalike": {"command": str(lookalike), "args": ["proxy", "--name", "fs", "--", *_server()]},
                }
            }
        ),
    )
    assert clients.approver("install", "cursor").returncode == 0  # nothing it may wrap; the lookalike stays
    ours = json.loads((clients.home_dir / ".cursor" / "mcp.json").read_bytes())["mcpServers"]["lookalike"]
    assert ours["command"] == str(lookalike)
    clients.write(".cursor/mcp.json", json.dumps({"mcpServers": {"lookalike": ours, "elsewhere": {"command": "npx"}}}))
    assert clients.approver("install", "cursor").returncode == 0
    config = json.loads((clients.home_dir / ".cursor" / "mcp.json").read_bytes())
    config["mcpServers"]["elsewhere"]["env"]["APPROVER_HOME"] = str(tmp_path / "agents-home")
    clients.write(".cursor/mcp.json", json.dumps(config))

    [report] = json.loads(clients.approver("clients", "--json").stdout)
    states = {server["name"]: (server["state"], server["reason"]) for server in report["servers"]}
    assert states["lookalike"][0] == "cannot be protected"
    assert f"it runs {lookalike}, not this installation's approver" in states["lookalike"][1]
    assert states["elsewhere"][0] == "cannot be protected"
    assert f"APPROVER_HOME {tmp_path / 'agents-home'}" in states["elsewhere"][1]
    doctor = clients.approver("doctor").stdout
    assert "cursor lookalike (it runs" in doctor and "cursor elsewhere (its calls are decided by" in doctor

    assert clients.approver("uninstall", "cursor").returncode == 0  # both are still unwrapped on request
    servers = json.loads((clients.home_dir / ".cursor" / "mcp.json").read_bytes())["mcpServers"]
    assert servers["lookalike"] == {"command": _server()[0], "args": _server()[1:]}
    assert servers["elsewhere"]["command"] == "npx"


def test_a_client_writing_between_plan_and_write_is_kept_and_we_plan_again(clients: Clients) -> None:
    files = configure(clients)
    environment = Environment(clients.home_dir, "linux", {"XDG_CONFIG_HOME": str(clients.home_dir / ".config")}, ())
    [report] = wiring.scan(environment, ["codex"])
    approver_home = Home(clients.approver_home.root / "config", clients.approver_home.root / "data",
                         clients.approver_home.root / "run", explicit=True)  # fmt: skip
    record = wiring.WiringRecord(approver_home)
    plans = []

    def plan_while_codex_writes(now: wiring.ConfigFileReport) -> wiring.FileChange | None:
        change = wiring.plan_install(now, Launcher("/opt/approver"), None)
        plans.append(change)
        if len(plans) == 1:  # Codex saves its file right after we read it
            files["codex"].write_bytes(files["codex"].read_bytes() + b'\n[mcp_servers.added]\ncommand = "uvx"\n')
        return change

    outcome = wiring.change_file(report, plan_while_codex_writes, record)
    assert outcome.written and outcome.error is None
    assert len(plans) == 2
    written = tomllib.loads(files["codex"].read_text())["mcp_servers"]
    assert written["added"]["args"] == ["proxy", "--name", "added", "--", "uvx"]
    assert written["everything"]["command"] == "/opt/approver"
    private = clients.approver_home.root / "data" / "clients"
    assert private.stat().st_mode & 0o777 == 0o700
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in (private / "originals").iterdir())


def test_a_symlinked_config_is_written_through_and_keeps_its_mode(clients: Clients, tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles" / "mcp.json"
    dotfiles.parent.mkdir()
    dotfiles.write_text('{"mcpServers": {"t": {"command": "uvx", "args": ["mcp-server-time"]}}}\n')
    dotfiles.chmod(0o640)
    link = clients.home_dir / ".cursor" / "mcp.json"
    link.parent.mkdir()
    link.symlink_to(dotfiles)
    original = dotfiles.read_bytes()
    assert clients.approver("install", "cursor").returncode == 0
    assert link.is_symlink() and link.resolve() == dotfiles
    assert dotfiles.stat().st_mode & 0o777 == 0o640
    assert "proxy" in json.loads(dotfiles.read_bytes())["mcpServers"]["t"]["args"]
    assert clients.approver("uninstall", "cursor").returncode == 0
    assert link.is_symlink() and dotfiles.read_bytes() == original


def test_a_read_only_config_is_left_as_it_is(clients: Clients) -> None:
    files = configure(clients)
    files["codex"].chmod(0o444)
    original = files["codex"].read_bytes()
    refused = clients.approver("install", "codex", "gemini")
    assert refused.returncode == 1
    assert f"approver: {files['codex']}: not written: it is read-only" in refused.stderr
    assert files["codex"].read_bytes() == original
    assert "gemini: " in refused.stdout and "wrapped everything" in refused.stdout
