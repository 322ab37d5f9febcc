#!/usr/bin/env bash
# make test: private Redis and PostgreSQL, then the whole suite on SQLite and on PostgreSQL.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
source scripts/lib.sh
RUNDIR=$(mktemp -d /tmp/programme-ops-test.XXXXXX)
chmod 755 "$RUNDIR"  # the postgres user must reach its cluster inside
CLEANUP+=("rm -rf '$RUNDIR'")
start_redis "$RUNDIR/redis" || { echo "FAIL: could not start Redis"; exit 1; }
pg_ok=1
start_postgres "$RUNDIR/pg" || pg_ok=0
if [ $pg_ok = 0 ] && [ -n "${CI:-}" ]; then echo "FAIL: PostgreSQL could not be started in CI"; exit 1; fi
export PORTAL_ENV=testing
status=0
echo "=== test suite on SQLite ==="
TEST_DATABASE_URL="sqlite:///$RUNDIR/test.sqlite3" .venv/bin/pytest "$@" || status=1
if [ $pg_ok = 1 ]; then
  echo "=== test suite on PostgreSQL ==="
  TEST_DATABASE_URL="$PG_URL" .venv/bin/pytest "$@" || status=1
else
  echo "WARNING: PostgreSQL not available: the PostgreSQL pass did not run"; status=1
fi
exit $status
