"""The run page: live timeline (HTMX polling that stops), data quality, lineage, cancel."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from portal.extensions import db
from portal.models import MonitoringProgrammeRunStep, utcnow
from tests.factories import gen_programme, gen_run, gen_steward, gen_user

HX = {"HX-Request": "true"}


def _step(run, ordering: int, key: str, status: str, **fields) -> MonitoringProgrammeRunStep:
    step = MonitoringProgrammeRunStep(run_id=run.id, ordering=ordering, step_key=key,
                                      step_type=fields.pop("step_type", f"{key}.x"),
                                      status=status, **fields)
    db.session.add(step)
    db.session.commit()
    return step


def test_running_run_polls_and_the_poll_stops_when_it_ends(team, client, auth):
    run = gen_run(team["programme"], status="running", started_at=utcnow(),
                  heartbeat_at=utcnow())
    _step(run, 0, "ingest", "succeeded", rows_in=120, rows_out=118, rows_rejected=2,
          duration_seconds=1.5, log_excerpt="read 120 rows")
    _step(run, 1, "validate", "running")
    auth.login("reviewer@x.org")
    page = client.get(f"/runs/{run.uuid}")
    text = page.get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in text and "<html" in text
    assert "read 120 rows" in text and "118" in text and "status-running" in text
    assert "HX-Request" in page.headers["Vary"]
    poll = client.get(f"/runs/{run.uuid}", headers=HX)
    assert poll.status_code == 200 and "<html" not in poll.get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in poll.get_data(as_text=True)
    run.status, run.finished_at, run.duration_seconds = "succeeded", utcnow(), 4.0
    db.session.commit()
    final = client.get(f"/runs/{run.uuid}", headers=HX)
    assert final.status_code == 286
    assert "hx-trigger" not in final.get_data(as_text=True)
    assert "status-succeeded" in final.get_data(as_text=True)
    restore = client.get(f"/runs/{run.uuid}", headers={**HX, "HX-History-Restore-Request": "true"})
    assert restore.status_code == 200 and "<html" in restore.get_data(as_text=True)


def test_data_quality_results_and_rejection_report(team, app, client, auth):
    run = gen_run(team["programme"], status="blocked", finished_at=utcnow(),
                  error_message="blocked by failing rule(s): taxon-present")
    report = Path(app.config["WORK_ROOT"]) / run.uuid / "rejections.csv"
    report.parent.mkdir(parents=True)
    report.write_text("row,rule\n3,taxon-present\n")
    _step(run, 0, "validate", "blocked", step_type="validate.rules", rows_in=10, rows_out=9,
          rows_rejected=1, details_json={
              "rules": [{"id": "taxon-present", "type": "not_null", "severity": "error",
                         "passed": False, "failing_rows": 1, "fraction": 0.1,
                         "sample": [{"row": 3}], "message": "1 row lacks a taxon"},
                        {"id": "dates", "type": "date", "severity": "warning", "passed": True,
                         "failing_rows": 0, "fraction": 0.0, "message": None}],
              "files": {"rejection_report": str(report)}})
    auth.login("member@x.org")
    page = client.get(f"/runs/{run.uuid}").get_data(as_text=True)
    assert "Why it stopped" in page and "taxon-present" in page
    assert "1 row lacks a taxon" in page and "10.00 %" in page
    assert f'href="/runs/{run.uuid}/rejections.csv"' in page
    download = client.get(f"/runs/{run.uuid}/rejections.csv")
    assert download.status_code == 200 and b"taxon-present" in download.data


def test_rejection_report_outside_work_root_is_refused(team, app, client, auth, tmp_path):
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("secret")
    run = gen_run(team["programme"], status="blocked")
    _step(run, 0, "validate", "blocked",
          details_json={"rules": [], "files": {"rejection_report": str(outside)}})
    auth.login("admin@x.org")
    assert client.get(f"/runs/{run.uuid}/rejections.csv").status_code == 404


def test_lineage_panel_and_openlineage_download(team, client, auth):
    lineage = {"code_version": "abc123", "definition_sha256": "d" * 64,
               "inputs": [{"uri": "birds.csv", "sha256": "a" * 64, "bytes": 2048, "rows": 120}],
               "outputs": [{"table": "richness", "sha256": "b" * 64, "rows": 12}],
               "release": {"version": "1.2", "path": "BIRDS/1.2",
                           "files": [{"path": "richness.csv", "sha256": "c" * 64, "rows": 12}]}}
    started = utcnow() - timedelta(minutes=2)
    run = gen_run(team["programme"], status="succeeded", lineage_json=lineage,
                  started_at=started, finished_at=utcnow())
    auth.login("reviewer@x.org")
    page = client.get(f"/runs/{run.uuid}").get_data(as_text=True)
    assert "birds.csv" in page and "a" * 16 in page and "abc123" in page
    assert 'href="/programmes/BIRDS/releases/1.2/richness.csv"' in page
    response = client.get(f"/runs/{run.uuid}/openlineage.json")
    events = json.loads(response.data)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert all(e["schemaURL"].endswith("2-0-2/OpenLineage.json#/$defs/RunEvent") for e in events)
    assert events[0]["run"]["runId"] == run.uuid and events[0]["job"]["name"] == "BIRDS.full"
    assert events[1]["inputs"][0]["facets"]["version"]["datasetVersion"] == "a" * 64
    assert events[1]["outputs"][0]["name"] == "BIRDS/1.2/richness.csv"


def test_failed_run_event_carries_the_error(team, client, auth):
    run = gen_run(team["programme"], status="failed", error_message="worker lost",
                  finished_at=utcnow())
    auth.login("admin@x.org")
    events = client.get(f"/runs/{run.uuid}/openlineage.json").json
    assert events[-1]["eventType"] == "FAIL"
    assert events[-1]["run"]["facets"]["errorMessage"]["message"] == "worker lost"


def test_cancel_a_queued_run(team, client, auth):
    run = gen_run(team["programme"], status="queued")
    auth.login("reviewer@x.org")
    assert "Cancel run" not in client.get(f"/runs/{run.uuid}").get_data(as_text=True)
    auth.logout()
    auth.login("operator@x.org")
    page = client.get(f"/runs/{run.uuid}").get_data(as_text=True)
    assert "Cancel run" in page and 'hx-confirm="Cancel this run?"' in page
    response = auth.post(f"/runs/{run.uuid}/cancel")
    assert response.status_code == 302
    db.session.refresh(run)
    assert run.status == "cancelled"
    assert auth.post(f"/runs/{run.uuid}/cancel").status_code == 409


def test_runs_list_filters_and_scope(team, client, auth):
    programme = team["programme"]
    other = gen_programme("BATS")
    gen_steward(other, gen_user("bats@x.org"), "owner")
    old = gen_run(programme, status="failed", trigger="scheduled")
    old.queued_at = utcnow() - timedelta(days=40)
    db.session.commit()
    gen_run(programme, status="succeeded", trigger="integration", dry_run=True)
    gen_run(other, status="succeeded")
    auth.login("member@x.org")

    def programmes_in(url: str) -> list[str]:
        text = client.get(url).get_data(as_text=True)
        return [line for line in text.split("<tr>") if "/runs/" in line]

    assert len(programmes_in("/runs")) == 2  # BATS is out of scope
    assert len(programmes_in("/runs?status=failed")) == 1
    assert len(programmes_in("/runs?trigger=integration")) == 1
    assert len(programmes_in("/runs?dry_run=yes")) == 1
    assert len(programmes_in("/runs?dry_run=no")) == 1
    since = (utcnow() - timedelta(days=7)).date().isoformat()
    assert len(programmes_in(f"/runs?date_from={since}")) == 1
    assert "is not a date" in client.get("/runs?date_to=yesterday").get_data(as_text=True)
    assert len(programmes_in("/programmes/BIRDS/runs?status=succeeded")) == 1
    assert client.get("/programmes/BATS/runs").status_code == 404
    empty = client.get("/runs?status=cancelled").get_data(as_text=True)
    assert "No runs match these filters" in empty
