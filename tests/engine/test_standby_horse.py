"""The worker's standby horse (``jobs.worker``, WORKER_PREFORK): while a real worker
waits, the next work horse is already forked; a run arriving then is executed by it,
one run per horse, and a standby never outlives its worker."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from portal.services.runs import queue_run
from tests.engine.conftest import (
    empty_queues,
    start_worker,
    stop_process_group,
    wait_final,
    wait_for,
)
from tests.engine.steps import pipeline
from tests.factories import gen_programme, gen_user

pytestmark = pytest.mark.worker


def _children(worker) -> list[int]:
    try:
        return [child.pid for child in psutil.Process(worker.pid).children()
                if child.status() != psutil.STATUS_ZOMBIE]
    except psutil.NoSuchProcess:
        return []


def _standby(worker) -> int:
    """The idle worker's only child (its standby horse), once it is there and in its
    own process group, as any horse."""
    def ready():
        found = _children(worker)
        return len(found) == 1 and _own_group(found[0]) and found[0]

    return wait_for(ready, message="the worker's standby horse")


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie awaiting its parent is not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _gone(pid: int) -> None:
    wait_for(lambda: not _alive(pid), message=f"process {pid} to exit")


def _own_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


def _run_pid(programme) -> int:
    run = wait_final(queue_run(programme, gen_user()).run.id)
    assert run.status == "succeeded", run.error_message
    return run.steps[0].details_json["pid"]


@pytest.fixture
def worker(engine_roots):
    empty_queues()
    process = start_worker(engine_roots)
    yield process
    stop_process_group(process)


def test_a_waiting_worker_runs_the_next_run_in_its_standby_horse(app, worker):
    programme = gen_programme(pipeline_definition_json=pipeline(("who", "test.pid")))
    standby = _standby(worker)

    assert _run_pid(programme) == standby
    # One run per horse: the next one waits in a new standby.
    following = _standby(worker)
    assert following != standby
    _gone(standby)
    assert _run_pid(programme) == following


def test_a_standby_that_died_is_replaced_by_a_fresh_horse(app, worker):
    programme = gen_programme(pipeline_definition_json=pipeline(("who", "test.pid")))
    standby = _standby(worker)
    os.kill(standby, signal.SIGKILL)

    ran_in = _run_pid(programme)

    assert ran_in not in (standby, worker.pid)
    assert worker.poll() is None  # the worker carried on
    assert _run_pid(programme) not in (standby, ran_in, worker.pid)


def test_a_stopped_worker_leaves_no_standby_behind(app, worker):
    standby = _standby(worker)
    worker.send_signal(signal.SIGTERM)  # a redeploy: only the worker is told
    worker.wait(timeout=30)
    _gone(standby)


def test_without_prefork_a_waiting_worker_has_no_child(app, engine_roots):
    empty_queues()
    worker = start_worker(engine_roots, WORKER_PREFORK="0")
    try:
        programme = gen_programme(pipeline_definition_json=pipeline(("who", "test.pid")))
        ran_in = _run_pid(programme)  # the worker is up and has forked a horse for it
        assert ran_in != worker.pid
        _gone(ran_in)  # the horse ends with its job, and no other takes its place
        for _ in range(20):  # a prefork worker has forked its standby within milliseconds
            assert _children(worker) == []
            time.sleep(0.05)
    finally:
        stop_process_group(worker)
