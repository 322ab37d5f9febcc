"""Automatic retries of runs lost to infrastructure, and the graceful hand-back.

Two ways a run ends without being at fault:

* **lost** — the worker died (killed, host gone, work horse crashed, database gone long
  enough for the heartbeat to go stale). The reconciler finds it, ends it ``failed``
  "worker lost", opens the ``worker-lost`` alert and, while the programme's
  ``max_attempts`` allows, queues the next attempt. The new attempt waits
  ``RUN_RETRY_BACKOFF_SECONDS · 2^(attempt-2)`` before the reconciler dispatches it.
* **handed back** — the worker was asked to stop (SIGTERM, a redeploy). It ends the
  run ``failed`` at a step boundary and queues the next attempt at once. A hand-back
  is not the run's fault: it does not use up one of ``max_attempts`` (up to
  ``MAX_HANDBACKS`` of them per run, so a worker stopped in a loop cannot keep a run
  alive for ever).

Data failures (``blocked``, a step's own error) never come through here: the runner
finalises them itself. In both cases the old attempt becomes final and the new one is
queued in **one transaction** (through the state machine's door, ``runs.transition``),
so the programme never has two active runs (invariant 3) and never has none while a
retry is owed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import MonitoringProgrammeRun
from portal.services import audit as audit_service
from portal.services.runs import (
    WORKER_LOST_ALERT,
    IllegalTransition,
    dispatch_run,
    get_run,
    new_run,
    transition,
)

log = logging.getLogger(__name__)
#: Hand-backs a run's chain of attempts may have on top of ``max_attempts``.
MAX_HANDBACKS = 5
#: How far back a chain of attempts is followed.
CHAIN_LIMIT = 50


@dataclass
class RetryOutcome:
    """What became of a lost or handed-back attempt."""

    status: str  # the old attempt's final status ("failed" or "cancelled"), or "moved-on"
    retry: MonitoringProgrammeRun | None = None
    message: str | None = None  # the old attempt's error message


def backoff_seconds(attempt: int) -> float:
    """How long attempt ``attempt`` (2, 3, …) waits before it is dispatched."""
    base = float(current_app.config["RUN_RETRY_BACKOFF_SECONDS"])
    return base * 2 ** max(0, attempt - 2)


def retry_due(run: MonitoringProgrammeRun, now: datetime) -> bool:
    """Whether a queued run may be dispatched now (first attempts always may)."""
    if (run.attempt or 1) <= 1 or run.queued_at is None:
        return True
    return run.queued_at + timedelta(seconds=backoff_seconds(run.attempt)) <= now


def end_and_retry(run: MonitoringProgrammeRun, message: str, *, reason: str,
                  metadata: dict[str, Any] | None = None, immediate: bool = False,
                  alert: bool = True) -> RetryOutcome:
    """End an attempt lost to infrastructure and queue the next one if allowed.

    Args:
        run: the queued or running attempt.
        message: why it ended (shown on the run page).
        reason: ``worker_lost``, ``rq_failed`` or ``handed_back`` (audit metadata).
        metadata: extra audit metadata.
        immediate: dispatch the new attempt at once (hand-back) instead of after the
            back-off (the reconciler dispatches it then).
        alert: open (or count) the programme's ``worker-lost`` alert in the same
            transaction (every loss; not for a graceful hand-back).

    Returns:
        A RetryOutcome; ``status`` is "moved-on" when the run had already changed.
    """
    run = get_run(run.id) or run
    if run.status not in ("queued", "running"):
        return RetryOutcome("moved-on")
    if run.cancel_requested:  # the operator wanted it stopped anyway: never retry
        return _end(run, "cancelled", f"cancelled (the worker stopped: {message})",
                    {"reason": reason, **(metadata or {})}, alert=False)
    programme = run.programme
    attempt, limit = run.attempt or 1, max(1, programme.max_attempts or 1)
    handbacks = handbacks_before(run) + (reason == "handed_back")
    limit += min(handbacks, MAX_HANDBACKS)  # a hand-back does not use up an attempt
    if attempt >= limit:
        text = f"{message}; not retried: attempt {attempt} of {limit}"
        return _end(run, "failed", text, {"reason": reason, **(metadata or {})}, alert=alert)
    text = f"{message}; retried as attempt {attempt + 1} of {limit}"
    try:
        transition(run, "failed", message=text, commit=False,
                   metadata={"reconciler": reason != "handed_back", "reason": reason,
                             **(metadata or {})})
        retry = new_run(programme, run_type=run.run_type, trigger=run.trigger,
                        dry_run=run.dry_run, user=run.requested_by, attempt=attempt + 1,
                        retry_of_id=run.id)
        audit_service.record(
            "programme_run_retried", object_type="run", object_id=run.uuid,
            programme_id=run.programme_id,
            metadata={"reason": reason, "attempt": attempt + 1, "max_attempts": limit,
                      "retry": retry.uuid, "backoff_seconds":
                      0 if immediate else backoff_seconds(attempt + 1)})
        if alert:
            _open_alert(run, text)
        db.session.commit()
    except IllegalTransition:
        return RetryOutcome("moved-on")
    except IntegrityError:
        db.session.rollback()
        log.exception("run %s: the retry could not be queued", run.uuid)
        return _end(run, "failed", f"{message}; the retry could not be queued",
                    {"reason": reason}, alert=alert)
    if immediate:
        dispatch_run(retry)
    log.info("run %s %s: retried as %s (attempt %s of %s)", run.uuid, reason, retry.uuid,
             attempt + 1, limit)
    return RetryOutcome("failed", retry, text)


def handbacks_before(run: MonitoringProgrammeRun) -> int:
    """How many earlier attempts of ``run``'s chain were handed back by a stopping worker."""
    from portal.models import AuditEvent

    uuids, current = [], run
    while current.retry_of_id and len(uuids) < CHAIN_LIMIT:
        current = db.session.get(MonitoringProgrammeRun, current.retry_of_id)
        if current is None:
            break
        uuids.append(current.uuid)
    if not uuids:
        return 0
    retried = db.session.scalars(select(AuditEvent.metadata_json).where(
        AuditEvent.action == "programme_run_retried", AuditEvent.object_id.in_(uuids)))
    return sum(1 for meta in retried if (meta or {}).get("reason") == "handed_back")


