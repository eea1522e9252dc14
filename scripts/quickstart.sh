#!/usr/bin/env bash
# `npm run quickstart`: set up, start the services and a worker, take one encrypted backup of the
# local database (DB_NAME, or a small demo database made here), and show where it went. Embedded defaults: the dev server, SeaweedFS and BACKUP_DIR
# under .run/, a demo OpenPGP key made here (its private half stays in .run/demo-gnupg for restores),
# and a demo signing key the worker signs its backups with.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
bash scripts/services.sh up
npm run --silent build

# services.env names the server's own postgres database; the quickstart takes the caller's DB_NAME.
requested_db="${DB_NAME:-}"
set -a
# shellcheck disable=SC1091
. .run/services.env
set +a
export DB_NAME="$requested_db"
if [[ -z "$DB_NAME" ]]; then
  # An empty database has nothing to back up (and pg_restore --list would find no entries): make a
  # small demo database once, so the first run shows a real backup.
  export DB_NAME=durable_backup_demo
  if ! psql -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1; then
    echo "quickstart: creating the demo database $DB_NAME"
    psql -q -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -d postgres -c "CREATE DATABASE $DB_NAME"
    psql -q -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -d "$DB_NAME" -c "
      CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL, created timestamptz DEFAULT now());
      CREATE TABLE images (id serial PRIMARY KEY, user_id int REFERENCES users, caption text);
      INSERT INTO users (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, 1000) g;
      INSERT INTO images (user_id, caption) SELECT 1 + g % 1000, 'image ' || g FROM generate_series(1, 5000) g;"
  fi
fi
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

# The key the worker signs its backups with (sign-only: it cannot decrypt); restores and `list` trust
# what it signed (docs/security.md#signed-backups).
if [[ -z "${BACKUP_SIGNING_KEY_FILE:-}" ]]; then
  demo_home="$PWD/.run/demo-gnupg"
  if [[ ! -f "$demo_home/demo-signing.asc" ]]; then
    mkdir -p -m 700 "$demo_home"
    echo "quickstart: making a demo signing key in $demo_home (ed25519, sign only, no passphrase)"
    GNUPGHOME="$demo_home" gpg --batch --quiet --passphrase '' --quick-gen-key 'durable-backup demo signer <demo-signer@localhost>' ed25519 sign never
    GNUPGHOME="$demo_home" gpg --batch --armor --export demo-signer@localhost >"$demo_home/demo-signing-public.asc"
    (umask 077 && GNUPGHOME="$demo_home" gpg --batch --pinentry-mode loopback --passphrase '' --armor --export-secret-keys demo-signer@localhost >"$demo_home/demo-signing.asc")
  fi
  export BACKUP_SIGNING_KEY_FILE="$demo_home/demo-signing.asc"
fi

# The settings of this run, for a new shell (README, "Using it"): `set -a; . .run/quickstart.env; set +a`.
# They include the S3 keys: 0600, as every file holding a secret.
(
  umask 077
  {
    sed -n 's/^export //p' .run/services.env | grep -v '^DB_NAME='
    for name in DB_NAME BACKUP_DIR TEMPORAL_TASK_QUEUE GPG_PUBLIC_KEY_FILE GPG_RECIPIENT BACKUP_SIGNING_KEY_FILE; do
      if [[ -n "${!name:-}" ]]; then printf "%s='%s'\n" "$name" "${!name}"; fi
    done
  } >.run/quickstart.env
)
chmod 600 .run/quickstart.env # an older file keeps its mode through >

MALLOC_ARENA_MAX=2 node --max-semi-space-size=2 dist/src/cli/main.js worker >.run/quickstart-worker.log 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
  grep -q 'worker polling' .run/quickstart-worker.log && break
  kill -0 $worker 2>/dev/null || { cat .run/quickstart-worker.log; exit 1; }
  sleep 0.5
done

echo "quickstart: backing up database '$DB_NAME' (worker log: .run/quickstart-worker.log)"
node dist/src/cli/main.js backup --wait
echo
echo "quickstart: complete backups now:"
node dist/src/cli/main.js list
echo
echo "quickstart: in a new shell, backupctl and temporal are on the PATH; load these settings first:"
echo "  set -a; . $PWD/.run/quickstart.env; set +a"
echo "quickstart: decrypt with: GNUPGHOME=${GNUPGHOME:-~/.gnupg} gpg --decrypt FILE.dump.zst.gpg | zstd -d | pg_restore --list"
if [[ -n "${demo_home:-}" ]]; then
  echo "quickstart: check a backup's signature with: GNUPGHOME=$demo_home gpg --verify NAME.manifest.json.sig NAME.manifest.json"
fi
