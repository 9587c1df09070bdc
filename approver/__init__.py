"""MCP Approver: an approval gate between AI assistants and the MCP servers they call."""

__version__ = "0.1.0"