def _end(run: MonitoringProgrammeRun, status: str, message: str,
         metadata: dict[str, Any], alert: bool) -> RetryOutcome:
    try:
        transition(run, status, message=message, commit=False,
                   metadata={"reconciler": True, **metadata})
        if alert and status == "failed":
            _open_alert(run, message)
        db.session.commit()
    except IllegalTransition:
        return RetryOutcome("moved-on")
    return RetryOutcome(status, None, message)


def _open_alert(run: MonitoringProgrammeRun, message: str) -> None:
    """Open or count the programme's worker-lost alert (same transaction)."""
    from portal.services.alerts import open_system_alert

    open_system_alert(run.programme, run, rule_id=WORKER_LOST_ALERT, severity="error",
                      message=message)


def attempt_links(run: MonitoringProgrammeRun
                  ) -> tuple[MonitoringProgrammeRun | None, MonitoringProgrammeRun | None]:
    """The previous attempt of ``run`` and the attempt that retried it, if any.

    Only a failed attempt is ever retried (:func:`end_and_retry` ends it ``failed`` as it
    queues the next), so any other run is looked up no further.
    """
    previous = db.session.get(MonitoringProgrammeRun, run.retry_of_id) \
        if run.retry_of_id else None
    following = db.session.scalar(_RETRY_OF, {"run_id": run.id}) \
        if run.status == "failed" else None
    return previous, following


_RETRY_OF = (select(MonitoringProgrammeRun)
             .where(MonitoringProgrammeRun.retry_of_id == bindparam("run_id"))
             .order_by(MonitoringProgrammeRun.id).limit(1))
