"""The programme list's summary (latest run, open alerts) stays right through the real
state machine and the real alert lifecycle, as a user reading the list would see it."""

from __future__ import annotations

import re

import pytest
from redis import Redis
from rq import Queue

from portal.extensions import db
from portal.models import MonitoringProgramme
from portal.services import alerts as alert_service
from portal.services import programme_summary
from portal.services.runs import WORKER_LOST_ALERT, cancel_run, queue_run, transition
from tests.conftest import REDIS_URL
from tests.factories import gen_programme, gen_user

VALID = {"steps": [{"key": "load", "type": "ingest.csv", "params": {"source": "a.csv"}}]}


@pytest.fixture(autouse=True)
def _empty_queues():
    connection = Redis.from_url(REDIS_URL)
    yield
    for name in ("high", "default"):
        Queue(name, connection=connection).empty()


@pytest.fixture
def listed(app, client, auth):
    """Sign in as an admin; return a function giving (status, dry?, run link, alerts)
    of a programme's row on the programme list."""
    gen_user("admin@x.org", is_admin=True)
    auth.login("admin@x.org")

    def row(code: str) -> dict:
        page = client.get("/").get_data(as_text=True)
        match = re.search(rf'<tr>\s*<td><a href="/programmes/{code}">{code}</a>(.*?)</tr>',
                          page, re.S)
        assert match, f"{code} is not on the list"
        cells = match.group(1)
        status = re.search(r'class="badge status-(\w+)"', cells)
        run = re.search(r'href="/runs/([0-9a-f-]{36})"', cells)
        alerts = re.search(r'class="count-alerts"[^>]*>(\d+)</a>', cells)
        return {"status": status.group(1) if status else None,
                "dry_run": "dry run" in cells,
                "run": run.group(1) if run else None,
                "alerts": int(alerts.group(1)) if alerts else 0}

    return row


def _stored(programme_id: int) -> tuple:
    db.session.expire_all()
    p = db.session.get(MonitoringProgramme, programme_id)
    return (p.latest_run_id, p.latest_run_uuid, p.latest_run_status, p.latest_run_dry_run,
            p.open_alert_count)


def _matches_a_full_recount(programme_id: int) -> bool:
    kept = _stored(programme_id)
    programme_summary.refresh([programme_id])
    db.session.commit()
    return _stored(programme_id) == kept


def test_latest_run_follows_every_transition(listed):
    programme = gen_programme("BIRDS", pipeline_definition_json=VALID)
    user = gen_user("operator@x.org")
    assert listed("BIRDS") == {"status": None, "dry_run": False, "run": None, "alerts": 0}

    first = queue_run(programme, user).run
    assert listed("BIRDS")["status"] == "queued" and listed("BIRDS")["run"] == first.uuid
    first = transition(first, "running", worker_name="w1")
    assert listed("BIRDS")["status"] == "running"
    transition(first, "failed", message="boom")
    assert listed("BIRDS") == {"status": "failed", "dry_run": False, "run": first.uuid,
                               "alerts": 0}

    dry = queue_run(programme, user, dry_run=True).run
    assert listed("BIRDS") == {"status": "queued", "dry_run": True, "run": dry.uuid,
                               "alerts": 0}
    cancel_run(dry, user)
    assert listed("BIRDS")["status"] == "cancelled" and listed("BIRDS")["dry_run"]

    last = queue_run(programme, user).run
    transition(transition(last, "running"), "succeeded")
    assert listed("BIRDS") == {"status": "succeeded", "dry_run": False, "run": last.uuid,
                               "alerts": 0}
    assert _matches_a_full_recount(programme.id)


def test_the_status_filter_reads_the_kept_summary(listed, client):
    programme = gen_programme("BIRDS", pipeline_definition_json=VALID)
    gen_programme("BATS", pipeline_definition_json=VALID)
    run = queue_run(programme, None).run
    transition(transition(run, "running"), "blocked")
    page = client.get("/?status=blocked").get_data(as_text=True)
    assert ">BIRDS</a>" in page and ">BATS</a>" not in page
    page = client.get("/?status=never").get_data(as_text=True)
    assert ">BATS</a>" in page and ">BIRDS</a>" not in page


def test_open_alert_count_follows_the_alert_lifecycle(listed, client):
    programme = gen_programme("BIRDS", pipeline_definition_json=VALID)
    reviewer = gen_user("reviewer@x.org")
    run = transition(transition(queue_run(programme, None).run, "running"), "blocked")

    a = alert_service.raise_alert(programme, run, rule_id="a", severity="error", message="a")
    db.session.commit()
    assert listed("BIRDS")["alerts"] == 1
    alert_service.raise_alert(programme, run, rule_id="a", severity="error", message="a")
    db.session.commit()
    assert listed("BIRDS")["alerts"] == 1  # a recurrence is counted on the alert, not here
    b = alert_service.raise_alert(programme, run, rule_id="b", severity="warning",
                                  message="b")
    db.session.commit()
    assert listed("BIRDS")["alerts"] == 2
    alert_service.acknowledge(a, reviewer, "looking")
    assert listed("BIRDS")["alerts"] == 2  # acknowledged is still unresolved
    alert_service.resolve(b, reviewer, "fixed the file")
    assert listed("BIRDS")["alerts"] == 1
    assert ">BIRDS</a>" in client.get("/?alerts=yes").get_data(as_text=True)

    alert_service.sync_rule_alerts(programme, run, [{"id": "a", "passed": True}])
    db.session.commit()
    assert listed("BIRDS")["alerts"] == 0
    assert ">BIRDS</a>" in client.get("/?alerts=no").get_data(as_text=True)

    alert_service.open_system_alert(programme, run, rule_id=WORKER_LOST_ALERT,
                                    severity="error", message="worker lost")
    db.session.commit()
    assert listed("BIRDS")["alerts"] == 1
    later = queue_run(programme, None).run
    transition(transition(later, "running"), "succeeded")  # resolves worker-lost
    assert listed("BIRDS") == {"status": "succeeded", "dry_run": False, "run": later.uuid,
                               "alerts": 0}
    assert _matches_a_full_recount(programme.id)


def test_refresh_repairs_a_summary_written_around_the_services(app):
    programme = gen_programme("BIRDS")
    db.session.execute(MonitoringProgramme.__table__.update().values(
        latest_run_status="running", open_alert_count=7))
    db.session.commit()
    programme_summary.refresh()
    db.session.commit()
    assert _stored(programme.id) == (None, None, None, False, 0)
