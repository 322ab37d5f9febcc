"""API: programmes as code — create, update (with If-Match) and export a programme document."""

from __future__ import annotations

import json
from typing import Any

from flask import g, jsonify, request, url_for
from flask_login import current_user, login_required

from portal import access
from portal.access import programme_access
from portal.api import bp
from portal.api.openapi import CODE, ERRORS, SPEC, _json, _ref
from portal.services import DomainError, json_text
from portal.services import programme_documents as documents
from portal.services.programme_edit import ValidationFailed, programme_version

#: The services' field names -> the document's, so an error names what the caller sent.
FIELD_NAMES = {"pipeline_definition": "pipeline", "pipeline_definition_json": "pipeline",
               "data_quality_rules": "rules", "data_quality_rules_json": "rules"}


def _document_body() -> Any:
    text = request.get_data(as_text=True)
    if not text.strip():
        raise DomainError("Send the programme document as a JSON object.", field="body")
    try:
        return json_text.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DomainError(f"The body is not valid JSON: {error}.", field="body") from None


def _renamed(error: DomainError) -> DomainError:
    error.field = FIELD_NAMES.get(error.field, error.field)
    return error


def _document_response(programme, status: int = 200, **extra: Any):
    body = {**documents.export_document(programme), **extra}
    response = jsonify(body)
    response.status_code = status
    response.headers["ETag"] = f'"{body["version"]}"'
    return response


@bp.route("/programmes", methods=["POST"])
@login_required
def create_programme():
    """Create a programme from a document → 201 with the document and its ETag."""
    try:
        programme = documents.create_from_document(_document_body(), current_user,
                                                   request_id=g.request_id)
    except DomainError as error:
        raise _renamed(error) from None
    response = _document_response(programme, 201)
    response.headers["Location"] = url_for("api.programme_document", code=programme.code)
    return response


@bp.route("/programmes/<code>/document")
@login_required
@programme_access(access.VIEW)
def programme_document(programme):
    """The programme's document, with ``ETag`` = its version (for If-Match)."""
    response = _document_response(programme)
    if request.if_none_match.contains(programme_version(programme)):
        response = jsonify()
        response.status_code = 304
        response.headers["ETag"] = f'"{programme_version(programme)}"'
    return response


@bp.route("/programmes/<code>", methods=["PATCH"])
@login_required
@programme_access(access.EDIT)
def update_programme(programme):
    """Change the fields sent (a whole document or some of it); needs If-Match."""
    if_match = request.headers.get("If-Match", "").strip() or None
    try:
        diff = documents.update_from_document(programme, _document_body(), current_user,
                                              expected_version=if_match,
                                              request_id=g.request_id)
    except ValidationFailed as failed:
        errors = {FIELD_NAMES.get(k, k): v for k, v in failed.errors.items()}
        field = next(iter(errors))
        return jsonify(error="bad_request", message=errors[field][0], field=field,
                       errors=errors), 400
    except DomainError as error:
        raise _renamed(error) from None
    return _document_response(programme, changed=sorted(FIELD_NAMES.get(k, k) for k in diff))


DOCUMENT = {"type": "object", "additionalProperties": False, "properties": {
    "format": {"type": "string", "const": documents.FORMAT},
    "code": {"type": "string"}, "version": {"type": "string"},
    "title": {"type": "string"}, "description": {"type": "string"},
    "timezone": {"type": "string"}, "refresh_cadence": {"type": "string"},
    "scheduler_enabled": {"type": "boolean"},
    "institutions": {"type": "array", "items": {"type": "string"}},
    "pipeline": {"type": "object"}, "rules": {"type": "object"},
    "lineage_notes": {"type": "string"},
    "licence": {"type": "string", "description": "SPDX id, or a URL and a title"}}}
SPEC["components"]["schemas"]["ProgrammeDocument"] = DOCUMENT
_BODY = {"required": True, "content": {"application/json": {"schema":
                                                            _ref("ProgrammeDocument")}}}
SPEC["paths"].setdefault("/programmes", {})["post"] = {
    "summary": "Create a programme from a document (admins and programme owners)",
    "operationId": "createProgramme", "requestBody": _BODY,
    "responses": {"201": _json(_ref("ProgrammeDocument"), "The new programme's document."),
                  **ERRORS, "409": _json(_ref("Error"), "The code is taken.")}}
SPEC["paths"].setdefault("/programmes/{code}/document", {})["get"] = {
    "summary": "Export the programme as a document; ETag is its version",
    "operationId": "exportProgramme", "parameters": [CODE],
    "responses": {"200": _json(_ref("ProgrammeDocument"), "The document."),
                  "401": ERRORS["401"], "404": ERRORS["404"]}}
SPEC["paths"].setdefault("/programmes/{code}", {})["patch"] = {
    "summary": "Update cadence, pipeline, rules, notes… (If-Match: the version it is based on)",
    "operationId": "updateProgramme",
    "parameters": [CODE, {"name": "If-Match", "in": "header", "required": True,
                          "schema": {"type": "string"}}],
    "requestBody": _BODY,
    "responses": {"200": _json(_ref("ProgrammeDocument"), "The updated document; `changed` "
                                                          "lists the fields that changed."),
                  **ERRORS,
                  "412": _json(_ref("Error"), "The programme changed since that version."),
                  "428": _json(_ref("Error"), "No If-Match (or version) was sent.")}}
