"""Scheduled runs for a batch of due programmes, created in one transaction.

``services.scheduling.dispatch_due`` hands this module the due programmes a few
hundred at a time. One batch is one write transaction:

1. lock the batch's programme rows that are still due (PostgreSQL:
   ``FOR UPDATE SKIP LOCKED``, so a concurrent dispatcher takes the rows this one does
   not hold; SQLite: the write lock taken up front by ``begin_write``) and re-check
   each in SQL, so a row another dispatcher advanced meanwhile is left alone;
2. read which of them still have an active run (those are *deferred*, as before);
3. insert every run with one multi-row ``INSERT ... RETURNING``, their
   ``programme_run_queued`` audit events with another, advance every ``next_run_at``
   with one executemany ``UPDATE``, and refresh the programmes' list summary
   (``programme_summary.refresh``);
4. commit. The caller enqueues the committed runs afterwards (invariant 1: a run is a
   row before it is a job; the reconciler re-enqueues one whose job never arrived).

The unique slot constraint and the one-active-run index stay the last word: if the
database refuses the batch's insert (a concurrent "Run now", a slot already taken),
the batch is rolled back and its programmes are dispatched one by one, exactly as a
single dispatcher would.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from portal.dbutil import begin_write
from portal.extensions import db
from portal.models import (
    ACTIVE_STATUSES,
    AuditEvent,
    MonitoringProgramme,
    MonitoringProgrammeRun,
    new_uuid,
    utcnow,
)
from portal.services import dispatch, programme_summary
from portal.services.audit import current_request_id
from portal.services.cadence import UNSCHEDULED, due_slots, is_schedulable
from portal.services.runs import queued_metadata

if TYPE_CHECKING:
    from portal.services.scheduling import DispatchSummary

log = logging.getLogger(__name__)

Programme = MonitoringProgramme
RUNS = MonitoringProgrammeRun.__table__
AUDIT = AuditEvent.__table__
SCHEDULED = "scheduled"


@dataclass(frozen=True)
class CreatedRun:
    """A committed scheduled run, ready to be enqueued."""

    id: int
    uuid: str
    queue_job_id: str
    queue_name: str


class BatchRefused(Exception):
    """The database refused the batch's insert; dispatch its programmes one by one."""


def create_batch(programme_ids: list[int], now: datetime,
                 summary: DispatchSummary) -> list[CreatedRun]:
    """Create, in one committed transaction, the scheduled runs of the due programmes
    among ``programme_ids`` (those not locked or handled by a concurrent dispatcher).

    Args:
        programme_ids: programmes found due by ``due_programmes_query``, in due order.
        now: the reference time of the pass.
        summary: updated with created uuids, deferred codes and raced programmes.

    Returns:
        The committed runs, for the caller to enqueue.

    Raises:
        BatchRefused: the database refused the insert; nothing was written.
    """
    begin_write()
    rows = {row.id: row for row in db.session.execute(_lock_due(programme_ids, now))}
    busy = set(db.session.scalars(
        select(MonitoringProgrammeRun.programme_id)
        .where(MonitoringProgrammeRun.programme_id.in_(list(rows)),
               MonitoringProgrammeRun.status.in_(ACTIVE_STATUSES)))) if rows else set()
    planned, raced, deferred = [], 0, []
    for programme_id in programme_ids:  # due order, as the summary lists them
        row = rows.get(programme_id)
        if row is None or not is_schedulable(row.refresh_cadence):
            raced += 1  # another dispatcher holds or handled it (or it changed)
        elif programme_id in busy:
            deferred.append(row.code)
        else:
            try:
                slots = due_slots(row.refresh_cadence, row.timezone or "UTC",
                                  row.next_run_at, now, anchor=row.schedule_anchor_at)
            except Exception:  # a broken schedule must not hold up the other programmes
                log.exception("could not dispatch programme %s", programme_id)
                continue
            planned.append((row, slots))
    created = []
    try:
        if planned:
            created = _write(planned)
            db.session.commit()
        else:
            db.session.rollback()
    except IntegrityError as error:
        db.session.rollback()
        raise BatchRefused(str(error.orig)) from error
    # Counted only now: a refused batch is counted again, programme by programme.
    summary.raced += raced
    summary.deferred.extend(deferred)
    summary.created.extend(run.uuid for run in created)
    return created


def _lock_due(programme_ids: list[int], now: datetime):
    """The batch's programme rows that are still due, locked (skipping locked ones)."""
    return (
        select(Programme.id, Programme.code, Programme.refresh_cadence, Programme.timezone,
               Programme.next_run_at, Programme.schedule_anchor_at)
        .where(Programme.id.in_(programme_ids),
               Programme.active.is_(True),
               Programme.scheduler_enabled.is_(True),
               Programme.next_run_at <= now,
               Programme.refresh_cadence.not_in(sorted(UNSCHEDULED)))
        .order_by(Programme.id)
        .with_for_update(skip_locked=True)
    )


def _write(planned: list) -> list[CreatedRun]:
    """Insert the runs and their audit events, advance the schedules, refresh the list
    summary — a fixed number of statements whatever the batch size."""
    queued_at = utcnow()
    request_id = current_request_id()
    queue_name = dispatch.queue_for_trigger(SCHEDULED)
    run_rows = []
    for row, slots in planned:
        run_uuid = new_uuid()
        run_rows.append({
            "uuid": run_uuid, "programme_id": row.id, "run_type": "full",
            "trigger": SCHEDULED, "status": "queued", "dry_run": False,
            "requested_by_id": None, "scheduled_for": slots.slot,
            "skipped_slots": slots.skipped, "queue_name": queue_name,
            "queue_job_id": dispatch.job_id_for(run_uuid), "queued_at": queued_at,
            "request_id": request_id, "attempt": 1, "retry_of_id": None,
            "cancel_requested": False,
        })
    inserted = db.session.execute(
        insert(RUNS).returning(RUNS.c.id, RUNS.c.uuid),  # pairs: any order will do
        run_rows).all()
    db.session.execute(insert(AUDIT), [
        {"actor_id": None, "actor_label": "system", "action": "programme_run_queued",
         "object_type": "run", "object_id": run["uuid"], "programme_id": run["programme_id"],
         "request_id": request_id, "created_at": queued_at,
         "metadata_json": queued_metadata("full", SCHEDULED, False, run["scheduled_for"],
                                          run["skipped_slots"], queue_name)}
        for run in run_rows])
    table = Programme.__table__
    db.session.execute(
        update(table).where(table.c.id == bindparam("programme"))
        .values(next_run_at=bindparam("next_slot"), updated_at=bindparam("stamp")),
        [{"programme": row.id, "next_slot": slots.next_slot, "stamp": queued_at}
         for row, slots in planned])
    programme_summary.refresh([row.id for row, _ in planned])
    return [CreatedRun(id=run_id, uuid=run_uuid, queue_job_id=dispatch.job_id_for(run_uuid),
                       queue_name=queue_name) for run_id, run_uuid in inserted]
