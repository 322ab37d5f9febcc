"""Enqueue notification jobs by dotted path (``portal`` never imports ``jobs``)."""

from __future__ import annotations

import logging
from typing import Any

from portal.services import dispatch

log = logging.getLogger(__name__)

QUEUE = "default"
FAN_OUT = "jobs.notify.fan_out"
DELIVER = "jobs.notify.deliver"
DIGESTS = "jobs.notify.send_digests"


def enqueue(function: str, *args: Any, job_id: str) -> bool:
    """Enqueue ``function(*args)``; False (logged) when Redis is unreachable.

    The database keeps the work either way: the scheduler's notification pass
    enqueues whatever is still waiting.
    """
    try:
        dispatch.get_queue(QUEUE).enqueue_call(function, args=args, job_id=job_id,
                                               result_ttl=600, failure_ttl=7 * 86400,
                                               timeout=300)
        return True
    except Exception as error:  # noqa: BLE001 — Redis down: the next pass retries
        log.warning("could not enqueue %s%s: %s", function, args, error)
        return False


def fan_out_later(event_uuid: str) -> bool:
    """Enqueue the fan-out of an outbox event."""
    return enqueue(FAN_OUT, event_uuid, job_id=f"notify-event-{event_uuid}")


def deliver_later(delivery_id: int) -> bool:
    """Enqueue one delivery attempt."""
    return enqueue(DELIVER, delivery_id, job_id=f"notify-delivery-{delivery_id}")
