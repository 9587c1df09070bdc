#!/usr/bin/env bash
# Makes `approver` a command for this user: a link ~/.local/bin/approver -> TARGET (default: this clone's
# .venv/bin/approver), said on screen, with a warning when ~/.local/bin is not on PATH. An `approver` there that
# is not a link made by this script (pipx's, say) is left alone. Run by start.sh; safe to run again.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${1:-$ROOT/.venv/bin/approver}"
BIN="$HOME/.local/bin"
LINK="$BIN/approver"
say() { printf '[start] %s\n' "$*" >&2; }

[ -x "$TARGET" ] || { say "$TARGET is not an executable: nothing to link"; exit 1; }
if [ -e "$LINK" ] || [ -L "$LINK" ]; then
  current="$(readlink "$LINK" || true)"
  if [ "$current" = "$TARGET" ]; then
    say "\`approver\` is $LINK -> $TARGET"
  elif [ -L "$LINK" ] && [[ "$current" == */.venv/bin/approver ]]; then
    ln -sfn "$TARGET" "$LINK"  # a link to another clone's virtualenv: this clone's takes over
    say "\`approver\` is now $LINK -> $TARGET (was -> $current)"
  else
    say "$LINK already exists${current:+ (-> $current)}; left as it is. This clone's command is $TARGET"
  fi
else
  mkdir -p "$BIN"
  ln -s "$TARGET" "$LINK"
  say "linked $LINK -> $TARGET: \`approver\` is now a command"
fi
case ":$PATH:" in
  *":$BIN:"*) ;;
  *) say "WARNING: $BIN is not on your PATH; add it (e.g. in ~/.profile: export PATH=\"\$HOME/.local/bin:\$PATH\")" \
       "or run $LINK" ;;
esac
