"""Record notification events in the outbox, in the transaction that caused them.

An event row is added to the caller's session; nothing is sent here. When that
session commits, the event's fan-out job is enqueued (``jobs.notify.fan_out``); if
Redis is down or the process dies first, the scheduler's notification pass finds the
event still un-fanned and enqueues it then. A rolled-back change leaves no event.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.models import MonitoringProgramme, MonitoringProgrammeAlert, MonitoringProgrammeRun
from portal.models.notifications import EVENT_TYPES, NotificationEvent

_PENDING = "notify_pending_events"
#: Ends that are not the run's fault (services.retries): announced only if not retried.
LOST_REASONS = ("worker_lost", "rq_failed", "handed_back")


def record_event(event_type: str, programme_id: int, payload: dict[str, Any], *,
                 dedup_key: str | None = None) -> NotificationEvent | None:
    """Add an event to the outbox in the current transaction (the caller commits).

    Args:
        event_type: one of ``EVENT_TYPES``.
        programme_id: the programme the event is about (recipients must see it).
        payload: the event's JSON document (see docs/notifications.md).
        dedup_key: when given, an event with the same key is recorded only once.

    Returns:
        The event, or None when ``dedup_key`` was already recorded.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown notification event {event_type!r}")
    if dedup_key is not None and db.session.scalar(
            select(NotificationEvent.id).where(NotificationEvent.dedup_key == dedup_key)):
        return None
    row = NotificationEvent(event_type=event_type, programme_id=programme_id,
                            dedup_key=dedup_key, payload_json=payload)
    db.session.add(row)
    db.session.flush()
    db.session().info.setdefault(_PENDING, []).append(row.uuid)
    return row


def programme_part(programme: MonitoringProgramme | None, programme_id: int) -> dict[str, Any]:
    """The ``programme`` member of a payload."""
    if programme is None:
        programme = db.session.get(MonitoringProgramme, programme_id)
    return {"code": programme.code, "title": programme.title,
            "path": f"/programmes/{programme.code}"}


def run_part(run: MonitoringProgrammeRun, status: str, message: str | None) -> dict[str, Any]:
    """The ``run`` member of a payload."""
    return {"uuid": run.uuid, "status": status, "run_type": run.run_type,
            "trigger": run.trigger, "attempt": run.attempt or 1, "message": message,
            "path": f"/runs/{run.uuid}"}


def alert_part(alert: MonitoringProgrammeAlert) -> dict[str, Any]:
    """The ``alert`` member of a payload."""
    code = alert.programme.code if alert.programme else ""
    return {"uuid": alert.uuid, "rule_id": alert.rule_id, "severity": alert.severity,
            "state": alert.state, "message": alert.message,
            "opened_at": alert.first_seen_at.isoformat() if alert.first_seen_at else None,
            "path": f"/alerts?programme={code}"}


def on_run_transition(run: MonitoringProgrammeRun, to_status: str, message: str | None,
                      metadata: dict[str, Any] | None,
                      output_summary: dict[str, Any] | None) -> None:
    """The run state machine's hook: failed, blocked, lost and published runs.

    Dry runs notify nobody (invariant 7). A lost run that is retried is withdrawn at
    fan-out time (the retry exists by then); only the last attempt's loss is sent.
    """
    if run.dry_run or to_status not in ("failed", "blocked", "succeeded"):
        return
    version = (output_summary or {}).get("release_version")
    if to_status == "succeeded" and not version:
        return  # a success notifies only when it published
    part = {"programme": programme_part(None, run.programme_id),
            "run": run_part(run, to_status, message)}
    if to_status == "succeeded":
        part["release"] = {"version": str(version), "run": run.uuid,
                           "path": f"/programmes/{part['programme']['code']}"}
        record_event("release.published", run.programme_id, part)
        return
    reason = (metadata or {}).get("reason")
    kind = "run.lost" if reason in LOST_REASONS else f"run.{to_status}"
    record_event(kind, run.programme_id, part)


def on_release_published(programme: MonitoringProgramme, run: MonitoringProgrammeRun | None,
                         version: str) -> None:
    """The release review's hook: an approved candidate was published as ``version``."""
    part = {"programme": programme_part(programme, programme.id),
            "release": {"version": str(version), "run": run.uuid if run else None,
                        "path": f"/programmes/{programme.code}"}}
    if run is not None:
        part["run"] = run_part(run, run.status, None)
    record_event("release.published", programme.id, part)


def on_alert_opened(alert: MonitoringProgrammeAlert) -> None:
    """The alert service's hook: a new alert opened (not a recurrence)."""
    record_event("alert.opened", alert.programme_id,
                 {"programme": programme_part(alert.programme, alert.programme_id),
                  "alert": alert_part(alert)})


def _enqueue_after_commit(session: Session) -> None:
    uuids = session.info.pop(_PENDING, None)
    if not uuids:
        return
    from flask import has_app_context

    if not has_app_context():
        return  # the notification pass will find them
    from portal.services.notifications.queueing import fan_out_later

    for uuid in uuids:
        if not fan_out_later(uuid):
            break  # Redis is down: the notification pass enqueues the rest


def _forget(session: Session, *_: Any) -> None:
    session.info.pop(_PENDING, None)


sa_event.listen(Session, "after_commit", _enqueue_after_commit)
sa_event.listen(Session, "after_soft_rollback", _forget)
