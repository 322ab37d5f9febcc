"""The audit log page and its CSV export."""

from flask import Blueprint

bp = Blueprint("audit", __name__)

from portal.audit import views  # noqa: E402,F401
