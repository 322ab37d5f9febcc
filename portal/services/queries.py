"""Page queries for the portal: scoped, filtered, paginated and N+1-free.

Every function here issues a fixed number of SQL statements whatever the page size:
the latest run and open-alert count of the programme list are read from the programme
row (``services.programme_summary``), related rows come from ``joinedload`` /
``selectinload``, and the unbounded lists (runs, alerts) are keyset pages with a
bounded count (``services.paging``).
Scoping always goes through ``portal.access`` (lists) and ``portal.access_audit``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, func, or_, select
from sqlalchemy.orm import defer, joinedload, selectinload

from portal.access import visible_programmes, visible_to
from portal.extensions import db
from portal.models import (
    ACTIVE_STATUSES,
    AuditEvent,
    MonitoringProgramme,
    MonitoringProgrammeAlert,
    MonitoringProgrammeRun,
    MonitoringProgrammeSteward,
    User,
)
from portal.services.filters import DateRangeFilters, Page
from portal.services.list_sorts import (
    ALERT_DEFAULT_SORT,
    ALERT_SORTS,
    RUN_DEFAULT_SORT,
    RUN_SORTS,
    join_for,
    known_sort,
    sort_parts,
)
from portal.services.paging import KeysetPage, keyset_page

UNRESOLVED = ("open", "acknowledged")
#: The programme list shows none of the documents: not read (nor parsed from JSON).
LIST_DEFERRED = tuple(defer(column) for column in (
    MonitoringProgramme.pipeline_definition_json, MonitoringProgramme.data_quality_rules_json,
    MonitoringProgramme.lineage_notes, MonitoringProgramme.description))
NO_RUNS = "never"
#: What a run or alert row shows of its programme: the list pages load only these
#: columns, not the pipeline and rules documents (JSON parsed per row otherwise).
PROGRAMME_BRIEF = (MonitoringProgramme.code, MonitoringProgramme.title,
                   MonitoringProgramme.timezone, MonitoringProgramme.active)


@dataclass
class ProgrammeRow:
    """One row of the programme list."""

    programme: MonitoringProgramme
    latest_status: str | None
    latest_run_uuid: str | None
    latest_dry_run: bool
    open_alerts: int


#: The programme list's sortable columns (offset pages, so any column; code breaks ties).
PROGRAMME_SORTS: dict[str, Any] = {
    "code": MonitoringProgramme.code, "title": func.lower(MonitoringProgramme.title),
    "cadence": MonitoringProgramme.refresh_cadence, "next": MonitoringProgramme.next_run_at,
    "last": MonitoringProgramme.last_run_at, "status": MonitoringProgramme.latest_run_status,
    "alerts": MonitoringProgramme.open_alert_count,
}


@dataclass
class ProgrammeFilters:
    """The programme list's filters, parsed from the query string."""

    q: str = ""
    cadence: str = ""
    scheduler: str = ""  # "on" / "off" / ""
    status: str = ""  # a run status, "never" or ""
    alerts: str = ""  # "yes" / "no" / ""
    archived: str = ""  # "yes": archived programmes too
    sort: str = ""  # a key of PROGRAMME_SORTS, "-" first for descending; "" is by code

    @classmethod
    def from_args(cls, args: Any) -> ProgrammeFilters:
        """Build the filters from ``request.args`` (unknown values are ignored)."""
        filters = cls(**{name: (args.get(name) or "").strip()[:100] for name in
                         ("q", "cadence", "scheduler", "status", "alerts", "archived", "sort")})
        if filters.sort.lstrip("-") not in PROGRAMME_SORTS:
            filters.sort = ""
        return filters

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


def _summary_filters(query: Select, filters: ProgrammeFilters) -> Select:
    """Apply the latest-status and open-alert filters to the summary on the row."""
    P = MonitoringProgramme
    if filters.status == NO_RUNS:
        query = query.where(P.latest_run_id.is_(None))
    elif filters.status:
        query = query.where(P.latest_run_status == filters.status)
    if filters.alerts == "yes":
        query = query.where(P.open_alert_count > 0)
    elif filters.alerts == "no":
        query = query.where(P.open_alert_count == 0)
    return query


def _programme_order(sort: str) -> list[Any]:
    column = PROGRAMME_SORTS.get(sort.lstrip("-"), MonitoringProgramme.code)
    ordered = column.desc() if sort.startswith("-") else column.asc()
    if column is MonitoringProgramme.code:  # required and unique: its index is the order
        return [ordered]
    # Empty values (never run, no schedule) last either way, on both databases.
    return [column.is_(None), ordered, MonitoringProgramme.code]


