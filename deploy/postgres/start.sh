#!/usr/bin/env bash
# Start the project's own PostgreSQL cluster for local development and tests (not Debian's
# default "main" cluster). Idempotent: if the server already answers it only makes sure the
# role and database exist. Installs Debian's `postgresql` package when no server binaries are
# found under /usr/lib/postgresql/*/bin.
#
# Connection: TCP 127.0.0.1:$GRIDFLOW_PG_PORT, user gridflow, password gridflow, database
# gridflow (scram-sha-256). The superuser `postgres` is reachable only through the unix socket
# in the run dir (trust, socket dir mode 0700).
#
# Environment:
#   GRIDFLOW_RUN_DIR            runtime root (default: <repo>/.run); PostgreSQL uses ./postgres
#   GRIDFLOW_PG_PORT            TCP port on 127.0.0.1 (default: 55432)
#   GRIDFLOW_PG_START_TIMEOUT   seconds to wait for the server to accept connections (default: 60)
#
# Layout under $GRIDFLOW_RUN_DIR/postgres: data/ (the cluster), log/postgres.log, socket/.
# When run as root the cluster belongs to the `postgres` system user (initdb and postgres refuse
# to run as root). Prints the SQLAlchemy URL as its last line of output.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
RUN_ROOT="${GRIDFLOW_RUN_DIR:-$REPO/.run}"
mkdir -p "$RUN_ROOT"
RUN_ROOT="$(cd "$RUN_ROOT" && pwd)"
PGRUN="$RUN_ROOT/postgres"
DATA="$PGRUN/data"
LOG_DIR="$PGRUN/log"
LOG="$LOG_DIR/postgres.log"
SOCK="$PGRUN/socket"

PORT="${GRIDFLOW_PG_PORT:-55432}"
TIMEOUT="${GRIDFLOW_PG_START_TIMEOUT:-60}"
APP_USER=gridflow
APP_PASSWORD=gridflow
APP_DB=gridflow
URL="postgresql+psycopg2://$APP_USER:$APP_PASSWORD@127.0.0.1:$PORT/$APP_DB"

log() { printf '[postgres] %s\n' "$*"; }
die() { printf '[postgres] ERROR: %s\n' "$*" >&2; exit 1; }

# Connection settings from the caller's environment must not redirect our own commands.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGSERVICE PGOPTIONS PGPASSFILE PGDATA
cd /  # the `postgres` user may not be able to enter the caller's working directory

