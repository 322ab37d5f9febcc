"""API: re-run or resume a run, and read a step's full log."""

from __future__ import annotations

from flask import g, jsonify
from flask_login import current_user, login_required

from portal import access
from portal.api import bp
from portal.api.openapi import ERRORS, RUN_UUID, SPEC, _json, _ref
from portal.api.runs import _json_body, run_json
from portal.programmes.common import load_run_for
from portal.runs.repeat import step_log_response
from portal.services import DomainError
from portal.services.rerun import rerun


@bp.route("/runs/<run_uuid>/rerun", methods=["POST"])
@login_required
def rerun_run(run_uuid: str):
    """Start a new run like this one: ``{"resume_from": "<step key>"}`` (optional) → 201."""
    from portal.services.runs import ActiveRunExists

    parent = load_run_for(run_uuid, access.RUN)
    body = _json_body()
    unknown = sorted(set(body) - {"resume_from"})
    if unknown:
        raise DomainError(f"Unknown field {unknown[0]!r}.", field=unknown[0])
    step = body.get("resume_from")
    if step is not None and not isinstance(step, str):
        raise DomainError("resume_from must be a step key (a string).", field="resume_from")
    try:
        result = rerun(parent, current_user, resume_from=step,
                       trigger="integration" if g.get("via_token") else "manual",
                       request_id=g.request_id)
    except ActiveRunExists as conflict:
        return jsonify(error="conflict", message=conflict.message, field=conflict.field,
                       active_run=conflict.active_run.uuid), 409
    except DomainError as error:
        if error.field == "step":
            error.field = "resume_from"
        raise
    response = jsonify({**run_json(result.run), "parent_run": parent.uuid,
                        "resume_from": step or None, "dispatched": result.dispatched,
                        "message": result.message})
    response.status_code = 201
    response.headers["Location"] = f"/api/v1/runs/{result.run.uuid}"
    return response


@bp.route("/runs/<run_uuid>/steps/<step_key>/log")
@login_required
def step_log(run_uuid: str, step_key: str):
    """A step's complete log as text/plain (404 when not kept)."""
    return step_log_response(load_run_for(run_uuid), step_key)


STEP_KEY = {"name": "step_key", "in": "path", "required": True, "schema": {"type": "string"}}
SPEC["paths"]["/runs/{run_uuid}/rerun"] = {"post": {
    "summary": "Re-run (or, with resume_from, resume) a finished run as a new run",
    "operationId": "rerunRun", "parameters": [RUN_UUID],
    "requestBody": {"required": False, "content": {"application/json": {"schema": {
        "type": "object", "additionalProperties": False, "properties": {
            "resume_from": {"type": "string", "description": "Reuse the recorded outputs of "
                            "the steps before this one and run only it and the rest."}}}}}},
    "responses": {"201": _json(_ref("Run"), "The new run (`parent_run`, `resume_from`)."),
                  **ERRORS, "409": _json(_ref("Error"), "The run is still active, another "
                                         "run is active, or the outputs are no longer kept.")}}}
SPEC["paths"]["/runs/{run_uuid}/steps/{step_key}/log"] = {"get": {
    "summary": "A step's complete log (text/plain)", "operationId": "stepLog",
    "parameters": [RUN_UUID, STEP_KEY],
    "responses": {"200": {"description": "The log.", "content": {"text/plain": {"schema": {
        "type": "string"}}}}, "401": ERRORS["401"],
        "404": _json(_ref("Error"), "No such run or step, or the log is not kept.")}}}