def list_programmes(user: Any, filters: ProgrammeFilters, *, page: int = 1,
                    per_page: int = 25) -> Page:
    """Return one page of :class:`ProgrammeRow` for the programmes ``user`` may see.

    The latest run and the open-alert count are read from the programme row (kept by
    ``services.programme_summary``), so nothing is grouped per request. Programmes are
    few (one row each, ordered by the unique code), so the page is numbered and the
    count exact.

    Args:
        user: the acting user (scoping via ``access.visible_programmes``).
        filters: search text and filters.
        page / per_page: pagination.

    Returns:
        A ``Page`` of ``ProgrammeRow``; the count, the page and its institutions.
    """
    base = visible_programmes(user)
    if filters.archived != "yes":
        base = base.where(MonitoringProgramme.active.is_(True))
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
    base = _summary_filters(base, filters)
    total = _count(base.with_only_columns(MonitoringProgramme.id))
    programmes = db.session.scalars(
        base.options(selectinload(MonitoringProgramme.operating_institutions),
                     *LIST_DEFERRED)
        .order_by(*_programme_order(filters.sort))
        .offset((page - 1) * per_page).limit(per_page)
    ).all()
    items = [ProgrammeRow(p, p.latest_run_status, p.latest_run_uuid,
                          bool(p.latest_run_dry_run), p.open_alert_count or 0)
             for p in programmes]
    return Page(items, page, per_page, total)


#: How many runs the programme page's outcome strip shows.
OUTCOME_STRIP_RUNS = 50


# The programme page's statements, built once with bound parameters: building and keying
# a statement costs a page about as much as running it.
_RECENT_RUNS = (
    select(MonitoringProgrammeRun.id, MonitoringProgrammeRun.uuid, MonitoringProgrammeRun.status,
           MonitoringProgrammeRun.dry_run, MonitoringProgrammeRun.queued_at,
           MonitoringProgrammeRun.run_type, MonitoringProgrammeRun.trigger,
           MonitoringProgrammeRun.duration_seconds, MonitoringProgrammeRun.requested_by_id,
           User.name.label("requester_name"))
    .outerjoin(User, User.id == MonitoringProgrammeRun.requested_by_id)
    .where(MonitoringProgrammeRun.programme_id == bindparam("programme_id"))
    .order_by(MonitoringProgrammeRun.id.desc()).limit(bindparam("limit")))
_UNRESOLVED_ALERTS = (
    select(MonitoringProgrammeAlert)
    .where(MonitoringProgrammeAlert.programme_id == bindparam("programme_id"),
           MonitoringProgrammeAlert.state.in_(UNRESOLVED))
    .order_by(MonitoringProgrammeAlert.last_seen_at.desc()))
_PROGRAMME_STEWARDS = (
    select(MonitoringProgrammeSteward)
    .where(MonitoringProgrammeSteward.programme_id == bindparam("programme_id"))
    .options(joinedload(MonitoringProgrammeSteward.user).load_only(User.name, User.email))
    .order_by(MonitoringProgrammeSteward.is_active.desc(), MonitoringProgrammeSteward.role,
              MonitoringProgrammeSteward.id))


def programme_detail(programme: MonitoringProgramme, *, recent: int = 10,
                     strip: int = OUTCOME_STRIP_RUNS) -> dict[str, Any]:
    """Return what the programme page shows besides the programme itself.

    Returns:
        ``runs`` (the ``recent`` newest, as rows with ``requester_name``), ``strip``
        (the ``strip`` newest, for the outcome strip), ``alerts`` (unresolved),
        ``stewards`` (with users) and ``active_run`` (the queued or running run among
        the recent ones, if any). The runs are one statement of plain rows: the table
        and the strip show a few columns, not the run documents or the requester's row.
    """
    wanted = max(recent, strip)
    ids = {"programme_id": programme.id}
    rows = db.session.execute(_RECENT_RUNS, {**ids, "limit": wanted}).all() if wanted else []
    runs = rows[:recent]
    alerts = db.session.scalars(_UNRESOLVED_ALERTS, ids).all()
    stewards = db.session.scalars(_PROGRAMME_STEWARDS, ids).all()
    active = next((run for run in runs if run.status in ACTIVE_STATUSES), None)
    return {"runs": runs, "strip": rows[:strip], "alerts": alerts, "stewards": stewards,
            "active_run": active}


@dataclass
class RunFilters(DateRangeFilters):
    """The runs list's filters."""

    status: str = ""
    trigger: str = ""
    dry_run: str = ""  # "yes" / "no" / ""
    programme: str = ""  # a programme code (the list across programmes)
    sort: str = ""  # a key of list_sorts.RUN_SORTS, "-" first for descending; "" newest first

    @classmethod
    def from_args(cls, args: Any) -> RunFilters:
        """Parse ``request.args``; a bad date is reported in ``errors`` and ignored."""
        filters = cls(status=(args.get("status") or "")[:20],
                      trigger=(args.get("trigger") or "")[:20],
                      dry_run=(args.get("dry_run") or "")[:3],
                      programme=(args.get("programme") or "").strip()[:40],
                      sort=known_sort(args.get("sort"), RUN_SORTS))
        filters.read_dates(args)
        return filters

    def as_args(self) -> dict[str, str]:
        """The non-empty filters as query-string values."""
        args = {"status": self.status, "trigger": self.trigger, "dry_run": self.dry_run,
                "programme": self.programme, "sort": self.sort, **self.date_args()}
        return {k: v for k, v in args.items() if v}


