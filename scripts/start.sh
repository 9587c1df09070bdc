#!/usr/bin/env bash
# Sets up a fresh machine and starts MCP Approver. Extra arguments go to `approver`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh" app
exec "$ROOT/.venv/bin/approver" "$@"
