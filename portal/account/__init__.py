"""The user's own account: API tokens."""

from flask import Blueprint

bp = Blueprint("account", __name__)

from portal.account import views  # noqa: E402,F401
