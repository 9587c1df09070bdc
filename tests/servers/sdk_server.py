"""An MCP server built on the official Python SDK (`mcp` 2.x), run over stdio by the end-to-end tests.

server-everything speaks only the handshake era; this one also speaks the stateless 2026-07-28 era, so the
proxy can be tested against both with real implementations.
"""

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


@server.tool(description="Run a shell command (does nothing; it is a test)")
def run_command(command: str) -> str:
    return f"would run {command}"


if __name__ == "__main__":
    server.run("stdio")
