"""Read-only figures for the metrics and health pages (scoped to what a user may see).

Durations: count, median, p95 and max per programme and per step type over a window;
final-status rates; the run-duration series for the chart; stale runs and the next
programmes due for the health page.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import contains_eager

from portal.access import visible_programmes, visible_to
from portal.extensions import db
from portal.models import (
    FINAL_STATUSES,
    MonitoringProgramme,
    MonitoringProgrammeRun,
    MonitoringProgrammeRunStep,
    utcnow,
)

WINDOWS = {"1d": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30),
           "90d": timedelta(days=90), "365d": timedelta(days=365)}
DEFAULT_WINDOW = "30d"
CHART_POINTS = 1500


@dataclass
class DurationStats:
    """Duration figures for one group (a programme or a step type)."""

    key: str
    count: int
    median: float | None
    p95: float | None
    max: float | None


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of already sorted values (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def _stats(groups: dict[str, list[float]]) -> list[DurationStats]:
    result = []
    for key, values in groups.items():
        values.sort()
        result.append(DurationStats(key, len(values), statistics.median(values),
                                    percentile(values, 0.95), values[-1]))
    return sorted(result, key=lambda s: (-s.count, s.key))


def _scoped(query: Select, user: Any) -> Select:
    if user is None or (getattr(user, "is_authenticated", False) and user.is_admin):
        return query
    return query.where(visible_to(MonitoringProgrammeRun.programme_id, user))


def window_start(window: str, now: datetime | None = None) -> datetime:
    """The start of a named window (``7d``…); unknown names mean the default."""
    return (now or utcnow()) - WINDOWS.get(window, WINDOWS[DEFAULT_WINDOW])


def run_duration_stats(user: Any, since: datetime, include_dry: bool = False
                       ) -> list[DurationStats]:
    """Duration stats of finished runs per programme code since ``since``."""
    Run = MonitoringProgrammeRun
    query = (select(MonitoringProgramme.code, Run.duration_seconds)
             .join(Run.programme)
             .where(Run.finished_at >= since, Run.duration_seconds.is_not(None)))
    if not include_dry:
        query = query.where(Run.dry_run.is_(False))
    groups: dict[str, list[float]] = defaultdict(list)
    for code, seconds in db.session.execute(_scoped(query, user)):
        groups[code].append(float(seconds))
    return _stats(groups)


def step_duration_stats(user: Any, since: datetime) -> list[DurationStats]:
    """Duration stats of finished steps per step type since ``since``."""
    Step, Run = MonitoringProgrammeRunStep, MonitoringProgrammeRun
    query = (select(Step.step_type, Step.duration_seconds)
             .join(Run, Run.id == Step.run_id)
             .where(Step.finished_at >= since, Step.duration_seconds.is_not(None)))
    groups: dict[str, list[float]] = defaultdict(list)
    for step_type, seconds in db.session.execute(_scoped(query, user)):
        groups[step_type].append(float(seconds))
    return _stats(groups)


def status_rates(user: Any, since: datetime) -> dict[str, Any]:
    """Counts and shares of final statuses of runs finished since ``since``.

    Returns:
        ``{"total": n, "statuses": [{"status", "count", "rate"}]}`` over FINAL_STATUSES.
    """
    Run = MonitoringProgrammeRun
    query = (select(Run.status, func.count()).where(Run.finished_at >= since,
                                                    Run.status.in_(FINAL_STATUSES))
             .group_by(Run.status))
    counts = dict(db.session.execute(_scoped(query, user)).all())
    total = sum(counts.values())
    return {"total": total,
            "statuses": [{"status": s, "count": counts.get(s, 0),
                          "rate": (counts.get(s, 0) / total) if total else 0.0}
                         for s in FINAL_STATUSES]}


def duration_series(user: Any, since: datetime, programme_code: str = "",
                    limit: int = CHART_POINTS) -> list[tuple[datetime, float, str]]:
    """``(finished_at, seconds, status)`` of the latest finished runs, oldest first."""
    Run = MonitoringProgrammeRun
    query = (select(Run.finished_at, Run.duration_seconds, Run.status)
             .where(Run.finished_at >= since, Run.duration_seconds.is_not(None)))
    if programme_code:
        query = query.join(Run.programme).where(MonitoringProgramme.code == programme_code)
    rows = db.session.execute(_scoped(query, user).order_by(Run.finished_at.desc())
                              .limit(limit)).all()
    return [(when, float(seconds), status) for when, seconds, status in reversed(rows)]


def stale_runs(user: Any, stale_after_seconds: int) -> list[MonitoringProgrammeRun]:
    """Running runs whose heartbeat is older than ``stale_after_seconds`` (or missing)."""
    Run = MonitoringProgrammeRun
    cutoff = utcnow() - timedelta(seconds=stale_after_seconds)
    query = (select(Run).join(Run.programme)
             .where(Run.status == "running",
                    func.coalesce(Run.heartbeat_at, Run.started_at, Run.queued_at) < cutoff)
             .order_by(Run.heartbeat_at))
    return list(db.session.scalars(_scoped(query, user).options(contains_eager(Run.programme))))


def queued_runs(user: Any, limit: int = 20) -> list[MonitoringProgrammeRun]:
    """The oldest queued runs (waiting for a worker)."""
    Run = MonitoringProgrammeRun
    query = (select(Run).join(Run.programme).where(Run.status == "queued")
             .options(contains_eager(Run.programme)).order_by(Run.queued_at).limit(limit))
    return list(db.session.scalars(_scoped(query, user)))


def next_due(user: Any, limit: int = 10) -> list[MonitoringProgramme]:
    """The next programmes the scheduler will start, soonest first."""
    query = (visible_programmes(user)
             .where(MonitoringProgramme.active.is_(True),
                    MonitoringProgramme.scheduler_enabled.is_(True),
                    MonitoringProgramme.next_run_at.is_not(None))
             .order_by(MonitoringProgramme.next_run_at).limit(limit))
    return list(db.session.scalars(query))
