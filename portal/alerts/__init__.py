"""The alert inbox: filter, acknowledge and resolve alerts in place."""

from flask import Blueprint

bp = Blueprint("alerts", __name__)

from portal.alerts import views  # noqa: E402,F401
