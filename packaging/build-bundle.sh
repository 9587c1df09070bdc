#!/usr/bin/env bash
# Builds the standalone Linux bundle (PyInstaller, one folder): OUT/mcp-approver/approver and its _internal/.
# It needs nothing installed but glibc, libxcb, and the GL/EGL and Wayland client libraries (the .deb's Depends).
#   packaging/build-bundle.sh [OUT]     (default: build/linux; PYTHON picks the interpreter with PyInstaller)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(realpath -m "${1:-$ROOT/build/linux}")"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
"$PYTHON" -m PyInstaller --version >/dev/null 2>&1 || {
  echo "build-bundle: PyInstaller is missing: $PYTHON -m pip install -e '$ROOT[dev]'" >&2; exit 1; }
WORK="$(mktemp -d "${TMPDIR:-/tmp}/mcp-approver-pyinstaller.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
# Its warnings about Windows and macOS libraries that ctypes might load are noise on Linux.
"$PYTHON" -m PyInstaller --noconfirm --log-level ERROR --distpath "$OUT" --workpath "$WORK" \
  "$ROOT/packaging/pyinstaller/mcp-approver.spec"
echo "build-bundle: $OUT/mcp-approver ($(du -sh "$OUT/mcp-approver" | cut -f1))"
