"""Page queries for the portal: scoped, filtered, paginated and N+1-free.

Every function here issues a fixed number of SQL statements whatever the page size:
the latest run status and open-alert counts of the programme list come from grouped
sub-queries joined once, related rows from ``joinedload`` / ``selectinload``.
Scoping always goes through ``portal.access`` (lists) and ``portal.access_audit``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import aliased, contains_eager, joinedload, selectinload

from portal.access import visible_programme_ids, visible_programmes
from portal.extensions import db
from portal.models import (
    AuditEvent,
    MonitoringProgramme,
    MonitoringProgrammeAlert,
    MonitoringProgrammeRun,
    MonitoringProgrammeSteward,
)
from portal.services.filters import DateRangeFilters, Page

UNRESOLVED = ("open", "acknowledged")
NO_RUNS = "never"


@dataclass
class ProgrammeRow:
    """One row of the programme list."""

    programme: MonitoringProgramme
    latest_status: str | None
    latest_run_uuid: str | None
    latest_dry_run: bool
    open_alerts: int


@dataclass
class ProgrammeFilters:
    """The programme list's filters, parsed from the query string."""

    q: str = ""
    cadence: str = ""
    scheduler: str = ""  # "on" / "off" / ""
    status: str = ""  # a run status, "never" or ""
    alerts: str = ""  # "yes" / "no" / ""

    @classmethod
    def from_args(cls, args: Any) -> ProgrammeFilters:
        """Build the filters from ``request.args`` (unknown values are ignored)."""
        return cls(**{name: (args.get(name) or "").strip()[:100] for name in
                      ("q", "cadence", "scheduler", "status", "alerts")})

    def as_args(self) -> dict[str, str]:
        """The non-empty filters, for building links (pagination keeps them)."""
        return {k: v for k, v in self.__dict__.items() if v}


def page_number(value: Any) -> int:
    """A 1-based page number from user input (anything odd becomes 1)."""
    try:
        return max(1, min(int(value), 100_000))
    except (TypeError, ValueError):
        return 1


def _count(query: Select) -> int:
    return db.session.scalar(
        select(func.count()).select_from(query.order_by(None).subquery())
    ) or 0


def _with_latest(base: Select, programme_ids: Any, filters: ProgrammeFilters) -> Select:
    """Add the latest run (status, uuid, dry run) and the unresolved-alert count per
    programme, from grouped sub-queries (limited to ``programme_ids`` when given), and
    apply the status and alert filters."""
    Run, Alert = MonitoringProgrammeRun, MonitoringProgrammeAlert
    latest_ids = select(Run.programme_id, func.max(Run.id).label("run_id"))
    open_counts = (select(Alert.programme_id, func.count().label("n"))
                   .where(Alert.state.in_(UNRESOLVED)))
    if programme_ids is not None:
        latest_ids = latest_ids.where(Run.programme_id.in_(programme_ids))
        open_counts = open_counts.where(Alert.programme_id.in_(programme_ids))
    latest_ids = latest_ids.group_by(Run.programme_id).subquery("latest_ids")
    open_counts = open_counts.group_by(Alert.programme_id).subquery("open_counts")
    latest = aliased(Run, name="latest_run")
    query = (base.add_columns(latest.status, latest.uuid, latest.dry_run,
                              func.coalesce(open_counts.c.n, 0))
             .outerjoin(latest_ids, latest_ids.c.programme_id == MonitoringProgramme.id)
             .outerjoin(latest, latest.id == latest_ids.c.run_id)
             .outerjoin(open_counts, open_counts.c.programme_id == MonitoringProgramme.id))
    if filters.status == NO_RUNS:
        query = query.where(latest.id.is_(None))
    elif filters.status:
        query = query.where(latest.status == filters.status)
    if filters.alerts == "yes":
        query = query.where(open_counts.c.n > 0)
    elif filters.alerts == "no":
        query = query.where(open_counts.c.n.is_(None))
    return query


