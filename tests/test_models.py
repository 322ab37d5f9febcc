"""Database-enforced invariants: one active run per programme, one run per slot,
an append-only audit trail, timestamps that come back in UTC on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import AuditEvent, MonitoringProgrammeRun
from portal.services import audit
from tests.factories import gen_programme, gen_run


@pytest.mark.parametrize("first,second", [("queued", "queued"), ("queued", "running"),
                                          ("running", "running")])
def test_database_refuses_a_second_active_run(app, first, second):
    programme = gen_programme()
    gen_run(programme, status=first)
    db.session.add(MonitoringProgrammeRun(programme_id=programme.id, status=second))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_finished_runs_do_not_count_as_active(app):
    programme = gen_programme()
    for status in ("succeeded", "failed", "blocked", "cancelled", "succeeded"):
        gen_run(programme, status=status)
    gen_run(programme, status="queued")
    other = gen_programme()
    gen_run(other, status="running")  # another programme may run at the same time
    assert db.session.query(MonitoringProgrammeRun).count() == 7


def test_database_refuses_a_duplicate_slot(app):
    programme = gen_programme()
    slot = datetime(2026, 1, 1, 6, tzinfo=UTC)
    gen_run(programme, status="succeeded", scheduled_for=slot)
    db.session.add(MonitoringProgrammeRun(programme_id=programme.id, status="succeeded",
                                          scheduled_for=slot))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    # Unscheduled runs (scheduled_for NULL) are not slots and never collide.
    gen_run(programme, status="succeeded")
    gen_run(programme, status="succeeded")


def test_audit_events_are_append_only(app):
    audit.record("something_happened", object_type="test", object_id=1)
    db.session.commit()
    event = db.session.scalars(select(AuditEvent)
                               .where(AuditEvent.action == "something_happened")).one()
    event.action = "rewritten"
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.delete(db.session.get(AuditEvent, event.id))
        db.session.commit()
    db.session.rollback()


def test_timestamps_round_trip_in_utc(app):
    programme = gen_programme()
    moment = datetime(2026, 3, 29, 1, 30, tzinfo=UTC) + timedelta(microseconds=5)
    programme.next_run_at = moment
    db.session.commit()
    db.session.expire_all()
    assert programme.next_run_at == moment
    assert programme.next_run_at.tzinfo is not None
    with pytest.raises(Exception, match="naive"):
        programme.next_run_at = datetime(2026, 1, 1)
        db.session.commit()
    db.session.rollback()
