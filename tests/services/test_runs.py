"""queue_run, the state machine and cancel_run (no worker: jobs stay in Redis)."""

from __future__ import annotations

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job
from sqlalchemy import event, func, select, update

from portal.extensions import db
from portal.models import AuditEvent, MonitoringProgramme, MonitoringProgrammeRun
from portal.services import Conflict, DomainError
from portal.services.dispatch import queue_overview
from portal.services.runs import (
    DISPATCH_DELAYED,
    ActiveRunExists,
    IllegalTransition,
    cancel_run,
    queue_run,
    transition,
)
from tests.concurrency import at_once
from tests.conftest import REDIS_URL
from tests.factories import gen_programme, gen_run, gen_user

VALID = {"steps": [{"key": "load", "type": "ingest.csv", "params": {"source": "a.csv"}}]}


@pytest.fixture(autouse=True)
def _empty_queues():
    connection = Redis.from_url(REDIS_URL)
    for name in ("high", "default"):
        Queue(name, connection=connection).empty()
    yield
    for name in ("high", "default"):
        Queue(name, connection=connection).empty()


def actions(run_uuid: str) -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action)
                                   .where(AuditEvent.object_id == run_uuid)
                                   .order_by(AuditEvent.id)))


def test_queue_run_commits_the_row_and_audit_then_enqueues_by_dotted_path(app):
    user = gen_user()
    programme = gen_programme(pipeline_definition_json=VALID)
    result = queue_run(programme, user, request_id="req-1")

    assert (result.dispatched, result.message) == (True, "queued")
    run = result.run
    assert run.status == "queued" and run.trigger == "manual" and run.requested_by_id == user.id
    assert run.queue_job_id == f"run-{run.uuid}" and run.queue_name == "high"
    job = Job.fetch(run.queue_job_id, connection=Redis.from_url(REDIS_URL))
    assert job.func_name == "jobs.tasks.execute_run" and job.args == (run.id,)
    assert job.id in Queue("high", connection=Redis.from_url(REDIS_URL)).job_ids
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.object_id == run.uuid))
    assert event.action == "programme_run_queued" and event.request_id == "req-1"


def test_scheduled_runs_go_to_the_default_queue(app):
    run = queue_run(gen_programme(pipeline_definition_json=VALID), None,
                    trigger="scheduled").run
    assert run.queue_name == "default"


def test_bad_run_type_and_invalid_pipeline_are_named(app):
    programme = gen_programme(pipeline_definition_json=VALID)
    with pytest.raises(DomainError) as bad_type:
        queue_run(programme, None, run_type="everything")
    assert bad_type.value.field == "run_type"
    broken = gen_programme(pipeline_definition_json={"steps": [{"key": "x", "type": "nope"}]})
    with pytest.raises(DomainError) as invalid:
        queue_run(broken, None)
    assert invalid.value.field == "pipeline_definition_json"
    assert "$.steps[0].type" in invalid.value.message
    assert db.session.scalar(select(func.count(MonitoringProgrammeRun.id))) == 0


def test_a_second_active_run_is_refused_naming_the_active_one(app):
    programme = gen_programme(pipeline_definition_json=VALID)
    first = queue_run(programme, None).run
    with pytest.raises(ActiveRunExists) as refused:
        queue_run(programme, None)
    assert refused.value.active_run.id == first.id
    assert first.uuid in refused.value.message and "queued" in refused.value.message
    assert refused.value.status == 409


def test_twenty_concurrent_run_now_requests_make_one_active_run(app):
    programme_id = gen_programme(pipeline_definition_json=VALID).id
    def request_run() -> str:
        try:
            queue_run(db.session.get(MonitoringProgramme, programme_id), None)
            return "queued"
        except ActiveRunExists:
            return "refused"

    # 20 threads > the pool's 15 connections: at_once waits before touching the pool.
    outcomes = at_once(app, request_run, 20, join_seconds=60)
    assert sorted(outcomes) == ["queued"] + ["refused"] * 19
    db.session.rollback()
    assert db.session.scalar(select(func.count(MonitoringProgrammeRun.id))) == 1


def test_redis_down_keeps_the_run_queued_and_says_so(app):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    result = queue_run(gen_programme(pipeline_definition_json=VALID), None)
    assert (result.dispatched, result.message) == (False, DISPATCH_DELAYED)
    assert result.run.status == "queued"
    overview = queue_overview()
    assert overview["ok"] is False and "Redis unavailable" in overview["error"]


