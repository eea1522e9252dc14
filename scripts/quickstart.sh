#!/usr/bin/env bash
# `npm run quickstart`: set up, start the services and a worker, take one encrypted backup of the
# local database, and show where it went. Embedded defaults: the dev server, SeaweedFS and BACKUP_DIR
# under .run/, a demo OpenPGP key made here (its private half stays in .run/demo-gnupg for restores).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
bash scripts/services.sh up
npm run --silent build

set -a
# shellcheck disable=SC1091
. .run/services.env
set +a
export DB_NAME="${DB_NAME:-postgres}"
export BACKUP_DIR="${BACKUP_DIR:-$PWD/.run/backups}"
export TEMPORAL_TASK_QUEUE="${TEMPORAL_TASK_QUEUE:-durable-backup-quickstart}"

if [[ -z "${GPG_PUBLIC_KEY_FILE:-}" && -z "${GPG_RECIPIENT:-}" ]]; then
  export GNUPGHOME="$PWD/.run/demo-gnupg"
  if [[ ! -f "$GNUPGHOME/demo-public.asc" ]]; then
    mkdir -p -m 700 "$GNUPGHOME"
    echo "quickstart: making a demo OpenPGP key in $GNUPGHOME (no passphrase; for trying things only)"
    gpg --batch --quiet --passphrase '' --quick-gen-key 'durable-backup demo <demo@localhost>' default default never
    gpg --batch --armor --export demo@localhost >"$GNUPGHOME/demo-public.asc"
  fi
  export GPG_PUBLIC_KEY_FILE="$GNUPGHOME/demo-public.asc"
fi

node dist/src/cli/main.js worker >.run/quickstart-worker.log 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null || true' EXIT

echo "quickstart: backing up database '$DB_NAME' (worker log: .run/quickstart-worker.log)"
node dist/src/cli/main.js backup --wait
echo
echo "quickstart: complete backups now:"
node dist/src/cli/main.js list
echo
echo "quickstart: decrypt with: GNUPGHOME=${GNUPGHOME:-~/.gnupg} gpg --decrypt FILE | pg_restore --list"
