#!/usr/bin/env bash
# Installs the durable-backup worker as a systemd service, run as root from a built checkout
# (npm ci && npm run build): the service runs the program in place, from this checkout.
#   deploy/systemd/install.sh          user, /etc/durable-backup/backup.env (kept if present), unit
# DESTDIR=/some/root writes the files under that root and leaves the user and systemd alone
# (packaging; the tests use it).
set -euo pipefail

checkout="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$checkout/deploy/systemd"
root="${DESTDIR:-}"
node="$(command -v node)" || { echo "install: node is not on PATH" >&2; exit 2; }
[[ -s "$checkout/dist/workflow-bundle.js" ]] || {
  echo "install: $checkout is not built; run: npm ci && npm run build" >&2
  exit 2
}

if [[ -z "$root" ]] && ! id -u durable-backup >/dev/null 2>&1; then
  useradd --system --user-group --home-dir /var/lib/durable-backup --no-create-home \
    --shell /usr/sbin/nologin durable-backup
fi

install -d -m 0755 "$root/etc/durable-backup" "$root/etc/systemd/system"
if [[ ! -e "$root/etc/durable-backup/backup.env" ]]; then
  install -m 0600 "$here/backup.env.example" "$root/etc/durable-backup/backup.env"
fi
sed -e "s|^ExecStart=/usr/bin/node /opt/durable-backup/|ExecStart=$node $checkout/|" \
  "$here/durable-backup-worker.service" >"$root/etc/systemd/system/durable-backup-worker.service"
chmod 0644 "$root/etc/systemd/system/durable-backup-worker.service"

echo "installed durable-backup-worker.service (ExecStart: $node $checkout/dist/src/cli/main.js worker)"
if [[ -z "$root" ]]; then
  systemctl daemon-reload
  echo "next: edit /etc/durable-backup/backup.env, then: systemctl enable --now durable-backup-worker"
fi
