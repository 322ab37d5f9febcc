"""The JSON API: runs, alerts, metrics and the OpenAPI description."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import MonitoringProgrammeRun, MonitoringProgrammeRunStep
from tests.factories import gen_alert, gen_run


def test_token_started_run_is_an_integration(team, client, bearer):
    response = client.post("/api/v1/programmes/BIRDS/runs", json={"dry_run": True},
                           headers=bearer("operator"))
    assert response.status_code == 201, response.json
    body = response.json
    assert body["trigger"] == "integration" and body["dry_run"] is True
    assert body["status"] == "queued" and body["requested_by"] == "operator@x.org"
    assert response.headers["Location"] == f"/api/v1/runs/{body['uuid']}"
    conflict = client.post("/api/v1/programmes/BIRDS/runs", json={},
                           headers=bearer("steward"))
    assert conflict.status_code == 409
    assert conflict.json["active_run"] == body["uuid"] and body["uuid"] in conflict.json["message"]


def test_session_run_is_manual_and_needs_csrf(team, client, auth):
    auth.login("operator@x.org")
    refused = client.post("/api/v1/programmes/BIRDS/runs", json={})
    assert refused.status_code == 400 and "security token" in refused.json["message"]
    response = auth.post_json("/api/v1/programmes/BIRDS/runs", {"run_type": "full"})
    assert response.status_code == 201 and response.json["trigger"] == "manual"


def test_bad_requests_name_the_field(team, client, bearer):
    headers = bearer("operator")
    for payload, field in [({"run_type": "everything"}, "run_type"),
                           ({"run_type": 3}, "run_type"),
                           ({"dry_run": "yes"}, "dry_run"),
                           ({"colour": "red"}, "colour"),
                           ([1, 2], "body")]:
        response = client.post("/api/v1/programmes/BIRDS/runs", json=payload, headers=headers)
        assert response.status_code == 400, payload
        assert response.json["field"] == field and response.json["error"] == "bad_request"
    assert db.session.scalar(select(MonitoringProgrammeRun)) is None


def test_forbidden_not_found_and_unauthenticated(team, client, bearer):
    forbidden = client.post("/api/v1/programmes/BIRDS/runs", json={}, headers=bearer("reviewer"))
    assert forbidden.status_code == 403 and "operators" in forbidden.json["message"]
    hidden = client.post("/api/v1/programmes/BIRDS/runs", json={}, headers=bearer("outsider"))
    assert hidden.status_code == 404 and hidden.json["error"] == "not_found"
    missing = client.post("/api/v1/programmes/NOPE/runs", json={}, headers=bearer("admin"))
    assert missing.status_code == 404
    anonymous = client.post("/api/v1/programmes/BIRDS/runs", json={})
    assert anonymous.status_code in (400, 401)


def test_run_with_steps(team, client, bearer):
    run = gen_run(team["programme"], status="succeeded", duration_seconds=3.5)
    db.session.add(MonitoringProgrammeRunStep(run_id=run.id, ordering=0, step_key="ingest",
                                              step_type="ingest.csv", status="succeeded",
                                              rows_in=10, rows_out=9, rows_rejected=1))
    db.session.commit()
    body = client.get(f"/api/v1/runs/{run.uuid}", headers=bearer("member")).json
    assert body["status"] == "succeeded" and body["programme"] == "BIRDS"
    assert body["steps"][0] | {"details": None} == body["steps"][0]
    assert [s["key"] for s in body["steps"]] == ["ingest"]
    assert (body["steps"][0]["rows_out"], body["steps"][0]["rows_rejected"]) == (9, 1)
    assert client.get(f"/api/v1/runs/{run.uuid}", headers=bearer("outsider")).status_code == 404


def test_acknowledge_and_resolve(team, client, bearer):
    alert = gen_alert(team["programme"])
    headers = bearer("reviewer")
    url = f"/api/v1/alerts/{alert.uuid}"
    acked = client.post(f"{url}/acknowledge", json={"note": "on it"}, headers=headers)
    assert acked.status_code == 200 and acked.json["state"] == "acknowledged"
    again = client.post(f"{url}/acknowledge", json={}, headers=headers)
    assert again.status_code == 409
    no_note = client.post(f"{url}/resolve", json={}, headers=headers)
    assert no_note.status_code == 400 and no_note.json["field"] == "note"
    db.session.expire_all()
    assert db.session.get(type(alert), alert.id).state == "acknowledged"
    done = client.post(f"{url}/resolve", json={"note": "source fixed"}, headers=headers)
    assert done.json["state"] == "resolved" and done.json["resolved_note"] == "source fixed"
    assert client.post(f"{url}/resolve", json={"note": "x"},
                       headers=bearer("member")).status_code == 403


def test_metrics(team, client, bearer):
    from portal.models import utcnow

    gen_run(team["programme"], status="succeeded", duration_seconds=10.0, finished_at=utcnow())
    body = client.get("/api/v1/metrics?window=7d", headers=bearer("member")).json
    assert body["window"] == "7d"
    assert body["by_programme"][0] == {"key": "BIRDS", "count": 1, "median_seconds": 10.0,
                                       "p95_seconds": 10.0, "max_seconds": 10.0}
    assert body["rates"]["total"] == 1


def test_openapi_lists_every_api_route(app, client):
    spec = client.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, item in spec["paths"].items()
                  for method in item}
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = rule.rule.removeprefix("/api/v1")
            path = path.replace("<", "{").replace(">", "}")
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routes.add((path, method))
    assert routes == documented
