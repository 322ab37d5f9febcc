"""What one run writes to the database from the work horse, in as few transactions as
the live timeline allows.

The runner records the plan in its claim's transaction (the first step already
running), then passes each later step boundary in ONE short write transaction: store
the step that just ended, read the run's status and cancel flag (the boundary check)
and mark the next step running; the last step is stored in the final transition's
transaction. A run of N steps thus commits N + 1 times, and each write is a Core
statement on a plain id: no ORM row is re-read after a commit.

Statements are built once per process and compiled in the worker parent (the run
rehearsal of ``jobs.warmup``) so every forked work horse inherits them compiled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from jobs.dbretry import with_db_retry
from portal.dbutil import Write, begin_write, commit
from portal.extensions import db
from portal.models import MonitoringProgrammeRun, MonitoringProgrammeRunStep

RUNS = MonitoringProgrammeRun.__table__
STEPS = MonitoringProgrammeRunStep.__table__

# One statement object each, so SQLAlchemy's compiled cache is hit in every horse.
_BOUNDARY = select(RUNS.c.status, RUNS.c.cancel_requested).where(
    RUNS.c.id == bindparam("run_id"))
_CANCEL_FLAG = select(RUNS.c.cancel_requested).where(RUNS.c.id == bindparam("run_id"))
_START_STEP = update(STEPS).where(STEPS.c.id == bindparam("step_id")).values(
    status="running", started_at=bindparam("started_at"))
_STORE_STEP = update(STEPS).where(STEPS.c.id == bindparam("step_id")).values(
    status=bindparam("status"), finished_at=bindparam("finished_at"),
    attempts=bindparam("attempts"), duration_seconds=bindparam("duration_seconds"),
    rows_in=bindparam("rows_in"), rows_out=bindparam("rows_out"),
    rows_rejected=bindparam("rows_rejected"), details_json=bindparam("details_json"),
    log_excerpt=bindparam("log_excerpt"))
_INSERT_STEPS = insert(STEPS).returning(STEPS.c.id, sort_by_parameter_order=True)


@dataclass
class StoredStep:
    """A finished step's row values, waiting for the next boundary's transaction."""

    step_id: int
    status: str
    finished_at: datetime
    attempts: int
    duration_seconds: float
    rows_in: int | None
    rows_out: int | None
    rows_rejected: int | None
    details_json: dict[str, Any]
    log_excerpt: str | None

    def params(self) -> dict[str, Any]:
        """The bound parameters of the store statement."""
        return {"step_id": self.step_id, **{name: getattr(self, name) for name in (
            "status", "finished_at", "attempts", "duration_seconds", "rows_in", "rows_out",
            "rows_rejected", "details_json", "log_excerpt")}}


class RunLedger:
    """The database writes of run ``run_id`` inside its work horse."""

    def __init__(self, run_id: int, run_uuid: str):
        self.run_id = run_id
        self.run_uuid = run_uuid

    def insert_plan(self, planned: list[dict[str, Any]],
                    first_started_at: datetime | None = None) -> list[int]:
        """Insert the planned steps, pending, in the caller's write transaction (the
        claim's); with ``first_started_at`` the first one is already running.

        Returns:
            The step rows' ids, in the plan's order.
        """
        if not planned:
            return []
        rows = [{"run_id": self.run_id, "ordering": index, "step_key": step["key"],
                 "step_type": step["type"], "status": "pending", "attempts": 0,
                 "started_at": None} for index, step in enumerate(planned)]
        if first_started_at is not None:
            rows[0].update(status="running", started_at=first_started_at)
        return list(db.session.scalars(_INSERT_STEPS, rows))

    def step_rows(self) -> list[MonitoringProgrammeRunStep]:
        """The run's step rows as ORM objects, in order (a resume records reused steps)."""
        return list(db.session.scalars(
            select(MonitoringProgrammeRunStep)
            .where(MonitoringProgrammeRunStep.run_id == self.run_id)
            .order_by(MonitoringProgrammeRunStep.ordering)))

    def boundary(self, stored: StoredStep | None, next_step: int | None,
                 started_at: datetime | None = None, *, cancel_seen: bool = False) -> str:
        """Pass a step boundary in one write transaction.

        Stores ``stored`` (the step that just ended), reads the run, and when the run is
        still running and not cancelled marks step ``next_step`` running at
        ``started_at``.

        Returns:
            "gone" (the run is no longer running: the reconciler or a cancel ended it),
            "cancel" (a cancel was requested) or "go".
        """
        def write() -> str:
            begin_write(keep_loaded=True)
            row = db.session.execute(_BOUNDARY, {"run_id": self.run_id}).first()
            if row is None or row.status != "running":
                verdict = "gone"
            elif row.cancel_requested or cancel_seen:
                verdict = "cancel"
            else:
                verdict = "go"
            # The writes go with the commit (on PostgreSQL one round trip). Core
            # statements only: nothing loaded changed.
            writes = [] if stored is None else [self.store_write(stored)]
            if verdict == "go" and next_step is not None:
                writes.append((_START_STEP, {"step_id": next_step, "started_at": started_at}))
            commit(keep_loaded=True, writes=writes)
            return verdict

        return with_db_retry(write, f"run {self.run_uuid}: step boundary")

    def store(self, stored: StoredStep) -> None:
        """Store the step that just ended, when no next step depends on the run's state
        (a validate step, whose alerts come next): one short write."""
        def write() -> None:
            begin_write(keep_loaded=True)
            # Core statements only: nothing loaded changed
            commit(keep_loaded=True, writes=[self.store_write(stored)])

        with_db_retry(write, f"run {self.run_uuid}: store step {stored.step_id}")

    @staticmethod
    def store_write(stored: StoredStep) -> Write:
        """The write that stores the step that just ended (``dbutil.commit(writes=)``)."""
        return _STORE_STEP, stored.params()

    def cancel_requested(self) -> bool:
        """Whether an operator asked to cancel the run (read now, outside a write)."""
        flag = db.session.scalar(_CANCEL_FLAG, {"run_id": self.run_id})
        db.session.rollback()
        return bool(flag)


def json_safe(document: Any) -> Any:
    """Round-trip through JSON so datetimes, paths and numpy scalars are stored as text."""
    return json.loads(json.dumps(document, default=str))
