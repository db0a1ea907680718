#!/usr/bin/env bash
# Stop the project's PostgreSQL cluster started by deploy/postgres/start.sh (pg_ctl stop -m fast,
# run as the user that owns the data dir). Tolerates nothing running. `--wipe` also deletes the
# data dir, so the next start runs initdb again.
#
# Environment:
#   GRIDFLOW_RUN_DIR   runtime root (default: <repo>/.run); PostgreSQL uses ./postgres
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
RUN_ROOT="${GRIDFLOW_RUN_DIR:-$REPO/.run}"
DATA="$RUN_ROOT/postgres/data"

WIPE=""
for arg in "$@"; do
  case "$arg" in
    --wipe) WIPE=1 ;;
    -h | --help) sed -n '2,7p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "usage: $0 [--wipe]" >&2; exit 2 ;;
  esac
done

log() { printf '[postgres] %s\n' "$*"; }
unset PGDATA
cd /

if [[ -f "$DATA/postmaster.pid" ]]; then
  pid="$(head -n 1 "$DATA/postmaster.pid")"
  bindir="/usr/lib/postgresql/$(cat "$DATA/PG_VERSION" 2>/dev/null || echo none)/bin"
  owner="$(stat -c %U "$DATA")"
  as=()
  if ((EUID == 0)) && [[ "$owner" != root ]]; then
    as=(runuser -u "$owner" --)
  fi
  if [[ -x "$bindir/pg_ctl" ]]; then
    if "${as[@]}" "$bindir/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
      log "stopping server (pid $pid)"
      "${as[@]}" "$bindir/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
      log "stopped"
    else
      log "server is not running (stale postmaster.pid); nothing to stop"
    fi
  elif [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    log "pg_ctl not found; sending SIGINT (fast shutdown) to pid $pid"
    kill -INT "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    log "stopped"
  else
    log "server is not running; nothing to stop"
  fi
else
  log "no server running for $DATA; nothing to stop"
fi

if [[ -n "$WIPE" ]]; then
  log "wiping $DATA"
  rm -rf "$DATA"
fi