def _scope_by_programme(query: Select, column: Any, user: Any) -> Select:
    if getattr(user, "is_authenticated", False) and user.is_active and user.is_admin:
        return query
    # ``column + 0`` keeps the planner on the list's ordering index (read newest first,
    # stop after a page, the visible ids hashed once); a bare ``column IN (...)`` lets
    # SQLite fetch every row of every visible programme and sort them all.
    return query.where(visible_to(column + 0, user))


def list_runs(user: Any, filters: RunFilters, *, programme: MonitoringProgramme | None = None,
              after: str | None = None, before: str | None = None,
              per_page: int = 25) -> KeysetPage:
    """Return one keyset page of runs ``user`` may see (of one programme, or of all),
    newest first unless ``filters.sort`` names a column of ``list_sorts.RUN_SORTS``.

    Two statements: the bounded count and the page (programme and requester joined).
    """
    Run = MonitoringProgrammeRun
    query = select(Run)
    if programme is not None:
        query = query.where(Run.programme_id == programme.id)
    else:
        query = _scope_by_programme(query, Run.programme_id, user)
        if filters.programme:  # within the scope above: a hidden code matches nothing
            query = query.where(Run.programme_id == select(MonitoringProgramme.id).where(
                MonitoringProgramme.code == filters.programme).scalar_subquery())
    if filters.status:
        query = query.where(Run.status == filters.status)
    if filters.trigger:
        query = query.where(Run.trigger == filters.trigger)
    if filters.dry_run in ("yes", "no"):
        query = query.where(Run.dry_run.is_(filters.dry_run == "yes"))
    query = filters.apply_dates(query, Run.queued_at)
    # As for alerts: the runs table alone down its (queued_at) index, then the page's
    # programmes and requesters by primary key.
    key, ascending = sort_parts(filters.sort, RUN_SORTS, RUN_DEFAULT_SORT)
    return keyset_page(
        join_for(query, key, Run.programme_id).options(
            joinedload(Run.programme).load_only(*PROGRAMME_BRIEF),
            joinedload(Run.requested_by)),
        key.column, Run.id, after=after, before=before, per_page=per_page,
        ascending=ascending, kind=key.kind, value_of=key.value_of)


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
    sort: str = ""  # a key of list_sorts.ALERT_SORTS, "-" first for descending; "" newest

    @classmethod
    def from_args(cls, args: Any) -> AlertFilters:
        """Parse ``request.args``."""
        return cls(state=(args.get("state") or "unresolved")[:20],
                   severity=(args.get("severity") or "")[:20],
                   programme=(args.get("programme") or "")[:40],
                   sort=known_sort(args.get("sort"), ALERT_SORTS))

    def as_args(self) -> dict[str, str]:
        """The filters as query-string values."""
        return {k: v for k, v in self.__dict__.items() if v}


def list_alerts(user: Any, filters: AlertFilters, *, after: str | None = None,
                before: str | None = None, per_page: int = 25) -> KeysetPage:
    """Return one keyset page of alerts ``user`` may see, most recently seen first unless
    ``filters.sort`` names a column of ``list_sorts.ALERT_SORTS`` (bounded count + page)."""
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
    # The page reads the alerts table alone, down the (last_seen_at, id) index, and stops
    # after a page; the page's programmes and people come by primary key afterwards (a
    # join here lets SQLite start from programmes and sort every unresolved alert).
    key, ascending = sort_parts(filters.sort, ALERT_SORTS, ALERT_DEFAULT_SORT)
    return keyset_page(
        # A row shows no triager (the history names them) and not the alert's details.
        join_for(query, key, Alert.programme_id).options(
            joinedload(Alert.programme).load_only(*PROGRAMME_BRIEF),
            defer(Alert.details_json)),
        key.column, Alert.id, after=after, before=before, per_page=per_page,
        ascending=ascending, kind=key.kind, value_of=key.value_of)


_ALERT_EVENTS = (select(AuditEvent)
                 .where(AuditEvent.object_type == "alert",
                        AuditEvent.object_id.in_(bindparam("uuids", expanding=True)))
                 .order_by(AuditEvent.created_at, AuditEvent.id))


def alert_histories(alerts: list[MonitoringProgrammeAlert]) -> dict[str, list[AuditEvent]]:
    """Return each alert's audit events (opened, recurred, acknowledged, resolved…), oldest
    first, keyed by alert uuid — one statement for the whole page."""
    if not alerts:
        return {}
    events = db.session.scalars(_ALERT_EVENTS, {"uuids": [a.uuid for a in alerts]}).all()
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
