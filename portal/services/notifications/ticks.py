"""The scheduler's notification pass: escalations, late data, and what is waiting.

Called by the scheduler process on every tick (``jobs.scheduler``). It only records
events and enqueues jobs; workers do the sending. Each part runs on its own, so a
failure in one (logged) does not stop the others.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from portal.dbutil import begin_write
from portal.extensions import db
from portal.models import MonitoringProgrammeAlert, utcnow
from portal.services import dispatch, input_sightings
from portal.services.notifications import delivery, expected, queueing
from portal.services.notifications.events import alert_part, programme_part, record_event

log = logging.getLogger(__name__)

DIGEST_KEY = "programme-ops:notify:digest:{}"
#: An event younger than this is left to its own after-commit job.
SWEEP_GRACE = timedelta(seconds=30)


def escalate(now: datetime) -> int:
    """Record ``alert.escalated`` once for each alert open longer than the threshold."""
    hours = float(current_app.config.get("NOTIFY_ESCALATE_AFTER_HOURS") or 24)
    limit = now - timedelta(hours=hours)
    alerts = db.session.scalars(select(MonitoringProgrammeAlert).where(
        MonitoringProgrammeAlert.state == "open",
        MonitoringProgrammeAlert.first_seen_at <= limit)).all()
    count = 0
    for alert in alerts:
        begin_write()
        part = {"programme": programme_part(alert.programme, alert.programme_id),
                "alert": {**alert_part(alert), "unacknowledged_hours": round(
                    (now - alert.first_seen_at).total_seconds() / 3600, 1)}}
        if record_event("alert.escalated", alert.programme_id, part,
                        dedup_key=f"alert-escalated:{alert.uuid}") is not None:
            count += 1
        db.session.commit()
    return count


def digest_cutoff(now: datetime) -> datetime | None:
    """Today's digest time (UTC) once it has passed, else None."""
    hour = int(current_app.config.get("NOTIFY_DIGEST_HOUR_UTC") or 0)
    cutoff = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    return cutoff if now >= cutoff else None


def _enqueue_digest(now: datetime) -> bool:
    cutoff = digest_cutoff(now)
    if cutoff is None:
        return False
    key = DIGEST_KEY.format(cutoff.date().isoformat())
    if not dispatch.redis_connection().set(key, "1", nx=True, ex=3 * 86400):
        return False  # today's digest is already on its way
    return queueing.enqueue(queueing.DIGESTS, cutoff.isoformat(),
                            job_id=f"notify-digest-{cutoff.date().isoformat()}")


def notify_tick(now: datetime | None = None) -> dict[str, Any]:
    """Escalate, record the inputs of finished runs, check expected deliveries, enqueue
    waiting work and the daily digest."""
    from portal.services.periodic import record_tick

    now = now or utcnow()
    summary: dict[str, Any] = {}
    parts = (("escalated", lambda: escalate(now)),
             # before "expected": data a run read counts as arrived in the same pass
             ("sightings", lambda: input_sightings.record_run_inputs(now)),
             ("expected", lambda: expected.check_all(now)),
             ("fan_out", lambda: sum(queueing.fan_out_later(u)
                                     for u in delivery.unfanned_events(now - SWEEP_GRACE))),
             ("deliveries", lambda: sum(queueing.deliver_later(i)
                                        for i in delivery.due_deliveries(now))),
             ("digest", lambda: _enqueue_digest(now)))
    for name, part in parts:
        try:
            summary[name] = part()
        except Exception as error:  # noqa: BLE001 — one part failing must not stop the rest
            db.session.rollback()
            log.warning("notification pass: %s failed: %s", name, error)
            summary[name] = f"error: {error}"
    record_tick("notify", now)
    return summary
