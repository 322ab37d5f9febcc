"""Who is making a request: Flask-Login's loaders and the forced password change.

- A browser session (and a remember-me cookie) carries the user's *session token*,
  Flask-Login's alternative id, not the user's id. ``portal.services.sessions``
  rotates the token to end every session of a user at once.
- ``Authorization: Bearer <API token>`` authenticates ``/api/`` URLs only; on
  pages it is ignored, so a leaked API token never opens the portal's forms.
- Deactivated users are signed out on every request.
- A user who must change their password reaches nothing but the change-password
  form (pages) or a JSON 403 (API) until they have.
"""

from __future__ import annotations

from flask import Response, g, jsonify, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import bindparam, select

from portal.auth import bp
from portal.auth.tokens import user_for_token
from portal.extensions import db, login_manager
from portal.models import User

login_manager.login_view = "auth.login"
login_manager.login_message = "Sign in to continue."

API_PREFIX = "/api/"
SESSION_TOKEN_LENGTH = 64
#: Endpoints a user who must change their password may still reach.
PASSWORD_CHANGE_ALLOWED = frozenset({"auth.login", "auth.logout", "account.change_password",
                                     "static"})


def is_api_request() -> bool:
    """Whether the request is for the JSON API (the only place API tokens count)."""
    return request.path.startswith(API_PREFIX)


#: load_user's statement, built once (every signed-in request runs it).
_USER_BY_SESSION_TOKEN = select(User).where(User.session_token == bindparam("token"))


@login_manager.user_loader
def load_user(session_token: str) -> User | None:
    """Load the signed-in user from the session token in the session or remember cookie."""
    if not isinstance(session_token, str) or len(session_token) != SESSION_TOKEN_LENGTH:
        return None  # sessions from before per-user tokens held the numeric id
    user = db.session.scalar(_USER_BY_SESSION_TOKEN, {"token": session_token})
    if user is None or not user.active:
        return None
    return user


@login_manager.request_loader
def load_user_from_token(req) -> User | None:
    """Authenticate ``/api/`` calls carrying ``Authorization: Bearer <token>``."""
    if not req.path.startswith(API_PREFIX):
        return None
    header = req.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    user = user_for_token(header.removeprefix("Bearer ").strip())
    if user is not None:
        g.via_token = True
    return user


def api_unauthorized() -> tuple[Response, int]:
    """The JSON 401 of the API, naming the Bearer scheme."""
    response = jsonify(error="unauthorized",
                       message="Sign in or send an API token (Authorization: Bearer ...).")
    response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response, 401


@login_manager.unauthorized_handler
def unauthorized():
    """API calls get a JSON 401; pages redirect to the sign-in form."""
    from portal.access import wants_json
    from portal.errors import error_response

    if is_api_request():
        return api_unauthorized()
    if wants_json():
        return error_response(401, "Sign in to continue.")
    return redirect(url_for("auth.login", next=request.full_path))


@bp.before_app_request
def require_password_change():
    """Send a user who must change their password to the form (JSON 403 on the API)."""
    if request.endpoint in PASSWORD_CHANGE_ALLOWED or not current_user.is_authenticated:
        return None
    if not current_user.must_change_password:
        return None
    from portal.access import wants_json
    from portal.errors import error_response

    message = ("An administrator has asked you to choose a new password: sign in to the "
               "portal and change it before using this account.")
    if is_api_request() or wants_json():
        return error_response(403, message)
    target = url_for("account.change_password")
    if request.headers.get("HX-Request"):
        return Response(status=204, headers={"HX-Redirect": target})
    return redirect(target)
