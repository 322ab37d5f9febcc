"""Notification jobs run by RQ workers: fan-out, one delivery, the daily digest.

They take ids (an event uuid, a delivery id), never objects, and never raise for a
delivery problem: the outcome is written on the delivery row (the delivery log).
"""

from __future__ import annotations

from datetime import datetime

from jobs.tasks import get_app


def fan_out(event_uuid: str) -> dict:
    """Create the deliveries of outbox event ``event_uuid`` and enqueue the immediate ones."""
    from portal.services.notifications import delivery, queueing

    with get_app().app_context():
        result = delivery.fan_out(event_uuid)
        for delivery_id in result.deliveries:
            queueing.deliver_later(delivery_id)
        return {"deliveries": len(result.deliveries), "skipped": result.skipped}


def deliver(delivery_id: int) -> str:
    """Send delivery ``delivery_id`` if it is due; return its status."""
    from portal.services.notifications import delivery

    with get_app().app_context():
        return delivery.deliver(delivery_id)


def send_digests(cutoff_iso: str) -> dict:
    """Send the daily digests of events recorded before ``cutoff_iso``."""
    from portal.services.notifications import delivery

    with get_app().app_context():
        return delivery.send_digests(datetime.fromisoformat(cutoff_iso))
