"""Sightings: the first time a programme saw some bytes, whatever brought them.

Expected-delivery tracking (``portal.services.notifications.expected``) calls data
"new" when its sha256 was never seen by the programme before. Bytes reach a programme
in several ways, and each leaves a sighting:

- an upload through the portal (``portal.services.uploads.store_upload``), seen when
  it was stored;
- every input a finished run read, as its lineage records it (``inputs``: a file
  dropped into ``DATA_ROOT/<CODE>/inbox/`` by a sync job, an HTTP source, a shared
  folder), seen when that run started. The scheduler's notification pass reads the
  runs that finished since its last pass (:func:`record_run_inputs`); dry runs count,
  since the data arrived all the same.

``(programme_id, sha256)`` is unique and every write is an insert that, on conflict,
only moves ``first_seen_at`` earlier; so two racing passes, a pass that re-reads a run,
or the same bytes arriving again change nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from portal.dbutil import begin_write
from portal.extensions import db
from portal.models import MonitoringProgrammeRun, ProgrammeInputSighting, ScanCursor, utcnow
from portal.redact import mask_url
from portal.services.source_paths import SHARED_PREFIX

log = logging.getLogger(__name__)

CURSOR = "input-sightings"
#: Runs finished more recently than this are left to the next pass, so a run whose
#: finishing transaction commits a moment after its ``finished_at`` is not skipped.
SETTLE = timedelta(seconds=30)
BATCH = 200
MAX_BATCHES = 10
URI_LENGTH = 500
#: Rows per INSERT statement (7 parameters each).
CHUNK = 500


def source_of(uri: str) -> str:
    """The kind of source a lineage URI names: inbox, http, shared or other."""
    lowered = uri.lower()
    if lowered.startswith(("http://", "https://")):
        return "http"
    if uri.startswith(SHARED_PREFIX):
        return "shared"
    if uri.startswith("inbox/"):
        return "inbox"
    return "other"


def clean_uri(uri: Any) -> str | None:
    """The URI as kept on a sighting: any password masked, at most URI_LENGTH characters."""
    if uri is None:
        return None
    return mask_url(uri)[:URI_LENGTH]


def _insert(table: Any) -> Any:
    """A Core INSERT into ``table`` that can say ON CONFLICT (PostgreSQL and SQLite)."""
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def record(rows: Iterable[dict[str, Any]]) -> int:
    """Add sightings to the current transaction (the caller commits); return how many
    rows were inserted or moved earlier.

    Args:
        rows: dicts with ``programme_id``, ``sha256``, ``source``, ``uri``,
            ``first_seen_at`` and optionally ``run_id``. A sha256 the programme already
            has keeps its row, unless this sighting is earlier.
    """
    earliest: dict[tuple[int, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["programme_id"], row["sha256"])
        if key not in earliest or row["first_seen_at"] < earliest[key]["first_seen_at"]:
            earliest[key] = {"run_id": None, **row, "uri": clean_uri(row.get("uri"))}
    table, values, written = ProgrammeInputSighting.__table__, list(earliest.values()), 0
    for start in range(0, len(values), CHUNK):  # bound the parameters of one statement
        statement = _insert(table).values(values[start:start + CHUNK])
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.programme_id, table.c.sha256],
            set_={name: statement.excluded[name]
                  for name in ("source", "uri", "first_seen_at", "run_id")},
            where=table.c.first_seen_at > statement.excluded.first_seen_at)
        # RETURNING, not rowcount: drivers disagree on rowcount for an upsert
        written += len(db.session.execute(statement.returning(table.c.id)).all())
    return written


def run_sightings(run_id: int, programme_id: int, seen_at: datetime,
                  lineage: Any) -> list[dict[str, Any]]:
    """The sightings a run's lineage record stands for (its inputs with a sha256)."""
    inputs = lineage.get("inputs") if isinstance(lineage, dict) else None
    rows = []
    for entry in inputs if isinstance(inputs, list) else []:
        sha256 = entry.get("sha256") if isinstance(entry, dict) else None
        if not isinstance(sha256, str) or len(sha256) != 64:
            continue
        uri = str(entry.get("uri") or "")
        rows.append({"programme_id": programme_id, "sha256": sha256.lower(),
                     "source": source_of(uri), "uri": uri or None,
                     "first_seen_at": seen_at, "run_id": run_id})
    return rows


def _cursor() -> ScanCursor:
    """The scan position, created on first use and locked for this transaction."""
    db.session.execute(_insert(ScanCursor.__table__)
                       .values(name=CURSOR, position_at=None, position_id=0, updated_at=utcnow())
                       .on_conflict_do_nothing())
    return db.session.scalars(select(ScanCursor).where(ScanCursor.name == CURSOR)
                              .with_for_update().execution_options(populate_existing=True)
                              ).one()


def record_run_inputs(now: datetime | None = None, *, batch: int = BATCH,
                      max_batches: int = MAX_BATCHES) -> int:
    """Record the inputs of runs finished since the last pass; return the rows written.

    Reads finished runs in ``(finished_at, id)`` order after the stored cursor, at most
    ``batch × max_batches`` of them (one transaction per batch, the cursor row locked),
    and leaves runs finished within ``SETTLE`` of ``now`` to the next pass. A run's
    inputs are seen when it started.
    """
    now = now or utcnow()
    run = MonitoringProgrammeRun
    written = 0
    for _ in range(max_batches):
        begin_write()
        cursor = _cursor()
        query = (select(run.id, run.programme_id, run.started_at, run.finished_at,
                        run.lineage_json)
                 .where(run.finished_at.is_not(None), run.finished_at <= now - SETTLE)
                 .order_by(run.finished_at, run.id).limit(batch))
        if cursor.position_at is not None:
            query = query.where(or_(run.finished_at > cursor.position_at,
                                    and_(run.finished_at == cursor.position_at,
                                         run.id > cursor.position_id)))
        found = db.session.execute(query).all()
        rows = [sighting for run_id, programme_id, started, finished, lineage in found
                for sighting in run_sightings(run_id, programme_id, started or finished,
                                              lineage)]
        written += record(rows)
        if found:
            cursor.position_at, cursor.position_id = found[-1].finished_at, found[-1].id
        db.session.commit()
        if len(found) < batch:
            break
    return written