def test_state_machine_sets_times_audits_and_refuses_illegal_moves(app):
    programme = gen_programme(pipeline_definition_json=VALID)
    run = gen_run(programme, status="queued")
    with pytest.raises(IllegalTransition):
        transition(run, "succeeded")
    transition(run, "running", worker_name="w1")
    assert run.started_at and run.heartbeat_at and run.worker_name == "w1"
    transition(run, "succeeded")
    assert run.finished_at >= run.started_at and run.duration_seconds >= 0
    db.session.refresh(programme)
    assert programme.last_run_at == run.finished_at
    with pytest.raises(IllegalTransition):
        transition(run, "running")
    assert actions(run.uuid) == ["programme_run_started", "programme_run_succeeded"]


def test_a_stale_copy_of_a_run_cannot_overwrite_a_newer_status(app):
    run = gen_run(gen_programme(), status="queued")
    stale = MonitoringProgrammeRun(id=run.id, uuid=run.uuid, status="queued",
                                   programme_id=run.programme_id)
    transition(run, "cancelled")
    db.session.expunge(run)
    with pytest.raises(IllegalTransition, match="cancelled"):
        transition(stale, "running")


def test_a_claim_kept_loaded_carries_what_it_wrote_without_reading_again(app):
    """The work horse's claim (keep_loaded): the run holds its new values at once."""
    programme = gen_programme(pipeline_definition_json=VALID)
    run = gen_run(programme, status="queued")
    run_id, run_uuid = run.id, run.uuid
    statements: list[str] = []

    def listen(conn, cursor, statement, *args):  # noqa: ARG001
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        transition(run, "running", worker_name="w1", keep_loaded=True)
        seen = (run.id, run.uuid, run.status, run.worker_name, run.started_at)
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)

    assert seen[:4] == (run_id, run_uuid, "running", "w1") and seen[4] is not None
    assert statements and not [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    db.session.expire_all()
    assert (run.status, run.started_at) == ("running", seen[4])  # as stored


def test_a_stale_loaded_run_cannot_overwrite_an_end_made_elsewhere(app):
    programme = gen_programme(pipeline_definition_json=VALID)
    run = gen_run(programme, status="queued")
    transition(run, "running", worker_name="w1", keep_loaded=True)
    with db.engine.begin() as other:  # another process ends the run meanwhile
        other.execute(update(MonitoringProgrammeRun.__table__)
                      .where(MonitoringProgrammeRun.__table__.c.id == run.id)
                      .values(status="failed"))
    assert run.status == "running"  # the horse's copy, as loaded

    with pytest.raises(IllegalTransition, match="failed"):
        transition(run, "succeeded")
    assert db.session.get(MonitoringProgrammeRun, run.id).status == "failed"


def test_dry_runs_never_touch_last_run_at(app):
    programme = gen_programme()
    run = gen_run(programme, status="running", dry_run=True)
    transition(run, "failed", message="boom")
    db.session.refresh(programme)
    assert programme.last_run_at is None and run.error_message == "boom"


def test_cancel_a_queued_run_removes_its_job(app):
    user = gen_user()
    run = queue_run(gen_programme(pipeline_definition_json=VALID), user).run
    cancel_run(run, user, request_id="req-9")
    assert run.status == "cancelled" and run.finished_at is not None
    assert run.queue_job_id not in Queue("high", connection=Redis.from_url(REDIS_URL)).job_ids
    assert actions(run.uuid) == ["programme_run_queued", "programme_run_cancelled"]
    with pytest.raises(Conflict):
        cancel_run(run, user)


def test_cancel_a_running_run_requests_it(app):
    user = gen_user()
    run = gen_run(gen_programme(), status="running")
    cancel_run(run, user)
    db.session.refresh(run)
    assert run.status == "running" and run.cancel_requested
    assert actions(run.uuid) == ["programme_run_cancel_requested"]


def test_queue_overview_lists_queues(app):
    queue_run(gen_programme(pipeline_definition_json=VALID), None)
    overview = queue_overview()
    assert overview["ok"] and overview["error"] is None
    depths = {queue["name"]: queue["depth"] for queue in overview["queues"]}
    assert depths["high"] == 1 and depths["default"] == 0