def list_programmes(user: Any, filters: ProgrammeFilters, *, page: int = 1,
                    per_page: int = 25) -> Page:
    """Return one page of :class:`ProgrammeRow` for the programmes ``user`` may see.

    Args:
        user: the acting user (scoping via ``access.visible_programmes``).
        filters: search text and filters.
        page / per_page: pagination.

    Returns:
        A ``Page`` of ``ProgrammeRow``; three statements plus one for institutions.
    """
    base = visible_programmes(user).where(MonitoringProgramme.active.is_(True))
    if filters.q:
        like = f"%{filters.q.lower()}%"
        base = base.where(or_(func.lower(MonitoringProgramme.code).like(like),
                              func.lower(MonitoringProgramme.title).like(like)))
    if filters.cadence == "cron":
        base = base.where(MonitoringProgramme.refresh_cadence.not_in(
            ["manual", "daily", "weekly", "monthly", "quarterly", "annual", "ad_hoc"]))
    elif filters.cadence:
        base = base.where(MonitoringProgramme.refresh_cadence == filters.cadence)
    if filters.scheduler in ("on", "off"):
        base = base.where(MonitoringProgramme.scheduler_enabled.is_(filters.scheduler == "on"))

    by_status = bool(filters.status or filters.alerts)
    if by_status:
        # Filtering on the latest status / open alerts: join the grouped sub-queries and
        # filter and page on them (the count needs them too).
        query = _with_latest(base, None, filters)
        total = _count(query)
    else:
        # Otherwise page the programmes first, and group only the page's runs and alerts
        # (same statement count; the grouping no longer scans every run).
        total = _count(base)
        page_ids = (base.with_only_columns(MonitoringProgramme.id)
                    .order_by(MonitoringProgramme.code)
                    .offset((page - 1) * per_page).limit(per_page))
        query = _with_latest(base.where(MonitoringProgramme.id.in_(page_ids)), page_ids,
                             filters)
    rows = db.session.execute(
        query.options(selectinload(MonitoringProgramme.operating_institutions))
        .order_by(MonitoringProgramme.code)
        .offset((page - 1) * per_page if by_status else 0).limit(per_page)
    ).all()
    items = [ProgrammeRow(p, status, uuid, bool(dry), int(n or 0))
             for p, status, uuid, dry, n in rows]
    return Page(items, page, per_page, total)


def programme_detail(programme: MonitoringProgramme, *, recent: int = 10) -> dict[str, Any]:
    """Return what the programme page shows besides the programme itself.

    Returns:
        ``runs`` (recent, with requesters), ``alerts`` (unresolved), ``stewards``
        (with users) and ``active_run`` (the queued or running run, if any).
    """
    runs = db.session.scalars(
        select(MonitoringProgrammeRun)
        .where(MonitoringProgrammeRun.programme_id == programme.id)
        .options(joinedload(MonitoringProgrammeRun.requested_by))
        .order_by(MonitoringProgrammeRun.id.desc()).limit(recent)
    ).all()
    alerts = db.session.scalars(
        select(MonitoringProgrammeAlert)
        .where(MonitoringProgrammeAlert.programme_id == programme.id,
               MonitoringProgrammeAlert.state.in_(UNRESOLVED))
        .order_by(MonitoringProgrammeAlert.last_seen_at.desc())
    ).all()
    stewards = db.session.scalars(
        select(MonitoringProgrammeSteward)
        .where(MonitoringProgrammeSteward.programme_id == programme.id)
        .options(joinedload(MonitoringProgrammeSteward.user))
        .order_by(MonitoringProgrammeSteward.is_active.desc(), MonitoringProgrammeSteward.role,
                  MonitoringProgrammeSteward.id)
    ).all()
    active = next((run for run in runs if run.is_active), None)
    return {"runs": runs, "alerts": alerts, "stewards": stewards, "active_run": active}


@dataclass
class RunFilters(DateRangeFilters):
    """The runs list's filters."""

    status: str = ""
    trigger: str = ""
    dry_run: str = ""  # "yes" / "no" / ""

    @classmethod
    def from_args(cls, args: Any) -> RunFilters:
        """Parse ``request.args``; a bad date is reported in ``errors`` and ignored."""
        filters = cls(status=(args.get("status") or "")[:20],
                      trigger=(args.get("trigger") or "")[:20],
                      dry_run=(args.get("dry_run") or "")[:3])
        filters.read_dates(args)
        return filters

    def as_args(self) -> dict[str, str]:
        """The non-empty filters as query-string values."""
        args = {"status": self.status, "trigger": self.trigger, "dry_run": self.dry_run,
                **self.date_args()}
        return {k: v for k, v in args.items() if v}


def _scope_by_programme(query: Select, column: Any, user: Any) -> Select:
    if getattr(user, "is_authenticated", False) and user.is_active and user.is_admin:
        return query
    return query.where(column.in_(visible_programme_ids(user)))


