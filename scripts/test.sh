#!/usr/bin/env bash
# Sets up a fresh machine and runs the whole suite: quality gates, then pytest (unit + end-to-end through real
# parts) inside a private D-Bus session with an unlocked gnome-keyring, so the Secret Service tests use a real one.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh" test
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH"
mkdir -p "${HOME:?HOME must be set}"

echo "== ruff"; ruff check approver tests benchmarks && ruff format --check approver tests benchmarks
echo "== mypy --strict"; mypy
echo "== import-linter"; lint-imports
echo "== pytest"
exec dbus-run-session -- bash -c '
  echo -n approver-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  exec python -m pytest "$@"' pytest "$@"
