#!/usr/bin/env bash
# Sets up a fresh machine and starts MCP Approver for this user: the desktop app (tray, approval dialogs), which
# hosts the decision service. Without a display (DISPLAY and WAYLAND_DISPLAY unset) it starts the headless
# service instead, which applies your rules and denies everything else. It also links ~/.local/bin/approver to
# this clone's (scripts/link-command.sh), so `approver` works as a command in your shells.
# Arguments are passed to `approver serve` (e.g. --policy FILE).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh" app
bash "$ROOT/scripts/link-command.sh" "$ROOT/.venv/bin/approver"
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] || [ "$(uname)" = Darwin ]; then
  exec "$ROOT/.venv/bin/approver" serve "$@"
fi
exec "$ROOT/.venv/bin/approver" serve --headless "$@"
