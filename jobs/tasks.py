"""The functions RQ executes, named by dotted path. They take ids, never objects.

Each task runs inside a Flask app context: the worker process binds its app with
:func:`set_app` before forking work horses; a process without one (a bare ``rq``
worker, a script) creates it once with ``portal.create_app()`` and caches it.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask, current_app, has_app_context

log = logging.getLogger(__name__)
_app: Flask | None = None


def set_app(app: Flask) -> None:
    """Bind the app that tasks in this process (and its forked horses) run under."""
    global _app
    _app = app


def get_app() -> Flask:
    """Return the current app, else the bound one, else one created once per process."""
    global _app
    if has_app_context():
        return current_app._get_current_object()  # type: ignore[attr-defined]
    if _app is None:
        from portal import create_app

        _app = create_app()
    return _app


def _worker_name() -> str | None:
    from rq import get_current_job

    job = get_current_job()
    return (job.worker_name if job else None) or os.environ.get("RQ_WORKER_ID")


def execute_run(run_id: int) -> str:
    """Claim and execute run ``run_id``; a run that is not queued is left alone.

    Returns:
        The run's final status, or why nothing was done (``skipped: ...``).
    """
    from jobs.runner import execute

    with get_app().app_context():
        return execute(run_id, worker_name=_worker_name())


def on_run_stopped(job: Any, connection: Any) -> None:  # noqa: ARG001 — RQ callback API
    """RQ stopped the job (cancel after the grace period): end the run accordingly."""
    from portal.services.runs import IllegalTransition, get_run, transition

    run_id = job.args[0] if job.args else None
    with get_app().app_context():
        run = get_run(run_id) if run_id is not None else None
        if run is None or run.status not in ("queued", "running"):
            return
        status = "cancelled" if run.cancel_requested else "failed"
        message = ("cancelled: the step was stopped" if run.cancel_requested
                   else "stopped through RQ without a cancel request")
        try:
            if run.status == "queued" and status == "failed":
                status = "cancelled"
            transition(run, status, message=message, metadata={"rq_stopped": True})
        except IllegalTransition as error:
            log.info("run %s already moved on: %s", run_id, error)


def dispatch_due_job() -> dict[str, Any]:
    """The due scan as an RQ job (kept for queued copies from older versions; the
    scheduler process now runs it itself): start due runs, record the dispatch tick."""
    from portal.services.periodic import dispatch_tick

    with get_app().app_context():
        return dispatch_tick()


def reconcile_job() -> dict[str, Any]:
    """The reconciler as an RQ job (kept for queued copies from older versions)."""
    from portal.services.periodic import reconcile_tick

    with get_app().app_context():
        return reconcile_tick()


def noop() -> None:
    """A job that does nothing: the benchmark's reference for bare RQ overhead."""
    return None
