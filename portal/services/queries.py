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
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, or_, select
from sqlalchemy.orm import aliased, joinedload, selectinload

from portal.access import (
    SEES_ALL,
    one_with_roles,
    viewer_params,
    viewer_scope,
    visible_programmes,
    visible_where,
)
from portal.extensions import db
from portal.models import (
    ACTIVE_STATUSES,
    AuditEvent,
    Institution,
    MonitoringProgramme,
    MonitoringProgrammeAlert,
    MonitoringProgrammeRun,
    MonitoringProgrammeSteward,
    ReleaseCandidate,
    User,
    programme_institutions,
)
from portal.models.notifications import ExpectedDelivery
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
NO_RUNS = "never"
#: What a run or alert row shows of its programme: the list pages load only these
#: columns, not the pipeline and rules documents (JSON parsed per row otherwise).
PROGRAMME_BRIEF = (MonitoringProgramme.code, MonitoringProgramme.title,
                   MonitoringProgramme.timezone, MonitoringProgramme.active)


@dataclass
class ProgrammeRow:
    """One row of the programme list: the programme's listed columns (a row with the
    attributes of :data:`_LIST_COLUMNS`) and its operating institutions' codes."""

    programme: Any
    institutions: list[str]
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


#: What the programme list shows of a programme (and the API's list): plain rows of
#: these columns, not mapped objects; the documents are never read.
_LIST_COLUMNS = (
    MonitoringProgramme.id, MonitoringProgramme.code, MonitoringProgramme.title,
    MonitoringProgramme.active, MonitoringProgramme.refresh_cadence,
    MonitoringProgramme.timezone, MonitoringProgramme.scheduler_enabled,
    MonitoringProgramme.next_run_at, MonitoringProgramme.last_run_at,
    MonitoringProgramme.licence, MonitoringProgramme.latest_run_status,
    MonitoringProgramme.latest_run_uuid, MonitoringProgramme.latest_run_dry_run,
    MonitoringProgramme.open_alert_count)
#: The institution codes of a page of programmes, in name order.
_PAGE_INSTITUTIONS = (
    select(programme_institutions.c.programme_id, Institution.code)
    .join(Institution, Institution.id == programme_institutions.c.institution_id)
    .where(programme_institutions.c.programme_id.in_(bindparam("ids", expanding=True)))
    .order_by(Institution.name, Institution.id))
_NAMED_CADENCES = ["manual", "daily", "weekly", "monthly", "quarterly", "annual", "ad_hoc"]


def _programme_order(sort: str) -> list[Any]:
    column = PROGRAMME_SORTS.get(sort.lstrip("-"), MonitoringProgramme.code)
    ordered = column.desc() if sort.startswith("-") else column.asc()
    if column is MonitoringProgramme.code:  # required and unique: its index is the order
        return [ordered]
    # Empty values (never run, no schedule) last either way, on both databases.
    return [column.is_(None), ordered, MonitoringProgramme.code]


