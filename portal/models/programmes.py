"""Monitoring programmes and their steward assignments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import UTCDateTime, utcnow
from portal.models.users import Institution, User

STEWARD_ROLES = ("owner", "steward", "operator", "reviewer")
NAMED_CADENCES = ("manual", "daily", "weekly", "monthly", "quarterly", "annual", "ad_hoc")

programme_institutions = Table(
    "programme_institutions",
    db.metadata,
    Column(
        "programme_id",
        ForeignKey("monitoring_programmes.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "institution_id",
        ForeignKey("institutions.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)


class MonitoringProgramme(db.Model):
    """A monitoring programme: cadence, pipeline, rules, stewards, institutions."""

    __tablename__ = "monitoring_programmes"
    __table_args__ = (
        # dispatch_due(): "active, scheduled, next_run_at <= now" in one indexed query.
        Index("ix_programmes_due", "active", "scheduler_enabled", "next_run_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    refresh_cadence: Mapped[str] = mapped_column(String(100), default="manual")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    scheduler_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The slot that fixes a named cadence's phase (day of month, time of day): every
    # slot is computed from it, so Jan 31 → Feb 29 → Mar 31 and never drifts to the 29th.
    schedule_anchor_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pipeline_definition_json: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=lambda: {"steps": []}
    )
    data_quality_rules_json: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=lambda: {"rules": []}
    )
    lineage_notes: Mapped[str] = mapped_column(Text, default="")
    # The licence of the programme's releases: an SPDX id, or a URL and a title
    # (portal.services.licences); empty means "as the input's own metadata declares".
    licence: Mapped[str] = mapped_column(String(300), default="", server_default="")
    # A run lost to infrastructure (worker killed, redeploy) is retried as a new
    # attempt up to this many attempts in all; data failures are never retried.
    max_attempts: Mapped[int] = mapped_column(Integer, default=2)
    # Sign-off gate (portal.services.review): a passing run stages its release as a
    # candidate that a reviewer approves or rejects; the run's own trigger may approve
    # only when review_allows_self_approval is on.
    publish_requires_review: Mapped[bool] = mapped_column(Boolean, default=False,
                                                          server_default=false())
    review_allows_self_approval: Mapped[bool] = mapped_column(Boolean, default=False,
                                                              server_default=false())
    # The list's summary, kept by the state machine (services.runs via
    # services.programme_summary) and by the alert service in the same transaction as
    # the change, so the programme list reads one row per programme: the latest run
    # (highest id, dry runs included) and the number of open or acknowledged alerts.
    latest_run_id: Mapped[int | None] = mapped_column(Integer)
    latest_run_uuid: Mapped[str | None] = mapped_column(String(36))
    latest_run_status: Mapped[str | None] = mapped_column(String(20))
    latest_run_dry_run: Mapped[bool] = mapped_column(Boolean, default=False,
                                                     server_default=false())
    open_alert_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    operating_institutions: Mapped[list[Institution]] = relationship(
        secondary=programme_institutions, order_by="Institution.name"
    )
    stewards: Mapped[list[MonitoringProgrammeSteward]] = relationship(
        back_populates="programme", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<MonitoringProgramme {self.code}>"


class MonitoringProgrammeSteward(db.Model):
    """A user's role on a programme (owner, steward, operator, reviewer)."""

    __tablename__ = "monitoring_programme_stewards"
    __table_args__ = (
        UniqueConstraint("programme_id", "user_id", "role"),
        # Covers "the programmes where this user has an active role" (list scoping,
        # can_create_programme, permitted_programme_ids) without touching the table.
        Index("ix_stewards_user_active_role", "user_id", "is_active", "role", "programme_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("monitoring_programmes.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    programme: Mapped[MonitoringProgramme] = relationship(back_populates="stewards")
    user: Mapped[User] = relationship()


class SharedFolder(db.Model):
    """A folder under DATA_ROOT meant for several programmes (a vocabulary, a site list).

    A pipeline names it as ``shared:<name>/<path>``; it reads only folders an admin
    has granted to its programme (``SharedFolderGrant``).
    """

    __tablename__ = "shared_folders"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # Relative to DATA_ROOT; never a programme's own namespace.
    path: Mapped[str] = mapped_column(String(500), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    grants: Mapped[list[SharedFolderGrant]] = relationship(
        back_populates="folder", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<SharedFolder {self.name}>"


class SharedFolderGrant(db.Model):
    """An admin's grant of one shared folder to one programme (audited)."""

    __tablename__ = "shared_folder_grants"
    __table_args__ = (UniqueConstraint("folder_id", "programme_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    folder_id: Mapped[int] = mapped_column(
        ForeignKey("shared_folders.id", ondelete="CASCADE"), index=True
    )
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("monitoring_programmes.id", ondelete="CASCADE"), index=True
    )
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    folder: Mapped[SharedFolder] = relationship(back_populates="grants")
    programme: Mapped[MonitoringProgramme] = relationship()
