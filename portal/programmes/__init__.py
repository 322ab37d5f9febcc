"""Programme pages: the scoped list and the detail page."""

from flask import Blueprint

bp = Blueprint("programmes", __name__)

from portal.programmes import views  # noqa: E402,F401
