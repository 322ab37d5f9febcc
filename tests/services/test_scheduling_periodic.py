"""The scheduler's periodic passes: run by the scheduler itself, ticks shown and alarmed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from redis import Redis

from jobs.scheduler import SchedulerLoop
from jobs.tasks import dispatch_due_job
from portal.models import MonitoringProgrammeRun
from portal.services.periodic import TICK_KEY, TICKS, record_tick, tick_states
from tests.conftest import REDIS_URL
from tests.factories import gen_programme, gen_user

PIPELINE = {"steps": [{"key": "a", "type": "ingest.file", "params": {"source": "a.csv"}}]}


def _clear_ticks() -> None:
    Redis.from_url(REDIS_URL).delete(*[TICK_KEY.format(name) for name in TICKS])


def test_one_scheduler_tick_dispatches_due_runs_and_records_both_passes(app):
    _clear_ticks()
    programme = gen_programme("TICK", refresh_cadence="daily", scheduler_enabled=True,
                              pipeline_definition_json=PIPELINE,
                              next_run_at=datetime.now(UTC) - timedelta(minutes=1))
    assert [state.stale for state in tick_states()] == [True, True]  # never ran

    assert SchedulerLoop(app, interval=1).tick() is True

    runs = MonitoringProgrammeRun.query.filter_by(programme_id=programme.id).all()
    assert [(run.trigger, run.status) for run in runs] == [("scheduled", "queued")]
    states = tick_states()
    assert [state.name for state in states] == ["dispatch", "reconcile"]
    assert not any(state.stale for state in states)


def test_the_dispatch_job_of_older_versions_still_records_the_tick(app):
    _clear_ticks()
    assert dispatch_due_job()["due"] == 0
    assert tick_states()[0].at is not None


def test_a_tick_older_than_three_intervals_turns_the_health_page_red(app, client, auth):
    gen_user("admin@x.org", is_admin=True)
    auth.login("admin@x.org")
    interval = app.config["SCHEDULER_INTERVAL_SECONDS"]
    now = datetime.now(UTC)
    for name in TICKS:
        record_tick(name, now)
    page = client.get("/health").get_data(as_text=True)
    assert 'id="scheduler-stale"' not in page

    record_tick("reconcile", now - timedelta(seconds=3 * interval + 5))
    page = client.get("/health").get_data(as_text=True)
    assert 'id="scheduler-stale"' in page and "Scheduler late" in page

    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'programme_ops_scheduler_tick_stale{tick="reconcile"} 1.0' in metrics
    assert 'programme_ops_scheduler_tick_stale{tick="dispatch"} 0.0' in metrics
    age_name = 'programme_ops_scheduler_tick_age_seconds{tick="reconcile"}'
    age_line = next(line for line in metrics.splitlines() if line.startswith(age_name))
    assert float(age_line.split()[-1]) > 3 * interval
