"""Runs and their steps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import UTCDateTime, new_uuid, utcnow
from portal.models.programmes import MonitoringProgramme
from portal.models.users import User

RUN_TYPES = ("full", "ingest", "validate", "compute", "publish")
RUN_TRIGGERS = ("manual", "scheduled", "integration")
RUN_STATUSES = ("queued", "running", "succeeded", "awaiting_review", "blocked", "failed",
                "cancelled")
ACTIVE_STATUSES = ("queued", "running")
# awaiting_review: the run passed and staged a release candidate for sign-off
# (portal.services.review); final for the run, so it never holds the active-run index.
FINAL_STATUSES = ("succeeded", "awaiting_review", "blocked", "failed", "cancelled")
STEP_STATUSES = ("pending", "running", "succeeded", "blocked", "failed", "skipped", "cancelled")

_ACTIVE_SQL = text("status IN ('queued', 'running')")


class MonitoringProgrammeRun(db.Model):
    """One execution of a programme's pipeline (or part of it)."""

    __tablename__ = "monitoring_programme_runs"
    __table_args__ = (
        # Invariant 3: at most one queued-or-running run per programme.
        Index(
            "uq_runs_one_active_per_programme",
            "programme_id",
            unique=True,
            sqlite_where=_ACTIVE_SQL,
            postgresql_where=_ACTIVE_SQL,
        ),
        # Invariant 4: a scheduled slot runs once.
        UniqueConstraint("programme_id", "scheduled_for", name="uq_runs_programme_slot"),
        Index("ix_runs_programme_queued", "programme_id", "queued_at"),
        Index("ix_runs_status_heartbeat", "status", "heartbeat_at"),
        Index("ix_runs_queued_at", "queued_at"),
        # A programme's latest runs (summary refresh, programme page) by an index range.
        Index("ix_runs_programme_id_id", "programme_id", "id"),
        # The runs list sorted by status or trigger, keyset on (value, id): migration 0010.
        Index("ix_runs_status_id", "status", "id"),
        Index("ix_runs_trigger_id", "trigger", "id"),
        # Finished runs in the order they finished (the input-sightings scan): 0011.
        Index("ix_runs_finished_at_id", "finished_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("monitoring_programmes.id", ondelete="CASCADE")
    )
    run_type: Mapped[str] = mapped_column(String(20), default="full")
    trigger: Mapped[str] = mapped_column(String(20), default="manual")
    status: Mapped[str] = mapped_column(String(20), default="queued")
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    requested_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    skipped_slots: Mapped[int] = mapped_column(Integer, default=0)
    queue_name: Mapped[str | None] = mapped_column(String(40))
    queue_job_id: Mapped[str | None] = mapped_column(String(100), index=True)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    worker_name: Mapped[str | None] = mapped_column(String(200))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    input_summary_json: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    output_summary_json: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    lineage_json: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error_message: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64))
    # Automatic retries after an infrastructure loss: attempt 2 points at attempt 1.
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    retry_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("monitoring_programme_runs.id", ondelete="SET NULL"), index=True
    )

    programme: Mapped[MonitoringProgramme] = relationship()
    requested_by: Mapped[User | None] = relationship()
    steps: Mapped[list[MonitoringProgrammeRunStep]] = relationship(
        back_populates="run",
        order_by="MonitoringProgrammeRunStep.ordering",
        cascade="all, delete-orphan",
    )

    @property
    def is_active(self) -> bool:
        """Whether the run is queued or running."""
        return self.status in ACTIVE_STATUSES

    def __repr__(self) -> str:
        return f"<Run {self.uuid} {self.status}>"


class MonitoringProgrammeRunStep(db.Model):
    """One step of a run, as executed."""

    __tablename__ = "monitoring_programme_run_steps"
    __table_args__ = (
        UniqueConstraint("run_id", "ordering"),
        UniqueConstraint("run_id", "step_key"),
        Index("ix_run_steps_type", "step_type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("monitoring_programme_runs.id", ondelete="CASCADE")
    )
    ordering: Mapped[int] = mapped_column(Integer)
    step_key: Mapped[str] = mapped_column(String(64))
    step_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    rows_in: Mapped[int | None] = mapped_column(Integer)
    rows_out: Mapped[int | None] = mapped_column(Integer)
    rows_rejected: Mapped[int | None] = mapped_column(Integer)
    details_json: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    log_excerpt: Mapped[str | None] = mapped_column(Text)

    run: Mapped[MonitoringProgrammeRun] = relationship(back_populates="steps")


