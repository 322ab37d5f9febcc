"""Dying and stopping workers: a lost run is retried as a new attempt and succeeds.

kill -9 of a worker, a work horse crashing, and SIGTERM (a redeploy) — each mid-step,
with a real scheduler reconciling every second and real RQ workers.
"""

from __future__ import annotations

import signal

import pytest

from portal.extensions import db
from portal.models import AuditEvent, MonitoringProgrammeAlert
from portal.services.runs import queue_run
from tests.engine.conftest import fresh_run, stop_process_group, wait_for
from tests.engine.steps import pipeline
from tests.factories import gen_programme, gen_user
from tests.faults.conftest import settled, step_running, work_horses

pytestmark = [pytest.mark.worker, pytest.mark.slow]

LONG_STEP = pipeline(("wait", "test.sleep", {"params": {"seconds": 3}}), ("after", "test.noop"))


def _alerts(programme_id: int) -> list[MonitoringProgrammeAlert]:
    db.session.rollback()
    return MonitoringProgrammeAlert.query.filter_by(programme_id=programme_id,
                                                    rule_id="worker-lost").all()


def _start_long_run(processes, worker_name: str):
    programme = gen_programme(pipeline_definition_json=LONG_STEP)
    worker = processes.worker(worker_name)
    run_id = queue_run(programme, gen_user()).run.id
    wait_for(lambda: step_running(run_id, "wait"), message="the long step to start")
    return programme, worker, run_id


def test_a_worker_killed_mid_step_is_retried_and_the_retry_succeeds(app, processes):
    processes.scheduler()
    programme, worker, run_id = _start_long_run(processes, "doomed")

    stop_process_group(worker, signal.SIGKILL)  # the worker and its work horse
    processes.worker("rescuer")

    first, retry = wait_for(lambda: settled(programme.id), deadline=120,
                            message="the lost run and its retry to finish")
    assert first.id == run_id and first.status == "failed"
    assert first.error_message.startswith("worker lost")
    assert "retried as attempt 2 of 2" in first.error_message
    assert (retry.attempt, retry.retry_of_id, retry.status) == (2, first.id, "succeeded")
    assert retry.worker_name == "rescuer"
    assert AuditEvent.query.filter_by(action="programme_run_retried",
                                      object_id=first.uuid).count() == 1
    [alert] = _alerts(programme.id)  # opened for the loss, resolved by the retry's success
    assert alert.run_id == first.id and alert.state == "resolved"
    assert retry.uuid in alert.resolved_note


def test_a_crashed_work_horse_opens_the_alert_and_is_retried(app, processes):
    # A long stale limit for the reconciler: the loss must be found through RQ's
    # "Work-horse terminated unexpectedly", not through the heartbeat.
    processes.scheduler(TEST_RUN_STALE_AFTER_SECONDS="300")
    programme, worker, run_id = _start_long_run(processes, "crashy")
    [horse] = wait_for(lambda: work_horses(worker), message="the work horse")

    horse.kill()  # the worker survives and serves the retry itself

    first, retry = wait_for(lambda: settled(programme.id), deadline=120,
                            message="the crashed run and its retry to finish")
    assert first.status == "failed"
    assert "Work-horse terminated unexpectedly" in first.error_message
    assert (retry.attempt, retry.retry_of_id, retry.status) == (2, first.id, "succeeded")
    [alert] = _alerts(programme.id)
    assert alert.run_id == first.id and alert.state == "resolved"


def test_attempts_stop_at_max_attempts(app, processes):
    processes.scheduler()
    programme = gen_programme(pipeline_definition_json=LONG_STEP, max_attempts=1)
    worker = processes.worker("only-once")
    run_id = queue_run(programme, gen_user()).run.id
    wait_for(lambda: step_running(run_id, "wait"), message="the long step to start")

    stop_process_group(worker, signal.SIGKILL)

    [run] = wait_for(lambda: settled(programme.id), deadline=60, message="the lost run to end")
    assert run.status == "failed" and "not retried: attempt 1 of 1" in run.error_message
    assert [alert.state for alert in _alerts(programme.id)] == ["open"]


def test_sigterm_mid_step_finishes_the_step_and_the_run_finishes_on_another_worker(
        app, processes):
    processes.scheduler()
    programme, worker, run_id = _start_long_run(processes, "redeployed")

    worker.send_signal(signal.SIGTERM)  # what `docker stop` does: only the main process
    processes.worker("successor")

    assert worker.wait(120) == 0  # it stops by itself once the run is handed back
    first, retry = wait_for(lambda: settled(programme.id), deadline=120,
                            message="the handed-back run and its next attempt to finish")
    assert first.id == run_id and first.status == "failed"
    assert first.error_message.startswith("worker stopped (graceful shutdown)")
    assert [(s.step_key, s.status) for s in fresh_run(run_id).steps] == [
        ("wait", "succeeded"), ("after", "skipped")]  # the current step finished
    assert (retry.attempt, retry.retry_of_id, retry.status) == (2, first.id, "succeeded")
    assert retry.worker_name == "successor"
    assert _alerts(programme.id) == []  # a redeploy is not a loss
