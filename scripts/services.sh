#!/usr/bin/env bash
# Local dev/test services for durable-backup.
#
#   scripts/services.sh up|down|status|restart
#   scripts/services.sh start-temporal|stop-temporal|restart-temporal|kill-temporal
#   scripts/services.sh start-s3|stop-s3|restart-s3|kill-s3
#
# stop-* is graceful (TERM, then KILL after SERVICE_STOP_TIMEOUT; weed takes ~16 s);
# kill-* sends KILL at once, like a crash, for fault-injection tests. Data survives both.
#
# Services:
#   PostgreSQL  - the machine's own cluster on 127.0.0.1:5432 (started if down, never stopped here)
#   Temporal    - `temporal server start-dev`, persisted to .run/temporal/temporal.db, UI on
#   SeaweedFS   - `weed server` (master+volume+filer+S3 in one process) with S3 auth enforced,
#                 S3 over HTTP and over HTTPS (a self-signed certificate in its state folder:
#                 pgBackRest speaks only TLS to S3)
#
# All state lives under .run/ (git-ignored): *.pid, *.log, data dirs, s3-credentials and
# services.env (source it to get TEMPORAL_ADDRESS, S3_ENDPOINT, S3_ACCESS_KEY, ...).
# Binaries come from .tools/ (scripts/setup.sh); nothing is downloaded here.
#
# Environment overrides: SERVICES_RUN_DIR (.run), TEMPORAL_PORT (7233), TEMPORAL_UI_PORT (8233), S3_PORT (8333),
# S3_HTTPS_PORT (8334),
# S3_BUCKET (durable-backup), SEAWEED_MASTER_PORT (9333), SEAWEED_VOLUME_PORT (9340),
# SEAWEED_FILER_PORT (8888), SERVICE_START_TIMEOUT (60 s), SERVICE_STOP_TIMEOUT (30 s,
# TERM -> KILL). SeaweedFS also binds each of its ports + 10000 for gRPC.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# SERVICES_RUN_DIR: another state directory, for a private instance on other ports (the fault tests).
RUN="${SERVICES_RUN_DIR:-$ROOT/.run}"
TEMPORAL_BIN="$ROOT/.tools/bin/temporal"
WEED_BIN="$ROOT/.tools/bin/weed"
S3_ADMIN=(python3 "$ROOT/scripts/s3_admin.py")

HOST=127.0.0.1
PG_PORT=5432
TEMPORAL_PORT="${TEMPORAL_PORT:-7233}"
TEMPORAL_UI_PORT="${TEMPORAL_UI_PORT:-8233}"
S3_PORT="${S3_PORT:-8333}"
S3_HTTPS_PORT="${S3_HTTPS_PORT:-8334}"
S3_BUCKET="${S3_BUCKET:-durable-backup}"
S3_REGION="${S3_REGION:-us-east-1}"
SEAWEED_MASTER_PORT="${SEAWEED_MASTER_PORT:-9333}"
SEAWEED_VOLUME_PORT="${SEAWEED_VOLUME_PORT:-9340}"
SEAWEED_FILER_PORT="${SEAWEED_FILER_PORT:-8888}"
TIMEOUT="${SERVICE_START_TIMEOUT:-60}"
STOP_TIMEOUT="${SERVICE_STOP_TIMEOUT:-30}"

TEMPORAL_ADDR="$HOST:$TEMPORAL_PORT"
S3_ENDPOINT="http://$HOST:$S3_PORT"
S3_HTTPS_ENDPOINT="https://$HOST:$S3_HTTPS_PORT"

. "$ROOT/scripts/services/process.sh"

# ----------------------------------------------------------------------------- PostgreSQL
pg_ready() { pg_isready -q -h "$HOST" -p "$PG_PORT" >/dev/null 2>&1; }

