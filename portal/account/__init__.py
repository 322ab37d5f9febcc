"""The user's own account: API tokens, password, sessions."""

from flask import Blueprint

bp = Blueprint("account", __name__)

from portal.account import preferences, security, views  # noqa: E402,F401
