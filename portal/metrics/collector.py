"""Prometheus metrics computed from the database at scrape time.

A fresh registry with one custom collector per scrape: every figure is read from the
database (and the queue depths from Redis) when scraped, so several gunicorn workers
all report the same, complete numbers — no process-local counters.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from sqlalchemy import case, func, select

from portal.extensions import db
from portal.models import (
    MonitoringProgramme,
    MonitoringProgrammeAlert,
    MonitoringProgrammeRun,
    MonitoringProgrammeRunStep,
)

BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)


def _bucket_columns(column):
    return [func.sum(case((column <= bound, 1), else_=0)) for bound in BUCKETS]


def _histogram(name: str, doc: str, labels: list[str], rows) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=labels)
    width = len(labels)
    for row in rows:
        label_values = [str(v) for v in row[:width]]
        count, total, *cumulative = row[width:]
        buckets = [(str(bound), float(n or 0)) for bound, n in zip(BUCKETS, cumulative,
                                                                 strict=True)]
        buckets.append(("+Inf", float(count or 0)))
        family.add_metric(label_values, buckets, sum_value=float(total or 0))
    return family


class PortalCollector:
    """Collects run, step, alert and queue figures from the database and Redis."""

    def collect(self) -> Iterator[Metric]:
        """Yield the metric families (called by the registry at scrape time)."""
        Run, Step, P = MonitoringProgrammeRun, MonitoringProgrammeRunStep, MonitoringProgramme
        finished = Run.duration_seconds.is_not(None)
        run_rows = db.session.execute(
            select(P.code, func.count(), func.sum(Run.duration_seconds),
                   *_bucket_columns(Run.duration_seconds))
            .join(Run.programme).where(finished, Run.dry_run.is_(False)).group_by(P.code)
        ).all()
        yield _histogram("programme_ops_run_duration_seconds",
                         "Duration of finished runs (dry runs excluded).", ["programme"],
                         run_rows)
        step_rows = db.session.execute(
            select(P.code, Step.step_type, func.count(), func.sum(Step.duration_seconds),
                   *_bucket_columns(Step.duration_seconds))
            .join(Run, Run.id == Step.run_id).join(P, P.id == Run.programme_id)
            .where(Step.duration_seconds.is_not(None)).group_by(P.code, Step.step_type)
        ).all()
        yield _histogram("programme_ops_step_duration_seconds",
                         "Duration of finished steps.", ["programme", "step_type"], step_rows)

        runs = CounterMetricFamily("programme_ops_runs", "Runs by programme and status.",
                                   labels=["programme", "status"])
        for code, status, n in db.session.execute(
                select(P.code, Run.status, func.count()).join(Run.programme)
                .group_by(P.code, Run.status)):
            runs.add_metric([code, status], float(n))
        yield runs

        alerts = GaugeMetricFamily("programme_ops_open_alerts",
                                   "Unresolved alerts by programme and severity.",
                                   labels=["programme", "severity"])
        Alert = MonitoringProgrammeAlert
        for code, severity, n in db.session.execute(
                select(P.code, Alert.severity, func.count()).join(Alert.programme)
                .where(Alert.state.in_(("open", "acknowledged")))
                .group_by(P.code, Alert.severity)):
            alerts.add_metric([code, severity], float(n))
        yield alerts
        yield from self._queues()
        yield from self._ticks()

    def _ticks(self) -> Iterator[Metric]:
        from portal.services.periodic import tick_states

        states = tick_states()
        if states is None:  # Redis down: programme_ops_redis_up says so
            return
        age = GaugeMetricFamily(
            "programme_ops_scheduler_tick_age_seconds",
            "Seconds since the scheduler's dispatch / reconcile pass last completed "
            "(absent when it never ran).", labels=["tick"])
        stale = GaugeMetricFamily(
            "programme_ops_scheduler_tick_stale",
            "1 when the pass never ran or last completed more than 3 scheduler intervals "
            "ago.", labels=["tick"])
        for state in states:
            if state.age_seconds is not None:
                age.add_metric([state.name], state.age_seconds)
            stale.add_metric([state.name], 1.0 if state.stale else 0.0)
        yield age
        yield stale

    def _queues(self) -> Iterator[Metric]:
        from portal.services.dispatch import queue_overview

        overview = queue_overview()
        up = GaugeMetricFamily("programme_ops_redis_up", "Whether Redis answered the scrape.")
        up.add_metric([], 1.0 if overview["ok"] else 0.0)
        yield up
        depth = GaugeMetricFamily("programme_ops_queue_depth", "Jobs waiting per RQ queue.",
                                  labels=["queue"])
        failed = GaugeMetricFamily("programme_ops_queue_failed_jobs",
                                   "Jobs in each queue's failed registry.", labels=["queue"])
        for queue in overview["queues"]:
            depth.add_metric([queue["name"]], float(queue["depth"]))
            failed.add_metric([queue["name"]], float(queue["failed"]))
        yield depth
        yield failed
        workers = GaugeMetricFamily("programme_ops_workers", "RQ workers by state.",
                                    labels=["state"])
        states: dict[str, int] = defaultdict(int)
        for worker in overview["workers"]:
            states[worker["state"]] += 1
        for state, n in states.items():
            workers.add_metric([state], float(n))
        yield workers


def render_latest() -> bytes:
    """Return the exposition text of a fresh registry holding :class:`PortalCollector`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PortalCollector())
    return generate_latest(registry)
