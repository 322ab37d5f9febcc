"""Reading the audit trail: filtered, scoped (``access_audit``), paginated or as CSV."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import joinedload

from portal.access_audit import auditable_programme_ids
from portal.extensions import db
from portal.models import AuditEvent, MonitoringProgramme
from portal.services.csv_export import csv_chunks
from portal.services.filters import DateRangeFilters, Page

CSV_COLUMNS = ("time_utc", "actor", "action", "object_type", "object_id", "programme",
               "request_id", "metadata")
CSV_MAX_ROWS = 100_000


#: The audit log's sortable columns; time (then id) breaks ties, newest first.
AUDIT_SORTS: dict[str, Any] = {"when": AuditEvent.created_at, "actor": AuditEvent.actor_label,
                               "action": AuditEvent.action}


def _order(sort: str) -> list[Any]:
    column = AUDIT_SORTS.get(sort.lstrip("-"), AuditEvent.created_at)
    first = column.asc() if sort and not sort.startswith("-") else column.desc()
    return [first, AuditEvent.created_at.desc(), AuditEvent.id.desc()]


@dataclass
class AuditFilters(DateRangeFilters):
    """Filters of the audit log page."""

    programme: str = ""
    actor: str = ""
    action: str = ""
    sort: str = ""  # a key of AUDIT_SORTS, "-" first for descending; "" newest first

    @classmethod
    def from_args(cls, args: Any) -> AuditFilters:
        """Parse ``request.args``; bad dates are reported in ``errors`` and ignored."""
        filters = cls(programme=(args.get("programme") or "").strip()[:40],
                      actor=(args.get("actor") or "").strip()[:254],
                      action=(args.get("action") or "").strip()[:80],
                      sort=(args.get("sort") or "").strip()[:20])
        if filters.sort.lstrip("-") not in AUDIT_SORTS:
            filters.sort = ""
        filters.read_dates(args)
        return filters

    def as_args(self) -> dict[str, str]:
        """The non-empty filters as query-string values."""
        args = {"programme": self.programme, "actor": self.actor, "action": self.action,
                "sort": self.sort, **self.date_args()}
        return {k: v for k, v in args.items() if v}


def _query(user: Any, filters: AuditFilters) -> Select:
    query = select(AuditEvent)
    scope = auditable_programme_ids(user)
    if scope is not None:
        query = query.where(AuditEvent.programme_id.in_(scope))
    if filters.programme:
        query = query.where(AuditEvent.programme_id.in_(
            select(MonitoringProgramme.id).where(MonitoringProgramme.code == filters.programme)))
    if filters.actor:
        query = query.where(func.lower(AuditEvent.actor_label).like(
            f"%{filters.actor.lower()}%"))
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    return filters.apply_dates(query, AuditEvent.created_at)


def list_events(user: Any, filters: AuditFilters, *, page: int = 1, per_page: int = 50) -> Page:
    """Return one page of audit events ``user`` may read, newest first."""
    query = _query(user, filters)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = db.session.scalars(
        query.options(joinedload(AuditEvent.actor))
        .order_by(*_order(filters.sort))
        .offset((page - 1) * per_page).limit(per_page)
    ).all()
    return Page(list(items), page, per_page, total)


def known_actions(user: Any) -> list[str]:
    """The distinct actions in the part of the trail ``user`` may read (for the filter)."""
    query = _query(user, AuditFilters()).with_only_columns(AuditEvent.action).distinct()
    return sorted(db.session.scalars(query))


def programme_codes(ids: set[int]) -> dict[int, str]:
    """Map programme ids to codes (one statement)."""
    if not ids:
        return {}
    rows = db.session.execute(select(MonitoringProgramme.id, MonitoringProgramme.code)
                              .where(MonitoringProgramme.id.in_(ids))).all()
    return dict(rows)


def export_csv(user: Any, filters: AuditFilters) -> Iterator[str]:
    """Yield the filtered trail as CSV text chunks (header first, oldest event first).

    Cells are neutralised for spreadsheets (``csv_export.safe_cell``): actor names and
    metadata are user-supplied.
    """
    query = _query(user, filters).order_by(AuditEvent.created_at, AuditEvent.id)
    codes = dict(db.session.execute(select(MonitoringProgramme.id,
                                            MonitoringProgramme.code)).all())

    def rows() -> Iterator[list[Any]]:
        yield list(CSV_COLUMNS)
        for event in db.session.scalars(query.limit(CSV_MAX_ROWS)):
            yield [
                event.created_at.astimezone(UTC).isoformat(), event.actor_label, event.action,
                event.object_type, event.object_id or "",
                codes.get(event.programme_id, "") if event.programme_id else "",
                event.request_id or "", json.dumps(event.metadata_json or {}, sort_keys=True),
            ]

    return csv_chunks(rows())
