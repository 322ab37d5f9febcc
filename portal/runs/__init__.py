"""Run pages: lists (per programme and across programmes), the live run page, cancel,
OpenLineage and rejection-report downloads."""

from flask import Blueprint

bp = Blueprint("runs", __name__)

from portal.runs import repeat, views  # noqa: E402,F401
