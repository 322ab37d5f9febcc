"""Notifications: who hears about what, the outbox of events, deliveries, webhooks and
the deliveries of data a programme expects (see docs/notifications.md).

An event is written to ``notification_events`` (the outbox) in the same transaction as
the change that caused it; a worker fans it out to ``notification_deliveries`` (one row
per recipient and channel) and sends them. The rows are the delivery log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import UTCDateTime, new_uuid, utcnow
from portal.models.programmes import MonitoringProgramme
from portal.models.users import User

#: Every event a user or a webhook may subscribe to, with a plain title.
EVENT_TYPES: dict[str, str] = {
    "run.failed": "A run failed",
    "run.blocked": "A run was blocked by a data-quality gate",
    "run.lost": "A run was lost to infrastructure (after its retries)",
    "alert.opened": "An alert opened",
    "alert.escalated": "An alert is still unacknowledged",
    "data.late": "Expected data is late",
    "data.arrived": "Late data arrived",
    "release.published": "A release was published",
}
DELIVERY_MODES = ("immediate", "digest")
CHANNELS = ("email", "webhook")
#: pending → sent | failed (will retry) → dead (gave up); digest rows wait for the digest;
#: skipped: the recipient lost access (or the event was superseded) before sending.
DELIVERY_STATES = ("pending", "digest", "sent", "failed", "dead", "skipped")
EXPECTED_CADENCES = ("daily", "weekly", "monthly")


class NotificationSubscription(db.Model):
    """What a user hears about one programme (``programme_id``) or all (NULL)."""

    __tablename__ = "notification_subscriptions"
    __table_args__ = (UniqueConstraint("user_id", "programme_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    programme_id: Mapped[int | None] = mapped_column(
        ForeignKey("monitoring_programmes.id", ondelete="CASCADE"), index=True)
    events_json: Mapped[list[str]] = mapped_column(JSON, default=list)
    mode: Mapped[str] = mapped_column(String(20), default="immediate")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class NotificationEvent(db.Model):
    """One event in the outbox, written in the transaction that caused it."""

    __tablename__ = "notification_events"
    __table_args__ = (Index("ix_notification_events_fanned", "fanned_out_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    event_type: Mapped[str] = mapped_column(String(40))
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("monitoring_programmes.id", ondelete="CASCADE"), index=True)
    # Makes an event happen once (e.g. one escalation per alert); NULL for most events.
    dedup_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    payload_json: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    fanned_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    programme: Mapped[MonitoringProgramme] = relationship()


class ProgrammeWebhook(db.Model):
    """A URL that receives a programme's events as signed JSON POSTs."""

    __tablename__ = "programme_webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("monitoring_programmes.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    # The HMAC key: the worker needs it in clear to sign; the portal shows it only once.
    secret: Mapped[str] = mapped_column(String(100))
    events_json: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    programme: Mapped[MonitoringProgramme] = relationship()


class NotificationDelivery(db.Model):
    """One event for one recipient over one channel: the delivery log."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (Index("ix_notification_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("notification_events.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                                index=True)
    webhook_id: Mapped[int | None] = mapped_column(
        ForeignKey("programme_webhooks.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    response_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    event: Mapped[NotificationEvent] = relationship()
    user: Mapped[User | None] = relationship()
    webhook: Mapped[ProgrammeWebhook | None] = relationship()


class ExpectedDelivery(db.Model):
    """When new data is due in a programme's inbox: a cadence, a due day and a grace."""

    __tablename__ = "expected_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("monitoring_programmes.id", ondelete="CASCADE"), unique=True)
    cadence: Mapped[str] = mapped_column(String(20), default="monthly")
    # monthly: day of month (1-28); weekly: ISO weekday (1 = Monday); daily: unused.
    due_day: Mapped[int] = mapped_column(Integer, default=1)
    grace_days: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The deadline whose lateness is being tracked (the data-late alert's subject).
    late_deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    programme: Mapped[MonitoringProgramme] = relationship()
