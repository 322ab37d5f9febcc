"""A run's database work rehearsed once in the worker parent, then rolled back.

Every work horse is a fresh fork of the worker. Whatever the parent has not done
before forking, each horse does again for every job: above all SQLAlchemy compiling
the statements of a run (the claim, the expired-attribute and relationship loads, the
programme summary, the step ledger, the final transition, the alert and audit rows),
a millisecond or two each. :func:`rehearse_run` takes a throw-away programme through
queued → running → succeeded with the real functions, inside one outer transaction
that is rolled back, so the parent's compiled cache holds every statement of a run
and each horse only executes them. Nothing is committed; the rehearsal's session
never leaves this function (SQLAlchemy's "join a session into an external
transaction" recipe: the functions' commits only release savepoints).
"""

from __future__ import annotations

import logging
import uuid

from flask import Flask
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.models import MonitoringProgramme, utcnow

log = logging.getLogger(__name__)

#: The step type the rehearsal plans (never executed): any registered type will do.
REHEARSAL_STEP = {"key": "warm-up", "type": "ingest.csv", "params": {"source": "warm-up.csv"}}


def rehearse_run(app: Flask) -> bool:
    """Rehearse a run's database statements and roll everything back.

    Returns:
        True when the rehearsal completed; a failure is logged and only costs speed.

    Raises:
        OperationalError: the database cannot be reached (``run_worker`` retries).
    """
    from jobs.run_ledger import StoredStep
    from jobs.runner import PipelineExecution, _finish, load_run
    from portal.services.pipeline_spec import validate_pipeline, validate_rules
    from portal.services.runs import new_run

    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        db.session.registry.set(session)
        try:
            programme = MonitoringProgramme(
                code=f"WARMUP-{uuid.uuid4().hex[:12]}", title="worker warm-up (rolled back)",
                pipeline_definition_json={"steps": [REHEARSAL_STEP]},
                data_quality_rules_json={"rules": []})
            session.add(programme)
            session.flush()
            validate_pipeline(programme.pipeline_definition_json)
            validate_rules(programme.data_quality_rules_json)
            run = new_run(programme, run_type="full", trigger="manual", dry_run=False)
            session.commit()
            run = load_run(run.id)  # as in a horse: the run and its programme, one read
            execution = PipelineExecution(run)
            execution.problem()
            execution.claim("warm-up", plan=True)  # claimed, planned, first step running
            ledger, step_id = execution.ledger, execution.step_ids[0]
            ledger.boundary(None, step_id, utcnow())  # what each later step boundary runs
            stored = StoredStep(step_id, "succeeded", utcnow(), 1, 0.0, 0, 0, 0, {}, None)
            ledger.store(stored)
            ledger.cancel_requested()
            _finish(execution.run_row, "succeeded", None, stored, **execution._final_records())
            return True
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


def warm_horse(app: Flask) -> None:
    """Ready a standby work horse (``jobs.worker``) for the run it is about to get.

    A fresh fork copies each page of the parent it touches, and opens its database
    connection on first use; done while waiting, neither delays the job. On PostgreSQL
    this is the full rolled-back rehearsal. On SQLite it only reads (the statements a
    run starts with, with ids no row has): a rehearsal would hold SQLite's single write
    lock, and a read transaction that then tried to write elsewhere would fail at once.
    """
    if db.engine.dialect.name != "sqlite":
        rehearse_run(app)
        return
    from jobs.run_ledger import RunLedger
    from jobs.runner import load_run
    from portal.services.pipeline_spec import validate_pipeline, validate_rules
    from portal.services.shared_folders import granted_folders

    with app.app_context():
        try:
            load_run(0)
            granted_folders(0, app.config["DATA_ROOT"])
            RunLedger(0, "warm-up").cancel_requested()
            validate_pipeline({"steps": [REHEARSAL_STEP]})
            validate_rules({"rules": []})
        finally:
            db.session.remove()