# Unix socket paths are limited to ~107 bytes; fall back to /tmp for deep checkouts.
if ((${#SOCK} + 16 > 100)); then
  SOCK="/tmp/gridflow-pg-$(id -u)-$PORT"
fi

# --------------------------------------------------------------------------- binaries
find_bindir() {
  local want="" dir
  if [[ -f "$DATA/PG_VERSION" ]]; then
    want="/usr/lib/postgresql/$(cat "$DATA/PG_VERSION")/bin"
    [[ -x "$want/pg_ctl" ]] && { echo "$want"; return 0; }
  fi
  dir="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null \
    | sort -V | tail -n 1)"
  [[ -n "$dir" && -x "$dir/pg_ctl" && -x "$dir/initdb" ]] || return 1
  echo "$dir"
}

install_postgres() {
  local sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null || die "PostgreSQL is not installed and neither root nor sudo"
    sudo=(sudo)
  fi
  log "PostgreSQL server binaries not found; installing Debian's postgresql package"
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
}

BINDIR="$(find_bindir)" || {
  install_postgres
  BINDIR="$(find_bindir)" || die "postgresql installed but no server binaries found"
}

# --------------------------------------------------------------------------- identity
AS=()
if ((EUID == 0)); then
  id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' system user"
  AS=(runuser -u postgres --)
  OWNER=postgres
else
  OWNER="$(id -un)"
fi

superuser_psql() {
  # psql as the cluster superuser over our unix socket (trust); SQL on stdin.
  "${AS[@]}" "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres \
    -d postgres
}

app_login_ok() {
  PGPASSWORD="$APP_PASSWORD" PGCONNECT_TIMEOUT=3 "$BINDIR/psql" -X -q -tA \
    -h 127.0.0.1 -p "$PORT" -U "$APP_USER" -d "$APP_DB" -c 'SELECT 1' >/dev/null 2>&1
}

tcp_ready() {
  "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 2
}

provision() {
  superuser_psql <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$APP_USER') THEN
    CREATE ROLE $APP_USER LOGIN CREATEDB PASSWORD '$APP_PASSWORD';
  ELSE
    ALTER ROLE $APP_USER LOGIN CREATEDB PASSWORD '$APP_PASSWORD';
  END IF;
END
\$\$;
SELECT 'CREATE DATABASE $APP_DB OWNER $APP_USER'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$APP_DB')
\gexec
SQL
  app_login_ok || die "role/database provisioned but login as $APP_USER over TCP fails"
}

# --------------------------------------------------------------------------- already up?
if tcp_ready; then
  if [[ -S "$SOCK/.s.PGSQL.$PORT" ]]; then
    provision
    log "server already running on 127.0.0.1:$PORT; role and database ensured"
  elif app_login_ok; then
    printf '[postgres] WARNING: a server not started from this run dir answers on' >&2
    printf ' 127.0.0.1:%s and accepts %s/%s; using it (set GRIDFLOW_PG_PORT for our own)\n' \
      "$PORT" "$APP_USER" "$APP_DB" >&2
  else
    die "port $PORT answers but is not this project's cluster (set GRIDFLOW_PG_PORT)"
  fi
  echo "$URL"
  exit 0
fi

# --------------------------------------------------------------------------- directories
mkdir -p "$PGRUN" "$LOG_DIR" "$SOCK"
if ((EUID == 0)); then
  chown postgres:postgres "$PGRUN" "$LOG_DIR" "$SOCK"
  if [[ -d "$DATA" && "$(stat -c %U "$DATA")" != postgres ]]; then
    chown -R postgres:postgres "$DATA"
  fi
  # Every ancestor of the run dir must be traversable by the postgres user (checked top-down).
  ancestors=()
  dir="$PGRUN"
  while [[ "$dir" != / ]]; do
    dir="$(dirname "$dir")"
    ancestors=("$dir" "${ancestors[@]}")
  done
  for dir in "${ancestors[@]}"; do
    if ! runuser -u postgres -- test -x "$dir"; then
      log "making $dir traversable (o+x) for the postgres user"
      chmod o+x "$dir"
    fi
  done
fi
chmod 700 "$SOCK"

# --------------------------------------------------------------------------- initdb
if [[ ! -f "$DATA/PG_VERSION" ]]; then
  log "initialising a new cluster in $DATA ($("$BINDIR/postgres" --version))"
  "${AS[@]}" "$BINDIR/initdb" -D "$DATA" -U postgres --encoding=UTF8 --no-locale \
    --auth-local=trust --auth-host=scram-sha-256 >"$LOG_DIR/initdb.log" 2>&1 \
    || { cat "$LOG_DIR/initdb.log" >&2; die "initdb failed"; }
  cat >>"$DATA/postgresql.conf" <<'EOF'

# --- gridflow (deploy/postgres/start.sh); port, listen address and socket dir are passed
# --- on the pg_ctl command line on every start.
unix_socket_permissions = 0700
password_encryption = scram-sha-256
log_line_prefix = '%m [%p] %q%u@%d '
EOF
fi

# --------------------------------------------------------------------------- start
log "starting PostgreSQL (owner $OWNER) on 127.0.0.1:$PORT, log $LOG"
if ! "${AS[@]}" "$BINDIR/pg_ctl" -D "$DATA" -l "$LOG" -w -t "$TIMEOUT" \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $SOCK" start >/dev/null; then
  echo "----- tail of $LOG -----" >&2
  tail -n 30 "$LOG" >&2 || true
  die "pg_ctl could not start the server"
fi

deadline=$((SECONDS + TIMEOUT))
until tcp_ready; do
  if ((SECONDS >= deadline)); then
    echo "----- tail of $LOG -----" >&2
    tail -n 30 "$LOG" >&2 || true
    die "the server did not accept TCP connections on 127.0.0.1:$PORT within ${TIMEOUT}s"
  fi
  sleep 0.5
done

provision
log "server is up; role $APP_USER and database $APP_DB ensured"
echo "$URL"
