"""The reconciler: lost queued runs re-dispatched, lost workers failed, RQ failures mirrored."""

from __future__ import annotations

import sys
import types
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, MonitoringProgrammeRunStep
from portal.services.reconcile import reconcile
from portal.services.runs import queue_run
from tests.conftest import REDIS_URL
from tests.engine.conftest import empty_queues
from tests.factories import gen_programme, gen_run

VALID = {"steps": [{"key": "load", "type": "ingest.csv", "params": {"source": "a.csv"}}]}


def explode(run_id: int) -> None:
    """A job body that fails like a crashing work horse would."""
    raise RuntimeError(f"disk full while running {run_id}")


@pytest.fixture(autouse=True)
def _empty_queues():
    empty_queues()
    yield
    empty_queues()


@pytest.fixture
def system_alerts(monkeypatch) -> list[dict]:
    """Capture portal.services.alerts.open_system_alert calls."""
    opened: list[dict] = []

    def open_system_alert(programme, run, *, rule_id, severity, message):
        opened.append({"programme": programme.code, "run": run.uuid, "rule_id": rule_id,
                       "severity": severity, "message": message})

    try:
        import portal.services.alerts as alerts
    except ImportError:
        alerts = types.ModuleType("portal.services.alerts")
        monkeypatch.setitem(sys.modules, "portal.services.alerts", alerts)
    monkeypatch.setattr(alerts, "open_system_alert", open_system_alert, raising=False)
    return opened


def test_a_running_run_with_a_stale_heartbeat_fails_as_worker_lost(app, system_alerts):
    programme = gen_programme()
    old = datetime.now(UTC) - timedelta(minutes=5)
    run = gen_run(programme, status="running", started_at=old, heartbeat_at=old,
                  worker_name="host.123")
    db.session.add_all([
        MonitoringProgrammeRunStep(run_id=run.id, ordering=0, step_key="a", step_type="t",
                                   status="running"),
        MonitoringProgrammeRunStep(run_id=run.id, ordering=1, step_key="b", step_type="t",
                                   status="pending")])
    db.session.commit()
    fresh = gen_run(gen_programme(), status="running", started_at=old,
                    heartbeat_at=datetime.now(UTC))

    summary = reconcile()

    assert summary.lost == [run.uuid]
    db.session.refresh(run)
    assert run.status == "failed" and run.error_message.startswith("worker lost")
    assert [step.status for step in run.steps] == ["failed", "skipped"]
    assert system_alerts == [{"programme": programme.code, "run": run.uuid,
                              "rule_id": "worker-lost", "severity": "error",
                              "message": run.error_message}]
    assert db.session.scalar(select(AuditEvent.action)
                             .where(AuditEvent.object_id == run.uuid)) == "programme_run_failed"
    db.session.refresh(fresh)
    assert fresh.status == "running"


def test_a_lost_run_whose_cancel_was_requested_ends_cancelled(app, system_alerts):
    old = datetime.now(UTC) - timedelta(minutes=5)
    run = gen_run(gen_programme(), status="running", started_at=old, heartbeat_at=old,
                  cancel_requested=True)
    summary = reconcile()
    db.session.refresh(run)
    assert run.status == "cancelled" and summary.cancelled == [run.uuid]
    assert system_alerts == []


def test_queued_runs_redis_lost_are_dispatched_again(app):
    run = queue_run(gen_programme(pipeline_definition_json=VALID), None).run
    queue = Queue("high", connection=Redis.from_url(REDIS_URL))
    assert reconcile(dispatch_grace_seconds=0).redispatched == []  # Redis holds it
    queue.empty()  # what a Redis restart without persistence does
    summary = reconcile(dispatch_grace_seconds=0)
    assert summary.redispatched == [run.uuid]
    assert queue.job_ids == [run.queue_job_id]


def test_young_queued_runs_are_left_to_queue_run(app):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    queue_run(gen_programme(pipeline_definition_json=VALID), None)
    app.config["REDIS_URL"] = REDIS_URL
    assert reconcile(dispatch_grace_seconds=60).redispatched == []


def test_a_run_whose_job_failed_in_rq_fails_with_the_exception(app):
    run = gen_run(gen_programme(), status="running", started_at=datetime.now(UTC),
                  heartbeat_at=datetime.now(UTC), queue_name="high")
    run.queue_job_id = f"run-{run.uuid}"
    db.session.commit()
    connection = Redis.from_url(REDIS_URL)
    queue = Queue("high", connection=connection)
    queue.enqueue_call(f"{__name__}.explode", args=(run.id,), job_id=run.queue_job_id)
    SimpleWorker([queue], connection=connection).work(burst=True)

    summary = reconcile()

    assert summary.failed_in_rq == [run.uuid]
    db.session.refresh(run)
    assert run.status == "failed"
    assert f"RuntimeError: disk full while running {run.id}" in run.error_message


def test_many_queued_runs_lost_by_redis_are_dispatched_again_in_batches(app, monkeypatch):
    """After a Redis outage thousands of runs may wait: they go back in batches (one
    round trip each); runs Redis still holds are not enqueued twice."""
    import portal.services.reconcile as reconcile_module

    monkeypatch.setattr(reconcile_module, "REDISPATCH_BATCH", 7)
    runs = [queue_run(gen_programme(pipeline_definition_json=VALID), None).run
            for _ in range(20)]
    queue = Queue("high", connection=Redis.from_url(REDIS_URL))
    held = runs[::3]
    queue.empty()
    for run in held:  # these survived (or were enqueued again by someone else)
        queue.enqueue_call("jobs.tasks.noop", job_id=run.queue_job_id)
    summary = reconcile(dispatch_grace_seconds=0)
    assert sorted(summary.redispatched) == sorted(r.uuid for r in runs if r not in held)
    assert sorted(queue.job_ids) == sorted(r.queue_job_id for r in runs)  # each exactly once
    assert reconcile(dispatch_grace_seconds=0).redispatched == []