@lru_cache(maxsize=256)
def _programme_list_statements(scope: str, shape: tuple[str, ...]) -> tuple[Select, Select]:
    """The programme list's count and page statements for one shape of filters.

    Built once per (scope, shape) with the values as bound parameters (``viewer_id``,
    ``like``, ``cadence``, ``status``, ``limit``, ``offset``): building and keying a
    statement cost a page more than running it. ``shape`` is what
    :func:`_list_shape` makes of the filters.
    """
    archived, q, cadence, scheduler, status, alerts, sort = shape
    P = MonitoringProgramme
    visible = [visible_where(P.id, scope)]
    conditions = []
    if not archived:
        conditions.append(P.active.is_(True))
    if q:
        conditions.append(or_(func.lower(P.code).like(bindparam("like")),
                              func.lower(P.title).like(bindparam("like"))))
    if cadence == "cron":
        conditions.append(P.refresh_cadence.not_in(_NAMED_CADENCES))
    elif cadence:
        conditions.append(P.refresh_cadence == bindparam("cadence"))
    if scheduler:
        conditions.append(P.scheduler_enabled.is_(scheduler == "on"))
    if status == NO_RUNS:
        conditions.append(P.latest_run_id.is_(None))
    elif status:
        conditions.append(P.latest_run_status == bindparam("status"))
    if alerts == "yes":
        conditions.append(P.open_alert_count > 0)
    elif alerts == "no":
        conditions.append(P.open_alert_count == 0)
    count = select(func.count(P.id)).where(*visible, *conditions)
    # Each row carries the total: the count is an uncorrelated sub-query, computed once
    # per statement, and the page costs one round trip instead of two. The page probes
    # each programme it walks (it stops after a page); the count hashes the visible ids.
    page = (select(*_LIST_COLUMNS, count.scalar_subquery().correlate(None).label("total"))
            .where(visible_where(P.id, scope, probe=True), *conditions)
            .order_by(*_programme_order(sort))
            .limit(bindparam("limit")).offset(bindparam("offset")))
    return count, page


