"""Sign-in and sign-out; API tokens for the JSON API."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from portal.auth import session, views  # noqa: E402,F401