start_postgres() {
  command -v pg_isready >/dev/null || die "postgres: pg_isready not found: run scripts/setup.sh first"
  if pg_ready; then
    log "postgres: running on $HOST:$PG_PORT"
    return
  fi
  local ver
  ver="$(ls /etc/postgresql 2>/dev/null | sort -n | tail -n 1)"
  [[ -n "$ver" ]] || die "postgres: not answering on $HOST:$PG_PORT and no cluster found in /etc/postgresql"
  log "postgres: not answering, starting cluster $ver/main"
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start || die "postgres: pg_ctlcluster $ver main start failed"
  local deadline=$((SECONDS + TIMEOUT))
  while ((SECONDS < deadline)); do
    pg_ready && { log "postgres: running on $HOST:$PG_PORT"; return; }
    sleep 1
  done
  tail -n 40 "/var/log/postgresql/postgresql-$ver-main.log" >&2 2>/dev/null || true
  die "postgres: not ready on $HOST:$PG_PORT after ${TIMEOUT}s"
}

# ------------------------------------------------------------------------------- Temporal
temporal_healthy() {
  local out
  out="$(clean_env timeout 10 "$TEMPORAL_BIN" operator cluster health --address "$TEMPORAL_ADDR" 2>/dev/null)" || return 1
  [[ "$out" == *SERVING* && "$out" != *NOT_SERVING* ]]
}

# Running = our process is alive, was started for the port we expect now (not, say, an
# earlier start with another TEMPORAL_PORT while a different server holds this one), and
# the port answers.
temporal_running() {
  local pid
  pid="$(service_pid temporal "$TEMPORAL_BIN")" &&
    cmdline_has "$pid" "--port $TEMPORAL_PORT" && cmdline_has "$pid" "--ui-port $TEMPORAL_UI_PORT" &&
    port_open "$HOST" "$TEMPORAL_PORT"
}

start_temporal() {
  require_bin "$TEMPORAL_BIN"
  if temporal_running && temporal_healthy; then
    log "temporal: already running (pid $(service_pid temporal "$TEMPORAL_BIN"), $TEMPORAL_ADDR)"
    return
  fi
  stop_service temporal "$TEMPORAL_BIN" quiet # clears a stale pid file or a half-dead process
  ensure_ports_free temporal "$TEMPORAL_PORT" "$TEMPORAL_UI_PORT"
  mkdir -p "$RUN/temporal"
  log "temporal: starting on $TEMPORAL_ADDR (UI http://$HOST:$TEMPORAL_UI_PORT)"
  # --search-attribute on an existing db whose attributes already exist is fine (checked).
  spawn temporal "$TEMPORAL_BIN" server start-dev \
    --db-filename "$RUN/temporal/temporal.db" \
    --ip "$HOST" --port "$TEMPORAL_PORT" --ui-port "$TEMPORAL_UI_PORT" \
    --search-attribute BackupDatabase=Keyword \
    --search-attribute BackupKind=Keyword \
    --search-attribute BackupLabel=Keyword \
    --log-level warn
  local pid deadline=$((SECONDS + TIMEOUT))
  pid="$(cat "$RUN/temporal.pid")"
  while ((SECONDS < deadline)); do
    if ! pid_alive "$pid"; then
      log_tail temporal
      die "temporal: process exited during startup"
    fi
    if temporal_healthy &&
      clean_env timeout 10 "$TEMPORAL_BIN" operator search-attribute list --address "$TEMPORAL_ADDR" 2>/dev/null |
      grep -qw BackupDatabase &&
      port_open "$HOST" "$TEMPORAL_UI_PORT"; then
      log "temporal: ready (pid $pid)"
      return
    fi
    sleep 0.5
  done
  log_tail temporal
  kill_service temporal "$TEMPORAL_BIN" >/dev/null # leave no half-started server behind
  die "temporal: not SERVING with search attributes on $TEMPORAL_ADDR after ${TIMEOUT}s (log: $RUN/temporal.log)"
}

stop_temporal() { stop_service temporal "$TEMPORAL_BIN"; }

# ------------------------------------------------------------------------------ SeaweedFS
. "$ROOT/scripts/services/seaweedfs.sh"

# ------------------------------------------------------------------------- services.env
shq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

