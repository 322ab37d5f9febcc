#!/usr/bin/env bash
# make bench: private Redis and PostgreSQL, then every benchmark in bench/.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
source scripts/lib.sh
RUNDIR=$(mktemp -d /tmp/programme-ops-bench.XXXXXX)
chmod 755 "$RUNDIR"
CLEANUP+=("rm -rf '$RUNDIR'")
start_redis "$RUNDIR/redis" || exit 1
start_postgres "$RUNDIR/pg" || echo "PostgreSQL unavailable: benchmarks use SQLite"
export PG_URL=${PG_URL:-} BENCH_DIR="$RUNDIR"
status=0
for bench in bench/bench_*.py; do
  echo "=== $bench ==="
  $PY "$bench" || status=1
done
exit $status
