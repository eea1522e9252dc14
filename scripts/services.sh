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

log() { echo "services: $*"; }
die() { echo "services: ERROR: $*" >&2; exit 1; }

# Print the tail of a service log to stderr (used when something fails to come up).
log_tail() {
  local f="$RUN/$1.log"
  [[ -f "$f" ]] || return 0
  echo "----- last 40 lines of $f -----" >&2
  tail -n 40 "$f" >&2 || true
  echo "-----" >&2
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# Alive = exists and is not a zombie (kill -0 succeeds on zombies, which can linger here
# when nothing reaps orphans).
pid_alive() {
  local st
  read -r st 2>/dev/null <"/proc/$1/stat" || return 1
  st="${st##*) }"
  [[ "${st%% *}" != Z ]]
}

# True while any non-zombie process remains in process group $1.
group_alive() {
  local pg="$1" f st
  for f in /proc/[0-9]*/stat; do
    read -r st 2>/dev/null <"$f" || continue # builtin read: no fork per process
    st="${st##*) }"                           # "S ppid pgrp ..." (comm may contain spaces)
    read -r -a st <<<"$st"
    [[ "${st[2]}" == "$pg" && "${st[0]}" != Z ]] && return 0
  done
  return 1
}

# True if pid $1 is alive and runs BIN ($2) with this checkout's .run/ in its arguments
# (guards against pid reuse, e.g. after a reboot, and against another checkout's services).
is_our_service() {
  local pid="$1" bin="$2" args
  pid_alive "$pid" || return 1
  mapfile -d '' args 2>/dev/null <"/proc/$pid/cmdline" || return 1
  [[ "${args[0]:-}" == "$bin" && "${args[*]}" == *"$RUN/"* ]]
}

# True if the command line of pid $1, joined with spaces, contains " $2 ".
cmdline_has() {
  local args
  mapfile -d '' args 2>/dev/null <"/proc/$1/cmdline" || return 1
  [[ " ${args[*]} " == *" $2 "* ]]
}

# Echo the pid of service NAME (binary BIN). Normally from .run/NAME.pid; if that file is
# missing or stale but a process of ours is still running (pid file deleted by hand, say),
# adopt it and rewrite the pid file, so that `up` does not start a second copy and `down`
# can still stop it.
service_pid() {
  local name="$1" bin="$2" pid="" f
  [[ -f "$RUN/$name.pid" ]] && read -r pid <"$RUN/$name.pid" 2>/dev/null || true
  if [[ "$pid" =~ ^[0-9]+$ ]] && is_our_service "$pid" "$bin"; then
    echo "$pid"
    return 0
  fi
  for f in /proc/[0-9]*; do
    pid="${f#/proc/}"
    if is_our_service "$pid" "$bin"; then
      echo "$pid" >"$RUN/$name.pid"
      echo "$pid"
      return 0
    fi
  done
  return 1
}

# Simulate a crash: KILL the whole process group at once (no graceful shutdown).
kill_service() {
  local name="$1" bin="$2" pid
  if pid="$(service_pid "$name" "$bin")"; then
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    while group_alive "$pid"; do sleep 0.1; done
    log "$name: killed (pid $pid)"
  else
    log "$name: not running"
  fi
  rm -f "$RUN/$name.pid"
}

# Stop a service by its pid file: TERM the whole process group, wait, then KILL.
# A third argument "quiet" suppresses the "not running" message (used before a start).
stop_service() {
  local name="$1" bin="$2" quiet="${3:-}" pid i
  if pid="$(service_pid "$name" "$bin")"; then
    log "$name: stopping (pid $pid)"
    # Each service is started with setsid, so its pid is also its process-group id.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    # weed needs ~16 s for a graceful stop (its filer waits 15 s for gRPC streams to end).
    local deadline=$((SECONDS + STOP_TIMEOUT))
    while group_alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
    if group_alive "$pid"; then
      log "$name: still running after ${STOP_TIMEOUT}s, sending KILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do group_alive "$pid" || break; sleep 0.2; done
    fi
    group_alive "$pid" && die "$name: process group $pid does not die"
    log "$name: stopped"
  elif [[ -z "$quiet" ]]; then
    log "$name: not running"
  fi
  rm -f "$RUN/$name.pid"
}

# Refuse to start when someone else already holds one of our ports: the new process would
# fail to bind and we would otherwise report a confusing timeout.
ensure_ports_free() {
  local name="$1" p; shift
  for p in "$@"; do
    if port_open "$HOST" "$p"; then
      local who=""
      command -v ss >/dev/null && who="$(ss -Hltnp "sport = :$p" 2>/dev/null | head -n 1)"
      die "$name: port $HOST:$p is already in use by a process not started from this checkout's .run/ ${who:+($who)}"
    fi
  done
}

# Run "$@" without inherited TEMPORAL_* / AWS_* variables: the temporal CLI reads
# TEMPORAL_ADDRESS, TEMPORAL_TLS_*, TEMPORAL_API_KEY, ... and weed turns
# AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY into an extra admin S3 identity (checked with
# 4.48), which would silently add a second valid key pair next to the generated one.
CLEAN_ENV_UNSET=()
for _v in $(compgen -e); do
  [[ "$_v" == TEMPORAL_* || "$_v" == AWS_* ]] && CLEAN_ENV_UNSET+=(-u "$_v")
done
unset _v
clean_env() { env ${CLEAN_ENV_UNSET[@]+"${CLEAN_ENV_UNSET[@]}"} "$@"; }

# Start BIN ARGS... detached (own session/process group, immune to SIGHUP) with output
# appended to .run/NAME.log, and record its pid. In a non-interactive script a background
# job is not a group leader, so setsid does not fork and $! is the service's own pid.
spawn() {
  local name="$1"; shift
  mkdir -p "$RUN"
  echo "===== $(date -u +%FT%TZ) starting: $*" >>"$RUN/$name.log"
  # nohup and env exec the service in turn, so $! is still the service's own pid.
  setsid nohup env ${CLEAN_ENV_UNSET[@]+"${CLEAN_ENV_UNSET[@]}"} "$@" >>"$RUN/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
  disown $! # no "Killed" job notices from this shell if we have to kill it later
}

require_bin() {
  [[ -x "$1" ]] || die "$1 not found: run scripts/setup.sh first"
}

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
S3_CREDS="$RUN/s3-credentials"
S3_CONFIG="$RUN/seaweedfs/s3-identities.json"

# Generate the access key / secret once; reuse them on every later start.
ensure_s3_credentials() {
  if [[ ! -s "$S3_CREDS" ]]; then
    mkdir -p "$RUN"
    (
      umask 077
      python3 - >"$S3_CREDS.tmp" <<'EOF'
import secrets, string
alnum = string.ascii_uppercase + string.digits
print("S3_ACCESS_KEY=" + "AK" + "".join(secrets.choice(alnum) for _ in range(18)))
print("S3_SECRET_KEY=" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40)))
EOF
      mv "$S3_CREDS.tmp" "$S3_CREDS"
    )
    log "s3: generated new credentials in $S3_CREDS"
  fi
  chmod 600 "$S3_CREDS"
  S3_ACCESS_KEY="$(sed -n 's/^S3_ACCESS_KEY=//p' "$S3_CREDS")"
  S3_SECRET_KEY="$(sed -n 's/^S3_SECRET_KEY=//p' "$S3_CREDS")"
  [[ -n "$S3_ACCESS_KEY" && -n "$S3_SECRET_KEY" ]] || die "s3: $S3_CREDS is malformed (delete it to regenerate)"
}

