"""Runs executed by real worker processes: run now, dry run, cancel, duplicate delivery."""

from __future__ import annotations

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import select

from jobs.cli import ops_cli
from portal.extensions import db
from portal.models import AuditEvent, MonitoringProgrammeRunStep
from portal.services import dispatch
from portal.services.runs import cancel_run, queue_run
from tests.conftest import REDIS_URL
from tests.engine.conftest import fresh_run, wait_final, wait_for, wait_status
from tests.engine.steps import pipeline
from tests.factories import gen_programme, gen_user

pytestmark = [pytest.mark.worker, pytest.mark.usefixtures("worker")]


def audit_actions(run_uuid: str) -> list[str]:
    db.session.rollback()
    return list(db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.object_id == run_uuid)
        .order_by(AuditEvent.id)))


def test_run_now_is_executed_by_a_worker_with_steps_in_order(app):
    user = gen_user()
    programme = gen_programme(pipeline_definition_json=pipeline(
        ("load", "ingest.test_table"), ("check", "test.noop"),
        ("count", "compute.test_noop"), ("release", "publish.test_marker")))
    result = queue_run(programme, user)
    assert result.dispatched and result.message == "queued"

    run = wait_final(result.run.id)

    assert run.status == "succeeded", run.error_message
    steps = db.session.scalars(select(MonitoringProgrammeRunStep)
                               .where(MonitoringProgrammeRunStep.run_id == run.id)
                               .order_by(MonitoringProgrammeRunStep.ordering)).all()
    assert [(s.step_key, s.status) for s in steps] == [
        ("load", "succeeded"), ("check", "succeeded"), ("count", "succeeded"),
        ("release", "succeeded")]
    assert all(s.duration_seconds is not None and s.started_at <= s.finished_at for s in steps)
    assert run.duration_seconds is not None and run.worker_name
    assert run.lineage_json["definition_sha256"]
    assert audit_actions(run.uuid) == [
        "programme_run_queued", "programme_run_started", "programme_run_succeeded"]
    db.session.refresh(programme)
    assert programme.last_run_at == run.finished_at


def test_a_failing_step_fails_the_run_and_skips_the_rest(app):
    programme = gen_programme(pipeline_definition_json=pipeline(
        ("load", "ingest.test_table"), ("broken", "test.fail", {"params": {"message": "gone"}}),
        ("count", "compute.test_noop")))
    run = wait_final(queue_run(programme, gen_user()).run.id)
    assert run.status == "failed"
    assert "broken" in run.error_message and "gone" in run.error_message
    assert [s.status for s in run.steps] == ["succeeded", "failed", "skipped"]
    assert audit_actions(run.uuid)[-1] == "programme_run_failed"


def test_dry_run_publishes_nothing_and_leaves_the_schedule_alone(app):
    from datetime import UTC, datetime, timedelta

    next_run = datetime.now(UTC) + timedelta(days=3)
    programme = gen_programme(
        refresh_cadence="daily", scheduler_enabled=True, next_run_at=next_run,
        pipeline_definition_json=pipeline(("load", "ingest.test_table"),
                                          ("release", "publish.test_marker")))
    run = wait_final(queue_run(programme, gen_user(), dry_run=True).run.id)
    assert run.status == "succeeded" and run.dry_run
    publish_root = app.config["PUBLISH_ROOT"]
    from pathlib import Path

    assert not (Path(publish_root) / programme.code / "release.txt").exists()
    db.session.refresh(programme)
    assert programme.last_run_at is None
    assert programme.next_run_at == next_run


def test_cancel_a_running_run_stops_it(app):
    programme = gen_programme(pipeline_definition_json=pipeline(
        ("wait", "test.sleep", {"params": {"seconds": 30}}), ("after", "test.noop")))
    user = gen_user()
    run_id = queue_run(programme, user).run.id
    run = wait_status(run_id, "running")
    wait_for(lambda: fresh_run(run_id).steps and fresh_run(run_id).steps[0].status == "running")

    cancel_run(run, user)

    run = wait_final(run_id, deadline=30)
    assert run.status == "cancelled"
    assert [s.status for s in run.steps] == ["cancelled", "skipped"]
    assert audit_actions(run.uuid) == [
        "programme_run_queued", "programme_run_started", "programme_run_cancel_requested",
        "programme_run_cancelled"]


def test_the_same_job_delivered_twice_executes_once(app):
    programme = gen_programme(pipeline_definition_json=pipeline(
        ("wait", "test.sleep", {"params": {"seconds": 0.5}})))
    result = queue_run(programme, gen_user())
    # A second delivery of the same run (a reconciler racing queue_run, a replayed message).
    Queue(result.run.queue_name, connection=Redis.from_url(REDIS_URL)).enqueue_call(
        dispatch.EXECUTE_RUN, args=(result.run.id,), job_id=f"dup-{result.run.uuid}")
    run = wait_final(result.run.id)
    assert run.status == "succeeded"
    wait_for(lambda: Queue("high", connection=Redis.from_url(REDIS_URL)).count == 0)
    assert audit_actions(run.uuid).count("programme_run_started") == 1
    assert len(run.steps) == 1


def test_ops_run_waits_for_the_final_status(app):
    programme = gen_programme(pipeline_definition_json=pipeline(("a", "test.noop")))
    runner = app.test_cli_runner()
    result = runner.invoke(ops_cli, ["run", programme.code, "--wait", "--timeout", "60"])
    assert result.exit_code == 0, result.output
    assert "queued" in result.output and result.output.strip().endswith("succeeded")

    failing = gen_programme(pipeline_definition_json=pipeline(("x", "test.fail")))
    result = runner.invoke(ops_cli, ["run", failing.code, "--wait", "--timeout", "60"])
    assert result.exit_code == 1 and "failed" in result.output

    listing = runner.invoke(ops_cli, ["list"])
    assert programme.code in listing.output and "succeeded" in listing.output
