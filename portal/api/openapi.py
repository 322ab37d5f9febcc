"""The OpenAPI 3.1 description of the JSON API (hand-written), served at /openapi.json."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from portal.api import bp


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "400": _json(_ref("Error"), "Bad request; `field` names the field at fault."),
    "401": _json(_ref("Error"), "Not signed in and no valid token."),
    "403": _json(_ref("Error"), "Visible, but the caller may not do this (the message says why)."),
    "404": _json(_ref("Error"), "No such object, or not visible to the caller."),
}
CODE = {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}
RUN_UUID = {"name": "run_uuid", "in": "path", "required": True,
            "schema": {"type": "string", "format": "uuid"}}
ALERT_UUID = {"name": "alert_uuid", "in": "path", "required": True,
              "schema": {"type": "string", "format": "uuid"}}
NOTE_BODY = {"required": False, "content": {"application/json": {"schema": {
    "type": "object", "properties": {"note": {"type": "string", "maxLength": 2000}},
    "additionalProperties": False}}}}
STATS = {"type": "array", "items": {"type": "object", "properties": {
    "key": {"type": "string"}, "count": {"type": "integer"},
    "median_seconds": {"type": ["number", "null"]}, "p95_seconds": {"type": ["number", "null"]},
    "max_seconds": {"type": ["number", "null"]}}}}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Programme Ops API", "version": "1",
             "description": "Programmes, runs, alerts and metrics. Authenticate with a "
                            "session (plus X-CSRFToken on POST) or `Authorization: Bearer "
                            "<token>` (tokens are created at /account/tokens)."},
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearer": []}, {"session": []}],
    "paths": {
        "/programmes": {"get": {
            "summary": "List the programmes the caller may see", "operationId": "listProgrammes",
            "parameters": [{"name": "q", "in": "query", "schema": {"type": "string"}},
                           {"name": "page", "in": "query", "schema": {"type": "integer"}}],
            "responses": {"200": _json({"type": "object", "properties": {
                "items": {"type": "array", "items": _ref("Programme")},
                "total": {"type": "integer"}, "page": {"type": "integer"},
                "pages": {"type": "integer"}}}, "One page of programmes."),
                "401": ERRORS["401"]}}},
        "/programmes/{code}": {"get": {
            "summary": "One programme with its pipeline and rules", "operationId": "getProgramme",
            "parameters": [CODE],
            "responses": {"200": _json(_ref("Programme"), "The programme."),
                          "401": ERRORS["401"], "404": ERRORS["404"]}}},
        "/programmes/{code}/runs": {"post": {
            "summary": "Start a run (token calls are recorded with trigger `integration`)",
            "operationId": "startRun", "parameters": [CODE],
            "requestBody": {"required": False, "content": {"application/json": {"schema": {
                "type": "object", "additionalProperties": False, "properties": {
                    "run_type": {"type": "string", "default": "full",
                                 "enum": ["full", "ingest", "validate", "compute", "publish"]},
                    "dry_run": {"type": "boolean", "default": False}}}}}},
            "responses": {"201": _json(_ref("Run"), "The queued run."), **ERRORS,
                          "409": _json(_ref("Error"), "A run is already queued or running; "
                                                      "`active_run` is its uuid.")}}},
        "/programmes/{code}/files": {"post": {
            "summary": "Upload a data file (CSV, TSV, Darwin Core Archive or Frictionless "
                       "package) to the programme's inbox", "operationId": "uploadFile",
            "parameters": [CODE],
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "contentMediaType":
                                        "application/octet-stream"}}}}}},
            "responses": {"201": _json({"type": "object"}, "The stored file."), **ERRORS,
                          "413": _json(_ref("Error"), "The file is too large.")}}},
        "/runs/{run_uuid}": {"get": {
            "summary": "One run with its steps", "operationId": "getRun",
            "parameters": [RUN_UUID],
            "responses": {"200": _json(_ref("Run"), "The run."), "401": ERRORS["401"],
                          "404": ERRORS["404"]}}},
        "/alerts/{alert_uuid}/acknowledge": {"post": {
            "summary": "Acknowledge an open alert", "operationId": "acknowledgeAlert",
            "parameters": [ALERT_UUID], "requestBody": NOTE_BODY,
            "responses": {"200": _json(_ref("Alert"), "The alert."), **ERRORS,
                          "409": _json(_ref("Error"), "The alert is not open.")}}},
        "/alerts/{alert_uuid}/resolve": {"post": {
            "summary": "Resolve an alert (a note is required)", "operationId": "resolveAlert",
            "parameters": [ALERT_UUID], "requestBody": NOTE_BODY,
            "responses": {"200": _json(_ref("Alert"), "The alert."), **ERRORS,
                          "409": _json(_ref("Error"), "The alert is already resolved.")}}},
        "/metrics": {"get": {
            "summary": "Run durations and status rates over a window", "operationId": "metrics",
            "parameters": [{"name": "window", "in": "query", "schema": {
                "type": "string", "enum": ["1d", "7d", "30d", "90d", "365d"]}}],
            "responses": {"200": _json({"type": "object", "properties": {
                "window": {"type": "string"}, "since": {"type": "string", "format": "date-time"},
                "by_programme": STATS, "by_step_type": STATS,
                "rates": {"type": "object"}}}, "Figures over the window."),
                "401": ERRORS["401"]}}},
        "/openapi.json": {"get": {
            "summary": "This description", "operationId": "openapi", "security": [],
            "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document.")}}},
    },
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "session": {"type": "apiKey", "in": "cookie", "name": "session"}},
        "schemas": {
            "Error": {"type": "object", "required": ["error", "message"], "properties": {
                "error": {"type": "string"}, "message": {"type": "string"},
                "field": {"type": "string"}, "active_run": {"type": "string"}}},
            "Programme": {"type": "object", "properties": {
                "code": {"type": "string"}, "title": {"type": "string"},
                "active": {"type": "boolean"}, "refresh_cadence": {"type": "string"},
                "timezone": {"type": "string"}, "scheduler_enabled": {"type": "boolean"},
                "next_run_at": {"type": ["string", "null"], "format": "date-time"},
                "last_run_at": {"type": ["string", "null"], "format": "date-time"},
                "institutions": {"type": "array", "items": {"type": "string"}},
                "licence": {"type": ["string", "null"],
                            "description": "The releases' licence: SPDX id, or URL and "
                                           "title; null when the input's own is used."},
                "latest_status": {"type": ["string", "null"],
                                  "description": "In lists: the latest run's status."},
                "open_alerts": {"type": "integer",
                                "description": "In lists: unresolved alerts."},
                "pipeline_definition": {"type": "object"},
                "data_quality_rules": {"type": "object"}}},
            "Step": {"type": "object", "properties": {
                "key": {"type": "string"}, "type": {"type": "string"},
                "ordering": {"type": "integer"}, "status": {"type": "string"},
                "duration_seconds": {"type": ["number", "null"]},
                "rows_in": {"type": ["integer", "null"]},
                "rows_out": {"type": ["integer", "null"]},
                "rows_rejected": {"type": ["integer", "null"]},
                "details": {"type": ["object", "null"]},
                "log_excerpt": {"type": ["string", "null"]}}},
            "Run": {"type": "object", "properties": {
                "uuid": {"type": "string"}, "programme": {"type": "string"},
                "status": {"type": "string", "enum": ["queued", "running", "succeeded",
                                                      "awaiting_review", "blocked", "failed",
                                                      "cancelled"]},
                "run_type": {"type": "string"}, "dry_run": {"type": "boolean"},
                "trigger": {"type": "string", "enum": ["manual", "scheduled", "integration"]},
                "requested_by": {"type": ["string", "null"]},
                "queued_at": {"type": "string", "format": "date-time"},
                "started_at": {"type": ["string", "null"], "format": "date-time"},
                "finished_at": {"type": ["string", "null"], "format": "date-time"},
                "duration_seconds": {"type": ["number", "null"]},
                "error_message": {"type": ["string", "null"]},
                "lineage": {"type": ["object", "null"]},
                "steps": {"type": "array", "items": _ref("Step")}}},
            "Alert": {"type": "object", "properties": {
                "uuid": {"type": "string"}, "programme": {"type": "string"},
                "rule_id": {"type": "string"}, "severity": {"type": "string"},
                "state": {"type": "string", "enum": ["open", "acknowledged", "resolved"]},
                "message": {"type": "string"}, "occurrence_count": {"type": "integer"},
                "acknowledged_note": {"type": ["string", "null"]},
                "resolved_note": {"type": ["string", "null"]}}},
        },
    },
}


@bp.route("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 description of this API (public: it holds no data)."""
    return jsonify(SPEC)
