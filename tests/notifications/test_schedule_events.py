"""Time-driven events from the scheduler's notification pass: escalation of alerts
left unacknowledged, and expected deliveries (data late, data arrived)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import MonitoringProgrammeAlert, ProgrammeInputSighting, ProgrammeUpload
from portal.models.notifications import ExpectedDelivery, NotificationEvent
from portal.services import input_sightings
from portal.services.notifications import expected
from portal.services.notifications.delivery import deliver, fan_out
from portal.services.notifications.ticks import escalate, notify_tick
from portal.services.uploads import store_upload
from tests.factories import gen_alert

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _events(kind: str) -> list[NotificationEvent]:
    return db.session.scalars(select(NotificationEvent)
                              .where(NotificationEvent.event_type == kind)).all()


def _send_all(smtp) -> list[str]:
    for event in db.session.scalars(select(NotificationEvent)
                                    .where(NotificationEvent.fanned_out_at.is_(None))).all():
        for delivery_id in fan_out(event.uuid).deliveries:
            deliver(delivery_id)
    return sorted(smtp.recipients())


def test_an_unacknowledged_alert_escalates_once_after_n_hours(app, people, smtp):
    app.config["NOTIFY_ESCALATE_AFTER_HOURS"] = 24
    alert = gen_alert(people["birds"], first_seen_at=T0, last_seen_at=T0)
    acknowledged = gen_alert(people["birds"], rule_id="other", state="acknowledged",
                             first_seen_at=T0, last_seen_at=T0)

    assert escalate(T0 + timedelta(hours=23, minutes=59)) == 0
    assert escalate(T0 + timedelta(hours=24)) == 1
    assert escalate(T0 + timedelta(hours=30)) == 0  # once per alert

    [event] = _events("alert.escalated")
    assert event.payload_json["alert"]["uuid"] == alert.uuid != acknowledged.uuid
    assert event.payload_json["alert"]["unacknowledged_hours"] == 24.0
    assert _send_all(smtp) == ["owner@x.org", "steward@x.org"]


def _expect(programme, **fields) -> ExpectedDelivery:
    row = ExpectedDelivery(programme_id=programme.id, **fields)
    db.session.add(row)
    db.session.commit()
    return row


def _upload(programme, sha: str, at: datetime) -> None:
    """An upload at ``at`` and its sighting (what ``store_upload`` records)."""
    db.session.add(ProgrammeUpload(programme_id=programme.id, original_name="a.csv",
                                   stored_path=f"{programme.code}/inbox/{sha}-{at:%s}.csv",
                                   kind="csv", bytes=10, sha256=sha * 64, uploaded_at=at))
    input_sightings.record([{"programme_id": programme.id, "sha256": sha * 64,
                             "source": "upload", "uri": "inbox/a.csv", "first_seen_at": at}])
    db.session.commit()


def test_monthly_deadlines_in_the_programmes_time_zone(people):
    birds = people["birds"]
    birds.timezone = "Europe/Brussels"
    row = _expect(birds, cadence="monthly", due_day=5, grace_days=2,
                  created_at=T0 - timedelta(days=400))
    slot = expected.next_expected(row, T0)
    # "by the 5th" ends at local midnight starting the 6th (23:00 UTC in winter) + 2 days
    assert slot.due_end == datetime(2026, 3, 5, 23, 0, tzinfo=UTC)
    assert slot.deadline == datetime(2026, 3, 7, 23, 0, tzinfo=UTC)


def test_a_late_delivery_opens_one_alert_and_an_upload_resolves_it(app, people, smtp, tmp_path):
    birds = people["birds"]
    now = datetime.now(UTC)
    _expect(birds, cadence="daily", due_day=1, grace_days=0,
            created_at=now - timedelta(days=3))
    store_upload(birds, people["users"]["owner"], "old.csv", b"site,count\nA,1\n",
                 data_root=tmp_path, max_bytes=10_000)
    db.session.execute(ProgrammeInputSighting.__table__.update().values(
        first_seen_at=now - timedelta(days=2)))  # delivered two days ago, nothing since
    db.session.commit()

    assert expected.check_all(now) == {"late": 1, "arrived": 0}
    assert expected.check_all(now + timedelta(minutes=1)) == {"late": 0, "arrived": 0}
    alerts = db.session.scalars(select(MonitoringProgrammeAlert)).all()
    assert [(a.rule_id, a.state) for a in alerts] == [("data-late", "open")]
    assert len(_events("data.late")) == 1
    assert _send_all(smtp) == ["owner@x.org", "reviewer@x.org", "steward@x.org"]  # late +
    # the reviewer's "alert opened"

    # the same file again is not new data
    store_upload(birds, people["users"]["owner"], "again.csv", b"site,count\nA,1\n",
                 data_root=tmp_path, max_bytes=10_000)
    assert expected.check_all(datetime.now(UTC))["arrived"] == 0

    store_upload(birds, people["users"]["owner"], "new.csv", b"site,count\nA,2\n",
                 data_root=tmp_path, max_bytes=10_000)
    assert expected.check_all(datetime.now(UTC))["arrived"] == 1
    db.session.refresh(alerts[0])
    assert alerts[0].state == "resolved" and "arrived" in alerts[0].resolved_note
    assert len(_events("data.arrived")) == 1
    assert expected.check_all(datetime.now(UTC)) == {"late": 0, "arrived": 0}


def test_punctuality_of_the_last_deadlines(people):
    birds = people["birds"]
    row = _expect(birds, cadence="weekly", due_day=1, grace_days=1,  # Mondays, 1 day grace
                  created_at=T0 - timedelta(days=100))
    # T0 is Monday 2 March 2026. Deadlines: Tuesdays 00:00 + 1 day = Wednesdays 00:00 UTC.
    _upload(birds, "a", datetime(2026, 2, 16, 12, tzinfo=UTC))  # on time for Mon 16 Feb
    _upload(birds, "b", datetime(2026, 2, 26, 12, tzinfo=UTC))  # late for Mon 23 Feb
    _upload(birds, "a", datetime(2026, 3, 2, 12, tzinfo=UTC))  # not new: Mon 2 Mar open
    slots = expected.punctuality(row, datetime(2026, 3, 12, tzinfo=UTC), count=5)
    # A file counts for a deadline when it is newer than the previous due day (freshness):
    # b, late for 23 Feb, is also the fresh data of 2 Mar.
    assert [(s.deadline.date().isoformat(), s.status, s.arrived_at and s.arrived_at.day)
            for s in slots] == [
        ("2026-03-11", "open", None), ("2026-03-04", "on time", 26),
        ("2026-02-25", "late", 26), ("2026-02-18", "on time", 16),
        ("2026-02-11", "late", 16)]


def test_the_scheduler_pass_records_and_enqueues(app, people, drain, smtp):
    gen_alert(people["birds"], first_seen_at=T0, last_seen_at=T0)
    summary = notify_tick(T0 + timedelta(days=2))
    assert summary["escalated"] == 1
    drain()
    assert sorted(smtp.recipients()) == ["owner@x.org", "steward@x.org"]
