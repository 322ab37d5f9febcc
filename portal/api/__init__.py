"""The JSON API under /api/v1 (session or bearer-token authentication)."""

from flask import Blueprint, g, request

from portal.extensions import csrf

bp = Blueprint("api", __name__)
csrf.exempt(bp)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@bp.before_request
def protect_session_posts():
    """Token calls carry no cookie, so need no CSRF token; session calls do.

    A write with neither a session nor a valid token gets the JSON 401 (naming the
    Bearer scheme) rather than a CSRF error: it lacks credentials, not a form token.
    """
    from flask_login import current_user

    if request.method in SAFE_METHODS:
        return None
    if not current_user.is_authenticated:  # runs the request loader (sets g.via_token)
        from portal.auth.session import api_unauthorized

        return api_unauthorized()
    if not g.get("via_token"):
        csrf.protect()
    return None


from portal.api import (  # noqa: E402,F401
    files,
    me,
    programme_documents,
    releases,
    run_repeat,
    views,
)
