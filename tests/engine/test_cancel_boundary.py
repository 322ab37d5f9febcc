"""Cancelling a running run with a long grace period: the step in progress finishes, the
run stops at the next step boundary, and the steps after it never start."""

from __future__ import annotations

import pytest

from portal.services.runs import cancel_run, queue_run
from tests.engine.conftest import (
    empty_queues,
    fresh_run,
    start_worker,
    stop_process_group,
    wait_final,
    wait_for,
)
from tests.engine.steps import pipeline
from tests.factories import gen_programme, gen_user

pytestmark = pytest.mark.worker


@pytest.fixture(scope="module")
def patient_worker(engine_roots):
    """A worker that never forces a stop within the test (grace of 10 minutes)."""
    empty_queues()
    process = start_worker(engine_roots, RUN_CANCEL_GRACE_SECONDS="600")
    yield process
    stop_process_group(process)


def test_cancel_stops_at_the_next_step_boundary(app, patient_worker):
    programme = gen_programme(pipeline_definition_json=pipeline(
        ("first", "test.sleep", {"params": {"seconds": 2}}), ("second", "test.noop"),
        ("third", "test.noop")))
    user = gen_user()
    run_id = queue_run(programme, user).run.id
    wait_for(lambda: (run := fresh_run(run_id)).steps and run.steps[0].status == "running",
             message="the first step to start")

    cancel_run(fresh_run(run_id), user)

    run = wait_final(run_id, deadline=30)
    assert run.status == "cancelled"
    assert "step boundary" in (run.error_message or "")
    # The first step ran to its end; nothing after it started.
    assert [s.status for s in run.steps] == ["succeeded", "skipped", "skipped"]
    assert run.steps[0].duration_seconds >= 2
    assert all(s.started_at is None for s in run.steps[1:])
