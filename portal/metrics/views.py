"""Metrics views: the page (durations, rates, chart) and the Prometheus endpoint."""

from __future__ import annotations

import hmac

from flask import Response, current_app, render_template, request
from flask_login import current_user, login_required
from markupsafe import Markup
from prometheus_client import CONTENT_TYPE_LATEST

from portal.metrics import bp
from portal.metrics.chart import duration_chart
from portal.metrics.collector import render_latest
from portal.services import reporting
from portal.services.queries import programme_choices


def metrics_summary(user, window: str, programme_code: str = "") -> dict:
    """The figures the page and ``GET /api/v1/metrics`` show for ``window``."""
    since = reporting.window_start(window)
    return {"window": window if window in reporting.WINDOWS else reporting.DEFAULT_WINDOW,
            "since": since,
            "by_programme": reporting.run_duration_stats(user, since),
            "by_step_type": reporting.step_duration_stats(user, since),
            "rates": reporting.status_rates(user, since),
            "series": reporting.duration_series(user, since, programme_code)}


@bp.route("/reports/metrics")
@login_required
def page():
    """Run durations by programme and step type, status rates and a duration chart."""
    window = request.args.get("window", reporting.DEFAULT_WINDOW)
    programme_code = request.args.get("programme", "")[:40]
    summary = metrics_summary(current_user, window, programme_code)
    title = (f"Run durations{' of ' + programme_code if programme_code else ''} "
             f"in the last {summary['window']}")
    chart = Markup(duration_chart(summary["series"], title))  # escaped by duration_chart
    return render_template("metrics/index.html", chart=chart, chart_title=title,
                           windows=list(reporting.WINDOWS), programme=programme_code,
                           programmes=programme_choices(current_user), **summary)


def _scrape_allowed() -> bool:
    token = current_app.config.get("METRICS_TOKEN")
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header.removeprefix("Bearer ").strip(), token)
    return bool(current_user.is_authenticated and current_user.is_admin)


@bp.route("/metrics")
def prometheus():
    """Prometheus exposition: the METRICS_TOKEN bearer or an admin session; else 401."""
    if not _scrape_allowed():
        return Response("Send Authorization: Bearer <METRICS_TOKEN> (or sign in as an admin).\n",
                        401, {"WWW-Authenticate": 'Bearer realm="metrics"'},
                        mimetype="text/plain")
    return Response(render_latest(), content_type=CONTENT_TYPE_LATEST)