write_s3_config() {
  # Identities file for `weed -s3.config`: one admin identity with every action. Written on
  # each start from the credentials file so the two can never disagree.
  mkdir -p "$RUN/seaweedfs"
  (
    umask 077
    cat >"$S3_CONFIG" <<EOF
{
  "identities": [
    {
      "name": "admin",
      "credentials": [{ "accessKey": "$S3_ACCESS_KEY", "secretKey": "$S3_SECRET_KEY" }],
      "actions": ["Admin", "Read", "List", "Tagging", "Write"]
    }
  ]
}
EOF
  )
  chmod 600 "$S3_CONFIG"
}

s3_env() {
  env S3_ENDPOINT="$S3_ENDPOINT" S3_ACCESS_KEY="$S3_ACCESS_KEY" S3_SECRET_KEY="$S3_SECRET_KEY" \
    S3_REGION="$S3_REGION" S3_ADMIN_TIMEOUT=5 "$@"
}

# HTTP status of an anonymous (unsigned) request; auth is enforced when this is 403.
anon_status() { curl -s -o /dev/null -m 5 -w '%{http_code}' "$S3_ENDPOINT$1" 2>/dev/null || true; }

# After a restart the S3 port answers (and bucket metadata is served by the filer) before
# the volume server has sent its first heartbeat to the master (up to ~5 s later); until
# then every GET of existing data fails with HTTP 500 "volume N not found". So wait until
# the master knows our volume server and at least as many volumes as exist on disk.
volumes_registered() {
  local on_disk status reported
  on_disk="$(find "$RUN/seaweedfs/data" -maxdepth 1 -name '*.dat' | wc -l)"
  status="$(curl -s -m 2 "http://$HOST:$SEAWEED_MASTER_PORT/dir/status" 2>/dev/null)" || return 1
  [[ "$status" == *"\"Url\":\"$HOST:$SEAWEED_VOLUME_PORT\""* ]] || return 1
  reported="$(grep -o '"Volumes":[0-9]*' <<<"$status" | head -n 1 | cut -d: -f2)"
  ((${reported:-0} >= on_disk))
}

