"""gunicorn settings for the web process (read by `gunicorn wsgi:app` from this folder).

Sizing (docs/runbook.md, "Web sizing"): a page is mostly Python (templates, ORM) with
short database waits, so one worker process per CPU core runs the Python and a few
threads per worker overlap the database round trips and keep-alive connections.
Defaults: WEB_CONCURRENCY workers = the number of cores, GUNICORN_THREADS = 4 threads
each, i.e. 8 requests in flight on a 2-core host (bench/bench_portal.py's 8 clients).

How to size: a page costs 3-9 ms of CPU (bench_portal.py's "alone" column) of which
well under 1 ms waits on the database, so throughput is bounded by cores, not threads:
requests per second ~ cores x 1000 / (page ms). Threads only need to cover the clients
in flight (workers x threads >= concurrent clients) so none waits for a free slot; more
processes than cores adds memory (~90 MB each) and context switches without adding
throughput. Measured on the 2-core host with 8 clients (shared and busy, so only the
order is meaningful): 2 x 4 and 4 x 2 were within the noise of each other, 8 x 1 was
worse (alone per request ~2x, p95 up to 575 ms). To serve more clients, add cores and
workers (one per core), keeping workers x threads >= the expected concurrent requests.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or os.cpu_count() or 2)
threads = int(os.environ.get("GUNICORN_THREADS") or 4)
worker_class = "gthread"
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None  # "" turns it off
