"""Orchestration overhead: a pipeline run against one bare RQ job.

Two fresh workers run, side by side on the same Redis, and the four measurements
alternate within each repetition (the order rotates), so the ratios hold on any machine:

* reference: one bare job on a stock RQ worker (``rq worker``, RQ's own forking
  ``Worker``, nothing preloaded), enqueue -> RQ says finished. The job is a function the
  stock worker has already imported (``os.getpid``), so nothing is imported per job;
* a bare job (``jobs.tasks.noop``) on the portal's worker, ``flask jobs worker``, the
  same way (printed for comparison: what the portal's worker costs a job that does
  nothing);
* a 1-step pipeline of ``test.noop`` on the portal's worker: ``queue_run`` -> the run is
  ``succeeded`` (the run row, claim, heartbeat thread, step row, audit, lineage,
  summary: everything a run does);
* a 21-step pipeline of ``test.noop``, the same way: per additional step =
  (t21 - t1) / 20;
* run-now -> running: ``queue_run`` -> the run's ``started_at``, from the pipeline runs.

Every case is polled the same way (every millisecond, one round trip per poll: RQ's read
of the job's status, or one SELECT of the run's, outside a transaction on PostgreSQL)
after the workers have gone idle.
Goals (issue 13): 1-step pipeline / bare RQ job (the stock worker's) <= 1.5, <= 5 ms per
additional step, run-now -> running < 100 ms. Uses REDIS_URL and DATABASE_URL when set;
otherwise starts a private Redis and uses a temporary SQLite file. Removes its temporary
files.

    .venv/bin/python bench/bench_orchestration.py [--repeats 15] [--long-steps 21]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import start_redis  # noqa: E402
from goals import record  # noqa: E402

POLL_SECONDS = 0.001
STOCK_QUEUE = "bench-stock-rq"  # only the stock worker listens here
STOCK_JOB = "posix.getpid"  # os.getpid: already imported by any Python process
IDLE_SECONDS = 0.05  # between samples: the worker is back waiting on Redis


def database_name(url: str) -> str:
    """``sqlite`` or ``postgresql`` (the dialect, without the driver)."""
    return url.split(":", 1)[0].split("+", 1)[0]


def main() -> None:
    """Parse the arguments, set up Redis, the database and a worker; run; clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--long-steps", type=int, default=21)
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
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def run_benchmark(args: argparse.Namespace, env: dict, processes: list, workdir: Path) -> None:
    """Measure the three cases alternately on one fresh worker and record the goals."""
    import tests.engine.steps  # noqa: F401 — registers test.noop for validation
    from portal import create_app
    from portal.extensions import db
    from portal.models import MonitoringProgramme
    from portal.services.dispatch import get_queue

    app = create_app("development")
    with app.app_context():
        db.create_all()  # a fresh temporary database (or an already migrated one)
        log_file = open(workdir / "worker.log", "w")  # noqa: SIM115 — closed below
        worker = subprocess.Popen([sys.executable, "-m", "flask", "jobs", "worker"], cwd=ROOT,
                                  env=env, stdout=subprocess.DEVNULL, stderr=log_file)
        processes.append(worker)
        stock_log = open(workdir / "stock-worker.log", "w")  # noqa: SIM115 — closed below
        stock = subprocess.Popen([str(Path(sys.executable).with_name("rq")), "worker", "--url",
                                  env["REDIS_URL"], "--logging_level", "WARNING", STOCK_QUEUE],
                                 cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                                 stderr=stock_log)
        processes.append(stock)
        suffix = datetime.now(UTC).strftime("%H%M%S%f")
        steps = [{"key": f"s{i:03d}", "type": "test.noop"} for i in range(args.long_steps)]
        one = MonitoringProgramme(code=f"BENCH-1-{suffix}", title="bench",
                                  pipeline_definition_json={"steps": steps[:1]})
        long = MonitoringProgramme(code=f"BENCH-N-{suffix}", title="bench",
                                   pipeline_definition_json={"steps": steps})
        db.session.add_all([one, long])
        db.session.commit()
        queue = get_queue("high")

        stock_queue = get_queue(STOCK_QUEUE)
        cases: dict[str, Callable[[], float]] = {
            "stock": lambda: bare_job(stock_queue, STOCK_JOB),
            "bare": lambda: bare_job(queue),
            "one": lambda: pipeline_run(one, latencies),
            "long": lambda: pipeline_run(long, latencies),
        }
        latencies: list[float] = []
        for measure in cases.values():  # warm-up: the worker is up and has run each kind
            measure()
        latencies.clear()
        times: dict[str, list[float]] = {name: [] for name in cases}
        names = list(cases)
        for repeat in range(args.repeats):
            turn = repeat % len(names)
            for name in names[turn:] + names[:turn]:
                time.sleep(IDLE_SECONDS)
                times[name].append(cases[name]())
        log_file.close()
        stock_log.close()
    report(args, env, times, latencies)


