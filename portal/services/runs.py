"""Runs: queueing, the one state machine (invariant 2), cancelling.

Every change of a run's status goes through :func:`transition`, a compare-and-set
``UPDATE ... WHERE status = <from>`` that writes the audit event in the same
transaction, so a worker finishing, an operator cancelling and the reconciler failing
a lost run can race without ever producing an impossible history.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from portal import dbutil
from portal.dbutil import begin_write
from portal.extensions import db
from portal.models import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    RUN_TRIGGERS,
    RUN_TYPES,
    MonitoringProgramme,
    MonitoringProgrammeRun,
    MonitoringProgrammeRunStep,
    new_uuid,
    utcnow,
)
from portal.redact import mask_secrets
from portal.services import Conflict, DomainError, dispatch, programme_summary
from portal.services import audit as audit_service
from portal.services.credential_checks import credential_errors
from portal.services.notifications import events as notification_events
from portal.services.pipeline_spec import validate_pipeline, validate_rules

log = logging.getLogger(__name__)

TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"running", "cancelled"}),
    # awaiting_review: passed, and staged a release candidate (portal.services.review).
    "running": frozenset({"succeeded", "awaiting_review", "blocked", "failed", "cancelled"}),
}
AUDIT_ACTIONS = {status: f"programme_run_{status}" for status in FINAL_STATUSES}
AUDIT_ACTIONS["running"] = "programme_run_started"
DISPATCH_DELAYED = "queued; dispatch delayed"
#: The system alert an infrastructure loss opens; a later successful run resolves it.
WORKER_LOST_ALERT = "worker-lost"


class IllegalTransition(DomainError):
    """The state machine refused a transition (or the run changed under the caller)."""

    status = 409


class ActiveRunExists(Conflict):
    """The programme already has a queued or running run (the database refused another)."""

    def __init__(self, active_run: MonitoringProgrammeRun):
        super().__init__(
            f"run {active_run.uuid} is already {active_run.status} for this programme; "
            "wait for it to finish or cancel it",
            field="programme",
        )
        self.active_run = active_run


@dataclass
class QueueResult:
    """What :func:`queue_run` did: the run, and whether Redis accepted its job."""

    run: MonitoringProgrammeRun
    dispatched: bool
    message: str


def active_run(programme_id: int) -> MonitoringProgrammeRun | None:
    """Return the programme's queued or running run, if any."""
    return db.session.scalar(
        select(MonitoringProgrammeRun)
        .where(MonitoringProgrammeRun.programme_id == programme_id,
               MonitoringProgrammeRun.status.in_(ACTIVE_STATUSES))
        .execution_options(populate_existing=True)
    )


def get_run(run_id: int) -> MonitoringProgrammeRun | None:
    """Return the run with database id ``run_id``, freshly read."""
    return db.session.get(MonitoringProgrammeRun, run_id, populate_existing=True)


def run_refusal(programme: MonitoringProgramme) -> str | None:
    """Why no run of ``programme`` may start whoever asks (it is archived), or None."""
    if programme.active is False:
        return f"{programme.code} is archived: restore it before running it."
    return None


def check_definitions(programme: MonitoringProgramme) -> None:
    """Raise DomainError naming the first problem of the pipeline or the rule set."""
    for field, errors in (
        ("pipeline_definition_json", validate_pipeline(programme.pipeline_definition_json)
         or credential_errors(programme.pipeline_definition_json)),
        ("data_quality_rules_json", validate_rules(programme.data_quality_rules_json)),
    ):
        if errors:
            what = "pipeline definition" if field.startswith("pipeline") else "rule set"
            raise DomainError(f"the {what} is invalid at {errors[0]}", field=field)
    if not programme.pipeline_definition_json.get("steps"):
        raise DomainError("the pipeline has no steps yet: add them in the pipeline editor",
                          field="pipeline_definition_json")


