"""Deliveries from any source: data a run read from the inbox folder or fetched over HTTP
counts for expected deliveries like an upload, once per sha256."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    MonitoringProgrammeAlert,
    MonitoringProgrammeRun,
    ProgrammeInputSighting,
    utcnow,
)
from portal.models.notifications import ExpectedDelivery, NotificationEvent
from portal.services import input_sightings
from portal.services.notifications import expected
from portal.services.notifications.ticks import notify_tick
from portal.services.runs import queue_run
from portal.services.uploads import store_upload
from tests.conftest import REDIS_URL
from tests.factories import gen_run
from tests.notifications.conftest import run_burst_worker

CSV = b"site,count\nA,1\nB,2\n"


@pytest.fixture
def work(app, tmp_path):
    """Run every job waiting in Redis (runs, then notifications) with a real worker
    process, ``flask jobs worker --burst``, configured like the app under test."""
    connection = Redis.from_url(REDIS_URL)
    for name in ("high", "default"):
        Queue(name, connection=connection).empty()
    return lambda: run_burst_worker(app, tmp_path)


@pytest.fixture
def http_source():
    """An allow-listed local HTTP server answering a CSV (``answer`` can be changed)."""
    state = {"answer": b"site,count\nH,7\n"}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 — http.server API
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(state["answer"])))
            self.end_headers()
            self.wfile.write(state["answer"])

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_port}/counts.csv"
    yield state
    server.shutdown()
    server.server_close()


def _reading(programme, step: dict) -> None:
    programme.pipeline_definition_json = {"steps": [{"key": "ingest", "retries": 0, **step}]}
    db.session.commit()


def _drop(app, programme, name: str, data: bytes) -> None:
    """What a sync job does: write a file straight into the programme's inbox folder."""
    inbox = Path(app.config["DATA_ROOT"]) / programme.code / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / name).write_bytes(data)


def _run(programme, work, dry_run: bool = False) -> MonitoringProgrammeRun:
    run_id = queue_run(programme, None, dry_run=dry_run).run.id
    work()
    db.session.rollback()
    run = db.session.get(MonitoringProgrammeRun, run_id, populate_existing=True)
    assert run.status == "succeeded", run.error_message
    return run


def _expect_daily(programme) -> ExpectedDelivery:
    row = ExpectedDelivery(programme_id=programme.id, cadence="daily", due_day=1,
                           grace_days=0, created_at=utcnow() - timedelta(days=3))
    db.session.add(row)
    db.session.commit()
    return row


def _late_alert(programme) -> MonitoringProgrammeAlert | None:
    db.session.rollback()
    return db.session.scalar(select(MonitoringProgrammeAlert).where(
        MonitoringProgrammeAlert.programme_id == programme.id,
        MonitoringProgrammeAlert.rule_id == expected.LATE_ALERT)
        .execution_options(populate_existing=True))


def _sightings(programme) -> list[ProgrammeInputSighting]:
    return db.session.scalars(select(ProgrammeInputSighting)
                              .where(ProgrammeInputSighting.programme_id == programme.id)
                              .order_by(ProgrammeInputSighting.id)).all()


def _arrived_events() -> list[NotificationEvent]:
    return db.session.scalars(select(NotificationEvent)
                              .where(NotificationEvent.event_type == "data.arrived")).all()


def test_a_file_dropped_into_the_inbox_and_read_by_a_run_resolves_the_late_alert(
        app, people, work):
    birds = people["birds"]
    row = _expect_daily(birds)
    assert expected.check_all(utcnow()) == {"late": 1, "arrived": 0}
    assert _late_alert(birds).state == "open"

    _drop(app, birds, "sync-2026-03.csv", CSV)
    _reading(birds, {"type": "ingest.csv", "params": {"source": "inbox/sync-2026-03.csv"}})
    run = _run(birds, work)
    summary = notify_tick(utcnow() + timedelta(minutes=1))

    assert summary["sightings"] == 1
    assert summary["expected"] == {"late": 0, "arrived": 1}
    [sighting] = _sightings(birds)
    assert (sighting.source, sighting.uri, sighting.run_id) == (
        "inbox", "inbox/sync-2026-03.csv", run.id)
    assert sighting.sha256 == hashlib.sha256(CSV).hexdigest()
    assert sighting.first_seen_at == run.started_at
    alert = _late_alert(birds)
    assert alert.state == "resolved" and "arrived" in alert.resolved_note
    [event] = _arrived_events()
    assert event.payload_json["delivery"]["arrived_at"] == run.started_at.isoformat()

    # the deadline the run fell before is "on time" on the programme's punctuality list
    next_midnight = run.started_at.replace(hour=0, minute=0, second=0,
                                           microsecond=0) + timedelta(days=1)
    slots = expected.punctuality(row, next_midnight + timedelta(days=2))
    [slot] = [s for s in slots if s.deadline == next_midnight]
    assert (slot.status, slot.arrived_at) == ("on time", run.started_at)


