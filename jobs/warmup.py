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
"""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
import uuid
from pathlib import Path

from flask import Flask
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from jobs.steps.base import StepResult
from portal.extensions import db
from portal.models import MonitoringProgramme

log = logging.getLogger(__name__)

#: The rehearsal's steps: a type that needs no source (their function is a stand-in).
REHEARSAL_STEPS = [{"key": f"warm-up-{n}", "type": "transform.exclude_rejected", "params": {}}
                   for n in (1, 2)]
STAND_INS = {step["type"]: (lambda ctx: StepResult(status="succeeded"))  # noqa: ARG005
             for step in REHEARSAL_STEPS}


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
    from portal.services.runs import new_run

    work_dir = None
    with app.app_context():
        connection = (engine or db.engine).connect()
        outer = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        db.session.registry.set(session)
        try:
            programme = MonitoringProgramme(
                code=f"WARMUP-{uuid.uuid4().hex[:12]}", title="worker warm-up (rolled back)",
                pipeline_definition_json={"steps": REHEARSAL_STEPS[:steps]},
                data_quality_rules_json={"rules": []})
            session.add(programme)
            session.flush()
            run = new_run(programme, run_type="full", trigger="manual", dry_run=False)
            session.commit()
            run_id, work_dir = run.id, Path(app.config["WORK_ROOT"]) / run.uuid
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

        folder = tempfile.mkdtemp(prefix="programme-ops-rehearsal-")
        atexit.register(shutil.rmtree, folder, True)
        engine = create_engine(f"sqlite:///{folder}/rehearsal.sqlite3")
        configure_sqlite_engine(engine, int(app.config["SQLITE_BUSY_TIMEOUT_MS"]))
        db.metadata.create_all(engine)
        _scratch = engine
    return _scratch


def warm_worker(app: Flask) -> None:
    """In the worker parent, before any fork: rehearse a run (and compile its statements)."""
    with app.app_context():
        engines = [None] + ([scratch_database(app)] if db.engine.dialect.name == "sqlite"
                            else [])
        for engine in engines:
            for steps in (1, 2):
                rehearse_run(app, engine, steps)
            (engine or db.engine).dispose()


def warm_horse(app: Flask) -> None:
    """Ready a standby work horse (``jobs.worker``) for the run it is about to get.

    Done while it waits, none of this delays the job: it connects to the database and
    rehearses a run (on SQLite in the scratch database, then reads what a run starts with
    from the real one, with ids no row has: that connects too, and takes no lock).
    """
    from jobs.run_ledger import RunLedger
    from jobs.runner import load_run
    from portal.dbutil import begin_write, commit
    from portal.services.shared_folders import granted_folders

    if db.engine.dialect.name == "sqlite":
        scratch = scratch_database(app)
        scratch.dispose(close=False)  # the parent's connections stay the parent's
        rehearse_run(app, scratch)
    else:
        rehearse_run(app)
    with app.app_context():
        try:
            load_run(0)
            granted_folders(0, app.config["DATA_ROOT"])
            RunLedger(0, "warm-up").cancel_requested()
            # The rehearsal's transactions are savepoints on one connection: go through
            # real ones too (checkout, BEGIN, a read, COMMIT). Not on SQLite, where
            # BEGIN IMMEDIATE would take the lock.
            if db.engine.dialect.name != "sqlite":
                for _ in range(2):
                    begin_write(keep_loaded=True)
                    load_run(0)
                    commit(keep_loaded=True)
        finally:
            db.session.remove()
