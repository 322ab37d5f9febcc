"""The RQ worker process: ``flask jobs worker``.

A forking :class:`rq.Worker`: each job runs in a fresh work horse, so a step that leaks
memory or crashes cannot take the worker down, and RQ's stop command can kill a step.
The app and the heavy imports (polars, the step registry) are loaded once in the parent
before forking, and every statement of a run is compiled there by a rolled-back
rehearsal (``jobs.warmup``); each horse drops the inherited database connections so no
socket is shared across processes.

**A standby horse** (``WORKER_PREFORK``, on by default). A fresh fork is slow at first:
every page it touches is copied from the parent, and it opens its database connection
when the job has already arrived. So while the worker waits, the next horse is forked
ahead and readies itself: it connects to Redis and the database and rehearses a run
(rolled back), which copies the pages a run touches. When a job arrives the parent hands
it the job's ids over a pipe, instead of forking then; a 1-step run took about half the
time. The standby is an ordinary horse to RQ (its pid is the horse pid: monitored,
stopped, killed and timed out the same way), one job each, exits when the worker goes
(the pipe closes); if it died meanwhile the worker forks a horse as before.

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
import select
import signal
import socket
import threading
import time
import uuid
from collections.abc import Sequence

from flask import Flask
from redis.exceptions import RedisError
from rq import Worker
from rq.exceptions import NoSuchJobError
from rq.executions import Execution
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from jobs import graceful, tasks
from jobs.registry import load_builtin_steps
from jobs.warmup import warm_horse, warm_worker
from portal.extensions import db
from portal.services.dispatch import QUEUES, get_queue, redis_connection

log = logging.getLogger(__name__)


class PortalWorker(Worker):
    """An RQ Worker whose work horses run jobs under the portal's app."""

    portal_app: Flask | None = None
    portal_engine: Engine | None = None  # the app's db.engine, for the horse's fork recipe
    stop_requested_by_signal = False
    prefork = False  # keep a standby horse (make_worker: WORKER_PREFORK)
    _standby: tuple[int, int] | None = None  # (pid, the write end of its pipe)
    _connections_forgotten = False  # in a standby: done before the job arrived

    def main_work_horse(self, job, queue):  # noqa: D102 — RQ API
        if self.portal_engine is not None and not self._connections_forgotten:
            _forget_inherited_connections(self.portal_engine)
        super().main_work_horse(job, queue)

    def bootstrap(self, *args, **kwargs):  # noqa: D102 — RQ API
        super().bootstrap(*args, **kwargs)
        self.start_standby()

    def execute_job(self, job, queue):  # noqa: D102 — RQ API
        super().execute_job(job, queue)
        self.start_standby()  # the horse has gone: ready the next one while idle

    def fork_work_horse(self, job, queue):  # noqa: D102 — RQ API
        if not self._hand_to_standby(job, queue):
            super().fork_work_horse(job, queue)

    def teardown(self):  # noqa: D102 — RQ API
        if not self.is_horse:
            self.stop_standby()
        super().teardown()

    def start_standby(self) -> None:
        """Fork the next work horse now; it waits for its job on a pipe."""
        if not self.prefork or self._standby is not None or self.is_horse \
                or self._stop_requested:  # a warm shutdown takes no further job
            return
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the standby
            os.close(write)
            os.setpgrp()  # its own process group, like any horse
            try:
                self._standby_main(read)  # ends in RQ's main_work_horse, which exits
            except BaseException:  # noqa: BLE001 — e.g. the job vanished: RQ sees a failure
                log.exception("standby horse: could not take its job")
                os._exit(1)
            os._exit(0)
        os.close(read)
        try:  # from both sides, so the group is set whichever process runs first
            os.setpgid(pid, pid)
        except OSError:  # it has already done so, or died (found when a job is handed)
            pass
        self._standby = (pid, write)

    def stop_standby(self) -> None:
        """End the standby horse, if any (it exits when its pipe closes)."""
        standby, self._standby = self._standby, None
        if standby is None:
            return
        pid, pipe = standby
        os.close(pipe)
        try:
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass

    def _hand_to_standby(self, job, queue) -> bool:
        """Give ``job`` to the standby horse; False when there is none (or it died)."""
        standby, self._standby = self._standby, None
        if standby is None:
            return False
        pid, pipe = standby
        try:
            os.write(pipe, f"{job.id} {queue.name} {self.execution.id}\n".encode())
        except OSError:  # it died while waiting: reap it and fork as usual
            os.close(pipe)
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            return False
        os.close(pipe)
        os.environ["RQ_WORKER_ID"] = self.name  # as RQ's own fork_work_horse sets them
        os.environ["RQ_JOB_ID"] = job.id
        self._horse_pid = pid
        self.procline(f"Handed {job.id} to standby horse {pid} at {time.time()}")
        return True

    def _standby_main(self, read: int) -> None:
        """In the standby: get ready, wait for a job's ids, then work as RQ's horse."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # no job yet: nothing to finish
        if self.portal_engine is not None:
            _forget_inherited_connections(self.portal_engine)
            self._connections_forgotten = True
        try:
            self.connection.ping()
            if self.portal_app is not None:  # connects, and touches what a run touches
                warm_horse(self.portal_app,
                           job_waiting=lambda: bool(select.select([read], [], [], 0)[0]))
        except Exception as error:  # noqa: BLE001 — readiness only: the job may still run
            log.debug("standby horse: warm-up skipped (%s)", error)
        message = b""
        while not message.endswith(b"\n"):
            chunk = os.read(read, 256)
            if not chunk:  # the worker has gone, or gave up on this standby
                os._exit(0)
            message += chunk
        os.close(read)
        job_id, queue_name, execution_id = message.decode().split()
        os.environ["RQ_WORKER_ID"] = self.name
        os.environ["RQ_JOB_ID"] = job_id
        # What RQ's SpawnWorker does in its horse: the job, queue and execution by id
        # (both hashes read in one round trip).
        job = self.job_class(job_id, connection=self.connection, serializer=self.serializer)
        execution = Execution(id=execution_id, job_id=job_id, connection=self.connection)
        with self.connection.pipeline(transaction=False) as pipe:
            pipe.hgetall(job.key)
            pipe.hgetall(execution.key)
            job_hash, execution_hash = pipe.execute()
        if not job_hash or not execution_hash:
            raise NoSuchJobError(f"job {job_id} or its execution {execution_id} is gone")
        job.restore(job_hash)
        execution.restore(execution_hash)
        queue = self.queue_class(queue_name, connection=self.connection,
                                 job_class=self.job_class, serializer=self.serializer,
                                 death_penalty_class=self.death_penalty_class)
        execution._job = job
        self.executions.clear()
        self.execution = execution
        self.main_work_horse(job, queue)

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
    warm_worker(app)  # every statement of a run, compiled once here
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
    worker.prefork = bool(app.config.get("WORKER_PREFORK", True))
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