def test_the_same_bytes_again_are_not_new_data(app, people, work):
    birds = people["birds"]
    _drop(app, birds, "first.csv", CSV)
    _reading(birds, {"type": "ingest.csv", "params": {"source": "inbox/first.csv"}})
    _run(birds, work)
    assert input_sightings.record_run_inputs(utcnow() + timedelta(minutes=1)) == 1
    db.session.execute(ProgrammeInputSighting.__table__.update().values(
        first_seen_at=utcnow() - timedelta(days=2)))  # delivered two days ago
    db.session.commit()
    _expect_daily(birds)
    assert expected.check_all(utcnow()) == {"late": 1, "arrived": 0}

    _drop(app, birds, "again.csv", CSV)  # a sync job delivers the same file under a new name
    _reading(birds, {"type": "ingest.csv", "params": {"source": "inbox/again.csv"}})
    _run(birds, work)
    summary = notify_tick(utcnow() + timedelta(minutes=1))

    assert summary["sightings"] == 0
    assert summary["expected"] == {"late": 0, "arrived": 0}
    assert [s.uri for s in _sightings(birds)] == ["inbox/first.csv"]
    assert _late_alert(birds).state == "open"
    assert _arrived_events() == []


def test_an_upload_counts_and_a_run_reading_it_adds_nothing(app, people, work):
    birds = people["birds"]
    _expect_daily(birds)
    assert expected.check_all(utcnow())["late"] == 1
    upload = store_upload(birds, people["users"]["owner"], "counts.csv", CSV,
                          data_root=Path(app.config["DATA_ROOT"]), max_bytes=10_000)
    [sighting] = _sightings(birds)
    assert (sighting.source, sighting.first_seen_at) == ("upload", upload.uploaded_at)
    assert sighting.uri == upload.stored_path.split("/", 1)[1]  # inbox/<stored name>

    _reading(birds, {"type": "ingest.csv", "params": {"source": "inbox/latest"}})
    _run(birds, work)
    summary = notify_tick(utcnow() + timedelta(minutes=1))

    assert summary["sightings"] == 0  # the run read the uploaded bytes: already seen
    assert summary["expected"] == {"late": 0, "arrived": 1}
    assert [(s.source, s.first_seen_at) for s in _sightings(birds)] == [
        ("upload", upload.uploaded_at)]
    assert _late_alert(birds).state == "resolved"


def test_an_http_source_read_by_a_dry_run_counts(app, people, work, http_source):
    birds = people["birds"]
    _expect_daily(birds)
    assert expected.check_all(utcnow())["late"] == 1
    _reading(birds, {"type": "ingest.http",
                     "params": {"url": http_source["url"], "format": "csv"}})
    run = _run(birds, work, dry_run=True)
    summary = notify_tick(utcnow() + timedelta(minutes=1))

    assert summary["sightings"] == 1
    assert summary["expected"] == {"late": 0, "arrived": 1}
    [sighting] = _sightings(birds)
    assert (sighting.source, sighting.uri, sighting.first_seen_at) == (
        "http", http_source["url"], run.started_at)
    assert _late_alert(birds).state == "resolved"

    # the same answer again is not new; a changed answer is
    _run(birds, work, dry_run=True)
    http_source["answer"] = b"site,count\nH,8\n"
    _run(birds, work, dry_run=True)
    assert notify_tick(utcnow() + timedelta(minutes=1))["sightings"] == 1
    assert len(_sightings(birds)) == 2


def _finished(programme, sha: str, finished_at, uri: str = "inbox/a.csv"):
    return gen_run(programme, started_at=finished_at - timedelta(minutes=1),
                   finished_at=finished_at,
                   lineage_json={"inputs": [{"uri": uri, "sha256": sha * 64}]})


def test_the_pass_reads_each_finished_run_once_in_bounded_batches(people):
    birds, now = people["birds"], utcnow()
    for index, sha in enumerate("abc"):
        _finished(birds, sha, now - timedelta(minutes=10 - index))
    recent = _finished(birds, "d", now - timedelta(seconds=5))  # may still be committing

    assert input_sightings.record_run_inputs(now, batch=1, max_batches=2) == 2
    assert input_sightings.record_run_inputs(now, batch=1, max_batches=2) == 1
    assert input_sightings.record_run_inputs(now) == 0
    assert {s.sha256[0] for s in _sightings(birds)} == {"a", "b", "c"}
    assert input_sightings.record_run_inputs(now + timedelta(minutes=1)) == 1
    assert _sightings(birds)[-1].run_id == recent.id


def test_an_earlier_sighting_wins_and_passwords_are_masked(people):
    birds, now = people["birds"], utcnow()
    later = _finished(birds, "e", now - timedelta(minutes=5))
    input_sightings.record_run_inputs(now)
    earlier = _finished(birds, "e", now - timedelta(minutes=1),
                        uri="https://robot:s3cret@api.example.org/counts?password=x")
    earlier.started_at = now - timedelta(days=1)  # a backlog run read the bytes first
    db.session.commit()
    input_sightings.record_run_inputs(now + timedelta(minutes=1))

    [sighting] = _sightings(birds)
    db.session.refresh(sighting)
    assert sighting.run_id == earlier.id != later.id
    assert sighting.first_seen_at == earlier.started_at
    assert sighting.source == "http"
    assert "s3cret" not in sighting.uri and sighting.uri.endswith("password=***")


def test_many_sightings_at_once_are_written_in_bounded_statements(people):
    birds, now = people["birds"], utcnow()
    rows = [{"programme_id": birds.id, "sha256": f"{n:064x}", "source": "other",
             "uri": f"files/{n}.csv", "first_seen_at": now} for n in range(1200)]
    assert input_sightings.record(rows) == 1200
    assert input_sightings.record(rows) == 0  # the same bytes again
    db.session.commit()
    assert len(_sightings(birds)) == 1200
