#!/usr/bin/env bash
# Stop the local Kafka broker started by deploy/kafka/start.sh (TERM, wait, then KILL).
# Tolerates nothing running. `--wipe` also deletes the broker's data dir (topics, offsets,
# KRaft metadata), so the next start formats fresh storage.
#
# Environment:
#   GRIDFLOW_RUN_DIR               runtime root (default: <repo>/.run); Kafka uses ./kafka
#   GRIDFLOW_KAFKA_STOP_TIMEOUT    seconds to wait after TERM before KILL (default: 30)
# `--sasl` stops the SASL/SCRAM broker of ./kafka-sasl instead.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
RUN_ROOT="${GRIDFLOW_RUN_DIR:-$REPO/.run}"
SASL=""
WIPE=""
for arg in "$@"; do
  case "$arg" in
    --wipe) WIPE=1 ;;
    --sasl) SASL=1 ;;
    -h | --help) sed -n '2,10p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "usage: $0 [--sasl] [--wipe]" >&2; exit 2 ;;
  esac
done
RUN="$RUN_ROOT/kafka${SASL:+-sasl}"
PID_FILE="$RUN/kafka.pid"
TIMEOUT="${GRIDFLOW_KAFKA_STOP_TIMEOUT:-30}"


log() { printf '[kafka] %s\n' "$*"; }

is_our_broker() {
  kill -0 "$1" 2>/dev/null && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka'
}

if [[ -f "$PID_FILE" ]]; then
  pid="$(cat "$PID_FILE")"
  if [[ -n "$pid" ]] && is_our_broker "$pid"; then
    log "stopping broker (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + TIMEOUT))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
      log "broker did not stop within ${TIMEOUT}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    fi
    log "stopped"
  else
    log "no running broker for pid file $PID_FILE (stale); nothing to stop"
  fi
  rm -f "$PID_FILE" "$RUN/kafka.port"
else
  log "no pid file at $PID_FILE; nothing to stop"
fi

if [[ -n "$WIPE" ]]; then
  log "wiping $RUN/data"
  rm -rf "$RUN/data"
fi
