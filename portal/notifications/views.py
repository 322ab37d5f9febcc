"""Thin views over ``portal.services.notifications``; access through ``portal.access``."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from portal import access
from portal.models import MonitoringProgramme, utcnow
from portal.models.notifications import (
    DELIVERY_MODES,
    EVENT_TYPES,
    EXPECTED_CADENCES,
    ExpectedDelivery,
)
from portal.notifications import bp
from portal.services import DomainError, NotFound
from portal.services.notifications import delivery, expected, subscriptions, webhooks

EXPIRED = "The form expired; reload the page and try again."


class CsrfForm(FlaskForm):
    """CSRF only: the fields are read from the request (repeated checkboxes)."""


@bp.app_template_global()
def notification_health():
    """Undeliverable notifications for the health page (scoped to the viewer)."""
    return delivery.undeliverable(current_user)


@bp.app_template_global()
def late_deliveries(since):
    """Late deliveries per programme the viewer can see since ``since`` (metrics page)."""
    return expected.late_summary(current_user, since)


@bp.app_template_global()
def can_manage_webhooks(programme: MonitoringProgramme) -> bool:
    """Whether the viewer may see and manage the programme's webhooks."""
    return access.can(current_user, access.MANAGE_WEBHOOKS, programme)


@bp.app_template_global()
def delivery_overview(programme: MonitoringProgramme, row: ExpectedDelivery | None):
    """The programme page's expected-delivery card for the programme's expectation
    ``row`` (``queries.programme_detail`` reads it): None when nothing is expected."""
    if row is None:
        return None
    now = utcnow()
    return {"expectation": row, "slots": expected.punctuality(row, now),
            "next_slot": expected.next_expected(row, now) if row.active else None}


@bp.route("/account/notifications", methods=["GET", "POST"])
@login_required
def settings():
    """What the user hears about, per programme or for all, immediately or as a digest."""
    form, status, errors = CsrfForm(), 200, {}
    if request.method == "POST":
        code = request.form.get("programme", "")[:40]
        if not form.validate_on_submit():
            status, errors[code] = 400, EXPIRED
        else:
            try:
                if request.form.get("action") == "reset":
                    subscriptions.reset(current_user, code)
                else:
                    subscriptions.save(current_user, code, request.form.getlist("events"),
                                       request.form.get("mode", ""))
            except NotFound:
                abort(404)
            except DomainError as error:
                status, errors[code] = 400, f"{error.field}: {error.message}"
            else:
                flash("Notification settings saved.", "success")
                return redirect(url_for("notifications.settings"))
    return render_template("notifications/settings.html", rows=subscriptions.rows_for(
        current_user), events=EVENT_TYPES, modes=DELIVERY_MODES, errors=errors), status


@bp.route("/programmes/<code>/webhooks", methods=["GET", "POST"])
@login_required
@access.programme_access(access.MANAGE_WEBHOOKS)
def webhook_list(programme: MonitoringProgramme):
    """The programme's webhooks with their delivery log; add one (the secret shown once)."""
    form, status, secret, errors = CsrfForm(), 200, None, {}
    if request.method == "POST":
        if not form.validate_on_submit():
            status, errors["form"] = 400, EXPIRED
        else:
            try:
                _, secret = webhooks.create_webhook(programme, current_user,
                                                    request.form.get("url", ""),
                                                    request.form.getlist("events"))
            except DomainError as error:
                status, errors[error.field or "form"] = 400, error.message
            else:
                flash("Webhook added. Copy its secret now: it is not shown again.", "success")
    return render_template("notifications/webhooks.html", programme=programme,
                           hooks=webhooks.webhooks_with_log(programme), secret=secret,
                           events=EVENT_TYPES, errors=errors,
                           submitted=request.form if status == 400 else {}), status


@bp.route("/programmes/<code>/webhooks/delete", methods=["POST"])
@login_required
@access.programme_access(access.MANAGE_WEBHOOKS)
def webhook_delete(programme: MonitoringProgramme):
    """Remove one of the programme's webhooks (and its delivery log)."""
    if not CsrfForm().validate_on_submit():
        abort(400, EXPIRED)
    try:
        webhook_id = int(request.form.get("webhook_id", ""))
    except ValueError:
        flash("Choose the webhook to delete.", "error")
        return redirect(url_for("notifications.webhook_list", code=programme.code))
    try:
        webhooks.delete_webhook(programme, current_user, webhook_id)
    except NotFound:
        abort(404)
    flash("Webhook deleted.", "success")
    return redirect(url_for("notifications.webhook_list", code=programme.code))


@bp.route("/programmes/<code>/notifications/resend", methods=["POST"])
@login_required
@access.programme_access(access.MANAGE_WEBHOOKS)
def resend(programme: MonitoringProgramme):
    """Send again the programme's notifications that gave up (one, or all of them)."""
    if not CsrfForm().validate_on_submit():
        abort(400, EXPIRED)
    raw = request.form.get("delivery_id", "").strip()
    if raw and not (raw.isdigit() and len(raw) < 12):
        abort(400, "delivery_id must be the number of a delivery.")
    count = delivery.resend(programme, current_user, int(raw) if raw else None,
                            request_id=g.request_id)
    flash(f"{count} notification{'s' if count != 1 else ''} queued to be sent again."
          if count else "Nothing to send again: no notification of this programme gave up.",
          "success" if count else "info")
    back_to_health = request.form.get("back") == "health"
    return redirect(url_for("health.index") if back_to_health
                    else url_for("notifications.webhook_list", code=programme.code))


@bp.route("/programmes/<code>/expected-delivery", methods=["GET"])
@login_required
@access.programme_access(access.VIEW)
def expected_delivery(programme: MonitoringProgramme):
    """When data is next due, and the punctuality of the last twelve deliveries."""
    return _expected_page(programme, {}, 200)


@bp.route("/programmes/<code>/expected-delivery", methods=["POST"])
@login_required
@access.programme_access(access.EDIT)
def expected_delivery_save(programme: MonitoringProgramme):
    """Declare when data is due: cadence, due day and grace period."""
    if not CsrfForm().validate_on_submit():
        return _expected_page(programme, {"form": EXPIRED}, 400)
    try:
        expected.save_expectation(
            programme, current_user, cadence=request.form.get("cadence", ""),
            due_day=request.form.get("due_day", ""),
            grace_days=request.form.get("grace_days", ""),
            active=request.form.get("active") == "on")
    except DomainError as error:
        return _expected_page(programme, {error.field or "form": error.message}, 400)
    flash("Expected delivery saved.", "success")
    return redirect(url_for("notifications.expected_delivery", code=programme.code))


def _expected_page(programme: MonitoringProgramme, errors: dict, status: int):
    now = utcnow()
    row = expected.get_expectation(programme)
    return render_template(
        "notifications/expected.html", programme=programme, expectation=row, errors=errors,
        next_slot=expected.next_expected(row, now) if row and row.active else None,
        slots=expected.punctuality(row, now) if row else [], cadences=EXPECTED_CADENCES,
        can_edit=access.can(current_user, access.EDIT, programme),
        submitted=request.form if status == 400 else {}), status
