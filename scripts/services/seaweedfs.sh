# SeaweedFS for scripts/services.sh (sourced): credentials, identities, TLS certificate, start and stop.
# Uses the settings and process helpers services.sh has set and sourced.

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
