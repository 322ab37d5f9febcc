"""API: the caller's own account — who they are and the time zone they read times in."""

from __future__ import annotations

from flask import jsonify, request
from flask_login import current_user, login_required

from portal.api import bp
from portal.api.openapi import ERRORS, SPEC, _json, _ref
from portal.services import DomainError
from portal.services.preferences import set_time_zone


def me_json(user) -> dict:
    """The API representation of the caller's own account."""
    return {"email": user.email, "name": user.name, "is_admin": user.is_admin,
            "time_zone": user.time_zone}


@bp.route("/me")
@login_required
def me():
    """The caller's account, with their time zone (null: the default rule)."""
    return jsonify(me_json(current_user))


@bp.route("/me", methods=["PATCH"])
@login_required
def update_me():
    """Change the caller's time zone: ``{"time_zone": "Europe/Madrid"}`` or null."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or "time_zone" not in body:
        raise DomainError('Send a JSON object with "time_zone": an IANA zone name such as '
                          '"Europe/Madrid", or null for the default.', field="time_zone")
    unknown = sorted(set(body) - {"time_zone"})
    if unknown:
        raise DomainError(f"Only time_zone can be changed here, not {unknown[0][:60]!r}.",
                          field=unknown[0][:60])
    value = body["time_zone"]
    if value is not None and not isinstance(value, str):
        raise DomainError("time_zone must be a string (an IANA zone name) or null.",
                          field="time_zone")
    user = current_user._get_current_object()
    set_time_zone(user, value)
    return jsonify(me_json(user))


ME = {"type": "object", "properties": {
    "email": {"type": "string"}, "name": {"type": "string"}, "is_admin": {"type": "boolean"},
    "time_zone": {"type": ["string", "null"],
                  "description": "The IANA zone the portal's pages show times in for this "
                                 "user; null follows the default rule (a programme's zone on "
                                 "its pages, UTC elsewhere). API times are always UTC."}}}
SPEC["components"]["schemas"]["Me"] = ME
SPEC["paths"]["/me"] = {
    "get": {"summary": "The caller's own account", "operationId": "getMe",
            "responses": {"200": _json(_ref("Me"), "The account."), "401": ERRORS["401"]}},
    "patch": {"summary": "Change the caller's time zone (null: the default rule)",
              "operationId": "updateMe",
              "requestBody": {"required": True, "content": {"application/json": {"schema": {
                  "type": "object", "additionalProperties": False, "required": ["time_zone"],
                  "properties": {"time_zone": {"type": ["string", "null"]}}}}}},
              "responses": {"200": _json(_ref("Me"), "The account, changed."),
                            "400": ERRORS["400"], "401": ERRORS["401"]}}}
