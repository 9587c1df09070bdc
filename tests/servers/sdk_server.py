"""An MCP server built on the official Python SDK (`mcp` 2.x), run over stdio by the end-to-end tests.

server-everything speaks only the handshake era; this one also speaks the stateless 2026-07-28 era, so the
proxy can be tested against both with real implementations. Its file tools really read files, the way a
Python server would (open() resolves the path as the OS does), so tests can prove what a server opened.
"""

import json
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer

server = MCPServer("sdk-test-server")


@server.tool(description="Add two integers")
def add(a: int, b: int) -> str:
    return str(a + b)


@server.tool(description="Echo the message back")
def echo(message: str) -> str:
    return message


@server.tool(description="Delete a file (does nothing; it is a test)")
def delete_file(path: str) -> str:
    return f"would delete {path}"


@server.tool(description="Read a text file")
def read_file(path: str) -> str:
    return Path(path).read_text()


@server.tool(description="Read several text files")
def read_multiple_files(paths: list[str]) -> str:
    return "\n".join(f"{path}: {Path(path).read_text()}" for path in paths)


@server.tool(description="Double a number")
def double(value: float) -> str:
    return f"doubled: {value * 2}"


@server.tool(description="Store settings (does nothing; it is a test) and return them as JSON")
def configure(settings: dict[str, Any]) -> str:
    return json.dumps(settings, ensure_ascii=False, sort_keys=True)


@server.tool(description="Fetch a web page (does nothing; it is a test)")
def fetch(url: str) -> str:
    return f"would fetch {url}"


@server.tool(description="Run a shell command (does nothing; it is a test)")
def run_command(command: str) -> str:
    return f"would run {command}"


if __name__ == "__main__":
    server.run("stdio")
