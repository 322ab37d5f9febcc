"""Audit log views: admins read everything, stewards the events of programmes they edit."""

from __future__ import annotations

from flask import Response, render_template, request, stream_with_context
from flask_login import current_user, login_required

from portal.audit import bp
from portal.services import audit_log
from portal.services.queries import page_number, programme_choices


@bp.route("/audit")
@login_required
def index():
    """The audit trail, filtered by programme, actor, action and dates."""
    filters = audit_log.AuditFilters.from_args(request.args)
    result = audit_log.list_events(current_user, filters,
                                   page=page_number(request.args.get("page")))
    codes = audit_log.programme_codes({e.programme_id for e in result.items if e.programme_id})
    return render_template("audit/index.html", result=result, filters=filters, codes=codes,
                           actions=audit_log.known_actions(current_user),
                           programmes=programme_choices(current_user))


@bp.route("/audit.csv")
@login_required
def export():
    """The filtered audit trail as CSV (streamed)."""
    filters = audit_log.AuditFilters.from_args(request.args)
    rows = audit_log.export_csv(current_user, filters)
    return Response(stream_with_context(rows), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="audit-log.csv"'})