def report(args: argparse.Namespace, env: dict, times: dict[str, list[float]],
           latencies: list[float]) -> None:
    """Print the figures and record the three goals."""
    database = database_name(env["DATABASE_URL"])
    median = {name: statistics.median(values) for name, values in times.items()}
    best = {name: min(values) for name, values in times.items()}
    extra = args.long_steps - 1
    per_step = (median["long"] - median["one"]) / extra
    per_step_best = (best["long"] - best["one"]) / extra
    ratio = median["one"] / median["stock"]
    latency = statistics.median(latencies)
    print(f"orchestration ({database}, a stock RQ worker and the portal's worker, "
          f"{args.repeats} alternating repetitions; median / best):")
    print(f"  bare RQ job, stock RQ worker             : {median['stock'] * 1e3:7.1f} / "
          f"{best['stock'] * 1e3:7.1f} ms")
    print(f"  bare job, the portal's worker            : {median['bare'] * 1e3:7.1f} / "
          f"{best['bare'] * 1e3:7.1f} ms")
    print(f"  1-step pipeline, queue_run -> succeeded  : {median['one'] * 1e3:7.1f} / "
          f"{best['one'] * 1e3:7.1f} ms")
    print(f"  {args.long_steps}-step pipeline, queue_run -> succeeded : "
          f"{median['long'] * 1e3:7.1f} / {best['long'] * 1e3:7.1f} ms")
    print(f"  per additional step (t{args.long_steps} - t1) / {extra}    : "
          f"{per_step * 1e3:7.2f} / {per_step_best * 1e3:7.2f} ms")
    print(f"  1-step pipeline / bare RQ job (stock)    : {ratio:7.2f} / "
          f"{best['one'] / best['stock']:7.2f}")
    print(f"  1-step pipeline / bare job, same worker  : "
          f"{median['one'] / median['bare']:7.2f} / {best['one'] / best['bare']:7.2f}")
    print(f"  run-now -> running (median of {len(latencies)})      : {latency * 1e3:7.1f} ms")
    reference = (f"bare RQ job {median['stock'] * 1e3:.1f} ms on a stock RQ worker "
                 f"({median['bare'] * 1e3:.1f} ms on the portal's worker), medians")
    record("orchestration", "1-step pipeline / bare RQ job", figure=ratio, unit="x",
           goal="<= 1.5", met=ratio <= 1.5, reference=reference, database=database)
    record("orchestration", "per additional step", figure=per_step * 1e3, unit="ms",
           goal="<= 5 ms", met=per_step * 1e3 <= 5,
           reference=f"1-step {median['one'] * 1e3:.1f} ms, {args.long_steps}-step "
                     f"{median['long'] * 1e3:.1f} ms", database=database)
    record("orchestration", "run-now -> running", figure=latency * 1e3, unit="ms",
           goal="< 100 ms", met=latency * 1e3 < 100, reference=reference, database=database)


def bare_job(queue, function: str = "jobs.tasks.noop") -> float:
    """Enqueue one no-op job; return the seconds until RQ reports it finished."""
    from rq.job import JobStatus

    started = time.perf_counter()
    job = queue.enqueue_call(function, result_ttl=60)
    while job.get_status() != JobStatus.FINISHED:
        time.sleep(POLL_SECONDS)
    return time.perf_counter() - started


def read_status(query) -> str | None:
    """The run's status, read as cheaply as the bare jobs' (one Redis HGET each poll).

    On PostgreSQL one statement outside a transaction (one round trip: a session's
    BEGIN, SELECT and ROLLBACK would be three, and a poll every millisecond would take
    a good part of a core from the run it watches); on SQLite, in-process, the session.
    """
    from portal.extensions import db

    if db.engine.dialect.name != "postgresql":
        status = db.session.scalar(query)
        db.session.rollback()
        return status
    global _poller
    if _poller is None:
        _poller = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    return _poller.scalar(query)


_poller = None  # the PostgreSQL polling connection (autocommit), opened on first use


def pipeline_run(programme, latencies: list[float]) -> float:
    """Queue a run and wait for it to succeed; return the seconds it took.

    Appends run-now → running (``queue_run`` → the run's ``started_at``) to ``latencies``.
    """
    from portal.extensions import db
    from portal.models import MonitoringProgrammeRun
    from portal.services.runs import queue_run

    requested = datetime.now(UTC)
    started = time.perf_counter()
    run_id = queue_run(programme, None).run.id
    query = db.select(MonitoringProgrammeRun.status).where(MonitoringProgrammeRun.id == run_id)
    while True:
        status = read_status(query)
        if status in ("succeeded", "failed", "blocked", "cancelled"):
            break
        time.sleep(POLL_SECONDS)
    elapsed = time.perf_counter() - started
    if status != "succeeded":
        raise SystemExit(f"benchmark run {run_id} ended {status}")
    run = db.session.get(MonitoringProgrammeRun, run_id)
    started_at = run.started_at if run.started_at.tzinfo else run.started_at.replace(tzinfo=UTC)
    latencies.append((started_at - requested).total_seconds())
    return elapsed


if __name__ == "__main__":
    main()
