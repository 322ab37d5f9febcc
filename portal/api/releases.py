"""API: releases (list, one with its diff and review), candidates (list, approve,
reject) and withdrawal — the same access rules as the pages."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, jsonify, request
from flask_login import current_user, login_required

from portal import access
from portal.access import programme_access
from portal.api import bp
from portal.api.openapi import CODE, ERRORS, NOTE_BODY, SPEC, _json, _ref
from portal.services import DomainError, release_pages, review


def _root() -> str:
    return current_app.config["PUBLISH_ROOT"]


def _text_field(name: str) -> str | None:
    body = request.get_json(silent=True)
    if body is None and not request.get_data():
        return None
    if not isinstance(body, dict):
        raise DomainError("The request body must be a JSON object.", field="body")
    unknown = [key for key in body if key != name]
    if unknown:
        raise DomainError(f"Unknown field {unknown[0]!r}.", field=unknown[0])
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise DomainError(f"{name} must be a string.", field=name)
    return value


def _release_json(programme, version: str) -> dict[str, Any]:
    detail = release_pages.release_detail(programme, _root(), version)
    detail.pop("run")
    against = request.args.get("against") or None
    return {**detail, "diff": release_pages.diff(programme, _root(), version, against)}


@bp.route("/programmes/<code>/releases")
@login_required
@programme_access(access.VIEW)
def list_releases(programme):
    """Every release, newest first, withdrawn ones marked; ``latest`` skips them."""
    return jsonify(release_pages.list_releases(programme, _root()))


@bp.route("/programmes/<code>/releases/<version>")
@login_required
@programme_access(access.VIEW)
def get_release(programme, version: str):
    """One release: resources, lineage, review, withdrawal and diff (``?against=``)."""
    return jsonify(_release_json(programme, version))


@bp.route("/programmes/<code>/releases/<version>/withdraw", methods=["POST"])
@login_required
@programme_access(access.WITHDRAW)
def withdraw_release(programme, version: str):
    """Withdraw a release: ``{"reason": "..."}`` (owners)."""
    reason = _text_field("reason")
    release_pages.withdraw(programme, version, current_user, reason, _root(),
                           request_id=g.request_id)
    return jsonify(_release_json(programme, version))


@bp.route("/programmes/<code>/candidates")
@login_required
@programme_access(access.VIEW)
def list_candidates(programme):
    """The programme's release candidates, newest first (``pending`` awaits review)."""
    return jsonify({"candidates": [review.candidate_document(c)
                                   for c in review.list_candidates(programme)]})


@bp.route("/programmes/<code>/candidates/<candidate_uuid>")
@login_required
@programme_access(access.VIEW)
def get_candidate(programme, candidate_uuid: str):
    """One candidate, with its stored diff while it is pending."""
    item = review.get_candidate(programme, candidate_uuid)
    return jsonify({**review.candidate_document(item),
                    "diff": review.candidate_diff(item, _root())})


@bp.route("/programmes/<code>/candidates/<candidate_uuid>/approve", methods=["POST"])
@login_required
@programme_access(access.REVIEW)
def approve_candidate(programme, candidate_uuid: str):
    """Approve a pending candidate: it is published; answers the candidate and version."""
    item = review.get_candidate(programme, candidate_uuid)
    _text_field("note")  # a body is optional; only a note may be in it
    review.approve(item, current_user, _root(), request_id=g.request_id)
    return jsonify(review.candidate_document(review.get_candidate(programme, candidate_uuid)))


@bp.route("/programmes/<code>/candidates/<candidate_uuid>/reject", methods=["POST"])
@login_required
@programme_access(access.REVIEW)
def reject_candidate(programme, candidate_uuid: str):
    """Reject a pending candidate: ``{"note": "why"}``; nothing is published."""
    item = review.get_candidate(programme, candidate_uuid)
    review.reject(item, current_user, _text_field("note"), _root(), request_id=g.request_id)
    return jsonify(review.candidate_document(review.get_candidate(programme, candidate_uuid)))


