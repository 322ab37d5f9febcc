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
# Every benchmark records its goals here (bench/goals.py); the table is printed at the end.
export BENCH_RESULTS="$RUNDIR/results.jsonl"
: > "$BENCH_RESULTS"
PG_URL=${PG_URL:-}
status=0
echo "=== bench/bench_validation.py ==="
$PY bench/bench_validation.py || status=1
# A real run's data path (ingest.csv + validate.rules) vs plain polars at 1M and 10M rows;
# BENCH_DATAPATH_ARGS, e.g. "--sizes 1M --large 50M", changes the sizes.
echo "=== bench/bench_datapath.py ==="
# shellcheck disable=SC2086
$PY bench/bench_datapath.py ${BENCH_DATAPATH_ARGS:-} || status=1
# Transform steps vs direct polars (10M occurrences x 1M events; BENCH_TRANSFORMS_ARGS,
# e.g. "--occurrences 1000000 --events 100000", runs a smaller size).
echo "=== bench/bench_transforms.py ==="
# shellcheck disable=SC2086
$PY bench/bench_transforms.py ${BENCH_TRANSFORMS_ARGS:-} || status=1
# TRIM model 3 against rtrim (when R and rtrim are installed; the project never needs R).
echo "=== bench/bench_trim.py --quick ==="
$PY bench/bench_trim.py --quick || status=1
# The orchestration, portal and dispatch benchmarks run on the embedded database and, when the
# private cluster started, on PostgreSQL (the production database) too.
for bench in bench/bench_orchestration.py bench/bench_portal.py bench/bench_dispatch.py; do
  echo "=== $bench (SQLite) ==="
  DATABASE_URL= $PY "$bench" || status=1
  if [ -n "$PG_URL" ]; then
    echo "=== $bench (PostgreSQL) ==="
    url=$(fresh_pg_database "bench_$(basename "$bench" .py)") || { status=1; continue; }
    DATABASE_URL="$url" $PY "$bench" || status=1
  fi
done
$PY bench/goals.py "$BENCH_RESULTS" || status=1
exit $status
