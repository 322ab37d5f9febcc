"""dispatch_due: due programmes get exactly one scheduled run per slot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import MonitoringProgramme, MonitoringProgrammeRun
from portal.services.scheduling import dispatch_due
from tests.concurrency import at_once
from tests.conftest import REDIS_URL
from tests.factories import gen_programme, gen_run

VALID = {"steps": [{"key": "load", "type": "ingest.csv", "params": {"source": "a.csv"}}]}
NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _empty_queues():
    yield
    connection = Redis.from_url(REDIS_URL)
    for name in ("high", "default"):
        Queue(name, connection=connection).empty()


def scheduled(code: str | None = None, cadence: str = "daily", next_run_at=None, **fields):
    return gen_programme(code, refresh_cadence=cadence, scheduler_enabled=True,
                         next_run_at=next_run_at or NOW - timedelta(hours=1),
                         pipeline_definition_json=VALID, **fields)


def runs_of(programme: MonitoringProgramme) -> list[MonitoringProgrammeRun]:
    db.session.rollback()
    return list(db.session.scalars(select(MonitoringProgrammeRun)
                                   .where(MonitoringProgrammeRun.programme_id == programme.id)))


def test_a_due_programme_gets_one_scheduled_run_and_its_next_slot(app):
    programme = scheduled(next_run_at=datetime(2025, 6, 2, 6, tzinfo=UTC))
    summary = dispatch_due(NOW)
    assert len(summary.created) == 1 and summary.dispatch_delayed == 0
    (run,) = runs_of(programme)
    assert (run.trigger, run.status, run.queue_name) == ("scheduled", "queued", "default")
    assert run.scheduled_for == datetime(2025, 6, 2, 6, tzinfo=UTC) and run.skipped_slots == 0
    db.session.refresh(programme)
    assert programme.next_run_at == datetime(2025, 6, 3, 6, tzinfo=UTC)
    assert run.queue_job_id in Queue("default", connection=Redis.from_url(REDIS_URL)).job_ids
    assert dispatch_due(NOW).created == []  # the same tick again does nothing


def test_missed_slots_are_coalesced_and_counted(app):
    programme = scheduled(next_run_at=datetime(2025, 5, 30, 6, tzinfo=UTC))
    dispatch_due(NOW)
    (run,) = runs_of(programme)
    assert run.scheduled_for == datetime(2025, 6, 2, 6, tzinfo=UTC)
    assert run.skipped_slots == 3


@pytest.mark.parametrize("cadence", ["manual", "ad_hoc"])
def test_manual_and_ad_hoc_programmes_are_never_due(app, cadence):
    programme = scheduled(cadence=cadence)
    assert dispatch_due(NOW).due == 0
    assert runs_of(programme) == []


def test_disabled_inactive_and_future_programmes_are_not_due(app):
    gen_programme(refresh_cadence="daily", scheduler_enabled=False,
                  next_run_at=NOW - timedelta(days=1))
    scheduled(active=False)
    scheduled(next_run_at=NOW + timedelta(minutes=1))
    assert dispatch_due(NOW).due == 0


def test_a_programme_with_an_active_run_is_deferred_not_doubled(app):
    programme = scheduled(next_run_at=datetime(2025, 6, 1, 6, tzinfo=UTC))
    gen_run(programme, status="running")
    summary = dispatch_due(NOW)
    assert summary.deferred == [programme.code] and summary.created == []
    db.session.refresh(programme)
    assert programme.next_run_at == datetime(2025, 6, 1, 6, tzinfo=UTC)  # still due
    assert len(runs_of(programme)) == 1
    # Once the active run has finished, the deferred slots run once, coalesced.
    db.session.execute(MonitoringProgrammeRun.__table__.update().values(status="succeeded"))
    db.session.commit()
    dispatch_due(NOW)
    newest = [r for r in runs_of(programme) if r.trigger == "scheduled"]
    assert len(newest) == 1 and newest[0].skipped_slots == 1


def test_two_dispatchers_at_once_over_200_programmes_make_exactly_200_runs(app):
    for index in range(200):
        scheduled(f"DUE-{index:03d}", next_run_at=NOW - timedelta(minutes=index % 90))
    db.session.remove()
    created = at_once(app, lambda: len(dispatch_due(NOW).created), 2)
    assert sum(created) == 200
    assert db.session.scalar(select(func.count(MonitoringProgrammeRun.id))) == 200
    assert db.session.scalar(select(func.count(func.distinct(
        MonitoringProgrammeRun.programme_id)))) == 200