def list_runs(user: Any, filters: RunFilters, *, programme: MonitoringProgramme | None = None,
              page: int = 1, per_page: int = 25) -> Page:
    """Return one page of runs ``user`` may see (of one programme, or of all).

    Two statements: the count and the page (programme and requester joined).
    """
    Run = MonitoringProgrammeRun
    query = select(Run)
    if programme is not None:
        query = query.where(Run.programme_id == programme.id)
    else:
        query = _scope_by_programme(query, Run.programme_id, user)
    if filters.status:
        query = query.where(Run.status == filters.status)
    if filters.trigger:
        query = query.where(Run.trigger == filters.trigger)
    if filters.dry_run in ("yes", "no"):
        query = query.where(Run.dry_run.is_(filters.dry_run == "yes"))
    query = filters.apply_dates(query, Run.queued_at)
    total = _count(query)
    items = db.session.scalars(
        query.join(Run.programme).options(contains_eager(Run.programme),
                                          joinedload(Run.requested_by))
        .order_by(Run.queued_at.desc(), Run.id.desc())
        .offset((page - 1) * per_page).limit(per_page)
    ).all()
    return Page(list(items), page, per_page, total)


def load_run(run_uuid: str) -> MonitoringProgrammeRun | None:
    """Return the run with its programme, requester and steps (two statements)."""
    Run = MonitoringProgrammeRun
    return db.session.scalar(
        select(Run).where(Run.uuid == run_uuid)
        .options(joinedload(Run.programme), joinedload(Run.requested_by),
                 selectinload(Run.steps))
    )


def load_alert(alert_uuid: str) -> MonitoringProgrammeAlert | None:
    """Return the alert with its programme and the people who triaged it."""
    Alert = MonitoringProgrammeAlert
    return db.session.scalar(
        select(Alert).where(Alert.uuid == alert_uuid)
        .options(joinedload(Alert.programme), joinedload(Alert.acknowledged_by),
                 joinedload(Alert.resolved_by))
    )


@dataclass
class AlertFilters:
    """The alert inbox's filters; ``state`` defaults to the unresolved ones."""

    state: str = "unresolved"
    severity: str = ""
    programme: str = ""

    @classmethod
    def from_args(cls, args: Any) -> AlertFilters:
        """Parse ``request.args``."""
        return cls(state=(args.get("state") or "unresolved")[:20],
                   severity=(args.get("severity") or "")[:20],
                   programme=(args.get("programme") or "")[:40])

    def as_args(self) -> dict[str, str]:
        """The filters as query-string values."""
        return {k: v for k, v in self.__dict__.items() if v}


def list_alerts(user: Any, filters: AlertFilters, *, page: int = 1, per_page: int = 25) -> Page:
    """Return one page of alerts ``user`` may see (count + page + one history query)."""
    Alert = MonitoringProgrammeAlert
    query = _scope_by_programme(select(Alert), Alert.programme_id, user)
    if filters.state == "unresolved":
        query = query.where(Alert.state.in_(UNRESOLVED))
    elif filters.state != "all":
        query = query.where(Alert.state == filters.state)
    if filters.severity:
        query = query.where(Alert.severity == filters.severity)
    if filters.programme:
        query = query.where(Alert.programme.has(MonitoringProgramme.code == filters.programme))
    total = _count(query)
    items = db.session.scalars(
        query.join(Alert.programme)
        .options(contains_eager(Alert.programme), joinedload(Alert.acknowledged_by),
                 joinedload(Alert.resolved_by))
        .order_by(Alert.last_seen_at.desc(), Alert.id.desc())
        .offset((page - 1) * per_page).limit(per_page)
    ).all()
    return Page(list(items), page, per_page, total)


def alert_histories(alerts: list[MonitoringProgrammeAlert]) -> dict[str, list[AuditEvent]]:
    """Return each alert's audit events (opened, recurred, acknowledged, resolved…), oldest
    first, keyed by alert uuid — one statement for the whole page."""
    if not alerts:
        return {}
    events = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.object_type == "alert",
               AuditEvent.object_id.in_([a.uuid for a in alerts]))
        .order_by(AuditEvent.created_at, AuditEvent.id)
    ).all()
    history: dict[str, list[AuditEvent]] = defaultdict(list)
    for event in events:
        history[event.object_id].append(event)
    return dict(history)


def programme_choices(user: Any) -> list[tuple[str, str]]:
    """``(code, title)`` of the programmes ``user`` may see, for filter menus."""
    rows = db.session.execute(
        visible_programmes(user).with_only_columns(MonitoringProgramme.code,
                                                   MonitoringProgramme.title)
        .order_by(MonitoringProgramme.code)
    ).all()
    return [(code, title) for code, title in rows]
