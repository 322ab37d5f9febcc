"""The pipeline and rules editors (stateless: the draft travels with each request) and
the rule preview. One form per editor; each button is an action:

``add`` · ``remove:N`` · ``up:N`` · ``down:N`` · ``choose`` (show a type's fields) ·
``save`` · ``preview`` (rules only). HTMX swaps the editor fragment; without
JavaScript the same form posts and the full page comes back.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from flask import Response, flash, g, make_response, render_template, request, url_for
from flask_login import current_user, login_required

from portal import access
from portal.access import programme_access
from portal.authoring import bp
from portal.programmes.common import go_to, page_or_fragment
from portal.services import DomainError, editor
from portal.services.credential_checks import credential_errors
from portal.services.pipeline_spec import (
    RULE_TYPES,
    SEVERITIES,
    STEP_TYPES,
    validate_pipeline,
    validate_rules,
)
from portal.services.preview import preview_state, start_preview
from portal.services.programme_edit import ProgrammeChanges, ValidationFailed, update_programme

EDITORS = {
    "pipeline": {"root": "steps", "types": STEP_TYPES, "fields": editor.step_fields,
                 "validate": lambda draft: validate_pipeline(draft) or credential_errors(draft),
                 "attribute": "pipeline_definition_json"},
    "rules": {"root": "rules", "types": RULE_TYPES, "fields": editor.rule_fields,
              "validate": validate_rules, "attribute": "data_quality_rules_json"},
}


def _save(programme, kind: str, draft: dict[str, Any]) -> None:
    """Save through the same validated, audited path as the programme edit form."""
    values = {
        "pipeline_definition": json.dumps(programme.pipeline_definition_json),
        "data_quality_rules": json.dumps(programme.data_quality_rules_json),
    }
    values["pipeline_definition" if kind == "pipeline" else "data_quality_rules"] = (
        json.dumps(draft))
    changes = ProgrammeChanges(
        title=programme.title, description=programme.description,
        refresh_cadence=programme.refresh_cadence, timezone=programme.timezone,
        scheduler_enabled=programme.scheduler_enabled, lineage_notes=programme.lineage_notes,
        **values)
    try:
        update_programme(programme, current_user, changes, request_id=g.request_id)
    except ValidationFailed as failed:
        messages = [m for field, found in failed.errors.items() for m in found
                    if field in ("pipeline_definition", "data_quality_rules")]
        raise DomainError("; ".join(messages or [failed.message]), field="draft") from None


def _apply(kind: str, draft: dict[str, Any], action: str, form) -> dict[str, Any]:
    root = EDITORS[kind]["root"]
    name, _, index = action.partition(":")
    if name in ("remove", "up", "down"):
        position = int(index) if index.isdigit() else -1
        if name == "remove":
            return editor.remove(draft, root, position)
        return editor.move(draft, root, position, -1 if name == "up" else 1)
    if name == "add":
        chosen = form.get("type", "")
        if kind == "pipeline":
            return editor.add_step(draft, chosen, form.get("key", ""), form)
        return editor.add_rule(draft, chosen, form.get("rule_id", ""),
                               form.get("severity", "error"), form.get("tolerance", ""), form)
    return draft


def _render(programme, kind: str, draft_text: str, *, chosen: str = "", error=None,
            preview_job: str | None = None, status: int = 200) -> Response:
    spec = EDITORS[kind]
    try:
        draft = editor.parse_draft(draft_text, spec["root"])
        problems = [str(p) for p in spec["validate"](draft)]
    except DomainError as parse_error:
        draft, problems = {spec["root"]: []}, [parse_error.message]
    fields = []
    if chosen in spec["types"]:
        fields = [asdict(f) for f in spec["fields"](chosen)]
    return page_or_fragment(
        f"authoring/{kind}_editor.html", "authoring/_editor.html", status=status,
        programme=programme, kind=kind, draft=draft, draft_text=draft_text,
        items=draft.get(spec["root"], []), types=sorted(spec["types"]), chosen=chosen,
        fields=fields, error=error, problems=problems, severities=SEVERITIES,
        preview_job=preview_job, form_values=request.form)


def _editor(programme, kind: str) -> Response:
    attribute = EDITORS[kind]["attribute"]
    if request.method == "GET":
        current = getattr(programme, attribute) or {EDITORS[kind]["root"]: []}
        return _render(programme, kind, editor.dumps(current), chosen=request.args.get("type", ""))
    form = request.form
    action = form.get("action", "")
    draft_text = form.get("draft", "")
    chosen = form.get("type", "")
    try:
        draft = editor.parse_draft(draft_text, EDITORS[kind]["root"])
        if action == "save":
            _save(programme, kind, draft)
            flash(f"{'Pipeline' if kind == 'pipeline' else 'Rules'} saved.", "success")
            return go_to(url_for("programmes.detail", code=programme.code))
        if action == "preview":
            job_id = start_preview(programme, draft)
            return _render(programme, kind, editor.dumps(draft), chosen=chosen,
                           preview_job=job_id)
        new_draft = _apply(kind, draft, action, form)
        if action == "add":
            chosen = ""
        return _render(programme, kind, editor.dumps(new_draft), chosen=chosen)
    except DomainError as error:
        return _render(programme, kind, draft_text, chosen=chosen, error=error, status=400)


@bp.route("/programmes/<code>/pipeline/edit", methods=["GET", "POST"])
@login_required
@programme_access(access.EDIT)
def edit_pipeline(programme):
    """Edit the pipeline: add, remove and reorder steps with their parameters."""
    return _editor(programme, "pipeline")


@bp.route("/programmes/<code>/rules/edit", methods=["GET", "POST"])
@login_required
@programme_access(access.EDIT)
def edit_rules(programme):
    """Edit the data-quality rules, and preview them before saving."""
    return _editor(programme, "rules")


@bp.route("/programmes/<code>/rules/preview/<job_id>")
@login_required
@programme_access(access.EDIT)
def rule_preview(programme, job_id: str):
    """The preview's state; polls itself until the worker has finished (then HTTP 286)."""
    state = preview_state(job_id, programme.id)
    response = make_response(render_template(
        "authoring/_preview.html", programme=programme, job_id=job_id, state=state), 200)
    if state.done and request.headers.get("HX-Request") == "true":
        response.status_code = 286  # htmx: stop polling
    response.vary.add("HX-Request")
    return response
