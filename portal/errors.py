"""Error responses: JSON for API calls, pages for browsers."""

from __future__ import annotations

from flask import Flask, current_app, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from portal.access import wants_json
from portal.services import DomainError

ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 412: "precondition_failed",
               413: "too_large", 428: "precondition_required", 429: "too_many"}


def error_response(status: int, message: str, field: str | None = None):
    """Render an error as JSON (API) or as an error page (browser)."""
    if wants_json():
        body = {"error": ERROR_CODES.get(status, "error"), "message": message}
        if field:
            body["field"] = field
        return jsonify(body), status
    response = make_response(render_template("error.html", status=status, message=message),
                             status)
    if request.headers.get("HX-Request") == "true":
        # htmx swaps 400/422 (base.html's responseHandling): show the error page's own card
        # in <main> rather than in the fragment the request targeted.
        response.headers.update({"HX-Retarget": "#main", "HX-Reswap": "innerHTML",
                                 "HX-Reselect": ".error-page"})
    return response


def http_error_message(error: HTTPException) -> str:
    """A plain sentence for an HTTP error: the one it was raised with, else the code's own."""
    custom = error.description if error.description != type(error).description else None
    if error.code == 404:
        return "Not found."  # never say more: a programme out of scope is simply not found
    if error.code == 405:
        allowed = sorted(set(getattr(error, "valid_methods", None) or ()) - {"HEAD", "OPTIONS"})
        return ("Method not allowed" + (f": this address accepts {', '.join(allowed)}."
                                        if allowed else "."))
    if error.code == 413:
        return custom or _too_large_message()
    if error.code == 400:
        return custom or ("The request could not be understood: a value is malformed, "
                          "too long or missing.")
    return custom or error.description or error.name


def _too_large_message() -> str:
    """Which limit a 413 hit: the upload size, or one form field's size."""
    upload_limit = current_app.config["MAX_UPLOAD_BYTES"]
    if (request.content_length or 0) > current_app.config["MAX_CONTENT_LENGTH"]:
        return f"The file is too large: the limit is {upload_limit:,} bytes."
    return (f"The request is too large: a form field may hold at most "
            f"{request.max_form_memory_size or 0:,} bytes, a file {upload_limit:,} bytes.")


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
        return error_response(error.code or 500, http_error_message(error))