# A self-signed certificate for the HTTPS S3 port (tests only: clients skip its verification or
# trust this file), valid for 127.0.0.1 and localhost; made once, kept with the state. The address is
# a DNS name in it too: pgBackRest 2.45 matches the endpoint's host against DNS names only.
S3_TLS_DIR="$RUN/seaweedfs/tls"
ensure_s3_certificate() {
  [[ -s "$S3_TLS_DIR/cert.pem" && -s "$S3_TLS_DIR/key.pem" ]] && return 0
  command -v openssl >/dev/null || die "s3: openssl is needed for the HTTPS S3 port's certificate"
  mkdir -p "$S3_TLS_DIR"
  chmod 700 "$S3_TLS_DIR"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$HOST" \
    -addext "subjectAltName=IP:$HOST,DNS:$HOST,DNS:localhost" \
    -keyout "$S3_TLS_DIR/key.pem.tmp" -out "$S3_TLS_DIR/cert.pem.tmp" >/dev/null 2>&1 ||
    die "s3: openssl could not make a certificate in $S3_TLS_DIR"
  chmod 600 "$S3_TLS_DIR/key.pem.tmp"
  mv "$S3_TLS_DIR/key.pem.tmp" "$S3_TLS_DIR/key.pem"
  mv "$S3_TLS_DIR/cert.pem.tmp" "$S3_TLS_DIR/cert.pem"
  log "s3: made a self-signed certificate in $S3_TLS_DIR"
}

seaweedfs_running() {
  local pid
  pid="$(service_pid seaweedfs "$WEED_BIN")" &&
    cmdline_has "$pid" "-s3.port=$S3_PORT" && cmdline_has "$pid" "-master.port=$SEAWEED_MASTER_PORT" &&
    cmdline_has "$pid" "-s3.port.https=$S3_HTTPS_PORT" &&
    port_open "$HOST" "$S3_PORT" && port_open "$HOST" "$S3_HTTPS_PORT"
}

