#!/usr/bin/env bash
# Sets up a fresh machine and starts MCP Approver's decision service for this user.
# Until the desktop app lands this is the headless service: it applies your rules and denies everything else.
# Arguments are passed to `approver serve --headless` (e.g. --policy FILE).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh" app
exec "$ROOT/.venv/bin/approver" serve --headless "$@"
