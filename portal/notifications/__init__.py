"""Notification pages: a user's subscriptions, a programme's webhooks and expected
deliveries, and the undeliverable messages shown on the health page."""

from flask import Blueprint

bp = Blueprint("notifications", __name__)

from portal.notifications import views  # noqa: E402,F401
