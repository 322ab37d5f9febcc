"""Fan-out and sending, run by workers (``jobs.notify``); never in a web request.

* :func:`fan_out` turns an outbox event into delivery rows: one e-mail per recipient
  (``pending``, or ``digest`` for digest subscribers) and one per matching webhook.
* :func:`deliver` sends one row. A row is claimed by a compare-and-set that also
  leases it (``next_attempt_at`` moves forward), so two workers never send it twice
  and a worker killed mid-send only delays it. A failure is recorded with the reason
  (and the HTTP status for webhooks) and retried after
  ``NOTIFY_RETRY_BASE_SECONDS · 2^(attempts-1)``; after ``NOTIFY_MAX_ATTEMPTS`` the row
  is ``dead`` and shows on the health page. Nothing here can fail a run.
* :func:`send_digests` sends each digest subscriber one e-mail with the day's events.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select, update

from portal.access import visible_to
from portal.extensions import db
from portal.models import MonitoringProgrammeRun, User, utcnow
from portal.models.notifications import (
    NotificationDelivery,
    NotificationEvent,
    ProgrammeWebhook,
)
from portal.services.notifications import email, webhooks
from portal.services.notifications.recipients import can_see, recipients

log = logging.getLogger(__name__)

LEASE_SECONDS = 300
SENDABLE = ("pending", "failed")


@dataclass
class FanOut:
    """What :func:`fan_out` created."""

    deliveries: list[int] = field(default_factory=list)
    skipped: str | None = None


def document(event: NotificationEvent, config: Mapping[str, Any]) -> dict[str, Any]:
    """The event's JSON document (webhook body): paths become absolute ``url``s."""
    doc: dict[str, Any] = {"id": event.uuid, "type": event.event_type,
                           "created_at": event.created_at.isoformat()}
    for key, value in (event.payload_json or {}).items():
        if isinstance(value, dict):
            value = {("url" if k == "path" else k): (email.absolute(config, v) if k == "path"
                                                      else v) for k, v in value.items()}
        doc[key] = value
    return doc


def _superseded(event: NotificationEvent) -> bool:
    """A lost run that was retried: its loss is not news (the retry may succeed)."""
    if event.event_type != "run.lost":
        return False
    run_uuid = (event.payload_json or {}).get("run", {}).get("uuid")
    run = db.session.scalar(select(MonitoringProgrammeRun)
                            .where(MonitoringProgrammeRun.uuid == run_uuid))
    return run is not None and db.session.scalar(
        select(MonitoringProgrammeRun.id).where(MonitoringProgrammeRun.retry_of_id == run.id)
    ) is not None


