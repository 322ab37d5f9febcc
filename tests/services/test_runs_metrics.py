"""Duration and outcome statistics for the metrics page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from portal.extensions import db
from portal.models import MonitoringProgrammeRunStep
from portal.services.metrics_data import metrics_overview, percentile, run_stats_by_programme
from tests.factories import gen_programme, gen_run


def test_run_durations_and_rates_by_programme(app):
    now = datetime.now(UTC)
    programme = gen_programme("BIRDS")
    for seconds, status in [(10, "succeeded"), (20, "succeeded"), (30, "failed"),
                            (40, "blocked"), (100, "succeeded")]:
        gen_run(programme, status=status, duration_seconds=seconds, finished_at=now)
    gen_run(programme, status="succeeded", duration_seconds=999, finished_at=now,
            dry_run=True)
    gen_run(programme, status="succeeded", duration_seconds=999,
            finished_at=now - timedelta(days=40))

    (stats,) = run_stats_by_programme(days=30)

    assert (stats.key, stats.count, stats.median, stats.p95, stats.max) == (
        "BIRDS", 5, 30.0, 100.0, 100.0)
    assert stats.rate("succeeded") == 0.6 and stats.rate("blocked") == 0.2


def test_step_durations_by_type(app):
    run = gen_run(gen_programme(), status="succeeded", duration_seconds=3,
                  finished_at=datetime.now(UTC))
    for index, (kind, seconds) in enumerate([("ingest.csv", 1.0), ("ingest.csv", 3.0),
                                             ("validate.rules", 2.0)]):
        db.session.add(MonitoringProgrammeRunStep(
            run_id=run.id, ordering=index, step_key=f"s{index}", step_type=kind,
            status="succeeded", duration_seconds=seconds, finished_at=datetime.now(UTC)))
    db.session.commit()
    overview = metrics_overview()
    by_type = {row["key"]: row for row in overview["step_types"]}
    assert by_type["ingest.csv"]["median"] == 2.0 and by_type["ingest.csv"]["count"] == 2
    assert overview["overall"]["rates"]["succeeded"] == 1.0


def test_percentile_is_nearest_rank():
    assert percentile([], 0.95) is None
    assert percentile([float(v) for v in range(1, 21)], 0.95) == 19.0
