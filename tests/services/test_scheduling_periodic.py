"""The scheduler's periodic jobs: deterministic ids, and the tick the health page shows."""

from __future__ import annotations

from redis import Redis
from rq_scheduler import Scheduler

from jobs.scheduler import JOB_PREFIX, schedule_periodic_jobs
from jobs.tasks import dispatch_due_job
from portal.services.dispatch import SCHEDULER_TICK_KEY, queue_overview
from tests.conftest import REDIS_URL


def test_restarting_the_scheduler_never_duplicates_its_jobs(app):
    scheduler = Scheduler(connection=Redis.from_url(REDIS_URL), interval=5)
    for _ in range(3):  # three restarts
        ids = schedule_periodic_jobs(scheduler, 60)
    ours = [job.id for job in scheduler.get_jobs() if job.id.startswith(JOB_PREFIX)]
    assert sorted(ours) == sorted(ids) and len(ids) == 2
    for job_id in ids:
        scheduler.cancel(job_id)


def test_the_dispatch_job_records_the_tick_shown_on_the_health_page(app):
    Redis.from_url(REDIS_URL).delete(SCHEDULER_TICK_KEY)
    assert dispatch_due_job()["due"] == 0
    assert queue_overview()["scheduler_last_tick"] is not None
