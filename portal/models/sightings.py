"""The first time a programme saw some bytes: the record behind "new data arrived".

A sighting is written when a file is uploaded to the inbox and when the scheduler's
notification pass reads the inputs of finished runs (files dropped into the inbox
folder, HTTP sources, shared folders). ``(programme_id, sha256)`` is unique, so
"new data" is a sha256 the programme never had, from whatever source.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.base import UTCDateTime, utcnow

SIGHTING_SOURCES = ("upload", "inbox", "http", "shared", "other")


class ProgrammeInputSighting(db.Model):
    """When a programme first saw the bytes with this sha256, and where they came from."""

    __tablename__ = "programme_input_sightings"
    __table_args__ = (
        UniqueConstraint("programme_id", "sha256", name="uq_input_sightings_programme_sha"),
        # expected.new_file_times: a programme's new data in a time range.
        Index("ix_input_sightings_programme_seen", "programme_id", "first_seen_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(
        ForeignKey("monitoring_programmes.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(20))
    # The input's URI as lineage records it (password masked, truncated).
    uri: Mapped[str | None] = mapped_column(String(500))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("monitoring_programme_runs.id", ondelete="SET NULL"), index=True)


class ScanCursor(db.Model):
    """How far a periodic pass has read a growing table (keyset: time, then id)."""

    __tablename__ = "scan_cursors"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    position_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    position_id: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