def _list_shape(filters: ProgrammeFilters) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The filters as a statement shape (which conditions apply) and their values."""
    params: dict[str, Any] = {}
    if filters.q:
        params["like"] = f"%{filters.q.lower()}%"
    cadence = filters.cadence if filters.cadence in ("", "cron") else "one"
    if cadence == "one":
        params["cadence"] = filters.cadence
    status = filters.status if filters.status in ("", NO_RUNS) else "one"
    if status == "one":
        params["status"] = filters.status
    shape = ("yes" if filters.archived == "yes" else "", "yes" if filters.q else "", cadence,
             filters.scheduler if filters.scheduler in ("on", "off") else "", status,
             filters.alerts if filters.alerts in ("yes", "no") else "", filters.sort)
    return shape, params


def list_programmes(user: Any, filters: ProgrammeFilters, *, page: int = 1,
                    per_page: int = 25) -> Page:
    """Return one page of :class:`ProgrammeRow` for the programmes ``user`` may see.

    The latest run and the open-alert count are read from the programme row (kept by
    ``services.programme_summary``), so nothing is grouped per request. Programmes are
    few (one row each, ordered by the unique code), so the page is numbered and the
    count exact. Two statements, each built once per shape of filters: the page (plain
    rows of :data:`_LIST_COLUMNS`, each carrying the total) and the page's institution
    codes; a page past the end counts apart.

    Args:
        user: the acting user (scoping via ``access.visible_where``).
        filters: search text and filters.
        page / per_page: pagination.

    Returns:
        A ``Page`` of ``ProgrammeRow``; the count, the page and its institutions.
    """
    shape, params = _list_shape(filters)
    count, page_statement = _programme_list_statements(viewer_scope(user), shape)
    params.update(viewer_params(user))
    rows = db.session.execute(page_statement, {**params, "limit": per_page,
                                               "offset": (page - 1) * per_page}).all()
    institutions: dict[int, list[str]] = defaultdict(list)
    if rows:
        total = rows[0].total
        for programme_id, code in db.session.execute(
                _PAGE_INSTITUTIONS, {"ids": [row.id for row in rows]}):
            institutions[programme_id].append(code)
    else:  # no row to carry it: page 1 of nothing, or a page past the end
        total = db.session.scalar(count, params) or 0 if page > 1 else 0
    items = [ProgrammeRow(row, institutions.get(row.id, []), row.latest_run_status,
                          row.latest_run_uuid, bool(row.latest_run_dry_run),
                          row.open_alert_count or 0)
             for row in rows]
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
# The delivery the programme expects and its release candidate awaiting review: at most
# one of each (unique per programme; one pending candidate per programme), both in one
# statement.
_EXPECTATION_AND_PENDING_CANDIDATE = (
    select(ExpectedDelivery, ReleaseCandidate)
    .select_from(MonitoringProgramme)
    .outerjoin(ExpectedDelivery, ExpectedDelivery.programme_id == MonitoringProgramme.id)
    .outerjoin(ReleaseCandidate, and_(ReleaseCandidate.programme_id == MonitoringProgramme.id,
                                      ReleaseCandidate.status == "pending"))
    .where(MonitoringProgramme.id == bindparam("programme_id")))


def programme_detail(programme: MonitoringProgramme, *, recent: int = 10,
                     strip: int = OUTCOME_STRIP_RUNS) -> dict[str, Any]:
    """Return what the programme page shows besides the programme itself.

    Returns:
        ``runs`` (the ``recent`` newest, as rows with ``requester_name``), ``strip``
        (the ``strip`` newest, for the outcome strip), ``alerts`` (unresolved),
        ``stewards`` (with users), ``active_run`` (the queued or running run among
        the recent ones, if any), ``expectation`` (the expected delivery, if declared)
        and ``pending_candidate`` (the release candidate awaiting review, if any). The
        runs are one statement of plain rows: the table and the strip show a few
        columns, not the run documents or the requester's row.
    """
    wanted = max(recent, strip)
    ids = {"programme_id": programme.id}
    rows = db.session.execute(_RECENT_RUNS, {**ids, "limit": wanted}).all() if wanted else []
    runs = rows[:recent]
    alerts = db.session.scalars(_UNRESOLVED_ALERTS, ids).all()
    stewards = programme_stewards(programme)
    expectation, candidate = db.session.execute(_EXPECTATION_AND_PENDING_CANDIDATE, ids).one()
    active = next((run for run in runs if run.status in ACTIVE_STATUSES), None)
    return {"runs": runs, "strip": rows[:strip], "alerts": alerts, "stewards": stewards,
            "active_run": active, "expectation": expectation,
            "pending_candidate": candidate}


def programme_stewards(programme: MonitoringProgramme) -> list[MonitoringProgrammeSteward]:
    """The programme's steward assignments (active first) with their users' names."""
    return list(db.session.scalars(_PROGRAMME_STEWARDS, {"programme_id": programme.id}))


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


def _scoped(column: Any, scope: str) -> list[Any]:
    """The visibility condition of a list read from its own table (none for admins).

    ``column + 0`` keeps the planner on the list's ordering index (read newest first,
    stop after a page, the visible ids hashed once); a bare ``column IN (...)`` lets
    SQLite fetch every row of every visible programme and sort them all.
    """
    return [] if scope == SEES_ALL else [visible_where(column + 0, scope)]


@lru_cache(maxsize=256)
def _run_list_query(scope: str | None, shape: tuple[Any, ...]) -> Select:
    """The runs list's query for one shape of filters, built once (values bound:
    ``programme_id`` or the scope's ``viewer_id``, ``code``, ``status``, ``trigger``,
    ``date_from``, ``date_to``). ``scope`` None: one programme's runs."""
    Run = MonitoringProgrammeRun
    by_code, status, trigger, dry_run, date_from, date_to, sort = shape
    if scope is None:
        conditions = [Run.programme_id == bindparam("programme_id")]
    else:
        conditions = _scoped(Run.programme_id, scope)
        if by_code:  # within the scope above: a hidden code matches nothing
            conditions.append(Run.programme_id == select(MonitoringProgramme.id).where(
                MonitoringProgramme.code == bindparam("code")).scalar_subquery())
    if status:
        conditions.append(Run.status == bindparam("status"))
    if trigger:
        conditions.append(Run.trigger == bindparam("trigger"))
    if dry_run:
        conditions.append(Run.dry_run.is_(dry_run == "yes"))
    if date_from:
        conditions.append(Run.queued_at >= bindparam("date_from", type_=Run.queued_at.type))
    if date_to:
        conditions.append(Run.queued_at < bindparam("date_to", type_=Run.queued_at.type))
    # As for alerts: the runs table alone down its (queued_at) index, then the page's
    # programmes and requesters by primary key.
    key, _ = sort_parts(sort, RUN_SORTS, RUN_DEFAULT_SORT)
    return join_for(select(Run).where(*conditions), key, Run.programme_id).options(
        joinedload(Run.programme).load_only(*PROGRAMME_BRIEF),
        joinedload(Run.requested_by))


