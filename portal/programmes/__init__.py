"""Programme pages: the scoped list, detail, edit, stewards, runs and releases."""

from flask import Blueprint

bp = Blueprint("programmes", __name__)

from portal.programmes import actions, releases, views  # noqa: E402,F401
