#!/usr/bin/env bash
# Builds the Debian package from the bundle (packaging/build-bundle.sh): the bundle under /opt/mcp-approver,
# /usr/bin/approver pointing at it, the desktop entry in /usr/share/applications and the icons in the hicolor
# theme, so MCP Approver is on PATH and in the desktop's menu. dpkg's triggers (desktop-file-utils,
# hicolor-icon-theme) refresh the menu and icon caches; the package needs no maintainer scripts.
#   packaging/build-deb.sh BUNDLE_DIR [OUT_DIR]    (BUNDLE_DIR holds `approver` and `_internal/`)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUNDLE="$(realpath "${1:?usage: build-deb.sh BUNDLE_DIR [OUT_DIR]}")"
OUT="$(realpath -m "${2:-$ROOT/build}")"
[ -x "$BUNDLE/approver" ] || { echo "build-deb: $BUNDLE/approver is not a bundle (run build-bundle.sh)" >&2; exit 1; }
VERSION="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$ROOT/approver/__init__.py")"
ARCH="$(dpkg --print-architecture)"
GLIBC="$(ldd --version | head -n1 | awk '{print $NF}')"  # the bundle's binaries need at least the build's glibc
RESOURCES="$ROOT/approver/resources"

STAGE="$(mktemp -d "${TMPDIR:-/tmp}/mcp-approver-deb.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
umask 022
chmod 0755 "$STAGE"  # the package's root becomes /: mktemp's 0700 would be recorded
mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications"
cp -a "$BUNDLE" "$STAGE/opt/mcp-approver"
chmod -R u=rwX,go=rX "$STAGE/opt/mcp-approver"
ln -s /opt/mcp-approver/approver "$STAGE/usr/bin/approver"
install -m 0644 "$RESOURCES/mcp-approver.desktop" "$STAGE/usr/share/applications/mcp-approver.desktop"
for png in "$RESOURCES"/icons/mcp-approver-[0-9]*.png; do
  size="${png##*-}"; size="${size%.png}"
  install -D -m 0644 "$png" "$STAGE/usr/share/icons/hicolor/${size}x${size}/apps/mcp-approver.png"
done
install -D -m 0644 "$ROOT/resources/icons/mcp-approver.svg" "$STAGE/usr/share/icons/hicolor/scalable/apps/mcp-approver.svg"
# polkit's action for proof of presence: with it installed, the app asks for the user's password, not a code.
install -D -m 0644 "$RESOURCES/org.mcp-approver.confirm-presence.policy" \
  "$STAGE/usr/share/polkit-1/actions/org.mcp-approver.confirm-presence.policy"

cat > "$STAGE/DEBIAN/control" <<CONTROL
Package: mcp-approver
Version: $VERSION
Architecture: $ARCH
Maintainer: MCP Approver developers <mcp-approver@users.noreply.github.com>
Section: utils
Priority: optional
Depends: libc6 (>= $GLIBC), libgl1, libegl1, libxcb1, libwayland-client0, libwayland-cursor0, libwayland-egl1
Installed-Size: $(du -sk "$STAGE" | cut -f1)
Description: approval gate between AI assistants and the MCP servers they call
 AI clients start "approver proxy" instead of an MCP server; every tool call
 waits until the decision service allows or denies it, by your rules or by you
 in a dialog, and every decision goes into a signed, hash-chained log.
CONTROL

mkdir -p "$OUT"
DEB="$OUT/mcp-approver_${VERSION}_${ARCH}.deb"
# zstd: xz or gzip take about a minute for this 170 MB payload on two cores, zstd seconds. dpkg reads zstd since
# Debian 12 (and Ubuntu 21.10), which the Depends on the build's glibc asks for anyway.
dpkg-deb --root-owner-group -Zzstd -z3 --build "$STAGE" "$DEB" >/dev/null
echo "build-deb: $DEB ($(du -h "$DEB" | cut -f1))"
