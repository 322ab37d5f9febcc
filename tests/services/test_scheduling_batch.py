"""Batched dispatch: one run per slot with racing dispatchers, audited, summarised, and
safe when Redis or the database says no."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, MonitoringProgramme, MonitoringProgrammeRun
from portal.services.reconcile import reconcile
from portal.services.scheduling import dispatch_due
from tests.concurrency import at_once
from tests.conftest import REDIS_URL
from tests.factories import gen_programme, gen_run, gen_user

VALID = {"steps": [{"key": "load", "type": "ingest.csv", "params": {"source": "a.csv"}}]}
NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


def _empty() -> None:
    connection = Redis.from_url(REDIS_URL)
    for name in ("high", "default"):
        Queue(name, connection=connection).empty()


@pytest.fixture(autouse=True)
def _empty_queues():
    _empty()  # earlier tests may leave jobs behind
    yield
    _empty()


def default_queue() -> Queue:
    return Queue("default", connection=Redis.from_url(REDIS_URL))


def scheduled(code: str | None = None, next_run_at=None, **fields) -> MonitoringProgramme:
    return gen_programme(code, refresh_cadence="daily", scheduler_enabled=True,
                         next_run_at=next_run_at or datetime(2025, 6, 2, 6, tzinfo=UTC),
                         pipeline_definition_json=VALID, **fields)


def all_runs() -> list[MonitoringProgrammeRun]:
    db.session.rollback()
    return list(db.session.scalars(select(MonitoringProgrammeRun)
                                   .order_by(MonitoringProgrammeRun.id)))


def test_two_dispatchers_racing_over_small_batches_make_one_run_per_slot(app):
    due = {scheduled(f"RACE-{index:03d}", next_run_at=slot).id: slot
           for index in range(150)
           for slot in [NOW - timedelta(hours=1, minutes=index % 50)]}
    programme_ids = list(due)
    db.session.remove()
    summaries = at_once(app, lambda: dispatch_due(NOW, batch_size=7), 2)
    assert len(summaries) == 2
    runs = all_runs()
    assert len(runs) == 150
    assert sorted(run.programme_id for run in runs) == sorted(programme_ids)
    assert sorted(uuid for s in summaries for uuid in s.created) == sorted(r.uuid for r in runs)
    assert sum(s.dispatch_delayed for s in summaries) == 0
    assert sorted(default_queue().job_ids) == sorted(run.queue_job_id for run in runs)
    next_slots = dict(db.session.execute(select(MonitoringProgramme.id,
                                                MonitoringProgramme.next_run_at)).all())
    # every schedule advanced exactly once (a daily cadence: one day on)
    assert next_slots == {pid: slot + timedelta(days=1) for pid, slot in due.items()}
    assert dispatch_due(NOW).created == []  # and nothing is due any more


def test_the_programme_list_shows_each_dispatched_run_as_the_latest(app, client, auth):
    older = scheduled("LIST-OLD")
    previous = gen_run(older, status="failed")
    fresh = scheduled("LIST-NEW")
    dispatch_due(NOW, batch_size=1)
    runs = {run.programme_id: run for run in all_runs() if run.trigger == "scheduled"}
    for programme in (older, fresh):
        db.session.refresh(programme)
        run = runs[programme.id]
        assert (programme.latest_run_id, programme.latest_run_uuid,
                programme.latest_run_status) == (run.id, run.uuid, "queued")
    gen_user("admin@x.org", is_admin=True)
    auth.login("admin@x.org")
    page = client.get("/").get_data(as_text=True)
    for run in runs.values():
        assert run.uuid in page
    assert previous.uuid not in page  # the failed run is no longer the latest


def test_every_dispatched_run_is_audited_as_before(app):
    programme = scheduled("AUDITED", next_run_at=datetime(2025, 5, 31, 6, tzinfo=UTC))
    dispatch_due(NOW)
    (run,) = all_runs()
    (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.object_id == run.uuid))
    assert (event.action, event.actor_label, event.object_type, event.programme_id) == (
        "programme_run_queued", "system", "run", programme.id)
    assert event.metadata_json == {
        "run_type": "full", "trigger": "scheduled", "dry_run": False,
        "scheduled_for": "2025-06-02T06:00:00+00:00", "skipped_slots": 2, "queue": "default"}


def test_a_batch_the_database_refuses_falls_back_to_one_programme_at_a_time(app):
    slot = datetime(2025, 6, 2, 6, tzinfo=UTC)
    taken = scheduled("TAKEN", next_run_at=slot)
    gen_run(taken, status="succeeded", trigger="scheduled", scheduled_for=slot)
    busy = scheduled("BUSY", next_run_at=slot)
    gen_run(busy, status="running")
    others = [scheduled(f"FREE-{index}", next_run_at=slot) for index in range(3)]
    summary = dispatch_due(NOW)
    assert (summary.raced, summary.deferred, len(summary.created)) == (1, ["BUSY"], 3)
    created = [run for run in all_runs() if run.status == "queued"]
    assert sorted(run.programme_id for run in created) == sorted(p.id for p in others)
    assert sorted(default_queue().job_ids) == sorted(run.queue_job_id for run in created)


def test_a_pipeline_lost_to_redis_leaves_queued_runs_the_reconciler_enqueues(app):
    programmes = [scheduled(f"DOWN-{index}") for index in range(5)]
    redis_url = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # unreachable
    summary = dispatch_due(NOW, batch_size=2)
    assert len(summary.created) == 5 and summary.dispatch_delayed == 5
    runs = all_runs()
    assert [run.status for run in runs] == ["queued"] * 5  # rows first: nothing is lost
    assert sorted(run.programme_id for run in runs) == sorted(p.id for p in programmes)
    app.config["REDIS_URL"] = redis_url
    assert default_queue().job_ids == []
    repaired = reconcile(dispatch_grace_seconds=0)
    assert sorted(repaired.redispatched) == sorted(run.uuid for run in runs)
    assert sorted(default_queue().job_ids) == sorted(run.queue_job_id for run in runs)
