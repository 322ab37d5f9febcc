"""gunicorn settings for the web process (read by `gunicorn wsgi:app` from this folder).

Sizing (docs/runbook.md, "Web sizing"). A page is a few milliseconds of Python
(templates, ORM) with short database waits, so the cores are the limit and what matters
under load is that every request waits in ONE queue and is served by the first free
worker, without competing for a process's GIL:

* ``workers`` = cores + 1 (``WEB_CONCURRENCY``): one process per core runs the Python;
  the extra one keeps the cores busy while another waits on the database. With a remote
  database (longer waits) raise it towards 2 x cores + 1.
* ``threads`` = 1 (``GUNICORN_THREADS``), served by the sync worker (gthread when
  threads or keep-alive are turned on, with ``worker_connections`` = ``threads``): a busy
  worker accepts nothing more, so waiting requests stay in the kernel's accept queue and
  go to whichever worker frees first. Threads in one process share one GIL: a thread
  coming back from a database call waits for the others' switch interval, which made the
  slowest requests two to three times the median.
* ``keepalive`` = 0 (``GUNICORN_KEEPALIVE`` seconds): each response closes its
  connection. A kept-alive connection stays with the process that accepted it, and the
  8 clients of bench/bench_portal.py were split 6 / 2 or 5 / 3 between two processes,
  so the busier one's clients queued three times as long. Browsers keep their
  connections alive with the reverse proxy in front (nginx, a load balancer: it also
  terminates TLS and buffers slow clients), which opens a short connection per request
  to gunicorn.

Measured with ``make bench`` (bench_portal.py: 8 clients, admin and operator, SQLite and
PostgreSQL); docs/runbook.md records the figures.
"""

import gc
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or (os.cpu_count() or 1) + 1)
threads = int(os.environ.get("GUNICORN_THREADS") or 1)
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE") or 0)
# One thread, no keep-alive: the sync worker serves each connection in its main thread
# (gthread hands every request to a pool thread and back: 0.2-0.3 ms more CPU a request,
# 5-8 % on the p95 of bench_portal.py). Threads or keep-alive need gthread.
worker_class = "gthread" if threads > 1 or keepalive else "sync"
# A busy worker leaves new requests to a free one; kept-alive connections (when turned
# on) each hold a slot, so they get gunicorn's default room instead.
worker_connections = 1000 if keepalive else threads
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None  # "" turns it off


def post_worker_init(worker):
    """Move what loading the app created (modules, models, routes: ~170,000 objects) out
    of the collector's reach. A full collection otherwise walks them all, stopping a
    request for 80-90 ms every few hundred requests; the requests' own garbage is still
    collected as before."""
    gc.collect()
    gc.freeze()
