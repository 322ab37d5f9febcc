"""Release candidates awaiting sign-off, and withdrawn releases.

A programme with ``publish_requires_review`` stages each release as a candidate
(``PUBLISH_ROOT/<code>/.candidates/<run uuid>/``) instead of publishing it; a reviewer
approves it (it becomes a version) or rejects it. A published version may later be
withdrawn: its files stay, the withdrawal is recorded here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import UTCDateTime, new_uuid, utcnow
from portal.models.programmes import MonitoringProgramme
from portal.models.runs import MonitoringProgrammeRun
from portal.models.users import User

CANDIDATE_STATUSES = ("pending", "approved", "rejected", "superseded")

_PENDING_SQL = text("status = 'pending'")


class ReleaseCandidate(db.Model):
    """A staged release waiting for (or past) a reviewer's decision."""

    __tablename__ = "release_candidates"
    __table_args__ = (
        # A newer candidate supersedes the pending one: never two pending per programme.
        Index("uq_release_candidates_one_pending", "programme_id", unique=True,
              sqlite_where=_PENDING_SQL, postgresql_where=_PENDING_SQL),
        Index("ix_release_candidates_programme_id_id", "programme_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("monitoring_programmes.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("monitoring_programme_runs.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    # The staging folder's name under PUBLISH_ROOT/<code>/.candidates/.
    folder: Mapped[str] = mapped_column(String(64))
    bump: Mapped[str] = mapped_column(String(10), default="minor")
    # Taken only on approval.
    version: Mapped[str | None] = mapped_column(String(20))
    # Files and the diff summary recorded at staging, shown before the decision.
    summary_json: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)

    programme: Mapped[MonitoringProgramme] = relationship()
    run: Mapped[MonitoringProgrammeRun | None] = relationship()
    decided_by: Mapped[User | None] = relationship()

    def __repr__(self) -> str:
        return f"<ReleaseCandidate {self.uuid} {self.status}>"


class ReleaseWithdrawal(db.Model):
    """A published version an owner withdrew (the files stay; listings mark it)."""

    __tablename__ = "release_withdrawals"
    __table_args__ = (UniqueConstraint("programme_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("monitoring_programmes.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    withdrawn_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    withdrawn_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    withdrawn_by: Mapped[User | None] = relationship()
