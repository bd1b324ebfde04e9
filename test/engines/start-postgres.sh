#!/usr/bin/env bash
# Project copy of the shared start-postgres.sh (test/helpers/postgres.ts runs it); keep the two in step.
# start-postgres.sh — throwaway PostgreSQL 15 server for tests, from the Debian
# packages (initdb/pg_ctl from /usr/lib/postgresql/15/bin), every file under
# DIR, TCP only on 127.0.0.1:PORT (plus a unix socket in DIR when the path is
# short enough), never as root.
#
# Usage:
#   start-postgres.sh DIR PORT   initdb into DIR/data, start in the background,
#                                wait until it accepts connections, create the
#                                database, print `export K=V` lines on stdout
#                                (progress goes to stderr), e.g.
#                                  eval "$(tools/start-postgres.sh /tmp/pg 5760)"
#   start-postgres.sh stop DIR   stop the server by the PID file DIR/postgres.pid
#                                and delete DIR (KEEP_LOGS=1 keeps DIR/postgres.log).
#
# DIR must not exist or be empty. Printed variables (also written to DIR/env):
# PGURL and DATABASE_URL (postgresql://USER:PASSWORD@127.0.0.1:PORT/DB), PGHOST,
# PGPORT, PGUSER, PGPASSWORD, PGDATABASE.
# Optional environment: PG_DB (default test), PG_USER (superuser name, default
# postgres), PG_PASSWORD (default test), PG_RUN_AS (account the server runs as
# when this script runs as root; default postgres), PG_START_TIMEOUT (s, default 60).
# Settings for speed, not durability: fsync, synchronous_commit and
# full_page_writes are off. TCP logins need the password (scram-sha-256); the
# unix socket in DIR trusts local users.
# Needs root only when the packages are missing: it then runs
# apt-get install -y --no-install-recommends postgresql-15 postgresql-client-15,
# after setting create_main_cluster = false in /etc/postgresql-common/createcluster.conf
# so that the package does not create (or, under systemd, start) a cluster on 5432.
set -euo pipefail

