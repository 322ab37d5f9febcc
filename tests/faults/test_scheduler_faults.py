"""The scheduler never goes silent: not while every worker is busy, not through a Redis
outage. A real ``flask jobs scheduler`` ticks every second; real workers run the runs."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis
from rq import Worker

from portal.services.periodic import tick_states
from portal.services.runs import DISPATCH_DELAYED, queue_run
from tests.engine.conftest import stop_process_group, wait_for
from tests.engine.steps import pipeline
from tests.factories import gen_programme, gen_user
from tests.faults.conftest import SCHEDULER_INTERVAL, settled, started_events, step_running

pytestmark = [pytest.mark.worker, pytest.mark.slow]

QUICK = pipeline(("a", "test.noop"))


def _scheduled(code: str, due_in_seconds: float):
    return gen_programme(code, refresh_cadence="daily", scheduler_enabled=True,
                         pipeline_definition_json=QUICK,
                         next_run_at=datetime.now(UTC) + timedelta(seconds=due_in_seconds))


def test_busy_workers_never_silence_dispatch_or_the_reconciler(app, processes):
    busy_for = 18  # seconds: many scheduler intervals
    assert busy_for > 3 * SCHEDULER_INTERVAL
    processes.scheduler()
    doomed_worker = processes.worker("doomed")  # takes the first run, alone
    lost = gen_programme("LOST", max_attempts=1, pipeline_definition_json=pipeline(
        ("wait", "test.sleep", {"params": {"seconds": 600}})))
    lost_run = queue_run(lost, gen_user()).run
    wait_for(lambda: step_running(lost_run.id, "wait"), message="the doomed worker's step")
    processes.worker("busy")
    long_run = queue_run(gen_programme("LONG", pipeline_definition_json=pipeline(
        ("wait", "test.sleep", {"params": {"seconds": busy_for}}))), gen_user()).run
    wait_for(lambda: step_running(long_run.id, "wait"), message="the busy worker's step")
    stop_process_group(doomed_worker, signal.SIGKILL)  # one busy worker dies mid-step
    first, second = _scheduled("MINUTE-A", 2), _scheduled("MINUTE-B", 6)

    # While the last worker is busy: due programmes get their runs, the lost run is repaired.
    runs = {programme.code: wait_for(lambda p=programme: settled(p.id), deadline=120,
                                     message=f"{programme.code} to finish")
            for programme in (first, second, lost)}
    long_runs = wait_for(lambda: settled(long_run.programme_id), deadline=60,
                         message="the long run to finish")
    assert [(r.status, r.error_message) for r in long_runs] == [("succeeded", None)]
    long_done = long_runs[0]
    for code in ("MINUTE-A", "MINUTE-B"):
        [run] = runs[code]
        assert (run.trigger, run.status) == ("scheduled", "succeeded")
        assert run.queued_at < long_done.finished_at  # dispatched while the worker was busy
    [lost_run] = runs["LOST"]
    assert lost_run.status == "failed" and lost_run.error_message.startswith("worker lost")
    assert lost_run.finished_at < long_done.finished_at  # repaired while it was busy
    # Both passes kept ticking after the busy period began 3+ intervals earlier.
    for state in tick_states():
        assert state.at > long_done.started_at + timedelta(seconds=3 * SCHEDULER_INTERVAL)


def test_the_scheduler_lives_through_a_redis_outage_and_dispatches_every_run_once(
        app, processes, private_redis):
    scheduler = processes.scheduler()
    worker = processes.worker("patient")
    wait_for(lambda: tick_states() and not any(t.stale for t in tick_states()),
             message="the scheduler's first ticks")
    wait_for(lambda: "patient" in {w.name for w in Worker.all(Redis.from_url(private_redis.url))},
             message="the worker to be up")
    private_redis.stop()

    manual = [gen_programme(f"OUT-{n}", pipeline_definition_json=QUICK) for n in range(4)]
    results = [queue_run(programme, gen_user()) for programme in manual]
    assert {result.message for result in results} == {DISPATCH_DELAYED}
    due = _scheduled("DUE-IN-OUTAGE", 0)
    # The scheduler keeps ticking against the database while Redis is down.
    wait_for(lambda: _run_count(due.id) == 1, deadline=60,
             message="the scheduler to create the due run during the outage")
    assert scheduler.poll() is None and worker.poll() is None

    private_redis.start()  # empty: every job the outage lost is gone for good

    for programme in [*manual, due]:
        [run] = wait_for(lambda p=programme: settled(p.id), deadline=120,
                         message=f"{programme.code}'s run to finish")
        assert (run.status, run.attempt) == ("succeeded", 1)
        assert started_events(run.uuid) == 1  # executed exactly once
    assert scheduler.poll() is None and worker.poll() is None
    wait_for(lambda: tick_states() and not any(t.stale for t in tick_states()),
             message="the ticks to be recorded again")


def _run_count(programme_id: int) -> int:
    from tests.faults.conftest import attempts_of

    return len(attempts_of(programme_id))