def new_run(programme: MonitoringProgramme, *, run_type: str, trigger: str, dry_run: bool,
            user: Any = None, scheduled_for: datetime | None = None, skipped_slots: int = 0,
            request_id: str | None = None, attempt: int = 1,
            retry_of_id: int | None = None,
            last_writes: list[dbutil.Write] | None = None) -> MonitoringProgrammeRun:
    """Add a queued run and its ``programme_run_queued`` audit event (the caller commits).

    ``attempt`` and ``retry_of_id`` are set for an automatic retry (``services.retries``).
    With ``last_writes``, the programme summary's update and the audit event are added to
    it, for the caller to make with its commit (``dbutil.commit(writes=...)``).
    """
    run_uuid = new_uuid()
    queue_name = dispatch.queue_for_trigger(trigger)
    requester = user if getattr(user, "is_authenticated", False) else None
    run = MonitoringProgrammeRun(
        uuid=run_uuid, programme_id=programme.id, run_type=run_type, trigger=trigger,
        status="queued", dry_run=dry_run, requested_by_id=requester.id if requester else None,
        scheduled_for=scheduled_for, skipped_slots=skipped_slots, queue_name=queue_name,
        queue_job_id=dispatch.job_id_for(run_uuid), queued_at=utcnow(),
        request_id=request_id or audit_service.current_request_id(),
        attempt=attempt, retry_of_id=retry_of_id,
    )
    db.session.add(run)
    db.session.flush()
    writes = [programme_summary.run_queued(run), audit_service.event(
        "programme_run_queued", actor=requester, object_type="run", object_id=run.uuid,
        programme_id=programme.id, request_id=request_id,
        metadata=queued_metadata(run_type, trigger, dry_run, scheduled_for, skipped_slots,
                                 queue_name, attempt=attempt, retry_of_id=retry_of_id),
    )]
    if last_writes is not None:
        last_writes.extend(writes)
    else:
        dbutil.execute_all(writes)
    return run


def queued_metadata(run_type: str, trigger: str, dry_run: bool, scheduled_for: datetime | None,
                    skipped_slots: int, queue_name: str, *, attempt: int = 1,
                    retry_of_id: int | None = None) -> dict[str, Any]:
    """The metadata of a ``programme_run_queued`` audit event (one run or a batch's)."""
    return {"run_type": run_type, "trigger": trigger, "dry_run": dry_run,
            "scheduled_for": scheduled_for.isoformat() if scheduled_for else None,
            "skipped_slots": skipped_slots, "queue": queue_name,
            **({"attempt": attempt, "retry_of": retry_of_id} if retry_of_id else {})}


def dispatch_run(run: MonitoringProgrammeRun) -> bool:
    """Hand a committed queued run to RQ; False (and logged) when Redis is unreachable."""
    return _enqueue(run.id, run.queue_job_id, run.queue_name or "high", run.uuid)


def _enqueue(run_id: int, job_id: str, queue_name: str, run_uuid: str) -> bool:
    try:
        dispatch.enqueue_run(run_id, job_id, queue_name)
        return True
    except dispatch.DispatchError as error:
        log.warning("run %s stays queued, dispatch delayed: %s", run_uuid, error)
        return False


def queue_run(programme: MonitoringProgramme, user: Any, run_type: str = "full",
              dry_run: bool = False, trigger: str = "manual",
              scheduled_for: datetime | None = None,
              request_id: str | None = None) -> QueueResult:
    """Create a queued run (row + audit, one commit), then enqueue its job.

    Args:
        programme: the programme to run.
        user: the acting user (None for the system).
        run_type: full, ingest, validate, compute or publish.
        dry_run: execute the same steps with no side effects.
        trigger: manual, scheduled or integration.
        scheduled_for: the cadence slot this run stands for (scheduled runs).
        request_id: the HTTP request id for the audit trail.

    Returns:
        A QueueResult; ``dispatched`` is False when Redis was unreachable (the run stays
        queued and the reconciler dispatches it later).

    Raises:
        DomainError: bad run_type/trigger, or an invalid pipeline or rule set.
        ActiveRunExists: the programme already has a queued or running run.
    """
    if run_type not in RUN_TYPES:
        raise DomainError(f"run type must be one of {', '.join(RUN_TYPES)}", field="run_type")
    if trigger not in RUN_TRIGGERS:
        raise DomainError(f"trigger must be one of {', '.join(RUN_TRIGGERS)}", field="trigger")
    if reason := run_refusal(programme):
        raise DomainError(reason, field="programme")
    check_definitions(programme)
    programme_id = programme.id
    begin_write(keep_loaded=True)
    try:
        with one_active_run(programme_id):
            last_writes: list[dbutil.Write] = []
            run = new_run(programme, run_type=run_type, trigger=trigger, dry_run=dry_run,
                          user=user, scheduled_for=scheduled_for, request_id=request_id,
                          last_writes=last_writes)
            job = (run.id, run.queue_job_id, run.queue_name or "high", run.uuid)
            # The new run stays loaded (the caller shows or redirects to it); the programme
            # is read again, its latest-run summary having been updated by a statement.
            dbutil.commit(keep_loaded=True, writes=last_writes)
            db.session.expire(programme)
    except IntegrityError as error:
        raise Conflict("a run already exists for this scheduled slot",
                       field="scheduled_for") from error
    return _result(run, _enqueue(*job))


