# Process helpers of scripts/services.sh (sourced): pid files, process groups, ports, a clean environment.
# Uses RUN, ROOT, STOP_TIMEOUT and CLEAN_ENV_UNSET as services.sh sets them.

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
