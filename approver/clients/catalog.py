"""Where each MCP client keeps its servers, per OS. Pure: an environment in, candidate files out.

The facts come from each client's documentation (cited per entry); ToolHive's and Docker's client catalogues
were read for comparison. Every path derives from HOME, XDG_CONFIG_HOME and APPDATA as given, so tests (and
users with unusual homes) get the paths the client itself would use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from approver.clients.documents import Container, Format


@dataclass(frozen=True)
class Environment:
    home: PurePath
    platform: str  # sys.platform: linux, darwin, win32
    variables: Mapping[str, str]
    projects: Sequence[PurePath] = ()  # folders whose project-scoped files count (default: the current one)

    def variable(self, name: str) -> PurePath | None:
        value = self.variables.get(name)
        return type(self.home)(value) if value else None  # a Windows path stays one in tests on Linux

    @property
    def config_home(self) -> PurePath:
        """Where desktop apps keep their settings: ~/.config (XDG), ~/Library/Application Support, %APPDATA%."""
        if self.platform == "darwin":
            return self.home / "Library" / "Application Support"
        if self.platform == "win32":
            return self.variable("APPDATA") or self.home / "AppData" / "Roaming"
        return self.variable("XDG_CONFIG_HOME") or self.home / ".config"

    @property
    def xdg_config_home(self) -> PurePath:
        """Tools that use ~/.config on every Unix (Zed) and %APPDATA% on Windows."""
        if self.platform == "win32":
            return self.config_home
        return self.variable("XDG_CONFIG_HOME") or self.home / ".config"


@dataclass(frozen=True)
class Client:
    id: str
    label: str


@dataclass(frozen=True)
class ConfigLocation:
    client: Client
    path: PurePath
    file_format: Format
    containers: tuple[Container, ...]
    scope: str  # user or project
    url_transport: str = "http"  # what a bare "url" means to this client


CLAUDE_DESKTOP = Client("claude-desktop", "Claude Desktop")
CLAUDE_CODE = Client("claude-code", "Claude Code")
CURSOR = Client("cursor", "Cursor")
VSCODE = Client("vscode", "VS Code")
VSCODE_INSIDERS = Client("vscode-insiders", "VS Code Insiders")
WINDSURF = Client("windsurf", "Windsurf")
CLINE = Client("cline", "Cline")
ROO_CODE = Client("roo-code", "Roo Code")
GEMINI = Client("gemini", "Gemini CLI")
CODEX = Client("codex", "Codex CLI")
ZED = Client("zed", "Zed")
KIRO = Client("kiro", "Kiro")
LM_STUDIO = Client("lm-studio", "LM Studio")
AMAZON_Q = Client("amazon-q", "Amazon Q Developer CLI")

CLIENTS = (
    CLAUDE_DESKTOP, CLAUDE_CODE, CURSOR, VSCODE, VSCODE_INSIDERS, WINDSURF, CLINE, ROO_CODE, GEMINI, CODEX, ZED,
    KIRO, LM_STUDIO, AMAZON_Q,
)  # fmt: skip

MCP_SERVERS: tuple[Container, ...] = (("mcpServers",),)


def locations(environment: Environment) -> list[ConfigLocation]:
    """Every file each client may read its servers from, whether or not it exists."""
    home, config = environment.home, environment.config_home
    found: list[ConfigLocation] = []

    def add(client: Client, path: PurePath, file_format: Format, containers: tuple[Container, ...] = MCP_SERVERS,
            scope: str = "user") -> None:  # fmt: skip
        url_transport = "sse" if client is GEMINI else "http"  # Gemini CLI: url is SSE, httpUrl streamable HTTP
        found.append(ConfigLocation(client, path, file_format, containers, scope, url_transport))

    # modelcontextprotocol.io "Connect to local MCP servers": claude_desktop_config.json in Claude's folder of
    # Application Support (macOS) or %APPDATA% (Windows); Linux builds use ~/.config/Claude.
    add(CLAUDE_DESKTOP, config / "Claude" / "claude_desktop_config.json", "json")
    # docs.anthropic.com Claude Code "MCP": user and local scopes live in ~/.claude.json (top-level mcpServers,
    # and projects.<path>.mcpServers); the project scope in the project's .mcp.json. CLAUDE_CONFIG_DIR moves it.
    claude_dir = environment.variable("CLAUDE_CONFIG_DIR") or home
    add(CLAUDE_CODE, claude_dir / ".claude.json", "json", (("mcpServers",), ("projects", "*", "mcpServers")))
    # docs.cursor.com "Model Context Protocol": ~/.cursor/mcp.json, and .cursor/mcp.json in a project.
    add(CURSOR, home / ".cursor" / "mcp.json", "jsonc")
    # code.visualstudio.com "MCP servers": the user profile's mcp.json and a workspace's .vscode/mcp.json, both
    # JSONC with servers under "servers" (older releases: "mcp": {"servers"} in settings.json).
    for client, folder in ((VSCODE, "Code"), (VSCODE_INSIDERS, "Code - Insiders")):
        add(client, config / folder / "User" / "mcp.json", "jsonc", (("servers",),))
        add(client, config / folder / "User" / "settings.json", "jsonc", (("mcp", "servers"),))
    # docs.windsurf.com "Cascade MCP": ~/.codeium/windsurf/mcp_config.json.
    add(WINDSURF, home / ".codeium" / "windsurf" / "mcp_config.json", "jsonc")
    # docs.cline.bot: the VS Code extension's global storage (saoudrizwan.claude-dev) and, for the CLI and newer
    # releases, ~/.cline/data/settings/cline_mcp_settings.json. Roo Code: its own global storage.
    add(CLINE, config / "Code" / "User" / "globalStorage" / "saoudrizwan.claude-dev" / "settings"
        / "cline_mcp_settings.json", "jsonc")  # fmt: skip
    add(CLINE, home / ".cline" / "data" / "settings" / "cline_mcp_settings.json", "jsonc")
    add(ROO_CODE, config / "Code" / "User" / "globalStorage" / "rooveterinaryinc.roo-cline" / "settings"
        / "mcp_settings.json", "jsonc")  # fmt: skip
    # geminicli.com "MCP servers with the Gemini CLI": ~/.gemini/settings.json, mcpServers (comments allowed).
    add(GEMINI, home / ".gemini" / "settings.json", "jsonc")
    # developers.openai.com Codex "Model Context Protocol": ~/.codex/config.toml ($CODEX_HOME), [mcp_servers.NAME].
    codex_home = environment.variable("CODEX_HOME") or home / ".codex"
    add(CODEX, codex_home / "config.toml", "toml", (("mcp_servers",),))
    # zed.dev "Model Context Protocol" and "Configuring Zed": ~/.config/zed/settings.json (macOS and Linux,
    # $XDG_CONFIG_HOME honoured), %APPDATA%\Zed\settings.json on Windows; servers under "context_servers".
    zed_folder = "Zed" if environment.platform == "win32" else "zed"
    add(ZED, environment.xdg_config_home / zed_folder / "settings.json", "jsonc", (("context_servers",),))
    # kiro.dev "MCP configuration": ~/.kiro/settings/mcp.json. lmstudio.ai "Use MCP servers": ~/.lmstudio/mcp.json.
    # docs.aws.amazon.com Amazon Q Developer CLI "MCP configuration": ~/.aws/amazonq/mcp.json.
    add(KIRO, home / ".kiro" / "settings" / "mcp.json", "jsonc")
    add(LM_STUDIO, home / ".lmstudio" / "mcp.json", "jsonc")
    add(AMAZON_Q, home / ".aws" / "amazonq" / "mcp.json", "json")
    for project in environment.projects:
        add(CLAUDE_CODE, project / ".mcp.json", "json", scope="project")
        add(CURSOR, project / ".cursor" / "mcp.json", "jsonc", scope="project")
        add(VSCODE, project / ".vscode" / "mcp.json", "jsonc", (("servers",),), scope="project")  # Insiders too
        add(GEMINI, project / ".gemini" / "settings.json", "jsonc", scope="project")
        add(KIRO, project / ".kiro" / "settings" / "mcp.json", "jsonc", scope="project")
    return found