@contextmanager
def one_active_run(programme_id: int) -> Iterator[None]:
    """Around inserting a run: turn the database's refusal of a second active run into
    :class:`ActiveRunExists` (the session is rolled back on any integrity error).

    Raises:
        ActiveRunExists: the programme already has a queued or running run.
        IntegrityError: any other refusal (e.g. a scheduled slot already taken).
    """
    try:
        yield
    except IntegrityError as error:
        db.session.rollback()
        existing = active_run(programme_id)
        if existing is not None:
            raise ActiveRunExists(existing) from error
        raise


def dispatch_queued(run: MonitoringProgrammeRun) -> QueueResult:
    """Hand a committed run to the queue and say whether Redis accepted it."""
    return _result(run, dispatch_run(run))


def _result(run: MonitoringProgrammeRun, dispatched: bool) -> QueueResult:
    return QueueResult(run=run, dispatched=dispatched,
                       message="queued" if dispatched else DISPATCH_DELAYED)


def transition(run: MonitoringProgrammeRun, to_status: str, *, actor: Any = None,
               message: str | None = None, request_id: str | None = None,
               worker_name: str | None = None, metadata: dict[str, Any] | None = None,
               output_summary: dict[str, Any] | None = None,
               lineage: dict[str, Any] | None = None,
               input_summary: dict[str, Any] | None = None, commit: bool = True,
               keep_loaded: bool = False, began: bool = False,
               steps_closed: bool = False, at: datetime | None = None,
               writes: Iterable[dbutil.Write] = ()) -> MonitoringProgrammeRun:
    """Move ``run`` to ``to_status`` — the only way a run's status changes.

    The update is conditional on the status the caller saw, so a concurrent change
    makes this raise instead of overwriting it. Sets started/finished times, the
    duration, the programme's ``last_run_at`` (final non-dry runs) and writes the
    ``programme_run_started/_succeeded/...`` audit event, all in one transaction.

    ``keep_loaded`` (the work horse, which holds the run and its programme for the whole
    run): the commit expires nothing and ``run`` carries the values just written, so
    nothing is read again. A later transition's compare-and-set still checks the status.
    With ``commit=False`` the caller commits, and must do so with ``keep_loaded`` too.

    ``began``: the caller has begun the write transaction (``dbutil.begin_write``) and
    written in it; the transition joins it (and a refused transition rolls it back).
    ``input_summary``: what the run executes, stored with the claim (``running``).
    ``steps_closed``: the caller has stored the end of every step (the runner, when the
    run succeeds), so none is left running or pending to close.
    ``at``: the time of the transition (default: now), when the caller has written it
    already (the claim's first step starts when the run does).
    ``writes``: the caller's own last writes in this transaction (results unread), made
    with the transition's commit. The transition's writes whose results nobody reads
    (the programme's latest status, closing steps, the audit event) go with the commit
    too: on PostgreSQL one round trip (``dbutil.commit``).

    Raises:
        IllegalTransition: the transition is not allowed from the run's status.
    """
    from_status = run.status
    if to_status not in TRANSITIONS.get(from_status, frozenset()):
        raise IllegalTransition(f"run {run.uuid} cannot go from {from_status} to {to_status}",
                                field="status")
    # The row as the caller read it: these never change once set (started_at only by
    # the claim), and the compare-and-set below re-checks the status.
    run_id, started = run.id, run.started_at
    if not began:
        begin_write(keep_loaded=True)
    now = at or utcnow()
    values: dict[str, Any] = {"status": to_status}
    if to_status == "running":
        values.update(started_at=now, heartbeat_at=now, worker_name=worker_name)
        if input_summary is not None:
            values["input_summary_json"] = input_summary
    else:
        values.update(finished_at=now,
                      duration_seconds=(now - started).total_seconds() if started else 0.0)
        if message is not None:
            values["error_message"] = mask_secrets(message)  # no URL password on a run page
        if output_summary is not None:
            values["output_summary_json"] = output_summary
        if lineage is not None:
            values["lineage_json"] = lineage
    result = db.session.execute(_compare_and_set(values), {
        "cas_run": run_id, "cas_from": from_status,
        **{f"cas_{key}": value for key, value in values.items()}})
    if result.rowcount != 1:
        db.session.rollback()
        current = get_run(run_id)
        raise IllegalTransition(
            f"run {run.uuid} is {current.status if current else 'gone'}, not {from_status}",
            field="status")
    last_writes = list(writes)
    unresolved_alerts = 0
    if to_status in FINAL_STATUSES and not run.dry_run:
        unresolved_alerts = programme_summary.run_finished(run.id, run.programme_id,
                                                           to_status, now)
    else:
        last_writes.append(programme_summary.run_status_changed(run.id, run.programme_id,
                                                                to_status))
    if to_status in FINAL_STATUSES:
        if not steps_closed:
            last_writes.append(_close_steps(run.id, to_status, now))
        if to_status == "awaiting_review":  # the candidate row, in this transaction
            from portal.services.review import candidate_staged

            candidate_staged(run, lineage or {})
        if to_status in ("succeeded", "awaiting_review") and unresolved_alerts:
            from portal.services.alerts import resolve_system_alert

            resolve_system_alert(run.programme_id, WORKER_LOST_ALERT, run)
    last_writes.append(audit_service.event(
        AUDIT_ACTIONS[to_status], actor=actor, object_type="run", object_id=run.uuid,
        programme_id=run.programme_id, request_id=request_id,
        metadata={"from": from_status, "to": to_status, "message": message,
                  "dry_run": run.dry_run, **(metadata or {})},
    ))
    notification_events.on_run_transition(run, to_status, message, metadata, output_summary)
    if keep_loaded:  # the commit expires nothing: ``run`` carries what was written
        for key, value in values.items():
            set_committed_value(run, key, value)
    if commit:  # (without keep_loaded ``run`` expires: read again on use)
        dbutil.commit(keep_loaded=keep_loaded, writes=last_writes)
    else:
        dbutil.execute_all(last_writes)
    return run


