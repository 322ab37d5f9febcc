"""Run views (thin: parse, call a service, render)."""

from __future__ import annotations

import json

from flask import Response, current_app, flash, g, request, url_for
from flask_login import current_user, login_required

from portal import access
from portal.access import programme_access
from portal.models import RUN_STATUSES, RUN_TRIGGERS
from portal.programmes.common import go_to, is_fragment_request, load_run_for, page_or_fragment
from portal.runs import bp
from portal.services import DomainError
from portal.services.csv_export import safe_csv_file
from portal.services.openlineage import run_events
from portal.services.queries import RunFilters, list_runs, programme_choices
from portal.services.releases import rejection_report

#: HTMX stops polling when a poll is answered with this status.
STOP_POLLING = 286


def _runs_page(programme=None):
    filters = RunFilters.from_args(request.args)
    result = list_runs(current_user, filters, programme=programme,
                       after=request.args.get("after"), before=request.args.get("before"),
                       per_page=current_app.config["PAGE_SIZE"])
    return page_or_fragment("runs/index.html", "runs/_results.html", programme=programme,
                            result=result, filters=filters, statuses=RUN_STATUSES,
                            triggers=RUN_TRIGGERS,
                            programmes=[] if programme else programme_choices(current_user))


@bp.route("/runs")
@login_required
def index():
    """Runs across every programme the user may see."""
    return _runs_page()


@bp.route("/programmes/<code>/runs")
@login_required
@programme_access(access.VIEW)
def programme_runs(programme):
    """One programme's runs."""
    return _runs_page(programme)


def _rule_results(run) -> list[dict]:
    results = []
    for step in run.steps:
        for rule in (step.details_json or {}).get("rules", []) or []:
            results.append({**rule, "step_key": step.step_key})
    return results


def _has_rejection_report(run) -> bool:
    return any(((step.details_json or {}).get("files") or {}).get("rejection_report")
               for step in run.steps)


@bp.route("/runs/<run_uuid>")
@login_required
def detail(run_uuid: str):
    """The run page; HTMX polls return the live fragment, with 286 once the run ended."""
    from portal.services.retries import attempt_links

    run = load_run_for(run_uuid)
    fragment = is_fragment_request()
    previous_attempt, next_attempt = attempt_links(run)
    response = page_or_fragment(
        "runs/detail.html", "runs/_live.html", run=run, programme=run.programme,
        rules=_rule_results(run), has_report=_has_rejection_report(run),
        can_run=access.can(current_user, access.RUN, run.programme),
        previous_attempt=previous_attempt, next_attempt=next_attempt)
    if fragment and not run.is_active:
        response.status_code = STOP_POLLING
    return response


@bp.route("/runs/<run_uuid>/cancel", methods=["POST"])
@login_required
def cancel(run_uuid: str):
    """Cancel a queued or running run."""
    from portal.services.runs import cancel_run

    run = load_run_for(run_uuid, access.RUN)
    try:
        cancel_run(run, current_user, request_id=g.request_id)
    except DomainError as error:
        if request.headers.get("HX-Request") != "true":
            raise
        flash(f"Not cancelled: {error.message}.", "error")
    else:
        flash("Cancellation requested." if run.status == "running" else "Run cancelled.",
              "success")
    return go_to(url_for("runs.detail", run_uuid=run.uuid))


@bp.route("/runs/<run_uuid>/openlineage.json")
@login_required
def openlineage(run_uuid: str):
    """The run as OpenLineage 2-0-2 RunEvents (START and the final event)."""
    run = load_run_for(run_uuid)
    body = json.dumps(run_events(run), indent=2)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="openlineage-{run.uuid}.json"'})


@bp.route("/runs/<run_uuid>/rejections.csv")
@login_required
def rejections(run_uuid: str):
    """The validate step's rejection report (rows that failed a rule), if kept."""
    run = load_run_for(run_uuid)
    recorded = next((((s.details_json or {}).get("files") or {}).get("rejection_report")
                     for s in run.steps
                     if ((s.details_json or {}).get("files") or {}).get("rejection_report")),
                    None)
    path = rejection_report(current_app.config["WORK_ROOT"], recorded)
    # The rejected rows are the data providers' own: neutralise formulas for spreadsheets.
    name = f"rejections-{run.programme.code}-{run.uuid[:8]}.csv"
    return Response(safe_csv_file(path), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