start_seaweedfs() {
  require_bin "$WEED_BIN"
  ensure_s3_credentials
  write_s3_config
  ensure_s3_certificate
  if seaweedfs_running; then
    # create-bucket is idempotent; it also recreates the bucket if a test deleted it.
    if s3_env "${S3_ADMIN[@]}" create-bucket "$S3_BUCKET" >/dev/null 2>&1; then
      log "s3: already running (pid $(service_pid seaweedfs "$WEED_BIN"), $S3_ENDPOINT, bucket $S3_BUCKET)"
      return
    fi
    log "s3: process is up but S3 requests fail, restarting it"
  fi
  stop_service seaweedfs "$WEED_BIN" quiet
  local ports=("$S3_PORT" "$SEAWEED_MASTER_PORT" "$SEAWEED_VOLUME_PORT" "$SEAWEED_FILER_PORT")
  local p
  for p in "${ports[@]}"; do ports+=("$((p + 10000))"); done # gRPC ports
  ensure_ports_free seaweedfs "${ports[@]}" "$S3_HTTPS_PORT"
  mkdir -p "$RUN/seaweedfs/data"
  log "s3: starting SeaweedFS on $S3_ENDPOINT and $S3_HTTPS_ENDPOINT"
  # -ip/-ip.bind: everything on loopback only. -volume.max=0 sizes the volume count from
  # free disk; volumes are small (64 MB) and not preallocated, so an idle store is ~1 MB.
  # -master.electionTimeout=1s: on a restart with existing raft state the single master
  # otherwise waits ~20 s (default 10 s timeout) before electing itself leader.
  # -volume.preStopSeconds=1: default 10 s delay on SIGTERM makes stop/restart slow.
  # Iceberg/Lance catalog ports are disabled; telemetry is off (no internet anyway).
  # -logdir: its log files beside its data, not in /tmp (errors still reach its stderr log).
  mkdir -p "$RUN/seaweedfs/logs"
  spawn seaweedfs "$WEED_BIN" -logdir="$RUN/seaweedfs/logs" server \
    -dir="$RUN/seaweedfs/data" \
    -ip="$HOST" -ip.bind="$HOST" \
    -master.port="$SEAWEED_MASTER_PORT" \
    -master.volumeSizeLimitMB=64 \
    -master.telemetry=false \
    -master.electionTimeout=1s \
    -volume.port="$SEAWEED_VOLUME_PORT" \
    -volume.max=0 \
    -volume.preStopSeconds=1 \
    -filer -filer.port="$SEAWEED_FILER_PORT" \
    -s3 -s3.port="$S3_PORT" -s3.config="$S3_CONFIG" \
    -s3.port.https="$S3_HTTPS_PORT" -s3.cert.file="$S3_TLS_DIR/cert.pem" -s3.key.file="$S3_TLS_DIR/key.pem" \
    -s3.port.iceberg=0 -s3.port.lance=0
  local pid status="" deadline=$((SECONDS + TIMEOUT))
  pid="$(cat "$RUN/seaweedfs.pid")"
  while ((SECONDS < deadline)); do
    if ! pid_alive "$pid"; then
      log_tail seaweedfs
      die "s3: weed exited during startup"
    fi
    # Bucket creation needs master, volume and filer up, so retry it until it succeeds.
    if port_open "$HOST" "$S3_PORT" && port_open "$HOST" "$S3_HTTPS_PORT" && volumes_registered &&
      s3_env "${S3_ADMIN[@]}" create-bucket "$S3_BUCKET" >/dev/null 2>"$RUN/s3-admin.err"; then
      status="$(anon_status "/$S3_BUCKET")"
      if [[ "$status" != 403 ]]; then
        log_tail seaweedfs
        kill_service seaweedfs "$WEED_BIN" >/dev/null
        die "s3: anonymous GET /$S3_BUCKET answered HTTP $status instead of 403: S3 auth is not enforced"
      fi
      rm -f "$RUN/s3-admin.err"
      log "s3: ready (pid $pid), bucket $S3_BUCKET present, anonymous access refused"
      return
    fi
    sleep 0.5
  done
  log_tail seaweedfs
  cat "$RUN/s3-admin.err" >&2 2>/dev/null || true
  kill_service seaweedfs "$WEED_BIN" >/dev/null # leave no half-started server behind
  die "s3: not ready on $S3_ENDPOINT (or bucket $S3_BUCKET not creatable) after ${TIMEOUT}s (log: $RUN/seaweedfs.log)"
}

stop_seaweedfs() { stop_service seaweedfs "$WEED_BIN"; }

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
