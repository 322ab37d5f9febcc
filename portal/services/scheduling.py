"""The scheduler's use case: start one run for every programme whose cadence fell due.

Due programmes are handled in batches (``services.dispatch_batch``): one transaction
locks a batch's programme rows that are still due, creates a run keyed by
``(programme_id, scheduled_for)`` for each and advances each ``next_run_at``; the
committed runs are then enqueued through one Redis pipeline. Row locks (PostgreSQL
``FOR UPDATE SKIP LOCKED``, SQLite's write lock), the unique constraint (invariant 4)
and the one-active-run index (invariant 3) make two dispatchers running at once
produce exactly the runs one would: a row the other holds or has advanced is skipped,
and a batch the database refuses is retried one programme per transaction.

Missed slots (the scheduler was down) are coalesced into one run for the newest slot,
with ``skipped_slots`` counting the others. A programme whose previous run is still
active is *deferred*: ``next_run_at`` is left as it is, so the slot stays due and the
first tick after the active run ends starts one run that coalesces every slot that
fell due meanwhile. No second active run is ever created and no slot is silently lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.dbutil import begin_write
from portal.extensions import db
from portal.models import MonitoringProgramme, MonitoringProgrammeRun
from portal.services import dispatch
from portal.services.cadence import (
    UNSCHEDULED,
    default_anchor,
    due_slots,
    is_schedulable,
    next_run_after,
)
from portal.services.dispatch_batch import BatchRefused, CreatedRun, create_batch
from portal.services.runs import active_run, new_run

log = logging.getLogger(__name__)

#: Due programmes per write transaction: large enough to amortise the round trips,
#: small enough that SQLite's write lock is never held for long.
BATCH_SIZE = 500


def reschedule(programme: MonitoringProgramme, now: datetime | None = None) -> None:
    """Set a programme's next slot (and the anchor that keeps later slots in phase) from
    its cadence, time zone and scheduler switch; clear both when it is not scheduled.
    The caller commits."""
    # ``active`` may still be unset (None) on a programme not yet flushed: default True.
    schedulable = (programme.active is not False and programme.scheduler_enabled
                   and is_schedulable(programme.refresh_cadence))
    if not schedulable:
        programme.next_run_at = programme.schedule_anchor_at = None
        return
    now = now or datetime.now(UTC)
    zone = programme.timezone or "UTC"
    anchor = default_anchor(zone, now)
    programme.schedule_anchor_at = anchor
    programme.next_run_at = next_run_after(programme.refresh_cadence, zone, after=now,
                                           anchor=anchor)


@dataclass
class DispatchSummary:
    """What one ``dispatch_due`` pass did."""

    due: int = 0
    created: list[str] = field(default_factory=list)  # run uuids
    deferred: list[str] = field(default_factory=list)  # programme codes with an active run
    raced: int = 0  # already handled by a concurrent dispatcher
    dispatch_delayed: int = 0  # created but Redis was unreachable


def due_programmes_query(now: datetime):
    """The one indexed query (``ix_programmes_due``) for programmes that fell due."""
    return (
        select(MonitoringProgramme.id)
        .where(MonitoringProgramme.active.is_(True),
               MonitoringProgramme.scheduler_enabled.is_(True),
               MonitoringProgramme.next_run_at <= now,
               MonitoringProgramme.refresh_cadence.not_in(sorted(UNSCHEDULED)))
        .order_by(MonitoringProgramme.next_run_at)
    )


def dispatch_due(now: datetime | None = None, batch_size: int = BATCH_SIZE) -> DispatchSummary:
    """Create and enqueue one scheduled run per due programme.

    The due programmes are handled ``batch_size`` at a time: each batch's runs are
    created in one transaction (``services.dispatch_batch``), committed, then enqueued
    through one Redis pipeline. A batch the database refuses is dispatched programme by
    programme instead.

    Args:
        now: the reference time (UTC, aware); defaults to the current time.
        batch_size: how many due programmes one transaction handles.

    Returns:
        A DispatchSummary.
    """
    now = now or datetime.now(UTC)
    summary = DispatchSummary()
    programme_ids = db.session.scalars(due_programmes_query(now)).all()
    db.session.rollback()  # end the read: each batch gets its own write transaction
    summary.due = len(programme_ids)
    for start in range(0, len(programme_ids), batch_size):
        batch = list(programme_ids[start:start + batch_size])
        try:
            created = create_batch(batch, now, summary)
        except BatchRefused as error:
            log.info("batch refused (%s): dispatching its programmes one by one", error)
            created = _dispatch_one_by_one(batch, now, summary)
        _enqueue(created, summary)
    return summary


def _dispatch_one_by_one(programme_ids: list[int], now: datetime,
                         summary: DispatchSummary) -> list[CreatedRun]:
    created = []
    for programme_id in programme_ids:
        run = _dispatch_one(programme_id, now, summary)
        if run is not None:
            created.append(CreatedRun(id=run.id, uuid=run.uuid, queue_job_id=run.queue_job_id,
                                      queue_name=run.queue_name or "default"))
    return created


def _enqueue(created: list[CreatedRun], summary: DispatchSummary) -> None:
    """Enqueue committed runs in one pipeline; on failure they stay queued in the
    database and the reconciler enqueues them later (as with a single run)."""
    if not created:
        return
    try:
        dispatch.enqueue_runs((run.id, run.queue_job_id, run.queue_name) for run in created)
    except dispatch.DispatchError as error:
        log.warning("%d scheduled runs stay queued, dispatch delayed: %s", len(created), error)
        summary.dispatch_delayed += len(created)


def _dispatch_one(programme_id: int, now: datetime,
                  summary: DispatchSummary) -> MonitoringProgrammeRun | None:
    """Create the scheduled run of one programme in its own transaction."""
    begin_write()
    try:
        programme = db.session.scalar(
            select(MonitoringProgramme)
            .where(MonitoringProgramme.id == programme_id)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        if (programme is None or programme.next_run_at is None or programme.next_run_at > now
                or not programme.active or not programme.scheduler_enabled
                or not is_schedulable(programme.refresh_cadence)):
            db.session.rollback()  # another dispatcher got there first (or it changed)
            summary.raced += 1
            return None
        if active_run(programme.id) is not None:
            summary.deferred.append(programme.code)
            db.session.rollback()
            return None
        slots = due_slots(programme.refresh_cadence, programme.timezone or "UTC",
                          programme.next_run_at, now, anchor=programme.schedule_anchor_at)
        run = new_run(programme, run_type="full", trigger="scheduled", dry_run=False,
                      scheduled_for=slots.slot, skipped_slots=slots.skipped)
        programme.next_run_at = slots.next_slot
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        summary.raced += 1
        return None
    except Exception:
        db.session.rollback()
        log.exception("could not dispatch programme %s", programme_id)
        return None
    summary.created.append(run.uuid)
    return run
