"""Run page additions: re-run / resume, full step logs, and the run pictures (SVG)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Response, abort, current_app, flash, g, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup

from portal import access
from portal.models import MonitoringProgramme, MonitoringProgrammeRun, utcnow
from portal.programmes.common import go_to, load_run_for, not_started
from portal.runs import bp
from portal.services import DomainError, run_charts, step_logs
from portal.services.rerun import rerun, resumable_steps


@bp.route("/runs/<run_uuid>/rerun", methods=["POST"])
@login_required
def rerun_run(run_uuid: str):
    """Start a new run like this one; with ``step``, resume from that step."""
    parent = load_run_for(run_uuid, access.RUN)
    step = (request.form.get("step") or "").strip() or None
    try:
        result = rerun(parent, current_user, resume_from=step, request_id=g.request_id)
    except DomainError as error:
        return not_started(error, url_for("runs.detail", run_uuid=parent.uuid))
    flash(f"Resumed from step {step}: run {result.run.uuid[:8]} {result.message}." if step
          else f"Re-run {result.run.uuid[:8]} {result.message}.", "run")
    return go_to(url_for("runs.detail", run_uuid=result.run.uuid))


def step_log_response(run: MonitoringProgrammeRun, step_key: str) -> Response:
    """The full log of one step as text (an attachment with ``?download=1``); 404 if gone."""
    step = next((s for s in run.steps if s.step_key == step_key), None)
    if step is None:
        abort(404)
    text = step_logs.read(current_app.config["WORK_ROOT"], run.uuid, step.ordering)
    if text is None:
        abort(404, "This step's full log is not kept (it never ran, or it is past "
                   "STEP_LOG_RETENTION_DAYS); the excerpt on the run page remains.")
    response = Response(text, mimetype="text/plain")
    if request.args.get("download"):
        name = f"{run.programme.code}-{run.uuid[:8]}-{step.ordering + 1}-{step.step_key}.log"
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        response.headers["Content-Disposition"] = f'attachment; filename="{safe}"'
    return response


@bp.route("/runs/<run_uuid>/steps/<step_key>/log")
@login_required
def step_log(run_uuid: str, step_key: str):
    """A step's complete log (``?download=1`` to save it)."""
    return step_log_response(load_run_for(run_uuid), step_key)


@bp.app_template_global()
def run_resumable_steps(run: MonitoringProgrammeRun) -> list[str]:
    """The steps the run page offers to resume from."""
    return resumable_steps(run)


@bp.app_template_global()
def run_parent(run: MonitoringProgrammeRun) -> dict | None:
    """``{"uuid", "resume_from"}`` of the run this one re-runs or resumes, else None."""
    wanted = (run.input_summary_json or {}).get("requested")
    if not isinstance(wanted, dict) or not wanted.get("parent_run"):
        return None
    return {"uuid": wanted["parent_run"], "resume_from": wanted.get("resume_from")}


@bp.app_template_global()
def run_gantt_svg(run: MonitoringProgrammeRun) -> Markup:
    """The run's step timeline as inline SVG (escaped by the renderer)."""
    return Markup(run_charts.step_gantt(run.steps, utcnow()))  # noqa: S704 — built escaped


@bp.app_template_global()
def recent_outcomes_svg(programme: MonitoringProgramme, runs: Sequence[Any]) -> Markup:
    """The outcomes of ``runs`` (the programme's newest, newest first: ``uuid``,
    ``status``, ``dry_run``, ``queued_at``) as an inline SVG strip."""
    link = url_for("runs.detail", run_uuid="__uuid__")  # once, not 50 times (a uuid is URL-safe)
    from portal.template_helpers import local_time_in

    return Markup(run_charts.outcome_strip(  # noqa: S704 — built escaped
        runs, lambda run: link.replace("__uuid__", run.uuid),
        local_time_in(programme.timezone)))  # the viewer's zone rule, looked up once
