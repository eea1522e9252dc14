#!/usr/bin/env bash
# Puts `backupctl` and `temporal` on the PATH of every new shell, as the README's commands need:
# two small wrappers in a folder that login and non-login shells both search (/usr/local/bin;
# BIN_DIR to choose another), running this checkout's built CLI (dist/) and its pinned Temporal CLI
# (.tools/bin). scripts/setup.sh runs it; running it again is harmless.
#
# Safe by construction: a file of that name that is not one of our wrappers is left alone, and so
# is a `temporal` found elsewhere on the PATH (the user's own). A second checkout's setup points the
# wrappers at itself: the newest setup wins. When the folder cannot be written (not root), the
# wrappers go to ~/.local/bin, which Debian's ~/.profile puts on the PATH of the next login shell.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MARK='# durable-backup: written by scripts/link-commands.sh'
BIN_DIR="${BIN_DIR:-/usr/local/bin}"

say() { echo "setup: $*"; }

if ! { [[ -d "$BIN_DIR" ]] && [[ -w "$BIN_DIR" ]]; }; then
  BIN_DIR="$HOME/.local/bin"
  mkdir -p "$BIN_DIR"
  case ":$PATH:" in
    *":$BIN_DIR:"*) ;;
    *) say "commands: in $BIN_DIR; open a new login shell, or run: export PATH=\"$BIN_DIR:\$PATH\"" ;;
  esac
fi

# $1: the command's name; $2: what it runs; $3: the file that must exist for it to work; $4: what makes it.
write_wrapper() {
  local name=$1 run=$2 needs=$3 fix=$4 dest="$BIN_DIR/$1" tmp
  if [[ -e "$dest" || -L "$dest" ]] && ! grep -qF "$MARK" "$dest" 2>/dev/null; then
    say "commands: $dest exists and is not ours; left as it is"
    return 0
  fi
  tmp="$(mktemp "$BIN_DIR/.$name.XXXXXX")"
  cat >"$tmp" <<EOF
#!/bin/sh
$MARK, for $ROOT
if [ ! -e '$needs' ]; then
  echo "$name: $needs is missing: run $fix in $ROOT" >&2
  exit 2
fi
exec $run "\$@"
EOF
  chmod 0755 "$tmp"
  mv -f "$tmp" "$dest"
  say "commands: $dest runs $ROOT's $name"
}

# `--`: the CLI's own arguments follow (see the #! line of src/cli/main.ts). The memory settings of
# the systemd unit and the image (docs/scaling.md#memory), for a worker started by hand; an operator's
# own MALLOC_ARENA_MAX wins.
cli="$ROOT/dist/src/cli/main.js"
write_wrapper backupctl "env MALLOC_ARENA_MAX=\"\${MALLOC_ARENA_MAX:-2}\" '$(command -v node)' --max-semi-space-size=2 -- '$cli'" "$cli" 'npm run build'

# The user's own Temporal CLI wins over ours: only ours is replaced.
theirs="$(type -aP temporal 2>/dev/null | grep -v -e "^$BIN_DIR/" -e "/.tools/bin/temporal\$" | head -n 1 || true)"
if [[ -n "$theirs" ]]; then
  say "commands: temporal is $theirs already; ours stays in $ROOT/.tools/bin"
else
  write_wrapper temporal "'$ROOT/.tools/bin/temporal'" "$ROOT/.tools/bin/temporal" scripts/setup.sh
fi
