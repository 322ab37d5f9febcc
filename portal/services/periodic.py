"""The scheduler's two periodic passes and the record of when each last completed.

The scheduler process (``jobs.scheduler``) calls :func:`dispatch_tick` and
:func:`reconcile_tick` itself on every tick — they do not travel through a queue, so
busy workers cannot delay them and no job record can expire and take the schedule
with it. ``flask ops run-due`` / ``flask ops reconcile`` (cron) call the same
functions. Each completed pass stores its time in Redis under
``programme-ops:tick:<name>``; the health page and ``/metrics`` report the age of the
last tick and call it stale past :data:`STALE_AFTER_INTERVALS` intervals.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from redis.exceptions import RedisError

from portal.services import dispatch

log = logging.getLogger(__name__)

TICKS = ("dispatch", "reconcile")
TICK_KEY = "programme-ops:tick:{}"
STALE_AFTER_INTERVALS = 3


@dataclass
class TickState:
    """When a periodic pass last completed, and whether that is too long ago."""

    name: str
    at: datetime | None
    age_seconds: float | None
    stale: bool


def record_tick(name: str, now: datetime | None = None) -> bool:
    """Store ``now`` as the completion time of pass ``name``; False when Redis is down."""
    at = now or datetime.now(UTC)
    try:
        dispatch.redis_connection().set(TICK_KEY.format(name), at.isoformat(), ex=30 * 86400)
        if name == "dispatch":
            dispatch.record_scheduler_tick(at)
        return True
    except RedisError as error:
        log.warning("could not record the %s tick: %s", name, error)
        return False


def dispatch_tick() -> dict[str, Any]:
    """Start the runs whose cadence fell due, then record the dispatch tick.

    Returns:
        Counts of what the pass did.
    """
    from portal.services.scheduling import dispatch_due

    summary = dispatch_due()
    record_tick("dispatch")
    return {"due": summary.due, "created": len(summary.created),
            "deferred": len(summary.deferred), "raced": summary.raced,
            "dispatch_delayed": summary.dispatch_delayed}


def reconcile_tick() -> dict[str, Any]:
    """Run one reconciler pass, then record the reconcile tick.

    Returns:
        Counts of what the pass repaired, and the Redis error if Redis was down.
    """
    from portal.services.reconcile import reconcile

    summary = reconcile()
    record_tick("reconcile")
    return {"redispatched": len(summary.redispatched), "lost": len(summary.lost),
            "failed_in_rq": len(summary.failed_in_rq), "cancelled": len(summary.cancelled),
            "retried": len(summary.retried), "redis_error": summary.redis_error}


def tick_states(now: datetime | None = None) -> list[TickState] | None:
    """The last completion of each periodic pass; None when Redis cannot be read.

    A pass is stale when it never ran or last completed more than
    ``STALE_AFTER_INTERVALS × SCHEDULER_INTERVAL_SECONDS`` ago.
    """
    now = now or datetime.now(UTC)
    limit = STALE_AFTER_INTERVALS * float(current_app.config["SCHEDULER_INTERVAL_SECONDS"])
    try:
        values = dispatch.redis_connection().mget([TICK_KEY.format(n) for n in TICKS])
    except RedisError as error:
        log.warning("could not read the scheduler ticks: %s", error)
        return None
    states = []
    for name, value in zip(TICKS, values, strict=True):
        at = _parse(value)
        age = max(0.0, (now - at).total_seconds()) if at else None
        states.append(TickState(name=name, at=at, age_seconds=age,
                                stale=age is None or age > limit))
    return states


def _parse(value: Any) -> datetime | None:
    if isinstance(value, bytes):
        value = value.decode()
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