def fan_out(event_uuid: str, now: datetime | None = None) -> FanOut:
    """Create the delivery rows of an outbox event, once (a second call does nothing)."""
    now = now or utcnow()
    event = db.session.scalar(select(NotificationEvent)
                              .where(NotificationEvent.uuid == event_uuid))
    if event is None:
        return FanOut(skipped="no such event")
    claimed = db.session.execute(
        update(NotificationEvent).where(NotificationEvent.id == event.id,
                                        NotificationEvent.fanned_out_at.is_(None))
        .values(fanned_out_at=now).execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        db.session.rollback()
        return FanOut(skipped="already fanned out")
    if _superseded(event):
        db.session.commit()
        return FanOut(skipped="superseded by a retry")
    rows = []
    if current_app.config.get("SMTP_HOST"):  # e-mail is off until SMTP_HOST is set
        rows = [NotificationDelivery(event_id=event.id, channel="email", user_id=user.id,
                                     status="digest" if mode == "digest" else "pending",
                                     next_attempt_at=now, created_at=now)
                for user, mode in recipients(event.event_type, event.programme_id)]
    for hook in db.session.scalars(select(ProgrammeWebhook).where(
            ProgrammeWebhook.programme_id == event.programme_id,
            ProgrammeWebhook.active.is_(True))):
        if event.event_type in (hook.events_json or ()):
            rows.append(NotificationDelivery(event_id=event.id, channel="webhook",
                                             webhook_id=hook.id, status="pending",
                                             next_attempt_at=now, created_at=now))
    db.session.add_all(rows)
    db.session.commit()
    return FanOut(deliveries=[row.id for row in rows if row.status == "pending"])


def _claim(delivery_id: int, now: datetime) -> NotificationDelivery | None:
    claimed = db.session.execute(
        update(NotificationDelivery)
        .where(NotificationDelivery.id == delivery_id,
               NotificationDelivery.status.in_(SENDABLE),
               or_(NotificationDelivery.next_attempt_at.is_(None),
                   NotificationDelivery.next_attempt_at <= now))
        .values(next_attempt_at=now + timedelta(seconds=LEASE_SECONDS),
                attempts=NotificationDelivery.attempts + 1)
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return db.session.get(NotificationDelivery, delivery_id, populate_existing=True) \
        if claimed == 1 else None


def retry_delay(attempts: int, config: Mapping[str, Any]) -> timedelta:
    """The back-off before attempt ``attempts + 1``: base · 2^(attempts-1)."""
    base = float(config.get("NOTIFY_RETRY_BASE_SECONDS") or 60)
    return timedelta(seconds=base * 2 ** max(0, attempts - 1))


def deliver(delivery_id: int, now: datetime | None = None) -> str:
    """Send one delivery if it is due; return its status afterwards (or ``not due``)."""
    now = now or utcnow()
    config = current_app.config
    row = _claim(delivery_id, now)
    if row is None:
        return "not due"
    event = row.event
    try:
        if row.channel == "email":
            user = row.user
            if user is None or not user.active or not can_see(user, event.programme_id):
                row.status, row.last_error = "skipped", "the recipient can no longer see it"
                db.session.commit()
                return row.status
            email.send(config, email.build(config, user.email,
                                           [(event.event_type, event.payload_json)]))
        else:
            row.response_status = webhooks.post(
                row.webhook, event.event_type, event.uuid, document(event, config),
                config.get("HTTP_ALLOWLIST") or [])
        row.status, row.sent_at, row.last_error = "sent", now, None
    except (email.MailError, webhooks.WebhookError) as error:
        _failed(row, str(error), getattr(error, "status", None), now, config)
    db.session.commit()
    return row.status


def _failed(row: NotificationDelivery, reason: str, status: int | None, now: datetime,
            config: Mapping[str, Any]) -> None:
    row.last_error = reason[:2000]
    row.response_status = status
    if row.attempts >= int(config.get("NOTIFY_MAX_ATTEMPTS") or 8):
        row.status, row.next_attempt_at = "dead", None
        log.warning("notification delivery %s gave up after %s attempts: %s", row.id,
                    row.attempts, reason)
    else:
        row.status, row.next_attempt_at = "failed", now + retry_delay(row.attempts, config)


def due_deliveries(now: datetime, limit: int = 500) -> list[int]:
    """Ids of deliveries waiting to be sent or retried whose time has come."""
    return list(db.session.scalars(
        select(NotificationDelivery.id)
        .where(NotificationDelivery.status.in_(SENDABLE),
               NotificationDelivery.next_attempt_at <= now)
        .order_by(NotificationDelivery.id).limit(limit)))


def unfanned_events(before: datetime, limit: int = 500) -> list[str]:
    """Uuids of outbox events not fanned out and recorded before ``before``."""
    return list(db.session.scalars(
        select(NotificationEvent.uuid)
        .where(NotificationEvent.fanned_out_at.is_(None), NotificationEvent.created_at <= before)
        .order_by(NotificationEvent.id).limit(limit)))


def send_digests(cutoff: datetime, now: datetime | None = None) -> dict[str, int]:
    """Send each digest subscriber one e-mail with their events recorded before ``cutoff``.

    Returns:
        ``{"sent": users mailed, "failed": users whose mail must wait, "items": n}``.
    """
    now = now or utcnow()
    config = current_app.config
    waiting = db.session.execute(
        select(NotificationDelivery.id, NotificationDelivery.user_id)
        .join(NotificationEvent, NotificationEvent.id == NotificationDelivery.event_id)
        .where(NotificationDelivery.status == "digest",
               NotificationEvent.created_at < cutoff)
        .order_by(NotificationEvent.created_at, NotificationDelivery.id)).all()
    per_user: dict[int, list[int]] = defaultdict(list)
    for delivery_id, user_id in waiting:
        per_user[user_id].append(delivery_id)
    counts = {"sent": 0, "failed": 0, "items": 0}
    for user_id, ids in per_user.items():
        user = db.session.get(User, user_id)
        rows = db.session.scalars(select(NotificationDelivery)
                                  .where(NotificationDelivery.id.in_(ids))).all()
        visible = [r for r in rows if user and user.active
                   and can_see(user, r.event.programme_id)]
        for row in rows:
            if row not in visible:
                row.status, row.last_error = "skipped", "the recipient can no longer see it"
        if not visible:
            db.session.commit()
            continue
        items = [(r.event.event_type, r.event.payload_json) for r in visible]
        try:
            email.send(config, email.build(config, user.email, items, digest=True))
        except email.MailError as error:
            for row in visible:
                row.attempts += 1
                row.last_error = str(error)[:2000]
            counts["failed"] += 1
        else:
            for row in visible:
                row.attempts += 1
                row.status, row.sent_at, row.last_error = "sent", now, None
            counts["sent"] += 1
            counts["items"] += len(visible)
        db.session.commit()
    return counts


def undeliverable(user: Any, limit: int = 20) -> dict[str, Any]:
    """For the health page: deliveries that gave up (``dead``) or are being retried
    (``failed``), on the programmes ``user`` can see (the pages' scoping query).

    Returns:
        ``{"dead": n, "failing": n, "rows": [latest NotificationDelivery, ...]}``.
    """
    scoped = (select(NotificationDelivery)
              .join(NotificationEvent, NotificationEvent.id == NotificationDelivery.event_id)
              .where(NotificationDelivery.status.in_(("dead", "failed")),
                     visible_to(NotificationEvent.programme_id, user)))
    counts = dict(db.session.execute(
        scoped.with_only_columns(NotificationDelivery.status, func.count())
        .group_by(NotificationDelivery.status)).all())
    rows = db.session.scalars(scoped.order_by(NotificationDelivery.id.desc())
                              .limit(limit)).all()
    return {"dead": int(counts.get("dead", 0)), "failing": int(counts.get("failed", 0)),
            "rows": rows}


def resend(programme: Any, user: Any, delivery_id: int | None = None,
           request_id: str | None = None) -> int:
    """Give deliveries that gave up (``dead``) a fresh set of attempts, now.

    ``delivery_id`` names one of the programme's deliveries; None takes every dead
    delivery of the programme. The notification pass sends them at its next tick.
    Access (``MANAGE_WEBHOOKS`` on ``programme``) is checked by the caller.

    Returns:
        How many deliveries were queued again (0: nothing had given up).
    """
    from portal.services import audit

    now = utcnow()
    event_ids = select(NotificationEvent.id).where(
        NotificationEvent.programme_id == programme.id)
    query = (update(NotificationDelivery)
             .where(NotificationDelivery.status == "dead",
                    NotificationDelivery.event_id.in_(event_ids))
             .values(status="pending", attempts=0, next_attempt_at=now, last_error=None,
                     response_status=None)
             .execution_options(synchronize_session=False))
    if delivery_id is not None:
        query = query.where(NotificationDelivery.id == delivery_id)
    count = db.session.execute(query).rowcount or 0
    if count:
        audit.record("notification_resent", actor=user, object_type="programme",
                     object_id=programme.code, programme_id=programme.id,
                     request_id=request_id,
                     metadata={"deliveries": count, "delivery_id": delivery_id})
    db.session.commit()
    return count
