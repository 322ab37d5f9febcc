#!/usr/bin/env bash
# make run: Redis (unless REDIS_URL is set), migrations, demo seed, then web + worker +
# scheduler together; Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
source scripts/lib.sh
[ -f .env ] && { set -a; source .env; set +a; }
export FLASK_APP=wsgi PORTAL_ENV=${PORTAL_ENV:-development}
PORT=${PORT:-5000}
# Refuse a busy port before starting anything, with the reason (gunicorn would exit after
# the worker and scheduler had started, leaving "running at" printed over a dead server).
if ! port_problem=$("$PY" - "$PORT" 2>&1 <<'PYEOF'
import socket, sys
try:
    with socket.socket() as s:
        s.bind(("127.0.0.1", int(sys.argv[1])))
except (ValueError, OverflowError):
    sys.exit(f"PORT={sys.argv[1]!r} is not a port number")
except OSError as exc:
    sys.exit(f"port {sys.argv[1]} on 127.0.0.1 is not free ({exc.strerror})")
PYEOF
); then
  echo "make run: cannot serve: $port_problem." >&2
  echo "Stop what uses it or choose another port, e.g. 'make run PORT=5001'." >&2
  exit 1
fi
mkdir -p instance
if [ -z "${REDIS_URL:-}" ]; then start_redis "$PWD/instance/redis"; fi
.venv/bin/flask db upgrade
.venv/bin/flask demo seed
# Workers and threads come from gunicorn.conf.py (docs/runbook.md, "Web sizing").
.venv/bin/gunicorn --bind "127.0.0.1:$PORT" wsgi:app &
web=$!
CLEANUP+=("kill $web")
# Start the worker and scheduler only once the web server answers; if gunicorn exits
# (the port was taken meanwhile, a config error), stop here with its status.
until "$PY" -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" "$PORT" 2>/dev/null; do
  if ! kill -0 "$web" 2>/dev/null; then
    status=0; wait "$web" || status=$?
    echo "make run: the web server (gunicorn) exited with status $status before serving port $PORT; see its messages above." >&2
    exit 1
  fi
  sleep 0.2
done
.venv/bin/flask jobs worker &
CLEANUP+=("kill $!")
.venv/bin/flask jobs scheduler &
CLEANUP+=("kill $!")
cat <<MSG

  Programme Ops is running at http://127.0.0.1:$PORT/
  Sign in with a demo account above (password: demo-password), e.g.
  operator@example.org to run pipelines, member@example.org to see an institution's view.
  Press Ctrl-C to stop the web server, the worker and the scheduler.

MSG
# When any of the three stops, stop the others (the EXIT trap) and say which.
status=0; wait -n || status=$?
echo "make run: a process stopped (status $status); stopping the web server, worker and scheduler." >&2
exit "$status"
