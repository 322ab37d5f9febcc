"""Worker subprocess fixtures for the engine's integration tests.

Workers are real ``python -m flask jobs worker`` processes on the test database and
Redis. Within a module the data folders are shared (so one long-running worker can
serve every test); each test starts from empty tables and empty queues.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue

import tests.engine.steps  # noqa: F401 — registers the test step types in this process
from portal.extensions import db
from portal.models import FINAL_STATUSES, MonitoringProgrammeRun
from tests.conftest import DATABASE_URL, REDIS_URL, make_roots, settings_for

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 60.0


@pytest.fixture(scope="module")
def engine_roots(tmp_path_factory) -> Path:
    """Data folders shared by the module's tests and workers."""
    return make_roots(tmp_path_factory, "engine")


@pytest.fixture
def app_config(engine_roots) -> dict:
    """The test app's settings, on the module's shared folders."""
    return {
        **settings_for(engine_roots),
        "STEP_RETRY_BASE_SECONDS": 0.05,
        "RUN_CANCEL_GRACE_SECONDS": 1,
        "RUN_DISPATCH_GRACE_SECONDS": 0,
    }


def worker_env(roots: Path, redis_url: str = REDIS_URL, **extra: str) -> dict[str, str]:
    """Environment of a worker subprocess matching the test app's configuration."""
    env = dict(os.environ)
    env.update({
        "PORTAL_ENV": "testing", "TEST_DATABASE_URL": DATABASE_URL, "REDIS_URL": redis_url,
        "FLASK_APP": "wsgi", "DATA_ROOT": str(roots / "data"),
        "PUBLISH_ROOT": str(roots / "releases"), "WORK_ROOT": str(roots / "runs"),
        "LINEAGE_STORE": str(roots / "lineage-store"),
        "PORTAL_EXTRA_STEP_MODULES": "tests.engine.steps",
        "STEP_RETRY_BASE_SECONDS": "0.05", "RUN_CANCEL_GRACE_SECONDS": "1",
        "RUN_DISPATCH_GRACE_SECONDS": "0", "PYTHONPATH": str(ROOT),
    })
    env.update(extra)
    return env


def start_worker(roots: Path, *args: str, redis_url: str = REDIS_URL,
                 **extra: str) -> subprocess.Popen:
    """Start ``flask jobs worker`` in its own process group."""
    log = open(roots / f"worker-{time.monotonic_ns()}.log", "w")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "jobs", "worker", *args],
        cwd=ROOT, env=worker_env(roots, redis_url, **extra), stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )


def stop_process_group(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stop a worker and its work horses (they run in their own process groups)."""
    if process.poll() is not None:
        return
    import psutil

    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    for child in children:
        try:
            child.send_signal(sig)
        except psutil.NoSuchProcess:
            pass
    process.send_signal(sig)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def empty_queues(redis_url: str = REDIS_URL) -> None:
    """Remove waiting and failed jobs left by earlier tests."""
    connection = Redis.from_url(redis_url)
    for name in ("high", "default"):
        queue = Queue(name, connection=connection)
        queue.empty()
        registry = queue.failed_job_registry
        for job_id in registry.get_job_ids():
            registry.remove(job_id, delete_job=False)
            # Job.delete() in rq 3.0 raises when the job's execution record has expired,
            # so the job's own keys are removed directly.
            connection.delete(f"rq:job:{job_id}", f"rq:job:{job_id}:dependents")


@pytest.fixture
def clean_queues() -> None:
    """Start the test with empty queues."""
    empty_queues()


@pytest.fixture(scope="module")
def worker(engine_roots) -> Iterator[subprocess.Popen]:
    """A long-running worker shared by the module's tests."""
    empty_queues()
    process = start_worker(engine_roots)
    yield process
    stop_process_group(process)


def wait_for(predicate: Callable[[], object], deadline: float = DEADLINE,
             message: str = "condition") -> object:
    """Poll ``predicate`` every 50 ms until it returns a truthy value."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {message}")


def fresh_run(run_id: int) -> MonitoringProgrammeRun:
    """Re-read a run (other processes change it)."""
    db.session.rollback()
    return db.session.get(MonitoringProgrammeRun, run_id, populate_existing=True)


def wait_final(run_id: int, deadline: float = DEADLINE) -> MonitoringProgrammeRun:
    """Wait until the run has finished; return it."""
    def finished():
        run = fresh_run(run_id)
        return run if run.status in FINAL_STATUSES else None

    return wait_for(finished, deadline, f"run {run_id} to finish")


def wait_status(run_id: int, status: str, deadline: float = DEADLINE) -> MonitoringProgrammeRun:
    """Wait until the run reaches ``status``."""
    return wait_for(lambda: (r := fresh_run(run_id)).status == status and r, deadline,
                    f"run {run_id} to be {status}")
