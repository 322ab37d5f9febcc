"""The RQ worker process: ``flask jobs worker``.

A normal forking :class:`rq.Worker`: each job runs in a fresh work horse, so a step
that leaks memory or crashes cannot take the worker down, and RQ's stop command can
kill a step. The app and the heavy imports (polars, the step registry) are loaded
once in the parent before forking, and every statement of a run is compiled there by
a rolled-back rehearsal (``jobs.warmup``), which keeps run-now → running fast; each
horse drops the inherited database connections so no socket is shared across processes.

Stopping and outages:

* SIGTERM (a redeploy) is a warm shutdown: the worker takes no new job and forwards
  SIGTERM to its work horse, which finishes the current step (at most
  WORKER_STOP_GRACE_SECONDS) and hands the run back to the queue as a new attempt
  (``jobs.graceful``); then the worker exits.
* Redis down: RQ already retries while waiting for a job; a Redis error anywhere else
  (heartbeats while a horse runs, registering) no longer ends the process —
  :func:`run_worker` starts the work loop again after a back-off, and a horse's
  heartbeats are skipped, not fatal, while it keeps executing its run.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Sequence

from flask import Flask
from redis.exceptions import RedisError
from rq import Worker
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from jobs import graceful, tasks
from jobs.registry import load_builtin_steps
from jobs.warmup import rehearse_run
from portal.extensions import db
from portal.services.dispatch import QUEUES, get_queue, redis_connection

log = logging.getLogger(__name__)


class PortalWorker(Worker):
    """An RQ Worker whose work horses run jobs under the portal's app."""

    portal_app: Flask | None = None
    portal_engine: Engine | None = None  # the app's db.engine, for the horse's fork recipe
    stop_requested_by_signal = False

    def main_work_horse(self, job, queue):  # noqa: D102 — RQ API
        if self.portal_engine is not None:
            _forget_inherited_connections(self.portal_engine)
        super().main_work_horse(job, queue)

    def setup_work_horse_signals(self):  # noqa: D102 — RQ API
        # SIGTERM (forwarded by the parent, or sent to the whole group) means "finish the
        # step and hand the run back", never "die mid-step".
        grace = float((self.portal_app.config if self.portal_app else {})
                      .get("WORKER_STOP_GRACE_SECONDS", 240))
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda *_: graceful.request_stop(grace))

    def request_stop(self, signum, frame):  # noqa: D102 — RQ API
        self.stop_requested_by_signal = True
        super().request_stop(signum, frame)

    def handle_warm_shutdown_request(self):  # noqa: D102 — RQ API
        super().handle_warm_shutdown_request()
        if self.horse_pid:
            self.log.info("Worker %s: asking work horse %s to hand its run back", self.name,
                          self.horse_pid)
            try:
                os.kill(self.horse_pid, signal.SIGTERM)
            except OSError:
                pass

    def maintain_heartbeats(self, job, execution):  # noqa: D102 — RQ API
        try:
            super().maintain_heartbeats(job, execution)
        except RedisError as error:  # keep watching the horse: the run is in the database
            self.log.warning("Worker %s: heartbeat skipped, Redis unavailable: %s",
                             self.name, error)


def _forget_inherited_connections(engine: Engine) -> None:
    """Drop pooled DB connections copied from the parent without closing them.

    SQLAlchemy's recipe for a forked child: the engine keeps its dialect (initialised by
    the parent's first connection) and compiled statements, and opens its own connections.
    """
    engine.dispose(close=False)


def warm_up(app: Flask) -> None:
    """Import what every job needs once, in the parent, before any fork."""
    # BLAS reads these when numpy loads (below, with the steps): TRIM's matrices are small,
    # and BLAS threads contending on a shared 2-core host made fits 3-5 times slower.
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    import polars  # noqa: F401 — imported for its side effect: loaded before fork

    # What a run imports on its way (the claim, the final transition, a hand-back).
    import portal.services.alerts  # noqa: F401
    import portal.services.retries  # noqa: F401
    import portal.services.review  # noqa: F401
    from jobs import runner  # noqa: F401

    load_builtin_steps()
    with app.app_context():
        rehearse_run(app)  # every statement of a run, compiled once here
        db.engine.dispose()
    # Everything loaded so far lives as long as the worker: keep it out of the cyclic
    # garbage collector, so a horse's collections do not touch (and copy) its pages.
    gc.collect()
    gc.freeze()


def make_worker(app: Flask, queue_names: Sequence[str] = QUEUES,
                name: str | None = None) -> PortalWorker:
    """Build a PortalWorker on REDIS_URL listening to ``queue_names`` in priority order."""
    with app.app_context():
        connection = redis_connection(app.config["REDIS_URL"])
        queues = [get_queue(queue_name, connection) for queue_name in queue_names]
        engine = db.engine
    # pid alone repeats across container restarts (pid 1), and a killed worker's key lingers.
    worker_name = name or f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}"
    worker = PortalWorker(queues, connection=connection, name=worker_name)
    worker.portal_app = app
    worker.portal_engine = engine
    return worker


def run_worker(app: Flask, queue_names: Sequence[str] = QUEUES, burst: bool = False,
               name: str | None = None, logging_level: str = "INFO") -> bool:
    """Run a worker until stopped (or, with ``burst``, until the queues are empty).

    Returns:
        True when the worker did any work.
    """
    tasks.set_app(app)
    worked, failures, warmed = False, 0, False
    max_backoff = float(app.config.get("OUTAGE_BACKOFF_MAX_SECONDS", 30))
    while True:
        try:
            if not warmed:
                warm_up(app)  # needs the database: retried like Redis when it is down
                warmed = True
            worker = make_worker(app, queue_names, name)
            log.info("worker %s listening on %s", worker.name, ", ".join(queue_names))
            worked = worker.work(burst=burst, logging_level=logging_level,
                                 with_scheduler=False) or worked
            if burst or worker.stop_requested_by_signal:
                return worked  # a requested stop, or the end of a burst
        except RedisError as error:  # Redis down at start or between jobs
            log.warning("worker: Redis unavailable (%s)", error)
        except SQLAlchemyError as error:  # the database down while warming up
            log.warning("worker: database unavailable (%s)", str(error).splitlines()[0])
        if burst:  # a burst is one pass (CI, cron): report the outage and stop
            raise SystemExit("worker: a burst cannot proceed while Redis or the database is down")
        failures += 1
        delay = min(max_backoff, 2.0 ** (failures - 1))
        log.warning("worker: the work loop ended on an error; starting again in %gs", delay)
        _sleep_unless_stopped(delay)


def _sleep_unless_stopped(delay: float) -> None:
    """Wait ``delay`` seconds; SIGTERM/SIGINT during the wait end the process."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if stop.wait(delay):
            raise SystemExit(0)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
