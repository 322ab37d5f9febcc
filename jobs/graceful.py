"""Graceful stop inside a work horse: finish the current step, then hand the run back.

When the worker process is asked to stop (SIGTERM from ``docker stop``, a redeploy),
:class:`jobs.worker.PortalWorker` forwards SIGTERM to its work horse, whose handler
calls :func:`request_stop`. The runner then

* lets the current step finish, for at most WORKER_STOP_GRACE_SECONDS, and
* at the next step boundary ends the attempt and queues the next one
  (``portal.services.retries.end_and_retry(..., immediate=True)``), so another worker
  runs it; a step still running at the end of the grace period is abandoned
  (:class:`WorkerStopping`) and the run handed back the same way.

Set the process manager's stop grace period longer than WORKER_STOP_GRACE_SECONDS.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger(__name__)

_requested = threading.Event()
_deadline: float | None = None


class WorkerStopping(Exception):
    """The worker is stopping and the step did not finish within the grace period."""


def request_stop(grace_seconds: float) -> None:
    """Ask the run in this process to stop at the next step boundary (signal-safe)."""
    global _deadline
    if not _requested.is_set():
        _deadline = time.monotonic() + max(0.0, grace_seconds)
        _requested.set()


def stop_requested() -> bool:
    """Whether a graceful stop was requested in this process."""
    return _requested.is_set()


def grace_expired() -> bool:
    """Whether a requested stop's grace period for the current step has run out."""
    return _requested.is_set() and _deadline is not None and time.monotonic() >= _deadline


def reset() -> None:
    """Forget a stop request (tests; a fresh work horse starts clean anyway)."""
    global _deadline
    _requested.clear()
    _deadline = None


def hand_back(run_id: int, where: str) -> str:
    """End the attempt (the worker is stopping) and queue the next one, dispatched at once.

    Returns:
        "handed back", or the attempt's final status when no retry was queued (attempts
        used up, a pending cancel, or the run had already moved on).
    """
    from jobs.dbretry import with_db_retry
    from portal.services.retries import end_and_retry
    from portal.services.runs import get_run

    message = f"worker stopped (graceful shutdown) {where}"
    outcome = with_db_retry(lambda: end_and_retry(get_run(run_id), message,
                                                  reason="handed_back", immediate=True,
                                                  alert=False),
                            f"run {run_id}: hand back")
    log.info("run %s: %s; %s", run_id, message,
             f"retried as {outcome.retry.uuid}" if outcome.retry else outcome.status)
    return "handed back" if outcome.retry else outcome.status
