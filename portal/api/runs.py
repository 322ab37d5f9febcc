"""API views: start and read runs, triage alerts, read metrics."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request
from flask_login import current_user, login_required

from portal import access
from portal.access import programme_access
from portal.api import bp
from portal.models import MonitoringProgrammeAlert, MonitoringProgrammeRun
from portal.programmes.common import load_alert_for, load_run_for
from portal.services import DomainError
from portal.services import alerts as alert_service


def _time(value) -> str | None:
    return value.isoformat() if value else None


def run_json(run: MonitoringProgrammeRun, steps: bool = True) -> dict[str, Any]:
    """The API representation of a run (with its steps)."""
    body = {
        "uuid": run.uuid, "programme": run.programme.code, "status": run.status,
        "run_type": run.run_type, "trigger": run.trigger, "dry_run": run.dry_run,
        "requested_by": run.requested_by.email if run.requested_by else None,
        "queued_at": _time(run.queued_at), "started_at": _time(run.started_at),
        "finished_at": _time(run.finished_at), "heartbeat_at": _time(run.heartbeat_at),
        "duration_seconds": run.duration_seconds, "error_message": run.error_message,
        "skipped_slots": run.skipped_slots, "lineage": run.lineage_json,
    }
    if steps:
        body["steps"] = [{
            "key": s.step_key, "type": s.step_type, "ordering": s.ordering, "status": s.status,
            "started_at": _time(s.started_at), "finished_at": _time(s.finished_at),
            "duration_seconds": s.duration_seconds, "rows_in": s.rows_in,
            "rows_out": s.rows_out, "rows_rejected": s.rows_rejected,
            "details": s.details_json, "log_excerpt": s.log_excerpt,
        } for s in run.steps]
    return body


def alert_json(alert: MonitoringProgrammeAlert) -> dict[str, Any]:
    """The API representation of an alert."""
    return {
        "uuid": alert.uuid, "programme": alert.programme.code, "rule_id": alert.rule_id,
        "severity": alert.severity, "state": alert.state, "message": alert.message,
        "occurrence_count": alert.occurrence_count,
        "first_seen_at": _time(alert.first_seen_at), "last_seen_at": _time(alert.last_seen_at),
        "acknowledged_at": _time(alert.acknowledged_at),
        "acknowledged_note": alert.acknowledged_note,
        "resolved_at": _time(alert.resolved_at), "resolved_note": alert.resolved_note,
    }


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None and not request.content_length and not request.get_data():
        return {}  # no body at all: the defaults
    if not isinstance(body, dict):
        raise DomainError("The request body must be a JSON object.", field="body")
    return body


@bp.route("/programmes/<code>/runs", methods=["POST"])
@login_required
@programme_access(access.RUN)
def start_run(programme):
    """Queue a run: ``{"run_type": "full", "dry_run": false}`` → 201 with the run."""
    from portal.services.runs import ActiveRunExists, queue_run

    body = _json_body()
    run_type = body.get("run_type", "full")
    dry_run = body.get("dry_run", False)
    if not isinstance(run_type, str):
        raise DomainError("run_type must be a string.", field="run_type")
    if not isinstance(dry_run, bool):
        raise DomainError("dry_run must be true or false.", field="dry_run")
    unknown = sorted(set(body) - {"run_type", "dry_run"})
    if unknown:
        raise DomainError(f"Unknown field {unknown[0]!r}.", field=unknown[0])
    try:
        result = queue_run(programme, current_user, run_type=run_type, dry_run=dry_run,
                           trigger="integration" if g.get("via_token") else "manual",
                           request_id=g.request_id)
    except ActiveRunExists as conflict:
        return jsonify(error="conflict", message=conflict.message, field=conflict.field,
                       active_run=conflict.active_run.uuid), 409
    body = run_json(result.run)
    body["dispatched"] = result.dispatched
    body["message"] = result.message
    response = jsonify(body)
    response.status_code = 201
    response.headers["Location"] = f"/api/v1/runs/{result.run.uuid}"
    return response


@bp.route("/runs/<run_uuid>")
@login_required
def run(run_uuid: str):
    """One run with its steps."""
    return jsonify(run_json(load_run_for(run_uuid)))


def _triage(alert_uuid: str, action):
    alert = load_alert_for(alert_uuid, access.TRIAGE)
    note = _json_body().get("note", "")
    if not isinstance(note, str):
        raise DomainError("note must be a string.", field="note")
    action(alert, current_user, note, request_id=g.request_id)
    return jsonify(alert_json(alert))


@bp.route("/alerts/<alert_uuid>/acknowledge", methods=["POST"])
@login_required
def acknowledge_alert(alert_uuid: str):
    """Acknowledge an open alert: ``{"note": "..."}`` (optional)."""
    return _triage(alert_uuid, alert_service.acknowledge)


@bp.route("/alerts/<alert_uuid>/resolve", methods=["POST"])
@login_required
def resolve_alert(alert_uuid: str):
    """Resolve an alert: ``{"note": "..."}`` (required)."""
    return _triage(alert_uuid, alert_service.resolve)


@bp.route("/metrics")
@login_required
def metrics():
    """Durations by programme and step type, and status rates: ``?window=30d``."""
    from portal.metrics.views import metrics_summary

    summary = metrics_summary(current_user, request.args.get("window", "30d"))

    def stats(rows):
        return [{"key": s.key, "count": s.count, "median_seconds": s.median,
                 "p95_seconds": s.p95, "max_seconds": s.max} for s in rows]

    return jsonify(window=summary["window"], since=summary["since"].isoformat(),
                   by_programme=stats(summary["by_programme"]),
                   by_step_type=stats(summary["by_step_type"]), rates=summary["rates"])
