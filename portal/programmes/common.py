"""View helpers shared by the portal's blueprints: HTMX fragments, redirects, loaders.

Loaders authorise through ``portal.access.authorize`` (404 out of scope, 403 with the
reason), so no view writes its own permission ``if``.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Response,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from portal import access
from portal.models import MonitoringProgrammeAlert, MonitoringProgrammeRun
from portal.services import DomainError
from portal.services.queries import load_alert, load_run


def is_fragment_request() -> bool:
    """An HTMX request that wants a fragment (not a history restore, not a boosted page)."""
    return (request.headers.get("HX-Request") == "true"
            and request.headers.get("HX-History-Restore-Request") != "true"
            and request.headers.get("HX-Boosted") != "true")


def page_or_fragment(page: str, fragment: str, status: int = 200, **context: Any) -> Response:
    """Render the full page, or only its fragment for HTMX; vary on HX-Request."""
    template = fragment if is_fragment_request() else page
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response


def go_to(url: str) -> Response:
    """Redirect; HTMX requests get ``HX-Redirect`` so the whole page navigates."""
    if request.headers.get("HX-Request") == "true":
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url)


def not_started(error: DomainError, fallback: str) -> Response:
    """Flash why a run was not started and go to the active run it met, else ``fallback``.

    Args:
        error: the service's refusal (``ActiveRunExists`` carries the active run).
        fallback: where to go when no other run is in the way.
    """
    message = error.message if error.message.endswith(".") else f"{error.message}."
    flash(f"Not started: {message}", "error")
    active = getattr(error, "active_run", None)
    return go_to(url_for("runs.detail", run_uuid=active.uuid) if active is not None else fallback)


def load_run_for(run_uuid: str, action: str = access.VIEW) -> MonitoringProgrammeRun:
    """Load a run (with programme and steps) and authorise ``action`` on its programme."""
    run = load_run(run_uuid, current_user)
    if run is None:
        abort(404)
    access.authorize(current_user, action, run.programme)
    return run


def load_alert_for(alert_uuid: str, action: str = access.VIEW) -> MonitoringProgrammeAlert:
    """Load an alert and authorise ``action`` on its programme."""
    alert = load_alert(alert_uuid)
    if alert is None:
        abort(404)
    access.authorize(current_user, action, alert.programme)
    return alert


def apply_error(form: Any, error: DomainError, *, unless_flagged: bool = False) -> bool:
    """Attach a domain error (each of a ``FieldErrors``) to the form field it names.

    Args:
        unless_flagged: skip a field that already shows an error (the form's own checks).

    Returns:
        False when an error names no field of the form (the caller shows it otherwise).
    """
    attached = True
    for one in getattr(error, "errors", [error]):
        field = getattr(form, one.field, None) if one.field else None
        if field is None:
            attached = False
        elif not (unless_flagged and field.errors):
            field.errors = [*field.errors, one.message]
    return attached
