"""The JSON API under /api/v1 (session or bearer-token authentication)."""

from flask import Blueprint, g

from portal.extensions import csrf

bp = Blueprint("api", __name__)
csrf.exempt(bp)


@bp.before_request
def protect_session_posts() -> None:
    """Token calls carry no cookie, so need no CSRF token; session calls do."""
    if not g.get("via_token"):
        from flask_login import current_user

        _ = current_user.is_authenticated  # runs the request loader, which sets g.via_token
        if not g.get("via_token"):
            csrf.protect()


from portal.api import files, views  # noqa: E402,F401
