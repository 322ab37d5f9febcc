"""API views: programmes."""

from __future__ import annotations

from flask import jsonify, request
from flask_login import current_user, login_required

from portal import access
from portal.access import programme_access
from portal.api import bp
from portal.services.queries import ProgrammeFilters, list_programmes, page_number


def programme_json(programme, institutions: list[str] | None = None) -> dict:
    """The API representation of a programme (a mapped programme, or a list row with
    its institutions' codes)."""
    return {
        "code": programme.code,
        "title": programme.title,
        "active": programme.active,
        "refresh_cadence": programme.refresh_cadence,
        "timezone": programme.timezone,
        "scheduler_enabled": programme.scheduler_enabled,
        "next_run_at": programme.next_run_at.isoformat() if programme.next_run_at else None,
        "last_run_at": programme.last_run_at.isoformat() if programme.last_run_at else None,
        "institutions": ([i.code for i in programme.operating_institutions]
                         if institutions is None else institutions),
        "licence": programme.licence or None,
    }


@bp.route("/programmes")
@login_required
def programmes():
    """List the programmes the caller may see."""
    page = list_programmes(current_user, ProgrammeFilters.from_args(request.args),
                           page=page_number(request.args.get("page")), per_page=100)
    return jsonify(items=[{**programme_json(row.programme, row.institutions),
                           "latest_status": row.latest_status, "open_alerts": row.open_alerts}
                          for row in page.items],
                   total=page.total, page=page.page, pages=page.pages)


@bp.route("/programmes/<code>")
@login_required
@programme_access(access.VIEW)
def programme(programme):
    """One programme, with its pipeline and rules."""
    body = programme_json(programme)
    body["pipeline_definition"] = programme.pipeline_definition_json
    body["data_quality_rules"] = programme.data_quality_rules_json
    return jsonify(body)


from portal.api import openapi, runs  # noqa: E402,F401
