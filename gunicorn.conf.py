"""gunicorn settings for the web process (read by `gunicorn wsgi:app` from this folder).

Sizing (docs/runbook.md, "Web sizing"): a page is mostly Python (templates, ORM) with
short database waits, so one worker process per CPU core runs the Python and a few
threads per worker overlap the database round trips and keep-alive connections.
Defaults: WEB_CONCURRENCY workers = the number of cores, GUNICORN_THREADS = 4 threads
each, i.e. 8 requests in flight on a 2-core host (bench/bench_portal.py's 8 clients).
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 2)
threads = int(os.environ.get("GUNICORN_THREADS") or 4)
worker_class = "gthread"
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None  # "" turns it off