write_env() {
  ensure_s3_credentials
  local f="$RUN/services.env"
  (
    umask 077
    {
      echo "# Written by scripts/services.sh; source it: . .run/services.env"
      local kv
      for kv in \
        "TEMPORAL_ADDRESS=$TEMPORAL_ADDR" \
        "TEMPORAL_NAMESPACE=default" \
        "TEMPORAL_UI_URL=http://$HOST:$TEMPORAL_UI_PORT" \
        "S3_ENDPOINT=$S3_ENDPOINT" \
        "S3_HTTPS_ENDPOINT=$S3_HTTPS_ENDPOINT" \
        "S3_HTTPS_CA_FILE=$S3_TLS_DIR/cert.pem" \
        "S3_BUCKET=$S3_BUCKET" \
        "S3_REGION=$S3_REGION" \
        "S3_FORCE_PATH_STYLE=true" \
        "S3_ACCESS_KEY=$S3_ACCESS_KEY" \
        "S3_SECRET_KEY=$S3_SECRET_KEY" \
        "DB_HOST=$HOST" \
        "DB_PORT=$PG_PORT" \
        "DB_USER=postgres" \
        "DB_NAME=postgres"; do
        echo "export ${kv%%=*}=$(shq "${kv#*=}")"
      done
    } >"$f.tmp"
    mv "$f.tmp" "$f"
  )
  chmod 600 "$f"
}

# Stop both in parallel: a graceful weed stop alone takes ~16 s.
stop_all() {
  local p1 p2 rc=0
  stop_temporal & p1=$!
  stop_seaweedfs & p2=$!
  wait "$p1" || rc=1
  wait "$p2" || rc=1
  return "$rc"
}

# ------------------------------------------------------------------------------- status
status() {
  local ok=0 pid
  if pg_ready; then
    echo "postgres   running  $HOST:$PG_PORT"
  else
    echo "postgres   stopped  $HOST:$PG_PORT"; ok=1
  fi
  if temporal_running && temporal_healthy; then
    pid="$(service_pid temporal "$TEMPORAL_BIN")"
    echo "temporal   running  $TEMPORAL_ADDR  ui http://$HOST:$TEMPORAL_UI_PORT  (pid $pid)"
  else
    echo "temporal   stopped  $TEMPORAL_ADDR"; ok=1
  fi
  if seaweedfs_running; then
    pid="$(service_pid seaweedfs "$WEED_BIN")"
    echo "seaweedfs  running  $S3_ENDPOINT  bucket $S3_BUCKET  (pid $pid)"
  else
    echo "seaweedfs  stopped  $S3_ENDPOINT"; ok=1
  fi
  return "$ok"
}

summary() {
  log "all services up; environment in $RUN/services.env (source it)"
  echo "  PostgreSQL  $HOST:$PG_PORT (user postgres)"
  echo "  Temporal    $TEMPORAL_ADDR  namespace default"
  echo "  Temporal UI http://$HOST:$TEMPORAL_UI_PORT"
  echo "  S3          $S3_ENDPOINT  bucket $S3_BUCKET  access key $S3_ACCESS_KEY (secret in $S3_CREDS)"
}

usage() {
  sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# .run holds credentials: keep it private to the owner.
mkdir -p "$RUN"
chmod 700 "$RUN"

cmd="${1:-}"
case "$cmd" in
  up)
    start_postgres
    start_temporal
    start_seaweedfs
    write_env
    summary
    ;;
  down)
    stop_all
    ;;
  restart)
    stop_all
    start_postgres
    start_temporal
    start_seaweedfs
    write_env
    summary
    ;;
  status) status ;;
  start-temporal) start_temporal; write_env ;;
  stop-temporal) stop_temporal ;;
  restart-temporal) stop_temporal; start_temporal; write_env ;;
  kill-temporal) kill_service temporal "$TEMPORAL_BIN" ;;
  start-s3) start_seaweedfs; write_env ;;
  stop-s3) stop_seaweedfs ;;
  restart-s3) stop_seaweedfs; start_seaweedfs; write_env ;;
  kill-s3) kill_service seaweedfs "$WEED_BIN" ;;
  *) usage ;;
esac
