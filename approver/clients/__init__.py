"""Wiring MCP clients to approver proxy: finding their configuration files, reading their servers, wrapping them."""
