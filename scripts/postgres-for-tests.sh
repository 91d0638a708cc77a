#!/usr/bin/env bash
# Start (once) a throwaway PostgreSQL on 127.0.0.1 for the store's contract tests and print its DSN.
# Prints nothing (and the PostgreSQL tests skip) when PostgreSQL is not installed; .ci/run installs it.
set -u
if [ -n "${HOLDFAST_TEST_POSTGRES_DSN:-}" ]; then echo "$HOLDFAST_TEST_POSTGRES_DSN"; exit 0; fi
PORT="${HOLDFAST_TEST_POSTGRES_PORT:-55432}"
DIR="/var/tmp/holdfast-test-pg"
DSN="postgresql://postgres@127.0.0.1:${PORT}/postgres"
bin=""
for candidate in /usr/lib/postgresql/*/bin "$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/x)")"; do
  if [ -x "$candidate/pg_ctl" ] && [ -x "$candidate/initdb" ]; then bin="$candidate"; break; fi
done
if [ -z "$bin" ]; then echo "postgres-for-tests: PostgreSQL not installed; its tests will skip" >&2; exit 0; fi
run() {  # PostgreSQL refuses to run as root
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}
mkdir -p "$DIR"
[ "$(id -u)" = 0 ] && chown postgres: "$DIR"
if [ ! -f "$DIR/data/PG_VERSION" ]; then
  run "'$bin/initdb' -D '$DIR/data' -A trust -U postgres" >"$DIR/initdb.log" 2>&1 || {
    echo "postgres-for-tests: initdb failed, see $DIR/initdb.log" >&2; exit 0; }
fi
if ! run "'$bin/pg_ctl' -D '$DIR/data' status" >/dev/null 2>&1; then
  run "'$bin/pg_ctl' -D '$DIR/data' -l '$DIR/server.log' -w -o \"-p $PORT -k $DIR -c listen_addresses=127.0.0.1\" start" \
    >/dev/null 2>&1 || { echo "postgres-for-tests: could not start, see $DIR/server.log" >&2; exit 0; }
fi
echo "$DSN"
