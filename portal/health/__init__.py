"""The health page: "why didn't it run?"."""

from flask import Blueprint

bp = Blueprint("health", __name__)

from portal.health import views  # noqa: E402,F401
