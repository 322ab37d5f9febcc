"""Fault-injection fixtures: private Redis servers, a real scheduler and real workers.

Each test gets its own ``redis-server`` (so it can stop and restart it), a
``flask jobs scheduler`` subprocess ticking every second, and starts the RQ workers it
needs (``flask jobs worker`` subprocesses, as in tests/engine). Every process a test
starts is killed at its end. Assertions poll with generous deadlines: they check what
happened, never how fast.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from redis import Redis
from sqlalchemy import func, select

import tests.engine.steps  # noqa: F401 — registers the test step types in this process
from portal.extensions import db
from portal.models import ACTIVE_STATUSES, AuditEvent, MonitoringProgrammeRun
from tests.conftest import make_roots, settings_for
from tests.engine.conftest import fresh_run, stop_process_group, wait_for, worker_env

ROOT = Path(__file__).resolve().parents[2]
SCHEDULER_INTERVAL = 1  # seconds: short, so "longer than 3 intervals" is quick to reach


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A redis-server of the test's own, on a fixed port, that can be stopped and started."""

    def __init__(self, directory: Path):
        self.binary = os.environ.get("TEST_REDIS_SERVER") or shutil.which("redis-server")
        if not self.binary:
            pytest.skip("no redis-server binary (set TEST_REDIS_SERVER)")
        self.port = free_port()
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the server (empty: nothing is persisted) and wait until it answers."""
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = Redis(port=self.port)
        wait_for(lambda: _pings(client), deadline=20, message="the private Redis to answer")

    def stop(self) -> None:
        """Stop the server and wait until it is gone."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)


def _pings(client: Redis) -> bool:
    try:
        return bool(client.ping())
    except Exception:  # noqa: BLE001 — not up yet
        return False


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    """A running private Redis, stopped at the end of the test."""
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fault_roots(tmp_path_factory) -> Path:
    """Data folders shared by the test and its worker processes."""
    return make_roots(tmp_path_factory, "faults")


@pytest.fixture
def app_config(fault_roots, private_redis) -> dict:
    """The test app on the private Redis and the shared data folders."""
    return {**settings_for(fault_roots), "REDIS_URL": private_redis.url,
            "RUN_DISPATCH_GRACE_SECONDS": 1, "STEP_RETRY_BASE_SECONDS": 0.05}


class Processes:
    """Start the scheduler and workers of one test; kill whatever is left at its end."""

    def __init__(self, roots: Path, redis_url: str, database_url: str | None = None):
        self.roots, self.redis_url, self.database_url = roots, redis_url, database_url
        self.started: list[subprocess.Popen] = []

    def _env(self, **extra: str) -> dict[str, str]:
        env = worker_env(self.roots, self.redis_url,
                         SCHEDULER_INTERVAL_SECONDS=str(SCHEDULER_INTERVAL),
                         RUN_DISPATCH_GRACE_SECONDS="1", RUN_RETRY_BACKOFF_SECONDS="0.5",
                         OUTAGE_BACKOFF_MAX_SECONDS="2", WORKER_STOP_GRACE_SECONDS="60",
                         RUN_DB_WAIT_SECONDS="120", **extra)
        if self.database_url:
            env["TEST_DATABASE_URL"] = self.database_url
        return env

    def _spawn(self, args: list[str], label: str, **extra: str) -> subprocess.Popen:
        log = open(self.roots / f"{label}-{time.monotonic_ns()}.log", "w")  # noqa: SIM115
        process = subprocess.Popen([sys.executable, "-m", "flask", *args], cwd=ROOT,
                                   env=self._env(**extra), stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append(process)
        return process

    def scheduler(self, **extra: str) -> subprocess.Popen:
        """Start ``flask jobs scheduler`` (dispatch + reconcile every second)."""
        return self._spawn(["jobs", "scheduler"], "scheduler", **extra)

    def worker(self, name: str, **extra: str) -> subprocess.Popen:
        """Start ``flask jobs worker --name <name>``."""
        return self._spawn(["jobs", "worker", "--name", name], f"worker-{name}", **extra)

    def kill_all(self) -> None:
        """SIGKILL every process started (and their work horses)."""
        for process in self.started:
            stop_process_group(process, signal.SIGKILL)


@pytest.fixture
def processes(fault_roots, private_redis) -> Iterator[Processes]:
    """The test's scheduler/worker launcher; everything is killed at the end."""
    launched = Processes(fault_roots, private_redis.url)
    yield launched
    launched.kill_all()


def work_horses(worker: subprocess.Popen) -> list[psutil.Process]:
    """The work horses (children) of a worker process."""
    try:
        return psutil.Process(worker.pid).children()
    except psutil.NoSuchProcess:
        return []


def step_running(run_id: int, key: str) -> bool:
    """Whether step ``key`` of the run has started (status running)."""
    run = fresh_run(run_id)
    return any(step.step_key == key and step.status == "running" for step in run.steps)


def attempts_of(programme_id: int) -> list[MonitoringProgrammeRun]:
    """Every run of a programme, oldest first (freshly read)."""
    db.session.rollback()
    return list(db.session.scalars(
        select(MonitoringProgrammeRun)
        .where(MonitoringProgrammeRun.programme_id == programme_id)
        .order_by(MonitoringProgrammeRun.id)
        .execution_options(populate_existing=True)))


def settled(programme_id: int) -> list[MonitoringProgrammeRun] | None:
    """The programme's runs once none is queued or running, else None."""
    runs = attempts_of(programme_id)
    return None if not runs or any(run.status in ACTIVE_STATUSES for run in runs) else runs


def started_events(run_uuid: str) -> int:
    """How many times the run was claimed by a worker (``programme_run_started``)."""
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "programme_run_started", AuditEvent.object_id == run_uuid))
