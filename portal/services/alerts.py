"""The alert lifecycle: open → acknowledged → resolved, one alert per (programme, rule).

A failing rule opens an alert; while one is open or acknowledged, later failures
raise its occurrence count and last-seen time instead of opening a duplicate. A
later run that passes the rule resolves it automatically, and the audit trail says
so. People acknowledge and resolve alerts with a note.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from portal.dbutil import begin_write
from portal.extensions import db
from portal.models import (
    MonitoringProgramme,
    MonitoringProgrammeAlert,
    MonitoringProgrammeRun,
    User,
    utcnow,
)
from portal.services import Conflict, DomainError, audit, programme_summary
from portal.services.notifications import events as notification_events

UNRESOLVED = ("open", "acknowledged")


def _unresolved(programme_id: int, rule_id: str) -> MonitoringProgrammeAlert | None:
    return db.session.scalar(
        select(MonitoringProgrammeAlert).where(
            MonitoringProgrammeAlert.programme_id == programme_id,
            MonitoringProgrammeAlert.rule_id == rule_id,
            MonitoringProgrammeAlert.state.in_(UNRESOLVED),
        )
    )


def raise_alert(programme: MonitoringProgramme, run: MonitoringProgrammeRun | None, *,
                rule_id: str, severity: str, message: str,
                details: dict[str, Any] | None = None) -> MonitoringProgrammeAlert:
    """Open an alert for (programme, rule) or count a new occurrence of the unresolved one.

    Adds to the current transaction; the caller commits.
    """
    alert = _unresolved(programme.id, rule_id)
    now = utcnow()
    if alert is None:
        alert = MonitoringProgrammeAlert(
            programme_id=programme.id, run_id=run.id if run else None, rule_id=rule_id,
            severity=severity, state="open", message=message, details_json=details or {},
            occurrence_count=1, first_seen_at=now, last_seen_at=now,
        )
        db.session.add(alert)
        db.session.flush()
        programme_summary.alerts_changed(programme.id)
        audit.record("alert_opened", object_type="alert", object_id=alert.uuid,
                     programme_id=programme.id,
                     metadata={"rule_id": rule_id, "severity": severity,
                               "run": run.uuid if run else None})
        notification_events.on_alert_opened(alert)
    else:
        alert.occurrence_count += 1
        alert.last_seen_at = now
        alert.run_id = run.id if run else alert.run_id
        alert.severity, alert.message, alert.details_json = severity, message, details or {}
        audit.record("alert_recurred", object_type="alert", object_id=alert.uuid,
                     programme_id=programme.id,
                     metadata={"rule_id": rule_id, "occurrences": alert.occurrence_count,
                               "run": run.uuid if run else None})
    return alert


def open_system_alert(programme: MonitoringProgramme, run: MonitoringProgrammeRun | None, *,
                      rule_id: str, severity: str, message: str) -> MonitoringProgrammeAlert:
    """Raise an operational alert (e.g. ``worker-lost``); the caller commits."""
    return raise_alert(programme, run, rule_id=rule_id, severity=severity, message=message,
                       details={"system": True})


def resolve_system_alert(programme_id: int, rule_id: str,
                         run: MonitoringProgrammeRun) -> MonitoringProgrammeAlert | None:
    """Resolve the unresolved operational alert ``rule_id`` because ``run`` succeeded.

    Used for ``worker-lost``: a later successful run shows the infrastructure works
    again. Adds to the current transaction (the caller commits); None when none is open.
    """
    alert = _unresolved(programme_id, rule_id)
    if alert is None:
        return None
    alert.state = "resolved"
    alert.resolved_at = utcnow()
    alert.resolved_note = f"Resolved automatically: run {run.uuid} succeeded."
    programme_summary.alerts_changed(programme_id)
    audit.record("alert_auto_resolved", object_type="alert", object_id=alert.uuid,
                 programme_id=programme_id, metadata={"rule_id": rule_id, "run": run.uuid})
    return alert


def sync_rule_alerts(programme: MonitoringProgramme, run: MonitoringProgrammeRun,
                     rule_results: list[dict[str, Any]]) -> dict[str, int]:
    """Open, count or auto-resolve alerts from a validation's per-rule results.

    Args:
        programme: the programme validated.
        run: the (non-dry) run that validated it.
        rule_results: dicts with ``id, severity, passed, failing_rows, fraction, message``.

    Returns:
        Counts of ``opened_or_counted`` and ``resolved`` alerts. The caller commits.
    """
    counts = {"opened_or_counted": 0, "resolved": 0}
    for result in rule_results:
        if result.get("passed"):
            alert = _unresolved(programme.id, result["id"])
            if alert is not None:
                alert.state = "resolved"
                alert.resolved_at = utcnow()
                alert.resolved_note = f"Resolved automatically: run {run.uuid} passed the rule."
                programme_summary.alerts_changed(programme.id)
                audit.record("alert_auto_resolved", object_type="alert", object_id=alert.uuid,
                             programme_id=programme.id,
                             metadata={"rule_id": alert.rule_id, "run": run.uuid})
                counts["resolved"] += 1
            continue
        details = {key: result.get(key) for key in ("type", "failing_rows", "fraction", "sample")}
        raise_alert(programme, run, rule_id=result["id"],
                    severity=result.get("severity", "error"),
                    message=result.get("message") or f"rule {result['id']} failed",
                    details=details)
        counts["opened_or_counted"] += 1
    return counts


def _note(note: str | None, required: bool) -> str:
    note = (note or "").strip()
    if required and not note:
        raise DomainError("Add a note saying what was done.", field="note")
    if len(note) > 2000:
        raise DomainError("The note is too long (2,000 characters at most).", field="note")
    return note


def check_note(note: str | None, *, required: bool) -> str:
    """The stripped triage note, or DomainError (missing when required, or too long)."""
    return _note(note, required)


def acknowledge(alert: MonitoringProgrammeAlert, user: User, note: str | None,
                request_id: str | None = None) -> MonitoringProgrammeAlert:
    """Acknowledge an open alert with an optional note (access is checked by the caller)."""
    begin_write()  # SQLite: the state check and the change under one write lock
    if alert.state != "open":
        raise Conflict(f"This alert is {alert.state}; only open alerts can be acknowledged.")
    checked = _note(note, required=False)  # before any change: a refusal leaves no trace
    alert.state = "acknowledged"
    alert.acknowledged_by_id = user.id
    alert.acknowledged_at = utcnow()
    alert.acknowledged_note = checked
    audit.record("alert_acknowledged", actor=user, object_type="alert", object_id=alert.uuid,
                 programme_id=alert.programme_id, metadata={"note": alert.acknowledged_note},
                 request_id=request_id)
    db.session.commit()
    return alert


def resolve(alert: MonitoringProgrammeAlert, user: User, note: str | None,
            request_id: str | None = None) -> MonitoringProgrammeAlert:
    """Resolve an open or acknowledged alert; a note is required."""
    begin_write()  # SQLite: the state check and the change under one write lock
    if alert.state == "resolved":
        raise Conflict("This alert is already resolved.")
    checked = _note(note, required=True)  # before any change: a refusal leaves no trace
    alert.state = "resolved"
    alert.resolved_by_id = user.id
    alert.resolved_at = utcnow()
    alert.resolved_note = checked
    programme_summary.alerts_changed(alert.programme_id)
    audit.record("alert_resolved", actor=user, object_type="alert", object_id=alert.uuid,
                 programme_id=alert.programme_id, metadata={"note": alert.resolved_note},
                 request_id=request_id)
    db.session.commit()
    return alert
