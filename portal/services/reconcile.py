"""The reconciler: no run stays ``queued`` or ``running`` forever (invariant 1).

Run periodically by the scheduler (and by ``flask ops reconcile``). It compares the
database, which is the truth, with what Redis holds:

* a running run whose job RQ moved to its failed registry (the work horse crashed:
  "Work-horse terminated unexpectedly", or the job was abandoned) was lost to
  infrastructure: it fails with the exception text, opens the ``worker-lost`` alert and
  is retried (``services.retries``), or is cancelled when the operator had asked for that;
* a queued run whose job Redis does not hold (Redis restarted, or was down when the run
  was queued) is enqueued again under the same job id;
* a running run whose heartbeat is older than RUN_STALE_AFTER_SECONDS fails with
  "worker lost", opens the ``worker-lost`` alert and is retried as a new attempt up to
  the programme's ``max_attempts``; a retry waits out its back-off before this pass
  dispatches it.

Every change goes through ``runs.transition``, so racing a worker is harmless.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import and_, or_, select

from portal.extensions import db
from portal.models import MonitoringProgrammeRun
from portal.redact import mask_secrets
from portal.services import dispatch
from portal.services.retries import end_and_retry, retry_due
from portal.services.runs import IllegalTransition, get_run, transition

log = logging.getLogger(__name__)
#: Queued runs checked and enqueued again per Redis round trip.
REDISPATCH_BATCH = 500


@dataclass
class ReconcileSummary:
    """What one reconciler pass changed (run uuids)."""

    redispatched: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    failed_in_rq: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)  # uuids of the new attempts
    redis_error: str | None = None


def reconcile(now: datetime | None = None, dispatch_grace_seconds: float | None = None,
              stale_after_seconds: float | None = None) -> ReconcileSummary:
    """Repair runs the queue lost track of.

    Args:
        now: the reference time; defaults to the current time.
        dispatch_grace_seconds: leave queued runs younger than this alone (their
            ``queue_run`` may still be enqueueing); default RUN_DISPATCH_GRACE_SECONDS.
        stale_after_seconds: heartbeat age that means the worker is lost; default
            RUN_STALE_AFTER_SECONDS.

    Returns:
        A ReconcileSummary. Redis being down is reported, not raised: stale runs are
        still failed from the database alone.
    """
    config = current_app.config
    now = now or datetime.now(UTC)
    grace = config["RUN_DISPATCH_GRACE_SECONDS"] if dispatch_grace_seconds is None \
        else dispatch_grace_seconds
    stale = config["RUN_STALE_AFTER_SECONDS"] if stale_after_seconds is None \
        else stale_after_seconds
    summary = ReconcileSummary()
    try:
        _fail_rq_failures(summary)
        _redispatch_queued(now - timedelta(seconds=grace), now, summary)
    except dispatch.DispatchError as error:
        db.session.rollback()
        summary.redis_error = mask_secrets(str(error))
    _fail_stale(now - timedelta(seconds=stale), summary)
    return summary


def _runs_by_job_ids(job_ids: list[str]) -> list[MonitoringProgrammeRun]:
    if not job_ids:
        return []
    return list(db.session.scalars(
        select(MonitoringProgrammeRun)
        .where(MonitoringProgrammeRun.queue_job_id.in_(job_ids),
               MonitoringProgrammeRun.status.in_(("queued", "running")))
    ))


def _fail_rq_failures(summary: ReconcileSummary) -> None:
    failures = dict(dispatch.failed_run_jobs())
    for run in _runs_by_job_ids(list(failures)):
        if run.status != "running":  # never claimed: the re-dispatch below enqueues it again
            continue
        text = failures[run.queue_job_id or ""].strip()
        last_line = text.splitlines()[-1] if text else "job failed in RQ"
        message = f"worker lost: the worker job failed: {last_line}"
        metadata = {"exception": text[-4000:]}
        if "stopped by user" in text and not run.cancel_requested:
            outcome = _finish(run, "failed", f"stopped through RQ: {last_line}",
                              {"reason": "rq_stopped", **metadata})
        else:
            outcome = _lost(run, message, "rq_failed", metadata, summary)
        if outcome:
            (summary.failed_in_rq if outcome == "failed" else summary.cancelled).append(run.uuid)
    db.session.rollback()


def _redispatch_queued(older_than: datetime, now: datetime, summary: ReconcileSummary) -> None:
    queued = db.session.scalars(
        select(MonitoringProgrammeRun)
        .where(MonitoringProgrammeRun.status == "queued",
               MonitoringProgrammeRun.queued_at <= older_than)
        .order_by(MonitoringProgrammeRun.queued_at)
    ).all()
    db.session.rollback()
    due = [run for run in queued if retry_due(run, now)]  # a retry waits out its back-off
    for start in range(0, len(due), REDISPATCH_BATCH):
        batch = due[start:start + REDISPATCH_BATCH]
        held = dispatch.held_jobs([run.queue_job_id for run in batch if run.queue_job_id])
        lost = [run for run in batch if run.queue_job_id not in held]
        try:  # one Redis round trip per batch (thousands queued after a Redis outage)
            dispatch.enqueue_runs((run.id, run.queue_job_id, run.queue_name or "high")
                                  for run in lost)
        except dispatch.DispatchError as error:
            log.warning("%s queued runs stay queued, dispatch delayed: %s", len(lost), error)
            return
        for run in lost:
            log.info("re-dispatched queued run %s", run.uuid)
            summary.redispatched.append(run.uuid)


def _fail_stale(older_than: datetime, summary: ReconcileSummary) -> None:
    run_ = MonitoringProgrammeRun
    stale = db.session.scalars(
        select(run_).where(
            run_.status == "running",
            or_(run_.heartbeat_at < older_than,
                and_(run_.heartbeat_at.is_(None), run_.started_at < older_than)),
        )
    ).all()
    db.session.rollback()
    for run in stale:
        beat = run.heartbeat_at or run.started_at
        since = beat.isoformat(timespec="seconds") if beat else "never"
        message = (f"worker lost: no heartbeat since {since} "
                   f"(worker {run.worker_name or 'unknown'})")
        outcome = _lost(run, message, "worker_lost", {}, summary)
        if outcome == "failed":
            summary.lost.append(run.uuid)
        elif outcome == "cancelled":
            summary.cancelled.append(run.uuid)


def _lost(run: MonitoringProgrammeRun, message: str, reason: str, metadata: dict,
          summary: ReconcileSummary) -> str | None:
    """End a run lost to infrastructure: alert, and retry it while attempts remain."""
    outcome = end_and_retry(run, message, reason=reason, metadata=metadata)
    if outcome.status == "moved-on":
        return None
    if outcome.retry is not None:
        summary.retried.append(outcome.retry.uuid)
    return outcome.status


def _finish(run: MonitoringProgrammeRun, status: str, message: str,
            metadata: dict) -> str | None:
    """Fail (or, when cancel was requested, cancel) ``run``; None if it moved on."""
    run = get_run(run.id) or run
    if run.status not in ("queued", "running"):
        return None
    if run.cancel_requested and run.status == "running":
        status, message = "cancelled", f"cancelled (the worker stopped: {message})"
    try:
        transition(run, status, message=message, metadata={"reconciler": True, **metadata})
    except IllegalTransition:
        return None
    return status