log() { echo "start-postgres: [${SECONDS}s] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null; }

# stop_server DIR: fast shutdown (SIGINT) of the postmaster named in DIR/postgres.pid,
# immediate shutdown (SIGQUIT) after 10 s, SIGKILL after 5 more; then delete DIR.
stop_server() {
  local d=$1 pid="" comm i
  [ -d "$d" ] || { log "nothing to stop: $d does not exist"; return 0; }
  [ -e "$d/data/PG_VERSION" ] || [ -f "$d/postgres.pid" ] || [ -f "$d/postgres.log" ] || [ -f "$d/initdb.log" ] \
    || { log "$d does not look like a start-postgres.sh directory; left alone"; return 0; }
  [ -f "$d/postgres.pid" ] && pid=$(cat "$d/postgres.pid")
  if [ -n "$pid" ]; then
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
    if [ "$comm" = postgres ]; then
      kill -INT "$pid" 2>/dev/null || true
      for i in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
      if alive "$pid"; then
        log "postmaster $pid still running 10 s after SIGINT; SIGQUIT"; kill -QUIT "$pid" 2>/dev/null || true
        for i in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
      fi
      if alive "$pid"; then log "SIGKILL $pid"; kill -KILL "$pid" 2>/dev/null || true; sleep 0.5; fi
    else
      pid=""
    fi
  fi
  rm -rf "$d/data" "$d/postgres.pid" "$d/env" "$d/.pwfile" "$d/.s.PGSQL."*
  [ "${KEEP_LOGS:-0}" = 1 ] || rm -f "$d/postgres.log" "$d/initdb.log"
  rmdir "$d" 2>/dev/null || true
  log "stopped${pid:+ (PID $pid)}, $d removed"
}

if [ "${1:-}" = stop ]; then
  [ $# -eq 2 ] || die "usage: $0 stop DIR"
  stop_server "$2"
  exit 0
fi

[ $# -eq 2 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 2; }
DIR=$1 PORT=$2
case $PORT in (*[!0-9]*|'') die "PORT must be a number";; esac
[ "$PORT" -ge 1024 ] && [ "$PORT" -le 65535 ] || die "PORT must be in 1024..65535"
DB=${PG_DB:-test}
SUPERUSER=${PG_USER:-postgres}
PASSWORD=${PG_PASSWORD:-test}
TIMEOUT=${PG_START_TIMEOUT:-60}

# ---------------------------------------------------------------- packages
pg_bindir() { ls -d /usr/lib/postgresql/15/bin 2>/dev/null || ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
BIN=$(pg_bindir || true)
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ] || [ ! -x "$BIN/psql" ]; then
  [ "$(id -u)" = 0 ] || die "PostgreSQL missing; as root: apt-get install -y --no-install-recommends postgresql-15 postgresql-client-15"
  export DEBIAN_FRONTEND=noninteractive
  inst() { apt-get install -y --no-install-recommends "$@" >&2 || { apt-get update >&2 && apt-get install -y --no-install-recommends "$@" >&2; }; }
  log "installing postgresql-15 (Debian packages)"
  inst postgresql-common || die "apt-get install postgresql-common failed"
  CC=/etc/postgresql-common/createcluster.conf
  if ! grep -q '^[[:space:]]*create_main_cluster' "$CC" 2>/dev/null; then echo "create_main_cluster = false" >> "$CC"; fi
  inst postgresql-15 postgresql-client-15 || die "apt-get install postgresql-15 failed"
  BIN=$(pg_bindir)
fi

# ---------------------------------------------------------------- account, directory
if [ "$(id -u)" = 0 ]; then
  RUN_AS=${PG_RUN_AS:-postgres}
  id "$RUN_AS" >/dev/null 2>&1 || die "user $RUN_AS does not exist (set PG_RUN_AS)"
  as_user() { runuser -u "$RUN_AS" -- "$@"; }
else
  RUN_AS=$(id -un)
  as_user() { "$@"; }
fi
if [ -e "$DIR" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ]; then die "$DIR exists and is not empty"; fi
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then die "127.0.0.1:$PORT is in use"; fi
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
[ "$(id -u)" = 0 ] && chown "$RUN_AS": "$DIR"
as_user test -w "$DIR" -a -x "$DIR" \
  || { rmdir "$DIR" 2>/dev/null || true; die "$RUN_AS cannot write $DIR (are its parent directories searchable by $RUN_AS?)"; }
trap 'rc=$?; if [ $rc -ne 0 ]; then log "start failed (rc=$rc)"; tail -n 20 "$DIR/postgres.log" "$DIR/initdb.log" >&2 2>/dev/null || true; KEEP_LOGS=1 stop_server "$DIR" || true; fi' EXIT

# ---------------------------------------------------------------- initdb
log "initdb ($BIN, as $RUN_AS) in $DIR/data"
( umask 077; printf '%s\n' "$PASSWORD" > "$DIR/.pwfile" )
[ "$(id -u)" = 0 ] && chown "$RUN_AS" "$DIR/.pwfile"
as_user "$BIN/initdb" -D "$DIR/data" -U "$SUPERUSER" --pwfile="$DIR/.pwfile" \
  --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C --no-sync \
  >"$DIR/initdb.log" 2>&1 || die "initdb failed"
rm -f "$DIR/.pwfile" "$DIR/initdb.log"

SOCKDIR=$DIR
[ ${#DIR} -le 90 ] || SOCKDIR=""   # unix socket paths are limited to ~107 bytes
cat >> "$DIR/data/postgresql.conf" <<EOF

# ---- start-postgres.sh: throwaway test server
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCKDIR'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF

# ---------------------------------------------------------------- start
log "starting postgres on 127.0.0.1:$PORT"
as_user "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" -w -t "$TIMEOUT" start >/dev/null \
  || die "pg_ctl start failed"
head -n 1 "$DIR/data/postmaster.pid" > "$DIR/postgres.pid"
export PGPASSWORD=$PASSWORD
"$BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U "$SUPERUSER" -d postgres -v ON_ERROR_STOP=1 \
  -c "SELECT 1" >/dev/null || die "cannot connect over TCP"
if [ "$DB" != postgres ]; then
  "$BIN/psql" -X -q -h 127.0.0.1 -p "$PORT" -U "$SUPERUSER" -d postgres -v ON_ERROR_STOP=1 \
    -c "CREATE DATABASE \"$DB\"" >/dev/null || die "CREATE DATABASE $DB failed"
fi

trap - EXIT
cat > "$DIR/env" <<EOF
export PGURL=postgresql://$SUPERUSER:$PASSWORD@127.0.0.1:$PORT/$DB
export DATABASE_URL=postgresql://$SUPERUSER:$PASSWORD@127.0.0.1:$PORT/$DB
export PGHOST=127.0.0.1
export PGPORT=$PORT
export PGUSER=$SUPERUSER
export PGPASSWORD=$PASSWORD
export PGDATABASE=$DB
EOF
log "ready in ${SECONDS} s (PID $(cat "$DIR/postgres.pid")); log in $DIR/postgres.log"
log "stop with: $0 stop $DIR"
cat "$DIR/env"
