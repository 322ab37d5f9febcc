"""Alert views: the scoped inbox and the in-place acknowledge / resolve actions."""

from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from portal import access
from portal.access_audit import permitted_programme_ids
from portal.alerts import bp
from portal.models import ALERT_STATES, SEVERITIES
from portal.programmes.common import load_alert_for, page_or_fragment
from portal.services import DomainError, alert_bulk
from portal.services import alerts as alert_service
from portal.services.queries import (
    AlertFilters,
    alert_histories,
    list_alerts,
)


@bp.app_template_global()
def alert_row_urls() -> dict[str, str]:
    """The links of an alert row with ``__uuid__`` / ``__code__`` placeholders, built once
    per page (alerts/_row_macro.html fills them in for each row)."""
    return {"acknowledge": url_for("alerts.acknowledge", alert_uuid="__uuid__"),
            "resolve": url_for("alerts.resolve", alert_uuid="__uuid__"),
            "programme": url_for("programmes.detail", code="__code__")}


@bp.route("/alerts")
@login_required
def index():
    """Alerts of the programmes the user may see, filtered by state, severity, programme."""
    filters = AlertFilters.from_args(request.args)
    result = list_alerts(current_user, filters, after=request.args.get("after"),
                         before=request.args.get("before"),
                         per_page=current_app.config["PAGE_SIZE"])
    triage = permitted_programme_ids(current_user, access.TRIAGE,
                                     {a.programme_id for a in result.items})
    return page_or_fragment(
        "alerts/index.html", "alerts/_results.html", result=result, filters=filters,
        histories=alert_histories(result.items), triage=triage,
        states=ALERT_STATES, severities=SEVERITIES)


def _triage(alert_uuid: str, action):
    alert = load_alert_for(alert_uuid, access.TRIAGE)
    note = request.form.get("note", "")
    error = None
    try:
        action(alert, current_user, note, request_id=g.request_id)
    except DomainError as refused:
        error = refused.message
    if request.headers.get("HX-Request") == "true":
        # The row swaps itself in place; an error is shown inside it.
        return render_template("alerts/_row.html", alert=alert, error=error,
                               history=alert_histories([alert]).get(alert.uuid, []),
                               can_triage=True, note=note if error else "")
    if error:
        flash(error, "error")
    else:
        flash(f"Alert {alert.rule_id} on {alert.programme.code} is {alert.state}.", "success")
    return redirect(request.referrer if _same_site(request.referrer)
                    else url_for("alerts.index"))


def _same_site(url: str | None) -> bool:
    return bool(url) and url.startswith(request.host_url)


@bp.route("/alerts/<alert_uuid>/acknowledge", methods=["POST"])
@login_required
def acknowledge(alert_uuid: str):
    """Acknowledge an open alert with an optional note."""
    return _triage(alert_uuid, alert_service.acknowledge)


@bp.route("/alerts/<alert_uuid>/resolve", methods=["POST"])
@login_required
def resolve(alert_uuid: str):
    """Resolve an alert with a note saying what was done."""
    return _triage(alert_uuid, alert_service.resolve)


@bp.route("/alerts/bulk", methods=["POST"])
@login_required
def bulk_triage():
    """Acknowledge or resolve the selected alerts with one note (each audited on its own)."""
    try:
        outcome = alert_bulk.triage_many(request.form.getlist("alert"), current_user,
                                         request.form.get("action", ""),
                                         request.form.get("note", ""),
                                         request_id=g.request_id)
    except DomainError as refused:
        flash(f"Nothing changed: {refused.message}", "error")
    else:
        flash(outcome.summary(), "success" if not outcome.refused else "warning")
    return redirect(request.referrer if _same_site(request.referrer)
                    else url_for("alerts.index"))
