"""Run and step duration statistics for the metrics page.

Figures are computed over the finished runs of a window (default 30 days): count,
median, p95 and max duration, and the share of runs that succeeded, were blocked,
failed or were cancelled. Percentiles use the nearest-rank method, computed in
Python so SQLite and PostgreSQL give the same answers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    FINAL_STATUSES,
    MonitoringProgramme,
    MonitoringProgrammeRun,
    MonitoringProgrammeRunStep,
)


@dataclass
class DurationStats:
    """Duration figures of one group (a programme or a step type)."""

    key: str
    label: str
    count: int = 0
    median: float | None = None
    p95: float | None = None
    max: float | None = None
    statuses: dict[str, int] = field(default_factory=dict)

    def rate(self, status: str) -> float:
        """The share (0–1) of the group's runs or steps that ended ``status``."""
        total = sum(self.statuses.values())
        return self.statuses.get(status, 0) / total if total else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON form, with success/blocked/failed/cancelled rates."""
        return {"key": self.key, "label": self.label, "count": self.count,
                "median": self.median, "p95": self.p95, "max": self.max,
                "statuses": dict(self.statuses),
                "rates": {status: round(self.rate(status), 4) for status in FINAL_STATUSES}}


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of sorted ``values`` (None when empty)."""
    if not values:
        return None
    rank = max(1, math.ceil(fraction * len(values)))
    return values[rank - 1]


def median(values: list[float]) -> float | None:
    """The median of sorted ``values`` (mean of the middle two for an even count)."""
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def _stats(key: str, label: str, rows: Iterable[tuple[str, float | None]]) -> DurationStats:
    statuses: dict[str, int] = defaultdict(int)
    durations: list[float] = []
    for status, duration in rows:
        statuses[status] += 1
        if duration is not None:
            durations.append(float(duration))
    durations.sort()
    return DurationStats(key=key, label=label, count=len(durations), median=median(durations),
                         p95=percentile(durations, 0.95),
                         max=durations[-1] if durations else None, statuses=dict(statuses))


def _since(days: int, now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)) - timedelta(days=days)


def run_stats_by_programme(days: int = 30, programme_ids: list[int] | None = None,
                           now: datetime | None = None,
                           include_dry_runs: bool = False) -> list[DurationStats]:
    """Duration and outcome figures of finished runs per programme, by programme code.

    Args:
        days: the window, counted back from ``now``.
        programme_ids: limit to these programmes (the caller's visible scope).
        now: the end of the window (default: now).
        include_dry_runs: count dry runs too.
    """
    run = MonitoringProgrammeRun
    query = (select(run.programme_id, MonitoringProgramme.code, MonitoringProgramme.title,
                    run.status, run.duration_seconds)
             .join(MonitoringProgramme, MonitoringProgramme.id == run.programme_id)
             .where(run.status.in_(FINAL_STATUSES), run.finished_at >= _since(days, now)))
    if not include_dry_runs:
        query = query.where(run.dry_run.is_(False))
    if programme_ids is not None:
        query = query.where(run.programme_id.in_(programme_ids))
    groups: dict[str, list[tuple[str, float | None]]] = defaultdict(list)
    labels: dict[str, str] = {}
    for _pid, code, title, status, duration in db.session.execute(query):
        groups[code].append((status, duration))
        labels[code] = title
    return [_stats(code, labels[code], groups[code]) for code in sorted(groups)]


def step_stats_by_type(days: int = 30, programme_ids: list[int] | None = None,
                       now: datetime | None = None) -> list[DurationStats]:
    """Duration and outcome figures of executed steps per step type (skipped excluded)."""
    step, run = MonitoringProgrammeRunStep, MonitoringProgrammeRun
    query = (select(step.step_type, step.status, step.duration_seconds)
             .join(run, run.id == step.run_id)
             .where(step.status.in_(("succeeded", "blocked", "failed", "cancelled")),
                    step.finished_at >= _since(days, now)))
    if programme_ids is not None:
        query = query.where(run.programme_id.in_(programme_ids))
    groups: dict[str, list[tuple[str, float | None]]] = defaultdict(list)
    for step_type, status, duration in db.session.execute(query):
        groups[step_type].append((status, duration))
    return [_stats(name, name, groups[name]) for name in sorted(groups)]


def overall_run_stats(days: int = 30, programme_ids: list[int] | None = None,
                      now: datetime | None = None) -> DurationStats:
    """The same figures over every (non-dry) finished run in the window."""
    run = MonitoringProgrammeRun
    query = select(run.status, run.duration_seconds).where(
        run.status.in_(FINAL_STATUSES), run.finished_at >= _since(days, now),
        run.dry_run.is_(False))
    if programme_ids is not None:
        query = query.where(run.programme_id.in_(programme_ids))
    return _stats("all", "All programmes", db.session.execute(query).all())


def metrics_overview(days: int = 30, programme_ids: list[int] | None = None,
                     now: datetime | None = None) -> dict[str, Any]:
    """Everything the metrics page shows, as plain dicts."""
    return {
        "window_days": days,
        "overall": overall_run_stats(days, programme_ids, now).as_dict(),
        "programmes": [s.as_dict() for s in run_stats_by_programme(days, programme_ids, now)],
        "step_types": [s.as_dict() for s in step_stats_by_type(days, programme_ids, now)],
    }
