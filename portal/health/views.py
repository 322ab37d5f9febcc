"""Health view: scheduler tick, workers, queues, failed jobs, stale runs, next due."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, render_template
from flask_login import current_user, login_required

from portal import access
from portal.health import bp
from portal.redact import describe_connections
from portal.services import reporting
from portal.services.health_summary import worker_aggregate


def _parse(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


@bp.route("/health")
@login_required
def index():
    """Everything that explains why a run did or did not happen."""
    from portal.services.dispatch import queue_overview
    from portal.services.periodic import STALE_AFTER_INTERVALS, tick_states

    overview = queue_overview()
    connections = (describe_connections(current_app.config)
                   if access.can_see_connections(current_user) else None)
    ticks = tick_states()
    for worker in overview["workers"]:
        worker["last_heartbeat_at"] = _parse(worker.get("last_heartbeat"))
    workers_summary = worker_aggregate(overview["workers"])
    if not access.can_see_worker_details(current_user):
        overview["workers"] = []  # job ids and worker names of every programme: admins only
    return render_template(
        "health/index.html", overview=overview, workers_summary=workers_summary,
        stale=reporting.stale_runs(current_user, current_app.config["RUN_STALE_AFTER_SECONDS"]),
        queued=reporting.queued_runs(current_user),
        due=reporting.next_due(current_user),
        interval=current_app.config["SCHEDULER_INTERVAL_SECONDS"], connections=connections,
        ticks=ticks, ticks_stale=ticks is None or any(tick.stale for tick in ticks),
        stale_after_intervals=STALE_AFTER_INTERVALS)
