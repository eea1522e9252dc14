#!/bin/sh
# One-shot steps of the Compose stack, run in the temporalio/admin-tools image (POSIX sh, busybox).
#   temporal-setup.sh schema     create Temporal's databases and apply its schema
#   temporal-setup.sh namespace  create the namespace and the search attributes our runs set
# Both may run again (on every `docker compose up`, and after a Temporal upgrade).
set -eu

namespace=${TEMPORAL_NAMESPACE:-default}

# Runs "$@" until it succeeds, up to 60 times 2 s apart.
retry() {
  tries=0
  until "$@"; do
    tries=$((tries + 1))
    [ "$tries" -lt 60 ] || return 1
    sleep 2
  done
}

sql_tool() {
  temporal-sql-tool --plugin postgres12 --ep "${POSTGRES_SEEDS:?}" -p "${DB_PORT:-5432}" \
    -u "${POSTGRES_USER:?}" "$@"
}

schema() {
  # The persistence password, from the Docker secret (temporal-sql-tool reads SQL_PASSWORD).
  SQL_PASSWORD=$(cat /run/secrets/temporal_db_password)
  export SQL_PASSWORD
  for pair in temporal:temporal temporal_visibility:visibility; do
    db=${pair%%:*}
    # An existing database is fine: setup-schema keeps a newer version and update-schema applies only
    # the versions missing; both fail on a real problem (unreachable, wrong password).
    sql_tool --db "$db" create 2>/dev/null || echo "database $db exists"
    sql_tool --db "$db" setup-schema -v 0.0
    sql_tool --db "$db" update-schema -d "/etc/temporal/schema/postgresql/v12/${pair#*:}/versioned"
  done
}

search_attribute_present() {
  temporal operator search-attribute list --namespace "$namespace" | grep -qw "$1"
}

namespace() {
  retry temporal operator cluster health >/dev/null
  temporal operator namespace describe --namespace "$namespace" >/dev/null 2>&1 ||
    temporal operator namespace create --namespace "$namespace" --retention "${TEMPORAL_RETENTION:-30d}"
  # src/temporal/names.ts: every run is found by these. A new namespace takes a moment to be usable.
  for name in BackupDatabase BackupKind BackupLabel; do
    search_attribute_present "$name" ||
      retry temporal operator search-attribute create --namespace "$namespace" --name "$name" --type Keyword
  done
  echo "namespace $namespace ready"
}

case "${1:-}" in
  schema | namespace) "$1" ;;
  *)
    echo "usage: $0 schema|namespace" >&2
    exit 2
    ;;
esac
