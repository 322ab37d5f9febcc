"""Data-quality alerts and their lifecycle (open → acknowledged → resolved)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import UTCDateTime, new_uuid, utcnow
from portal.models.programmes import MonitoringProgramme
from portal.models.users import User

SEVERITIES = ("info", "warning", "error", "critical")
ALERT_STATES = ("open", "acknowledged", "resolved")


class MonitoringProgrammeAlert(db.Model):
    """One data-quality problem on a programme, counted over the runs that saw it."""

    __tablename__ = "monitoring_programme_alerts"
    __table_args__ = (
        Index("ix_alerts_programme_rule_state", "programme_id", "rule_id", "state"),
        Index("ix_alerts_state_last_seen", "state", "last_seen_at"),
        # The inbox's order (newest first, id breaks ties) for keyset pages.
        Index("ix_alerts_last_seen_id", "last_seen_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("monitoring_programmes.id", ondelete="CASCADE")
    )
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("monitoring_programme_runs.id", ondelete="SET NULL"), index=True
    )
    rule_id: Mapped[str] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20), default="open")
    message: Mapped[str] = mapped_column(Text)
    details_json: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    occurrence_count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_note: Mapped[str | None] = mapped_column(Text)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_note: Mapped[str | None] = mapped_column(Text)

    programme: Mapped[MonitoringProgramme] = relationship()
    acknowledged_by: Mapped[User | None] = relationship(foreign_keys=[acknowledged_by_id])
    resolved_by: Mapped[User | None] = relationship(foreign_keys=[resolved_by_id])
