"""The scheduler process: ``flask jobs scheduler``.

Every SCHEDULER_INTERVAL_SECONDS the process itself runs the due scan
(``dispatch_tick``) and the reconciler (``reconcile_tick``) — in its own loop, not as
jobs on the workers' queues. So the periodic work cannot vanish: there is no job record
in Redis to expire while every worker is busy with a long run, nothing to re-register,
and a busy queue never delays a tick. Each completed pass records its tick
(``portal.services.periodic``) for the health page and ``/metrics``.

The loop survives its dependencies: a pass that fails because Redis or the database is
down is logged and tried again after a back-off (1 s, doubling up to
OUTAGE_BACKOFF_MAX_SECONDS, never longer than the interval); the process never exits on
its own. SIGTERM/SIGINT end it after the pass in progress. Two schedulers at once are
harmless: every slot is unique in the database and every transition is compare-and-set.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask

from portal.extensions import db
from portal.services.notifications.ticks import notify_tick
from portal.services.periodic import dispatch_tick, reconcile_tick

log = logging.getLogger(__name__)


class SchedulerLoop:
    """Run the periodic passes every ``interval`` seconds until stopped."""

    def __init__(self, app: Flask, interval: float | None = None):
        self.app = app
        self.interval = float(interval or app.config["SCHEDULER_INTERVAL_SECONDS"])
        self.max_backoff = min(self.interval,
                               float(app.config.get("OUTAGE_BACKOFF_MAX_SECONDS", 30)))
        self.stopping = threading.Event()
        self.failures = 0

    def passes(self) -> list[tuple[str, Callable[[], dict[str, Any]]]]:
        """The periodic passes, in the order each tick runs them."""
        return [("dispatch", dispatch_tick), ("reconcile", reconcile_tick),
                ("notify", notify_tick)]

    def tick(self) -> bool:
        """Run every pass once; return True when all of them completed."""
        ok = True
        with self.app.app_context():
            for name, run_pass in self.passes():
                if self.stopping.is_set():
                    break
                try:
                    summary = run_pass()
                    log.debug("scheduler %s pass: %s", name, summary)
                except Exception as error:  # noqa: BLE001 — an outage must not end the loop
                    ok = False
                    log.warning("scheduler %s pass failed (will retry): %s", name, error)
                    _forget_connections()
            db.session.remove()
        return ok

    def run(self, burst: bool = False) -> None:
        """Tick until :meth:`stop` (or once, with ``burst``)."""
        while not self.stopping.is_set():
            started = time.monotonic()
            ok = self.tick()
            if burst:
                return
            if ok:
                self.failures = 0
                wait = self.interval - (time.monotonic() - started)
            else:
                self.failures += 1
                wait = min(self.max_backoff, 2.0 ** (self.failures - 1))
            self.stopping.wait(max(0.0, wait))

    def stop(self, *_: Any) -> None:
        """Stop after the pass in progress (a signal handler)."""
        log.info("scheduler: stop requested")
        self.stopping.set()


def _forget_connections() -> None:
    """Drop the session and pooled connections so the next pass reconnects afresh."""
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 — the connection may already be gone
        pass
    db.session.remove()
    db.engine.dispose()


def run_scheduler(app: Flask, burst: bool = False) -> None:
    """Run the scheduler loop until SIGTERM/SIGINT (or one tick, with ``burst``)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    loop = SchedulerLoop(app)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, loop.stop)
        signal.signal(signal.SIGINT, loop.stop)
    log.info("scheduler: dispatch and reconcile every %ss", loop.interval)
    loop.run(burst=burst)
