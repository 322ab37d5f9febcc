"""Error responses: JSON for API calls, pages for browsers."""

from __future__ import annotations

from flask import Flask, jsonify, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from portal.access import wants_json
from portal.services import DomainError

ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "too_large", 429: "too_many"}


def error_response(status: int, message: str, field: str | None = None):
    """Render an error as JSON (API) or as an error page (browser)."""
    if wants_json():
        body = {"error": ERROR_CODES.get(status, "error"), "message": message}
        if field:
            body["field"] = field
        return jsonify(body), status
    return render_template("error.html", status=status, message=message), status


def init_app(app: Flask) -> None:
    """Register the error handlers."""

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return error_response(400, f"The form's security token is missing or expired "
                                   f"({error.description}). Reload the page and try again.")

    @app.errorhandler(DomainError)
    def domain_error(error: DomainError):
        return error_response(error.status, error.message, error.field)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        messages = {404: "Not found.", 405: "Method not allowed."}
        message = messages.get(error.code) or error.description or error.name
        return error_response(error.code or 500, message)
