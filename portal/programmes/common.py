"""View helpers shared by the portal's blueprints: HTMX fragments, redirects, loaders.

Loaders authorise through ``portal.access.authorize`` (404 out of scope, 403 with the
reason), so no view writes its own permission ``if``.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, make_response, redirect, render_template, request
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


def load_run_for(run_uuid: str, action: str = access.VIEW) -> MonitoringProgrammeRun:
    """Load a run (with programme and steps) and authorise ``action`` on its programme."""
    run = load_run(run_uuid)
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


def apply_error(form: Any, error: DomainError) -> bool:
    """Attach a domain error to the form field it names; False when no field matched."""
    field = getattr(form, error.field, None) if error.field else None
    if field is None:
        return False
    field.errors = [*field.errors, error.message]
    return True
