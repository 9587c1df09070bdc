#!/usr/bin/env bash
# Sets up a fresh machine and runs the whole suite: quality gates, then pytest (unit + end-to-end through real
# parts) inside a private D-Bus session with an unlocked gnome-keyring, so the Secret Service tests use a real one.
#
# The suite never touches the user's own state: it runs with a HOME and XDG directories of its own, made fresh in
# a temporary directory and removed afterwards, so the keyring it starts is a new one (not ~/.local/share/keyrings,
# whose login keyring may have another password), and no display, D-Bus session or runtime directory of the user's
# is inherited.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh" test
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH"

echo "== ruff"; ruff check approver tests benchmarks && ruff format --check approver tests benchmarks
echo "== mypy --strict"; mypy
echo "== import-linter"; lint-imports

SANDBOX="$(mktemp -d "${TMPDIR:-/tmp}/approver-tests.XXXXXX")"
trap 'rm -rf "$SANDBOX"' EXIT
export HOME="$SANDBOX/home"
export XDG_CONFIG_HOME="$HOME/.config" XDG_DATA_HOME="$HOME/.local/share" XDG_CACHE_HOME="$HOME/.cache" \
  XDG_STATE_HOME="$HOME/.local/state" XDG_RUNTIME_DIR="$SANDBOX/run"
mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$XDG_STATE_HOME"
mkdir -m 0700 "$XDG_RUNTIME_DIR"
unset DISPLAY WAYLAND_DISPLAY DBUS_SESSION_BUS_ADDRESS GNOME_KEYRING_CONTROL SSH_AUTH_SOCK APPROVER_HOME \
  APPROVER_MANAGED_POLICY PYTHON_KEYRING_BACKEND
# Tells tests/conftest.py that this process tree has its own keyring, so the Secret Service tests may use it.
export APPROVER_TEST_SANDBOX="$SANDBOX"

echo "== pytest"
# The keyring daemon is started without a display on purpose; gcr-prompter would only say it cannot open one.
# dbus-daemon's complaint that it may not raise its fd limit (we are not its usual system user) is noise too.
status=0
# The tests start only once the keyring daemon owns its bus name and says its default collection is unlocked.
# `--unlock` returns before the daemon has claimed the name; a keyring call in that gap makes D-Bus activate a
# second daemon, with no unlocked keyring, which then prompts (and fails: there is no display). So the name is
# asked about first (NameHasOwner never activates anything), and only then the collection.
dbus-run-session -- bash -c '
  echo -n approver-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
  ask() { dbus-send --session --print-reply "$@" 2>/dev/null; }
  for _ in $(seq 200); do
    ask --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner \
        string:org.freedesktop.secrets | grep -q "boolean true" \
      && ask --dest=org.freedesktop.secrets /org/freedesktop/secrets/aliases/default \
        org.freedesktop.DBus.Properties.Get string:org.freedesktop.Secret.Collection string:Locked \
        | grep -q "boolean false" \
      && exec python -m pytest "$@"
    sleep 0.05
  done
  echo "gnome-keyring did not offer an unlocked default collection within 10 s" >&2; exit 1' pytest "$@" 2> >(grep -v -E "gcr-prompter|Failed to set fd limit" >&2) || status=$?
exit "$status"
