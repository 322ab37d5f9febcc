"""The summary kept on each programme row: its latest run and its open-alert count.

The programme list shows, per programme, the latest run (status, dry-run mark, link)
and the number of open or acknowledged alerts. Computing them per request means
grouping 100,000 runs and 10,000 alerts; instead they live on the programme row and
change in the same transaction as what they summarise:

- :func:`run_queued` when the state machine creates a run (``services.runs.new_run``);
- :func:`run_status_changed` when it moves one (``services.runs.transition``), and
  :func:`run_finished` when a non-dry run ends (with ``last_run_at``, one statement);
- :func:`alerts_changed` when the alert service opens or resolves an alert.

:func:`refresh` recomputes both from the tables, set-based, for any number of
programmes (bulk inserts, repairs, tests); migration 0004 backfills the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, case, func, or_, select, update

from portal.dbutil import Write
from portal.extensions import db
from portal.models import MonitoringProgramme, MonitoringProgrammeAlert, MonitoringProgrammeRun

UNRESOLVED = ("open", "acknowledged")

Programme = MonitoringProgramme


def _keep_updated_at() -> dict:
    # A summary change is not an edit of the programme: leave updated_at as it is
    # (the column's onupdate would otherwise stamp it).
    return {"updated_at": Programme.updated_at}


_TABLE = Programme.__table__
_KEEP_UPDATED_AT = {"updated_at": _TABLE.c.updated_at}  # as _keep_updated_at, for Core
# The run state machine's summary statements, built once: a run moves on every
# few milliseconds, and building a statement costs about as much as running it.
_RUN_QUEUED = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("p_id"),
           or_(_TABLE.c.latest_run_id.is_(None), _TABLE.c.latest_run_id <= bindparam("r_id")))
    .values(latest_run_id=bindparam("r_id"), latest_run_uuid=bindparam("r_uuid"),
            latest_run_status=bindparam("new_status"),
            latest_run_dry_run=bindparam("r_dry_run"), **_KEEP_UPDATED_AT))
_STATUS_CHANGED = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("p_id"), _TABLE.c.latest_run_id == bindparam("r_id"))
    .values(latest_run_status=bindparam("new_status"), **_KEEP_UPDATED_AT))
_RUN_FINISHED = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("p_id"))
    .values(last_run_at=bindparam("finished_at"),
            latest_run_status=case((_TABLE.c.latest_run_id == bindparam("r_id"),
                                    bindparam("new_status")),
                                   else_=_TABLE.c.latest_run_status),
            **_KEEP_UPDATED_AT)
    .returning(_TABLE.c.open_alert_count))


def run_queued(run: MonitoringProgrammeRun) -> Write:
    """The write that makes ``run`` (just inserted and flushed) its programme's latest
    run, for the caller to make with its commit (``dbutil.commit(writes=...)``).

    Guarded by id, so a slower transaction carrying an older run never replaces a newer
    latest run.
    """
    return _RUN_QUEUED, {"p_id": run.programme_id, "r_id": run.id, "r_uuid": run.uuid,
                         "new_status": run.status, "r_dry_run": bool(run.dry_run)}


def run_status_changed(run_id: int, programme_id: int,
                       status: str) -> Write:
    """The write that records a transition of ``run_id`` when it is the programme's
    latest run (made with the transition's commit)."""
    return _STATUS_CHANGED, {"p_id": programme_id, "r_id": run_id, "new_status": status}


def run_finished(run_id: int, programme_id: int, status: str, finished_at) -> int:
    """A non-dry run ended ``status``: stamp the programme's ``last_run_at`` and, when it
    is the latest run, its status, in one statement (the caller commits).

    Returns:
        The programme's count of unresolved alerts, as the row now holds it.
    """
    return db.session.execute(_RUN_FINISHED, {
        "p_id": programme_id, "r_id": run_id, "new_status": status,
        "finished_at": finished_at}).scalar_one_or_none() or 0


def alerts_changed(programme_id: int) -> None:
    """Recount the programme's open and acknowledged alerts (the caller commits).

    The programme row is locked first and the pending alert changes flushed after, so
    every alert writer takes the programme lock before alert row locks (no deadlock
    between two writers), and the recount, a new statement under READ COMMITTED, sees
    every change committed before the lock was granted.
    """
    with db.session.no_autoflush:
        db.session.execute(select(Programme.id).where(Programme.id == programme_id)
                           .with_for_update())
    db.session.flush()
    db.session.execute(
        update(Programme).where(Programme.id == programme_id)
        .values(open_alert_count=_open_count_for(Programme.id), **_keep_updated_at())
        .execution_options(synchronize_session=False))


def _open_count_for(programme_id_column) -> object:
    Alert = MonitoringProgrammeAlert
    return (select(func.count()).select_from(Alert)
            .where(Alert.programme_id == programme_id_column, Alert.state.in_(UNRESOLVED))
            .scalar_subquery())


def _latest_run_column(column) -> object:
    Run = MonitoringProgrammeRun
    return (select(column).where(Run.programme_id == Programme.id)
            .order_by(Run.id.desc()).limit(1).scalar_subquery())


def refresh(programme_ids: Iterable[int] | None = None) -> None:
    """Recompute the summary of ``programme_ids`` (every programme when None).

    One UPDATE with correlated sub-queries (index ranges on ``(programme_id, id)`` and
    ``(programme_id, rule_id, state)``); the caller commits.
    """
    Run = MonitoringProgrammeRun
    statement = update(Programme).values(
        latest_run_id=_latest_run_column(Run.id),
        latest_run_uuid=_latest_run_column(Run.uuid),
        latest_run_status=_latest_run_column(Run.status),
        latest_run_dry_run=func.coalesce(_latest_run_column(Run.dry_run), False),
        open_alert_count=_open_count_for(Programme.id),
        **_keep_updated_at())
    if programme_ids is not None:
        ids = sorted(set(programme_ids))
        if not ids:
            return
        statement = statement.where(Programme.id.in_(ids))
    db.session.execute(statement.execution_options(synchronize_session=False))
