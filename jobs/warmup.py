"""A run rehearsed in the worker before any real one, then rolled back.

Every work horse is a fresh fork of the worker. Whatever has not been done before the
fork is done again for every job: above all SQLAlchemy compiling the statements of a
run, a millisecond or two each, in the worker parent (inherited by every horse). And
in the horse itself, the first pass through any code writes to the memory it shares
with its parent (reference counts), so the kernel copies each page touched, and the
caches are cold: measured, a horse's first run took twice as long as its second.

:func:`rehearse_run` therefore takes a throw-away programme's run through the real
:func:`jobs.runner.execute` — load, validation, claim with the plan, a step boundary,
two steps (stand-ins that do nothing), the final transition with the lineage record —
inside one outer transaction that is rolled back. Nothing is committed; the rehearsal's
session never leaves this function (SQLAlchemy's "join a session into an external
transaction" recipe: the functions' commits only release savepoints), and the files the
run writes under WORK_ROOT are removed.

The worker parent rehearses once at start. A standby horse (``jobs.worker``) rehearses
again while it waits for its job: on PostgreSQL in the real database; on SQLite in a
private database with the same schema (:func:`scratch_database`), because a rehearsal
holds the write lock, and a read transaction elsewhere that tried to write meanwhile
would fail at once.

A standby's readying never delays its job: it looks for the job between its phases and
at each rehearsed step, and when the job is there it stops readying (the rehearsal rolls
back as always) and runs it. A job that arrives as a horse is being readied therefore
waits for at most one phase, a few milliseconds, not for the whole rehearsal.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from flask import Flask
from sqlalchemy import Engine, create_engine, insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from jobs.steps.base import StepResult
from portal.extensions import db
from portal.models import MonitoringProgramme, MonitoringProgrammeRun
from portal.models.base import new_uuid

log = logging.getLogger(__name__)


class JobArrived(BaseException):
    """A standby's job arrived while it was readying itself: stop, and run the job.

    A BaseException, like a timeout, so no step or rehearsal handler takes it for a
    failure to record; the rehearsal's outer transaction is rolled back as always.
    """


def _no_job() -> bool:
    return False


#: In a standby horse while it readies itself: whether its job has arrived.
_job_waiting: Callable[[], bool] = _no_job


def _stop_if_job_arrived() -> None:
    if _job_waiting():
        raise JobArrived


def _stand_in(ctx) -> StepResult:  # noqa: ARG001 — a step function's signature
    _stop_if_job_arrived()
    return StepResult(status="succeeded")


#: The rehearsal's steps: a type that needs no source (their function is a stand-in).
REHEARSAL_STEPS = [{"key": f"warm-up-{n}", "type": "transform.exclude_rejected", "params": {}}
                   for n in (1, 2)]
STAND_INS = {step["type"]: _stand_in for step in REHEARSAL_STEPS}

_PROGRAMMES, _RUNS = MonitoringProgramme.__table__, MonitoringProgrammeRun.__table__
_ADD_PROGRAMME = insert(_PROGRAMMES).returning(_PROGRAMMES.c.id)
_ADD_RUN = insert(_RUNS).returning(_RUNS.c.id)  # queued, with the columns' defaults


def rehearse_run(app: Flask, engine: Engine | None = None, steps: int = 2) -> bool:
    """Execute a throw-away run for real and roll everything back.

    Args:
        app: the portal.
        engine: the database to rehearse in (default: the app's).
        steps: how many steps the run has (1 or 2: a plan of one step is written by
            another statement than a longer plan).

    Returns:
        True when the rehearsed run succeeded; a failure is logged and only costs speed.

    Raises:
        OperationalError: the database cannot be reached (``run_worker`` retries).
    """
    from jobs.runner import execute

    work_dir = None
    with app.app_context():
        connection = (engine or db.engine).connect()
        outer = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        db.session.registry.set(session)
        try:
            # The queued run, written as briefly as possible: a horse never queues one.
            programme_id = session.execute(_ADD_PROGRAMME, {
                "code": f"WARMUP-{uuid.uuid4().hex[:12]}",
                "title": "worker warm-up (rolled back)",
                "pipeline_definition_json": {"steps": REHEARSAL_STEPS[:steps]},
                "data_quality_rules_json": {"rules": []}}).scalar_one()
            run_uuid = new_uuid()
            run_id = session.execute(_ADD_RUN, {"uuid": run_uuid, "programme_id": programme_id,
                                                "queue_name": "high"}).scalar_one()
            session.commit()
            work_dir = Path(app.config["WORK_ROOT"]) / run_uuid
            status = execute(run_id, worker_name="warm-up", rehearsal=STAND_INS)
            if status != "succeeded":
                log.warning("worker warm-up: the rehearsed run ended %s", status)
            return status == "succeeded"
        except OperationalError:  # the database is down: the worker retries its warm-up
            raise
        except Exception as error:  # noqa: BLE001 — an optimisation: never stop the worker
            log.warning("worker warm-up: run rehearsal skipped (%s: %s)",
                        type(error).__name__, str(error).splitlines()[0] if str(error) else "")
            return False
        finally:
            session.close()
            db.session.registry.clear()
            outer.rollback()
            connection.close()
            if work_dir is not None:
                shutil.rmtree(work_dir, ignore_errors=True)


_scratch: Engine | None = None


def scratch_database(app: Flask) -> Engine:
    """A private SQLite database with the portal's schema, for this worker's rehearsals.

    Created once per worker process (in a temporary folder removed when it exits),
    configured as the app's database is; forked horses reopen it.
    """
    global _scratch
    if _scratch is None:
        from portal import configure_sqlite_engine

        remove_stale_scratch_folders()
        folder = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")
        atexit.register(shutil.rmtree, folder, True)
        engine = create_engine(f"sqlite:///{folder}/rehearsal.sqlite3")
        configure_sqlite_engine(engine, int(app.config["SQLITE_BUSY_TIMEOUT_MS"]))
        db.metadata.create_all(engine)
        _scratch = engine
    return _scratch


#: The scratch folders' prefix; the worker's pid follows, so a folder left behind by a
#: worker that was killed (no exit handler ran) is recognised and removed by the next.
SCRATCH_PREFIX = "programme-ops-rehearsal-"


def remove_stale_scratch_folders() -> list[Path]:
    """Remove the scratch folders of workers that are no longer running; return them."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-*"):
        pid = folder.name[len(SCRATCH_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def warm_worker(app: Flask) -> None:
    """In the worker parent, before any fork: rehearse a run (and compile its statements)."""
    with app.app_context():
        engines = [None] + ([scratch_database(app)] if db.engine.dialect.name == "sqlite"
                            else [])
        for engine in engines:
            for steps in (1, 2):
                rehearse_run(app, engine, steps)
            (engine or db.engine).dispose()


def warm_horse(app: Flask, job_waiting: Callable[[], bool] = _no_job) -> bool:
    """Ready a standby work horse (``jobs.worker``) for the run it is about to get.

    Most useful first: it connects to the database, rehearses a run (on SQLite in the
    scratch database), then, on PostgreSQL, goes through a real transaction (reading an
    id no row has: it takes no lock). Nothing else: measured in a forked horse, the reads
    a run may also make (shared-folder grants, the heartbeat's) cost more to ready than
    they save. ``job_waiting`` is asked between these phases and at each rehearsed step:
    once it says the job is there, readying stops, so it never delays the job by more
    than the phase under way.

    Returns:
        True when the horse was readied in full, False when its job cut it short.
    """
    global _job_waiting
    _job_waiting = job_waiting
    try:
        _warm_horse(app)
    except JobArrived:
        return False
    finally:
        _job_waiting = _no_job
    return True


def _warm_horse(app: Flask) -> None:
    from jobs.runner import load_run
    from portal.dbutil import begin_write, commit

    sqlite = db.engine.dialect.name == "sqlite"
    with app.app_context():
        try:
            load_run(0)  # connects
        finally:
            db.session.remove()
    _stop_if_job_arrived()
    if sqlite:
        scratch = scratch_database(app)
        scratch.dispose(close=False)  # the parent's connections stay the parent's
        rehearse_run(app, scratch)
    else:
        rehearse_run(app)
    # A real transaction too (checkout, BEGIN, a read, COMMIT): the rehearsal's are
    # savepoints on one connection. Not on SQLite, where BEGIN IMMEDIATE takes the lock.
    if not sqlite:
        _stop_if_job_arrived()
        with app.app_context():
            try:
                begin_write(keep_loaded=True)
                load_run(0)
                commit(keep_loaded=True)
            finally:
                db.session.remove()
