"""Health view: scheduler tick, workers, queues, failed jobs, stale runs, next due."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, render_template
from flask_login import current_user, login_required

from portal.health import bp
from portal.services import reporting


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

    overview = queue_overview()
    for worker in overview["workers"]:
        worker["last_heartbeat_at"] = _parse(worker.get("last_heartbeat"))
    return render_template(
        "health/index.html", overview=overview,
        scheduler_tick=_parse(overview.get("scheduler_last_tick")),
        scheduler_alive=_parse(overview.get("scheduler_alive_at")),
        stale=reporting.stale_runs(current_user, current_app.config["RUN_STALE_AFTER_SECONDS"]),
        queued=reporting.queued_runs(current_user),
        due=reporting.next_due(current_user),
        interval=current_app.config["SCHEDULER_INTERVAL_SECONDS"])
