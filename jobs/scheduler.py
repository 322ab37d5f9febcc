"""The scheduler process: ``flask jobs scheduler`` (rq-scheduler).

It enqueues two periodic jobs every SCHEDULER_INTERVAL_SECONDS — ``dispatch_due`` and
the reconciler — under deterministic job ids (Redash's pattern): on start every
scheduled job carrying one of our ids is cancelled and scheduled afresh, so a restart
or a second scheduler never duplicates them. The periodic jobs run on the workers.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from rq_scheduler import Scheduler

from portal.services.dispatch import (
    SCHEDULER_ALIVE_KEY,
    get_queue,
    record_scheduler_tick,
    redis_connection,
)

log = logging.getLogger(__name__)
JOB_PREFIX = "programme-ops-periodic-"


def periodic_job_definitions(interval: int) -> list[dict[str, Any]]:
    """The periodic jobs, each with a deterministic id."""
    return [
        {"id": f"{JOB_PREFIX}dispatch-due", "func": "jobs.tasks.dispatch_due_job",
         "interval": interval, "timeout": max(60, interval * 5)},
        {"id": f"{JOB_PREFIX}reconcile", "func": "jobs.tasks.reconcile_job",
         "interval": interval, "timeout": max(60, interval * 5)},
    ]


class PortalScheduler(Scheduler):
    """rq-scheduler that records when it last looked for work (for the health page)."""

    def enqueue_jobs(self):  # noqa: D102 — rq-scheduler API
        try:
            record_scheduler_tick(SCHEDULER_ALIVE_KEY)
        except Exception as error:  # noqa: BLE001
            log.warning("could not record scheduler liveness: %s", error)
        return super().enqueue_jobs()


def schedule_periodic_jobs(scheduler: Scheduler, interval: int,
                           queue_name: str = "default") -> list[str]:
    """Replace our periodic jobs in ``scheduler`` by fresh ones; return their ids.

    Stale copies (same id, or an id with our prefix from an older version) are
    cancelled and deleted first, so restarts never duplicate a schedule.
    """
    wanted = periodic_job_definitions(interval)
    for job in scheduler.get_jobs():
        if job.id.startswith(JOB_PREFIX):
            scheduler.cancel(job)
            job.delete()
    ids = []
    for definition in wanted:
        scheduler.schedule(
            scheduled_time=datetime.now(UTC).replace(tzinfo=None),
            func=definition["func"],
            interval=definition["interval"],
            repeat=None,
            id=definition["id"],
            timeout=definition["timeout"],
            result_ttl=definition["interval"] * 2,
            queue_name=queue_name,
        )
        ids.append(definition["id"])
    return ids


def make_scheduler(app: Flask) -> PortalScheduler:
    """A scheduler on REDIS_URL polling often enough for SCHEDULER_INTERVAL_SECONDS."""
    with app.app_context():
        connection = redis_connection(app.config["REDIS_URL"])
        interval = int(app.config["SCHEDULER_INTERVAL_SECONDS"])
        queue = get_queue("default", connection)
    return PortalScheduler(queue=queue, connection=connection,
                           interval=max(1, min(interval, 5)))


def run_scheduler(app: Flask, burst: bool = False) -> None:
    """Schedule the periodic jobs and run the scheduler loop until stopped."""
    scheduler = make_scheduler(app)
    interval = int(app.config["SCHEDULER_INTERVAL_SECONDS"])
    ids = schedule_periodic_jobs(scheduler, interval)
    log.info("scheduler: %s every %ss", ", ".join(ids), interval)
    scheduler.run(burst=burst)