def list_runs(user: Any, filters: RunFilters, *, programme: MonitoringProgramme | None = None,
              after: str | None = None, before: str | None = None,
              per_page: int = 25) -> KeysetPage:
    """Return one keyset page of runs ``user`` may see (of one programme, or of all),
    newest first unless ``filters.sort`` names a column of ``list_sorts.RUN_SORTS``.

    One statement: the page (programme and requester joined), its rows carrying the
    bounded count.
    """
    params: dict[str, Any] = {}
    if programme is not None:
        scope, by_code = None, False
        params["programme_id"] = programme.id
    else:
        scope, by_code = viewer_scope(user), bool(filters.programme)
        params.update(viewer_params(user), code=filters.programme)
    params.update(status=filters.status, trigger=filters.trigger)
    range_from, range_to = filters.date_bounds()
    params.update(date_from=range_from, date_to=range_to)
    name = (filters.sort or RUN_DEFAULT_SORT).lstrip("-")
    shape = (by_code, bool(filters.status), bool(filters.trigger),
             filters.dry_run if filters.dry_run in ("yes", "no") else "",
             range_from is not None, range_to is not None, name)
    key, ascending = sort_parts(filters.sort, RUN_SORTS, RUN_DEFAULT_SORT)
    return keyset_page(
        _run_list_query(scope, shape), key.column, MonitoringProgrammeRun.id, after=after,
        before=before, per_page=per_page, ascending=ascending, kind=key.kind,
        value_of=key.value_of, params=params)


def load_run(run_uuid: str, viewer: Any = None) -> MonitoringProgrammeRun | None:
    """Return the run with its programme, requester and steps (two statements).

    With ``viewer``, their roles on the run's programme come in the first statement when
    they see their own programmes (``access.one_with_roles``): the page authorises the
    run without another round trip.
    """
    if viewer is None:
        return db.session.scalar(_RUN_BY_UUID, {"uuid": run_uuid})
    return one_with_roles(_RUN_BY_UUID, MonitoringProgrammeRun.programme_id,
                          {"uuid": run_uuid}, viewer)


_RUN_BY_UUID = (select(MonitoringProgrammeRun)
                .where(MonitoringProgrammeRun.uuid == bindparam("uuid"))
                .options(joinedload(MonitoringProgrammeRun.programme),
                         joinedload(MonitoringProgrammeRun.requested_by),
                         selectinload(MonitoringProgrammeRun.steps)))


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


