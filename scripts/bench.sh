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
export BENCH_DIR="$RUNDIR"
PG_URL=${PG_URL:-}
status=0
echo "=== bench/bench_validation.py ==="
$PY bench/bench_validation.py || status=1
# Transform steps vs direct polars (10M occurrences x 1M events; BENCH_TRANSFORMS_ARGS,
# e.g. "--occurrences 1000000 --events 100000", runs a smaller size).
echo "=== bench/bench_transforms.py ==="
# shellcheck disable=SC2086
$PY bench/bench_transforms.py ${BENCH_TRANSFORMS_ARGS:-} || status=1
# The orchestration and portal benchmarks run on the embedded database and, when the
# private cluster started, on PostgreSQL (the production database) too.
for bench in bench/bench_orchestration.py bench/bench_portal.py; do
  echo "=== $bench (SQLite) ==="
  DATABASE_URL= $PY "$bench" || status=1
  if [ -n "$PG_URL" ]; then
    echo "=== $bench (PostgreSQL) ==="
    url=$(fresh_pg_database "bench_$(basename "$bench" .py)") || { status=1; continue; }
    DATABASE_URL="$url" $PY "$bench" || status=1
  fi
done
exit $status
