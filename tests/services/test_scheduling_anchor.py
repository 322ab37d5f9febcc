"""Monthly schedules keep their day: Jan 31 → Feb 29 → Mar 31, never drifting to the 29th."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import MonitoringProgrammeRun
from portal.services.scheduling import dispatch_due, reschedule
from tests.factories import gen_programme

PIPELINE = {"steps": [{"key": "load", "type": "ingest.csv", "params": {"source": "a.csv"}}]}


def finish_all() -> None:
    for run in db.session.scalars(select(MonitoringProgrammeRun)):
        run.status = "succeeded"
    db.session.commit()


def test_month_end_anchor_survives_a_short_month(app):
    programme = gen_programme("MONTHLY", refresh_cadence="monthly", timezone="Europe/Madrid",
                              scheduler_enabled=True, pipeline_definition_json=PIPELINE)
    # Set up at 00:30 on Jan 31, Madrid time (23:30 UTC on Jan 30): the anchor is Jan 31.
    reschedule(programme, now=datetime(2024, 1, 30, 23, 30, tzinfo=UTC))
    db.session.commit()
    assert programme.schedule_anchor_at == datetime(2024, 1, 30, 23, tzinfo=UTC)
    # Feb 29 00:00 in Madrid (CET) is 23:00 UTC on Feb 28.
    assert programme.next_run_at == datetime(2024, 2, 28, 23, tzinfo=UTC)
    slots = []
    for _ in range(3):
        due = programme.next_run_at
        summary = dispatch_due(due + timedelta(minutes=1))
        assert len(summary.created) == 1
        finish_all()
        db.session.expire_all()
        slots.append(due.astimezone(programme_zone(programme)).date().isoformat())
    # Mar 31 and Apr 30 (CEST from Mar 31 on): the 31st comes back after February.
    assert slots == ["2024-02-29", "2024-03-31", "2024-04-30"]
    runs = db.session.scalars(select(MonitoringProgrammeRun)
                              .order_by(MonitoringProgrammeRun.scheduled_for)).all()
    assert [r.skipped_slots for r in runs] == [0, 0, 0]


def programme_zone(programme):
    from zoneinfo import ZoneInfo

    return ZoneInfo(programme.timezone)


def test_reschedule_clears_an_unscheduled_programme(app):
    programme = gen_programme("ADHOC", refresh_cadence="ad_hoc", scheduler_enabled=True)
    reschedule(programme)
    assert programme.next_run_at is None and programme.schedule_anchor_at is None
