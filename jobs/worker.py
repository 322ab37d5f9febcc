"""The RQ worker process: ``flask jobs worker``.

A normal forking :class:`rq.Worker`: each job runs in a fresh work horse, so a step
that leaks memory or crashes cannot take the worker down, and RQ's stop command can
kill a step. The app and the heavy imports (polars, the step registry) are loaded
once in the parent before forking, which keeps run-now → running fast; each horse
drops the inherited database connections so no socket is shared across processes.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Sequence

from flask import Flask
from rq import Worker

from jobs import tasks
from jobs.registry import load_builtin_steps
from portal.extensions import db
from portal.services.dispatch import QUEUES, get_queue, redis_connection
from portal.services.runs import warm_statement_cache

log = logging.getLogger(__name__)


class PortalWorker(Worker):
    """An RQ Worker whose work horses run jobs under the portal's app."""

    portal_app: Flask | None = None

    def main_work_horse(self, job, queue):  # noqa: D102 — RQ API
        _forget_inherited_connections(self.portal_app)
        super().main_work_horse(job, queue)


def _forget_inherited_connections(app: Flask | None) -> None:
    """Drop pooled DB connections copied from the parent without closing them."""
    if app is None:
        return
    with app.app_context():
        db.engine.dispose(close=False)


def warm_up(app: Flask) -> None:
    """Import what every job needs once, in the parent, before any fork."""
    import polars  # noqa: F401 — imported for its side effect: loaded before fork

    from jobs import runner  # noqa: F401

    load_builtin_steps()
    with app.app_context():
        warm_statement_cache()
        db.session.remove()
        db.engine.dispose()


def make_worker(app: Flask, queue_names: Sequence[str] = QUEUES,
                name: str | None = None) -> PortalWorker:
    """Build a PortalWorker on REDIS_URL listening to ``queue_names`` in priority order."""
    with app.app_context():
        connection = redis_connection(app.config["REDIS_URL"])
        queues = [get_queue(queue_name, connection) for queue_name in queue_names]
    # pid alone repeats across container restarts (pid 1), and a killed worker's key lingers.
    worker_name = name or f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}"
    worker = PortalWorker(queues, connection=connection, name=worker_name)
    worker.portal_app = app
    return worker


def run_worker(app: Flask, queue_names: Sequence[str] = QUEUES, burst: bool = False,
               name: str | None = None, logging_level: str = "INFO") -> bool:
    """Run a worker until stopped (or, with ``burst``, until the queues are empty).

    Returns:
        True when the worker did any work.
    """
    tasks.set_app(app)
    warm_up(app)
    worker = make_worker(app, queue_names, name)
    log.info("worker %s listening on %s", worker.name, ", ".join(queue_names))
    return worker.work(burst=burst, logging_level=logging_level, with_scheduler=False)