_COMPARE_AND_SET: dict[tuple[str, ...], Any] = {}


def _compare_and_set(values: dict[str, Any]):
    """``UPDATE runs SET <values> WHERE id = :cas_run AND status = :cas_from``, built once
    for each set of columns (Core: no ORM session to synchronise)."""
    columns = tuple(sorted(values))
    statement = _COMPARE_AND_SET.get(columns)
    if statement is None:
        runs = MonitoringProgrammeRun.__table__
        statement = _COMPARE_AND_SET[columns] = (
            update(runs)
            .where(runs.c.id == bindparam("cas_run"), runs.c.status == bindparam("cas_from"))
            .values({name: bindparam(f"cas_{name}", type_=runs.c[name].type)
                     for name in columns}))
    return statement


_STEP = MonitoringProgrammeRunStep.__table__.c
#: Built once: a run's last transaction should not rebuild (and re-key) its statements.
_RUNNING = _STEP.status == "running"
_CLOSE_STEPS = (
    update(MonitoringProgrammeRunStep.__table__)
    .where(_STEP.run_id == bindparam("closed_run"), _STEP.status.in_(("running", "pending")))
    .values(status=case((_RUNNING, bindparam("interrupted_as", type_=_STEP.status.type)),
                        else_="skipped"),
            finished_at=case((_RUNNING, bindparam("closed_at", type_=_STEP.finished_at.type)),
                             else_=_STEP.finished_at)))


def _close_steps(run_id: int, final_status: str, now: datetime) -> dbutil.Write:
    """A finished run leaves no step running or pending: the write that closes them."""
    return _CLOSE_STEPS, {"closed_run": run_id, "closed_at": now,
                          "interrupted_as": "cancelled" if final_status == "cancelled"
                          else "failed"}


def cancel_run(run: MonitoringProgrammeRun, user: Any,
               request_id: str | None = None) -> MonitoringProgrammeRun:
    """Cancel a queued or running run.

    A queued run leaves the queue and is cancelled at once. A running run gets
    ``cancel_requested``: the worker stops at the next step boundary, or kills the
    step through RQ's stop command after RUN_CANCEL_GRACE_SECONDS, and ends ``cancelled``.

    Raises:
        Conflict: the run has already finished.
    """
    run = get_run(run.id) or run
    who = getattr(user, "email", None) or "system"
    if run.status == "queued":
        try:
            transition(run, "cancelled", actor=user, message=f"cancelled by {who}",
                       request_id=request_id)
            if run.queue_job_id:
                dispatch.remove_job(run.queue_job_id)
            return run
        except IllegalTransition:
            run = get_run(run.id) or run  # a worker claimed it meanwhile
    if run.status == "running":
        begin_write()
        changed = db.session.execute(
            update(MonitoringProgrammeRun)
            .where(MonitoringProgrammeRun.id == run.id,
                   MonitoringProgrammeRun.status == "running")
            .values(cancel_requested=True)
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed:
            audit_service.record(
                "programme_run_cancel_requested", actor=user, object_type="run",
                object_id=run.uuid, programme_id=run.programme_id, request_id=request_id,
                metadata={"requested_by": who})
            db.session.commit()
            return get_run(run.id) or run
        db.session.rollback()
        run = get_run(run.id) or run
    raise Conflict(f"run {run.uuid} has already finished ({run.status})", field="status")
