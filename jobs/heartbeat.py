"""The run heartbeat and the step watchdog helpers used by ``jobs.runner``.

The heartbeat is a thread with its own database connection: it stamps
``heartbeat_at`` every RUN_HEARTBEAT_SECONDS while the run is running (so the
reconciler can tell a live run from a lost worker) and watches ``cancel_requested``.
When a cancel is requested and the current step has not reached a boundary within
RUN_CANCEL_GRACE_SECONDS, it asks RQ to stop the job; the worker kills the work horse
and ``jobs.tasks.on_run_stopped`` ends the run ``cancelled``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select, update

from jobs import graceful
from portal.models import MonitoringProgrammeRun

log = logging.getLogger(__name__)
RUNS = MonitoringProgrammeRun.__table__


class StepTimeout(Exception):
    """A step ran longer than its timeout."""


class Heartbeat(threading.Thread):
    """Keep a running run's ``heartbeat_at`` fresh and notice cancel requests."""

    def __init__(self, engine: Engine, run_id: int, interval: float, *,
                 cancel_grace: float, stop_job: Callable[[], Any] | None = None):
        super().__init__(name=f"heartbeat-run-{run_id}", daemon=True)
        self.engine = engine
        self.run_id = run_id
        self.interval = max(0.2, float(interval))
        self.cancel_grace = cancel_grace
        self.stop_job = stop_job
        self.cancel_requested = threading.Event()
        self._stopping = threading.Event()
        self._cancel_seen_at: float | None = None
        self._stop_sent = False

    def run(self) -> None:  # noqa: D102 — threading.Thread API
        while not self._stopping.wait(self.interval):
            self.beat()

    def beat(self) -> None:
        """Stamp the heartbeat once and check for a cancel request."""
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    update(RUNS)
                    .where(RUNS.c.id == self.run_id, RUNS.c.status == "running")
                    .values(heartbeat_at=datetime.now(UTC))
                )
                cancel = connection.scalar(
                    select(RUNS.c.cancel_requested).where(RUNS.c.id == self.run_id))
        except Exception as error:  # noqa: BLE001 — a missed beat is not fatal
            log.warning("heartbeat of run %s failed: %s", self.run_id, error)
            return
        if cancel:
            self._on_cancel()

    def _on_cancel(self) -> None:
        self.cancel_requested.set()
        now = time.monotonic()
        if self._cancel_seen_at is None:
            self._cancel_seen_at = now
        if (not self._stop_sent and self.stop_job is not None
                and now - self._cancel_seen_at >= self.cancel_grace):
            self._stop_sent = True
            log.info("run %s: step did not stop within %ss of cancel; stopping the job",
                     self.run_id, self.cancel_grace)
            try:
                self.stop_job()
            except Exception as error:  # noqa: BLE001
                log.warning("could not stop the job of run %s: %s", self.run_id, error)

    def stop(self) -> None:
        """End the thread (it exits within one interval)."""
        self._stopping.set()


def call_with_timeout(func: Callable[[Any], Any], argument: Any, timeout: float,
                      name: str) -> Any:
    """Call ``func(argument)`` in a thread and wait at most ``timeout`` seconds.

    The work horse's main thread keeps waiting interruptibly (RQ's job timeout still
    works); a step that overruns is abandoned and dies with the work horse. So is a
    step still running when a graceful stop's grace period ends (``jobs.graceful``).

    Raises:
        StepTimeout: the call did not return in time.
        WorkerStopping: the worker is stopping and the grace period is over.
        Exception: whatever ``func`` raised.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = func(argument)
        except BaseException as error:  # noqa: BLE001 — re-raised in the caller
            box["error"] = error

    thread = threading.Thread(target=target, name=f"step-{name}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while thread.is_alive() and time.monotonic() < deadline:
        thread.join(min(0.5, max(0.0, deadline - time.monotonic())))
        if thread.is_alive() and graceful.grace_expired():
            raise graceful.WorkerStopping(f"step {name} interrupted: the worker is stopping")
    if thread.is_alive():
        raise StepTimeout(f"step {name} timed out after {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["result"]
