"""Files delivered to a programme's data inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import UTCDateTime, new_uuid, utcnow
from portal.models.programmes import MonitoringProgramme
from portal.models.users import User

UPLOAD_KINDS = ("csv", "tsv", "dwca", "frictionless")


class ProgrammeUpload(db.Model):
    """One uploaded file, stored once under ``DATA_ROOT/<code>/inbox/`` and never overwritten."""

    __tablename__ = "programme_uploads"
    __table_args__ = (Index("ix_uploads_programme_time", "programme_id", "uploaded_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("monitoring_programmes.id", ondelete="CASCADE")
    )
    original_name: Mapped[str] = mapped_column(String(255))
    stored_path: Mapped[str] = mapped_column(String(500), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    summary_json: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    uploaded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    programme: Mapped[MonitoringProgramme] = relationship()
    uploaded_by: Mapped[User | None] = relationship()
