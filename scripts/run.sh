#!/usr/bin/env bash
# make run: Redis (unless REDIS_URL is set), migrations, demo seed, then web + worker +
# scheduler together; Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
source scripts/lib.sh
[ -f .env ] && { set -a; source .env; set +a; }
export FLASK_APP=wsgi PORTAL_ENV=${PORTAL_ENV:-development}
mkdir -p instance
if [ -z "${REDIS_URL:-}" ]; then start_redis "$PWD/instance/redis"; fi
.venv/bin/flask db upgrade
.venv/bin/flask demo seed
PORT=${PORT:-5000}
.venv/bin/gunicorn --bind "127.0.0.1:$PORT" --workers 2 --threads 4 --access-logfile - wsgi:app &
CLEANUP+=("kill $!")
.venv/bin/flask jobs worker &
CLEANUP+=("kill $!")
.venv/bin/flask jobs scheduler &
CLEANUP+=("kill $!")
sleep 1
cat <<MSG

  Programme Ops is running at http://127.0.0.1:$PORT/
  Sign in with a demo account above (password: demo-password), e.g.
  operator@example.org to run pipelines, member@example.org to see an institution's view.
  Press Ctrl-C to stop the web server, the worker and the scheduler.

MSG
wait
