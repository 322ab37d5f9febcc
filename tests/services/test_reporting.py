"""Run and step duration statistics and outcome rates (the metrics page and API)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from portal.extensions import db
from portal.models import MonitoringProgrammeRunStep
from portal.services.reporting import (
    percentile,
    run_duration_stats,
    status_rates,
    step_duration_stats,
)
from tests.factories import gen_programme, gen_run, gen_steward, gen_user

SINCE = datetime.now(UTC) - timedelta(days=30)


def test_run_durations_and_rates_by_programme(app):
    now = datetime.now(UTC)
    programme = gen_programme("BIRDS")
    for seconds, status in [(10, "succeeded"), (20, "succeeded"), (30, "failed"),
                            (40, "blocked"), (100, "succeeded")]:
        gen_run(programme, status=status, duration_seconds=seconds, finished_at=now)
    gen_run(programme, status="succeeded", duration_seconds=999, finished_at=now, dry_run=True)
    gen_run(programme, status="succeeded", duration_seconds=999,
            finished_at=now - timedelta(days=40))
    (stats,) = run_duration_stats(None, SINCE)
    assert (stats.key, stats.count, stats.median, stats.p95, stats.max) == (
        "BIRDS", 5, 30.0, 100.0, 100.0)
    rates = {row["status"]: row["rate"] for row in status_rates(None, SINCE)["statuses"]}
    # The dry run counts among outcomes (it ran); the 40-day-old run is outside the window.
    assert rates["succeeded"] == 4 / 6 and rates["blocked"] == 1 / 6


def test_step_durations_by_type(app):
    run = gen_run(gen_programme(), status="succeeded", duration_seconds=3,
                  finished_at=datetime.now(UTC))
    for index, (kind, seconds) in enumerate([("ingest.csv", 1.0), ("ingest.csv", 3.0),
                                             ("validate.rules", 2.0)]):
        db.session.add(MonitoringProgrammeRunStep(
            run_id=run.id, ordering=index, step_key=f"s{index}", step_type=kind,
            status="succeeded", duration_seconds=seconds, finished_at=datetime.now(UTC)))
    db.session.commit()
    by_type = {row.key: row for row in step_duration_stats(None, SINCE)}
    assert by_type["ingest.csv"].median == 2.0 and by_type["ingest.csv"].count == 2
    assert by_type["ingest.csv"].max == 3.0 and by_type["validate.rules"].count == 1


def test_stats_are_scoped_to_what_the_user_sees(app):
    now = datetime.now(UTC)
    mine, theirs = gen_programme("MINE"), gen_programme("THEIRS")
    gen_run(mine, status="succeeded", duration_seconds=5, finished_at=now)
    gen_run(theirs, status="failed", duration_seconds=7, finished_at=now)
    reviewer = gen_user()
    gen_steward(mine, reviewer, "reviewer")
    assert [s.key for s in run_duration_stats(reviewer, SINCE)] == ["MINE"]
    assert status_rates(reviewer, SINCE)["total"] == 1


def test_percentile_is_nearest_rank():
    assert percentile([], 0.95) is None
    assert percentile([float(v) for v in range(1, 21)], 0.95) == 19.0