VERSION = {"name": "version", "in": "path", "required": True,
           "schema": {"type": "string", "pattern": r"^(0|[1-9]\d*)\.(0|[1-9]\d*)$"}}
CANDIDATE_UUID = {"name": "candidate_uuid", "in": "path", "required": True,
                  "schema": {"type": "string", "format": "uuid"}}
AGAINST = {"name": "against", "in": "query", "schema": {"type": "string"},
           "description": "Diff against this release (withdrawn ones too) instead of the "
                          "previous release that is not withdrawn."}
SPEC["components"]["schemas"]["Candidate"] = {"type": "object", "properties": {
    "uuid": {"type": "string"},
    "status": {"type": "string", "enum": ["pending", "approved", "rejected", "superseded"]},
    "version": {"type": ["string", "null"]}, "run": {"type": ["string", "null"]},
    "triggered_by": {"type": ["string", "null"]}, "created_at": {"type": "string"},
    "decided_at": {"type": ["string", "null"]}, "decided_by": {"type": ["string", "null"]},
    "note": {"type": ["string", "null"]}, "summary": {"type": "object"}}}
_CONFLICT = {"409": _json(_ref("Error"), "Already decided, superseded or withdrawn.")}
SPEC["paths"]["/programmes/{code}/releases"] = {"get": {
    "summary": "The programme's releases, newest first; `latest` skips withdrawn ones",
    "operationId": "listReleases", "parameters": [CODE],
    "responses": {"200": _json({"type": "object"}, "Releases."), **ERRORS}}}
SPEC["paths"]["/programmes/{code}/releases/{version}"] = {"get": {
    "summary": "One release: resources, lineage, review, withdrawal and diff",
    "operationId": "getRelease", "parameters": [CODE, VERSION, AGAINST],
    "responses": {"200": _json({"type": "object"}, "The release."), **ERRORS}}}
SPEC["paths"]["/programmes/{code}/releases/{version}/withdraw"] = {"post": {
    "summary": "Withdraw a release with a reason (owners); its files stay",
    "operationId": "withdrawRelease", "parameters": [CODE, VERSION],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["reason"], "additionalProperties": False,
        "properties": {"reason": {"type": "string", "maxLength": 2000}}}}}},
    "responses": {"200": _json({"type": "object"}, "The withdrawn release."), **ERRORS,
                  **_CONFLICT}}}
SPEC["paths"]["/programmes/{code}/candidates"] = {"get": {
    "summary": "The programme's release candidates, newest first",
    "operationId": "listCandidates", "parameters": [CODE],
    "responses": {"200": _json({"type": "object", "properties": {
        "candidates": {"type": "array", "items": _ref("Candidate")}}}, "Candidates."),
        **ERRORS}}}
SPEC["paths"]["/programmes/{code}/candidates/{candidate_uuid}"] = {"get": {
    "summary": "One candidate with its stored diff (while pending)",
    "operationId": "getCandidate", "parameters": [CODE, CANDIDATE_UUID],
    "responses": {"200": _json(_ref("Candidate"), "The candidate."), **ERRORS}}}
SPEC["paths"]["/programmes/{code}/candidates/{candidate_uuid}/approve"] = {"post": {
    "summary": "Approve a pending candidate: it is published as the next version",
    "operationId": "approveCandidate", "parameters": [CODE, CANDIDATE_UUID],
    "requestBody": NOTE_BODY,
    "responses": {"200": _json(_ref("Candidate"), "The approved candidate."), **ERRORS,
                  **_CONFLICT}}}
SPEC["paths"]["/programmes/{code}/candidates/{candidate_uuid}/reject"] = {"post": {
    "summary": "Reject a pending candidate with a note: nothing is published",
    "operationId": "rejectCandidate", "parameters": [CODE, CANDIDATE_UUID],
    "requestBody": NOTE_BODY,
    "responses": {"200": _json(_ref("Candidate"), "The rejected candidate."), **ERRORS,
                  **_CONFLICT}}}
