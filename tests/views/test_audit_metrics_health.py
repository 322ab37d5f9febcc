"""The audit log (scope, filters, CSV), metrics page, Prometheus /metrics, health, tokens."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.auth.tokens import user_for_token
from portal.extensions import db
from portal.models import ApiToken, MonitoringProgrammeRunStep, utcnow
from portal.services import audit
from tests.factories import gen_alert, gen_programme, gen_run


@pytest.fixture
def trail(team):
    bats = gen_programme("BATS")
    audit.record("programme_updated", actor=team["users"]["owner"], object_type="programme",
                 object_id="BIRDS", programme_id=team["programme"].id,
                 metadata={"diff": {"timezone": {"before": "UTC", "after": "Europe/Madrid"}}})
    audit.record("programme_updated", object_type="programme", object_id="BATS",
                 programme_id=bats.id, metadata={"diff": {"title": {"before": "a", "after": "b"}}})
    audit.record("user_created", object_type="user", object_id=1, metadata={"email": "x@x.org"})
    db.session.commit()
    return team


def _rows(response) -> str:
    """The table body of the audit page (the filters list action names too)."""
    return response.get_data(as_text=True).split("<tbody>", 1)[-1]


def test_admin_reads_everything_stewards_their_programmes(trail, client, auth):
    auth.login("admin@x.org")
    page = client.get("/audit").get_data(as_text=True)
    assert "BATS" in page and "user_created" in page and "Europe/Madrid" in page
    auth.logout()
    auth.login("steward@x.org")
    page = _rows(client.get("/audit"))
    assert ">BIRDS</a>" in page and ">BATS</a>" not in page and "user_created" not in page
    auth.logout()
    auth.login("reviewer@x.org")
    assert "No audit events to show." in client.get("/audit").get_data(as_text=True)


def test_audit_filters_and_csv(trail, client, auth):
    auth.login("admin@x.org")
    page = client.get("/audit?programme=BATS").get_data(as_text=True)
    assert "BATS" in page and "Europe/Madrid" not in page
    assert "user_created" not in _rows(client.get("/audit?actor=owner@"))
    assert "programme_updated" not in _rows(client.get("/audit?action=user_created"))
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    assert "No audit events" in client.get(f"/audit?date_from={tomorrow}").get_data(as_text=True)
    response = client.get("/audit.csv?action=programme_updated")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert {r["programme"] for r in rows} == {"BIRDS", "BATS"}
    assert '"after": "Europe/Madrid"' in rows[0]["metadata"]
    auth.logout()
    auth.login("owner@x.org")
    rows = list(csv.DictReader(io.StringIO(client.get("/audit.csv").get_data(as_text=True))))
    assert [r["programme"] for r in rows] == ["BIRDS"]


def _finished_runs(programme):
    now = utcnow()
    for n, (status, seconds) in enumerate([("succeeded", 10.0), ("succeeded", 20.0),
                                           ("failed", 30.0), ("blocked", 100.0)]):
        run = gen_run(programme, status=status, duration_seconds=seconds,
                      started_at=now - timedelta(hours=n + 1, seconds=seconds),
                      finished_at=now - timedelta(hours=n + 1))
        db.session.add(MonitoringProgrammeRunStep(
            run_id=run.id, ordering=0, step_key="ingest", step_type="ingest.csv",
            status="succeeded", duration_seconds=seconds / 2, finished_at=run.finished_at))
    db.session.commit()


def test_metrics_page(team, client, auth):
    _finished_runs(team["programme"])
    auth.login("member@x.org")
    page = client.get("/reports/metrics?window=7d").get_data(as_text=True)
    assert "<svg" in page and page.count("<circle") == 4
    assert "50.0 %" in page  # succeeded
    # median of 10, 20, 30 and 100 s; max 100 s
    assert "<code>BIRDS</code></td><td>4</td><td>25.0 s</td><td>1 min 40 s</td>" in page
    assert "<code>ingest.csv</code>" in page
    auth.logout()
    auth.login("outsider@x.org")
    assert "No finished runs" in client.get("/reports/metrics").get_data(as_text=True)


def test_prometheus_needs_the_token_or_an_admin(team, app, client, auth):
    _finished_runs(team["programme"])
    gen_alert(team["programme"], severity="critical")
    app.config["METRICS_TOKEN"] = "s3cret-scrape-token"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    response = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"})
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'programme_ops_run_duration_seconds_bucket{le="15.0",programme="BIRDS"} 1.0' in text
    assert 'programme_ops_run_duration_seconds_count{programme="BIRDS"} 4.0' in text
    assert ('programme_ops_step_duration_seconds_count{programme="BIRDS",step_type="ingest.csv"}'
            ' 4.0') in text
    assert 'programme_ops_runs_total{programme="BIRDS",status="succeeded"} 2.0' in text
    assert 'programme_ops_open_alerts{programme="BIRDS",severity="critical"} 1.0' in text
    assert "programme_ops_redis_up" in text
    auth.login("owner@x.org")
    assert client.get("/metrics").status_code == 401
    auth.logout()
    auth.login("admin@x.org")
    assert client.get("/metrics").status_code == 200


def test_health_page(team, client, auth):
    programme = team["programme"]
    programme.scheduler_enabled = True
    programme.next_run_at = utcnow() + timedelta(hours=2)
    gen_run(programme, status="running", started_at=utcnow() - timedelta(hours=1),
            heartbeat_at=utcnow() - timedelta(minutes=10))
    hidden = gen_programme("BATS", scheduler_enabled=True, next_run_at=utcnow())
    db.session.commit()
    auth.login("member@x.org")
    page = client.get("/health").get_data(as_text=True)
    assert "Scheduler" in page and "Workers" in page and "Queues" in page
    assert "the reconciler will fail it" in page
    local = programme.next_run_at.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Madrid"))
    assert local.strftime("%Y-%m-%d %H:%M") in page
    assert hidden.code not in page


def test_api_tokens_are_created_once_used_and_revoked(team, client, auth):
    auth.login("operator@x.org")
    response = auth.post("/account/tokens", {"name": "CI pipeline"})
    page = response.get_data(as_text=True)
    secret = page.split('id="new-token" class="token">')[1].split("<")[0]
    assert secret.startswith("po_") and response.status_code == 200
    token = db.session.scalar(select(ApiToken))
    assert token.token_hash != secret and secret not in token.token_hash
    assert secret not in client.get("/account/tokens").get_data(as_text=True)
    api = client.application.test_client()
    assert api.get("/api/v1/programmes/BIRDS",
                   headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    assert auth.post(f"/account/tokens/{token.id}/revoke").status_code == 302
    db.session.refresh(token)
    assert token.revoked_at is not None and user_for_token(secret) is None
    assert "revoked" in client.get("/account/tokens").get_data(as_text=True)
    assert auth.post("/account/tokens", {"name": ""}).status_code == 400
