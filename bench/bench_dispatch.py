"""Dispatch: ``dispatch_due`` over 10,000 due programmes against the bare insert + enqueue.

Seeds N due programmes (daily cadence, due an hour ago) in a fresh database and, in
alternating fresh processes, measures:

* project: ``portal.services.scheduling.dispatch_due`` — the code ``flask ops run-due``
  and the scheduler run: lock the due rows, one run + audit event per programme,
  advance every schedule, refresh the programme-list summary, enqueue every job;
* reference: the bare floor of the same work — read the due programme ids, insert N
  run rows with one executemany, commit, enqueue N ``execute_run`` jobs with RQ's
  ``enqueue_many`` in one Redis pipeline (no locks, audit, schedule or summary).

Between repetitions every run, audit event and job is removed and every programme is
due again. After each project repetition it checks exactly one run per programme, one
audit event per run, the list summary pointing at each run, and N jobs in Redis. A
last repetition runs two dispatchers at once (two processes) and checks the same.

Goal (issue 13): 10,000 due programmes dispatched in <= 10 s. Uses DATABASE_URL when
it is a PostgreSQL URL (scripts/bench.sh gives a fresh database), otherwise a
temporary SQLite file; REDIS_URL when set, otherwise a private Redis.

    .venv/bin/python bench/bench_dispatch.py [--programmes 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchlib import start_redis  # noqa: E402
from goals import record  # noqa: E402 — bench/ is the script's own directory

GOAL_SECONDS = 10.0
PIPELINE = {"steps": [{"key": "load", "type": "ingest.csv", "params": {"source": "a.csv"}}]}


def make_app():
    from portal import create_app

    return create_app("development")


# --- the measured cases, each run in a fresh process (``--child NAME``) -------------------


def child_project(now: datetime) -> dict:
    """``dispatch_due`` as the scheduler calls it."""
    from portal.services.scheduling import dispatch_due

    with make_app().app_context():
        started = time.perf_counter()
        summary = dispatch_due(now)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "created": len(summary.created), "raced": summary.raced,
            "deferred": len(summary.deferred), "delayed": summary.dispatch_delayed}


def child_reference(now: datetime) -> dict:
    """The bare floor: ids, one executemany of run rows, one commit, one RQ pipeline."""
    from rq import Queue
    from sqlalchemy import insert

    from portal.extensions import db
    from portal.models import MonitoringProgrammeRun, new_uuid, utcnow
    from portal.services import dispatch
    from portal.services.scheduling import due_programmes_query

    with make_app().app_context():
        started = time.perf_counter()
        ids = db.session.scalars(due_programmes_query(now)).all()
        queued_at = utcnow()
        rows = []
        for programme_id in ids:
            run_uuid = new_uuid()
            rows.append({"uuid": run_uuid, "programme_id": programme_id, "run_type": "full",
                         "trigger": "scheduled", "status": "queued", "dry_run": False,
                         "scheduled_for": now, "skipped_slots": 0, "queue_name": "default",
                         "queue_job_id": dispatch.job_id_for(run_uuid), "queued_at": queued_at,
                         "attempt": 1, "cancel_requested": False})
        table = MonitoringProgrammeRun.__table__
        inserted = db.session.execute(
            insert(table).returning(table.c.id, table.c.queue_job_id,
                                    sort_by_parameter_order=True), rows).all()
        db.session.commit()
        connection = dispatch.redis_connection()
        with connection.pipeline() as pipe:
            dispatch.get_queue("default", connection).enqueue_many([
                Queue.prepare_data(dispatch.EXECUTE_RUN, args=(run_id,), job_id=job_id,
                                   timeout=3600, result_ttl=3600, failure_ttl=7 * 86400,
                                   description=f"execute run {run_id}")
                for run_id, job_id in inserted], pipeline=pipe)
            pipe.execute()
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "created": len(inserted), "raced": 0, "deferred": 0,
            "delayed": 0}


CHILDREN = {"project": child_project, "reference": child_reference}


# --- the parent: seed, reset, verify, alternate -------------------------------------------


def seed(count: int, due_at: datetime) -> None:
    """Insert ``count`` scheduled programmes, all due at ``due_at``."""
    from sqlalchemy import insert

    from portal.extensions import db
    from portal.models import MonitoringProgramme

    db.create_all()
    rows = [{"code": f"DISPATCH-{index:05d}", "title": f"Dispatch bench {index}",
             "description": "", "active": True, "refresh_cadence": "daily",
             "timezone": "UTC", "scheduler_enabled": True, "next_run_at": due_at,
             "schedule_anchor_at": due_at, "pipeline_definition_json": PIPELINE,
             "data_quality_rules_json": {"rules": []}, "licence": "CC0-1.0"}
            for index in range(count)]
    db.session.execute(insert(MonitoringProgramme.__table__), rows)
    db.session.commit()


def reset(due_at: datetime) -> None:
    """No runs, no audit events, no jobs; every programme due again at ``due_at``."""
    from sqlalchemy import delete, update

    from portal.extensions import db
    from portal.models import AuditEvent, MonitoringProgramme, MonitoringProgrammeRun
    from portal.services.dispatch import get_queue

    db.session.execute(delete(AuditEvent))
    db.session.execute(delete(MonitoringProgrammeRun))
    db.session.execute(update(MonitoringProgramme).values(
        next_run_at=due_at, latest_run_id=None, latest_run_uuid=None, latest_run_status=None,
        latest_run_dry_run=False))
    db.session.commit()
    for name in ("high", "default"):
        get_queue(name).empty()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")


def verify(count: int, outcomes: list[dict], project: bool) -> str:
    """Check exactly one run per programme and ``count`` jobs; return a short line."""
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import AuditEvent, MonitoringProgramme, MonitoringProgrammeRun
    from portal.services.dispatch import get_queue

    run = MonitoringProgrammeRun
    runs = db.session.scalar(select(func.count(run.id)))
    programmes_with_run = db.session.scalar(select(func.count(func.distinct(run.programme_id))))
    jobs = get_queue("default").count
    created = sum(outcome["created"] for outcome in outcomes)
    problems = []
    if not runs == programmes_with_run == jobs == created == count:
        problems.append(f"runs {runs}, programmes with a run {programmes_with_run}, "
                        f"jobs {jobs}, reported created {created}")
    if project:
        audited = db.session.scalar(select(func.count(AuditEvent.id)).where(
            AuditEvent.action == "programme_run_queued"))
        summarised = db.session.scalar(select(func.count(MonitoringProgramme.id)).where(
            MonitoringProgramme.latest_run_id == select(func.max(run.id)).where(
                run.programme_id == MonitoringProgramme.id).scalar_subquery(),
            MonitoringProgramme.latest_run_status == "queued"))
        still_due = db.session.scalar(select(func.count(MonitoringProgramme.id)).where(
            MonitoringProgramme.next_run_at <= datetime.now(UTC)))
        if not audited == summarised == count or still_due:
            problems.append(f"audit events {audited}, list summaries {summarised}, "
                            f"still due {still_due}")
    db.session.rollback()
    if problems:
        raise SystemExit("dispatch benchmark check failed: " + "; ".join(problems))
    return f"{runs} runs, one per programme, {jobs} jobs"


def run_children(name: str, now: datetime, env: dict, copies: int = 1) -> tuple[float, list]:
    """Start ``copies`` fresh processes running case ``name`` at once; return the wall
    time of the slowest call and every outcome."""
    command = [sys.executable, __file__, "--child", name, "--now", now.isoformat()]
    started = time.perf_counter()
    processes = [subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                  text=True) for _ in range(copies)]
    outcomes = []
    for process in processes:
        out, _ = process.communicate(timeout=600)
        if process.returncode != 0:
            raise SystemExit(f"{name} process failed ({process.returncode})")
        outcomes.append(json.loads(out.strip().splitlines()[-1]))
    # The whole process (interpreter, imports, app) as ``flask ops run-due`` costs.
    outcomes[0]["wall"] = time.perf_counter() - started
    return max(outcome["seconds"] for outcome in outcomes), outcomes


def database_name(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programmes", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=sorted(CHILDREN))
    parser.add_argument("--now")
    args = parser.parse_args()
    if args.child:
        outcome = CHILDREN[args.child](datetime.fromisoformat(args.now))
        print(json.dumps(outcome), flush=True)
        return

    workdir = Path(tempfile.mkdtemp(prefix="bench-dispatch-", dir=os.environ.get("BENCH_DIR")))
    processes: list[subprocess.Popen] = []
    try:
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            redis_url, redis_process = start_redis(workdir)
            processes.append(redis_process)
        database_url = os.environ.get("DATABASE_URL") or ""
        if not database_url.startswith("postgresql"):
            database_url = f"sqlite:///{workdir / 'dispatch.sqlite3'}"
        env = {**os.environ, "PORTAL_ENV": "development", "DATABASE_URL": database_url,
               "REDIS_URL": redis_url, "DATA_ROOT": str(workdir / "data"),
               "PUBLISH_ROOT": str(workdir / "releases"), "WORK_ROOT": str(workdir / "runs"),
               "LINEAGE_STORE": str(workdir / "store"), "PYTHONPATH": str(ROOT)}
        os.environ.update(env)
        run_benchmark(args, env)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
            process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def run_benchmark(args: argparse.Namespace, env: dict) -> None:
    """Seed once, then alternate project and reference; record the goal."""
    from portal.extensions import db

    count = args.programmes
    database = database_name(env["DATABASE_URL"])
    due_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    now = due_at + timedelta(minutes=30)
    times: dict[str, list[float]] = {"project": [], "reference": []}
    app = make_app()
    with app.app_context():
        seed(count, due_at)
        print(f"dispatch ({database}, {count:,} due programmes, {args.repeats} alternating "
              "repetitions, each case in a fresh process):", flush=True)
        for repeat in range(args.repeats):
            order = ["project", "reference"] if repeat % 2 == 0 else ["reference", "project"]
            for name in order:
                reset(due_at)
                seconds, outcomes = run_children(name, now, env)
                check = verify(count, outcomes, project=name == "project")
                times[name].append(seconds)
                print(f"  repetition {repeat + 1} {name:<9}: {seconds:6.2f} s, process "
                      f"{outcomes[0]['wall']:6.2f} s  ({check})", flush=True)
        reset(due_at)
        race_seconds, outcomes = run_children("project", now, env, copies=2)
        check = verify(count, outcomes, project=True)
        raced = sum(outcome["raced"] for outcome in outcomes)
        split = " + ".join(str(outcome["created"]) for outcome in outcomes)
        print(f"  two dispatchers at once : {race_seconds:6.2f} s  ({check}; created "
              f"{split}, {raced} skipped as the other's)", flush=True)
        reset(due_at)
        db.session.remove()
        db.engine.dispose()
    report(count, database, times)


def report(count: int, database: str, times: dict[str, list[float]]) -> None:
    """Print median and best of each case and record the goal."""
    median = {name: statistics.median(values) for name, values in times.items()}
    best = {name: min(values) for name, values in times.items()}
    print(f"  dispatch_due            : median {median['project']:6.2f} s, best "
          f"{best['project']:6.2f} s  ({count / median['project']:,.0f} programmes/s)")
    print(f"  reference (bare insert + pipeline): median {median['reference']:6.2f} s, best "
          f"{best['reference']:6.2f} s")
    print(f"  dispatch_due / reference: {median['project'] / median['reference']:6.2f}x")
    record("dispatch", f"{count:,} due programmes", figure=median["project"], unit="s",
           goal=f"<= {GOAL_SECONDS:g} s", met=median["project"] <= GOAL_SECONDS,
           reference=f"bare executemany of {count:,} run rows + one RQ pipeline of "
                     f"{count:,} jobs: {median['reference']:.2f} s (median)",
           database=database)


if __name__ == "__main__":
    main()