@dataclass(frozen=True, slots=True)
class ProgrammeBrief:
    """What an alert row shows of its programme (:data:`PROGRAMME_BRIEF` and its id)."""

    id: int
    code: str
    title: str
    timezone: str
    active: bool


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One alert of the inbox as the values a row shows, with its programme's brief: plain
    columns, not a mapped object (building 25 alerts and their programmes in the ORM
    cost the page 0.6 ms of CPU, more than reading them)."""

    id: int
    uuid: str
    programme_id: int
    rule_id: str
    severity: str
    state: str
    message: str
    occurrence_count: int
    first_seen_at: Any
    last_seen_at: Any
    acknowledged_at: Any
    resolved_at: Any
    programme: ProgrammeBrief

    @classmethod
    def of(cls, row: Any) -> AlertRow:
        """The item of a row of :func:`_alert_list_query`."""
        return cls(*row[:12], ProgrammeBrief(row.programme_id, *row[12:16]))


_ALERT_ROW_COLUMNS = tuple(getattr(MonitoringProgrammeAlert, name) for name in (
    "id", "uuid", "programme_id", "rule_id", "severity", "state", "message",
    "occurrence_count", "first_seen_at", "last_seen_at", "acknowledged_at", "resolved_at"))
#: The programme whose brief an alert row shows (an alias: sorting by programme joins
#: the programmes table too).
_ALERT_PROGRAMME = aliased(MonitoringProgramme, name="alert_programme")


@lru_cache(maxsize=256)
def _alert_list_query(scope: str, shape: tuple[Any, ...]) -> tuple[Select, Select]:
    """The alert inbox's query for one shape of filters, built once (values bound: the
    scope's ``viewer_id``, ``state``, ``severity``, ``code``), and the query its count
    counts (the same alerts, without the programmes joined to show them)."""
    Alert = MonitoringProgrammeAlert
    state, severity, by_code, sort = shape
    conditions = _scoped(Alert.programme_id, scope)
    if state == "unresolved":
        conditions.append(Alert.state.in_(UNRESOLVED))
    elif state != "all":
        conditions.append(Alert.state == bindparam("state"))
    if severity:
        conditions.append(Alert.severity == bindparam("severity"))
    if by_code:
        conditions.append(Alert.programme.has(MonitoringProgramme.code == bindparam("code")))
    key, _ = sort_parts(sort, ALERT_SORTS, ALERT_DEFAULT_SORT)
    # A row shows no triager (the history names them) and not the alert's details.
    counted = join_for(select(*_ALERT_ROW_COLUMNS).where(*conditions), key, Alert.programme_id)
    # The page reads the alerts table down the (last_seen_at, id) index and stops after a
    # page, each row's programme by primary key: an outer join, as the alerts' own (an
    # inner join lets SQLite start from programmes and sort every unresolved alert).
    brief = _ALERT_PROGRAMME
    shown = counted.outerjoin(brief, brief.id == Alert.programme_id).add_columns(
        *(getattr(brief, column.key) for column in PROGRAMME_BRIEF))
    return shown, counted


def list_alerts(user: Any, filters: AlertFilters, *, after: str | None = None,
                before: str | None = None, per_page: int = 25) -> KeysetPage:
    """Return one keyset page of alerts ``user`` may see (:class:`AlertRow` items), most
    recently seen first unless ``filters.sort`` names a column of
    ``list_sorts.ALERT_SORTS`` (bounded count + page)."""
    state = filters.state if filters.state in ("unresolved", "all") else "one"
    shape = (state, bool(filters.severity), bool(filters.programme),
             (filters.sort or ALERT_DEFAULT_SORT).lstrip("-"))
    params = {**viewer_params(user), "state": filters.state, "severity": filters.severity,
              "code": filters.programme}
    key, ascending = sort_parts(filters.sort, ALERT_SORTS, ALERT_DEFAULT_SORT)
    shown, counted = _alert_list_query(viewer_scope(user), shape)
    return keyset_page(
        shown, key.column, MonitoringProgrammeAlert.id, after=after, before=before,
        per_page=per_page, ascending=ascending, kind=key.kind, value_of=key.value_of,
        params=params, item_of=AlertRow.of, count_query=counted)


#: What an alert's history shows of each event: plain rows, not mapped audit events.
_ALERT_EVENTS = (select(AuditEvent.object_id, AuditEvent.action, AuditEvent.actor_label,
                        AuditEvent.metadata_json, AuditEvent.created_at)
                 .where(AuditEvent.object_type == "alert",
                        AuditEvent.object_id.in_(bindparam("uuids", expanding=True)))
                 .order_by(AuditEvent.created_at, AuditEvent.id))


def alert_histories(alerts: list[Any]) -> dict[str, list[Any]]:
    """Return each alert's audit events (opened, recurred, acknowledged, resolved…), oldest
    first, keyed by alert uuid — one statement for the whole page. An event is a row of
    ``action``, ``actor_label``, ``metadata_json`` and ``created_at``."""
    if not alerts:
        return {}
    events = db.session.execute(_ALERT_EVENTS, {"uuids": [a.uuid for a in alerts]}).all()
    history: dict[str, list[Any]] = defaultdict(list)
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
