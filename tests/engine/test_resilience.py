"""No run is lost: a killed worker and a Redis outage end in a clear, final state."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from redis import Redis

from portal.services.reconcile import reconcile
from portal.services.runs import DISPATCH_DELAYED, queue_run
from tests.engine.conftest import (
    fresh_run,
    start_worker,
    stop_process_group,
    wait_final,
    wait_for,
    wait_status,
)
from tests.engine.steps import pipeline
from tests.factories import gen_programme, gen_user

pytestmark = pytest.mark.worker


def test_a_worker_killed_mid_step_leaves_a_failed_run_not_a_running_one(app, engine_roots,
                                                                        clean_queues):
    worker = start_worker(engine_roots)
    try:
        programme = gen_programme(pipeline_definition_json=pipeline(
            ("wait", "test.sleep", {"params": {"seconds": 120}}), ("after", "test.noop")))
        run_id = queue_run(programme, gen_user()).run.id
        wait_status(run_id, "running")
        wait_for(lambda: fresh_run(run_id).steps and fresh_run(run_id).steps[0].status
                 == "running", message="the step to start")
    finally:
        stop_process_group(worker, signal.SIGKILL)  # the worker and its work horse

    def reconciled():
        reconcile()
        run = fresh_run(run_id)
        return run if run.status != "running" else None

    run = wait_for(reconciled, deadline=60, message="the reconciler to fail the lost run")
    assert run.status == "failed" and run.error_message.startswith("worker lost")
    assert [step.status for step in run.steps] == ["failed", "skipped"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_binary() -> str:
    binary = os.environ.get("TEST_REDIS_SERVER") or shutil.which("redis-server")
    if not binary:
        pytest.skip("no redis-server binary for a private Redis")
    return binary


def _start_redis(port: int, directory: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [_redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = Redis(port=port)
    wait_for(lambda: _pings(client), deadline=10, message="the private Redis")
    return process


def _pings(client: Redis) -> bool:
    try:
        return bool(client.ping())
    except Exception:  # noqa: BLE001
        return False


def test_a_run_queued_while_redis_is_down_runs_after_it_returns(app, engine_roots, tmp_path):
    port = _free_port()
    own_url = f"redis://127.0.0.1:{port}/0"
    redis_process = _start_redis(port, tmp_path)
    redis_process.terminate()
    redis_process.wait(10)
    app.config["REDIS_URL"] = own_url
    programme = gen_programme(pipeline_definition_json=pipeline(("a", "test.noop")))

    result = queue_run(programme, gen_user())

    assert (result.dispatched, result.message) == (False, DISPATCH_DELAYED)
    assert fresh_run(result.run.id).status == "queued"
    assert reconcile(dispatch_grace_seconds=0).redis_error  # still down: reported, not raised

    redis_process = _start_redis(port, tmp_path)
    try:
        assert reconcile(dispatch_grace_seconds=0).redispatched == [result.run.uuid]
        worker = start_worker(engine_roots, "--burst", redis_url=own_url)
        worker.wait(60)
        run = wait_final(result.run.id, deadline=30)
        assert run.status == "succeeded"
    finally:
        redis_process.terminate()
        redis_process.wait(10)
