"""Run page additions: re-run / resume buttons, full step logs, the step Gantt chart and the
programme page's strip of recent outcomes; the matching API; `flask ops cleanup-work`."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from jobs.cli import ops_cli
from portal.extensions import db
from portal.models import AuditEvent, MonitoringProgrammeRun, MonitoringProgrammeRunStep, utcnow
from portal.services import step_logs
from tests.api.conftest import bearer  # noqa: F401 — the API token fixture
from tests.factories import gen_run

DEFINITION = {"steps": [{"key": "ingest", "type": "ingest.csv", "params": {"source": "b.csv"}},
                        {"key": "richness", "type": "compute.species_richness", "params": {}}]}


def _finished_run(programme, status: str = "failed", ago: timedelta = timedelta(minutes=5)):
    end = utcnow() - ago
    run = gen_run(programme, status=status, started_at=end - timedelta(seconds=10),
                  finished_at=end, duration_seconds=10.0,
                  input_summary_json={"definition": DEFINITION, "rules": {"rules": []}})
    for ordering, (key, step_status, took) in enumerate(
            [("ingest", "succeeded", 4.0), ("richness", status, 6.0)]):
        start = end - timedelta(seconds=10) + timedelta(seconds=4.0 * ordering)
        db.session.add(MonitoringProgrammeRunStep(
            run_id=run.id, ordering=ordering, step_key=key, step_type=DEFINITION["steps"][
                ordering]["type"], status=step_status, attempts=1, started_at=start,
            finished_at=start + timedelta(seconds=took), duration_seconds=took,
            log_excerpt=f"{key} excerpt"))
    db.session.commit()
    return run


def _keep_outputs(app, run, ordering: int = 0) -> Path:
    folder = Path(app.config["WORK_ROOT"]) / run.uuid / "outputs"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{ordering}.json").write_text(json.dumps({"tables": {}, "records": []}))
    return folder


def test_full_log_is_viewable_and_downloadable_by_viewers_only(team, client, auth, app, bearer):  # noqa: F811
    run = _finished_run(team["programme"])
    full = "\n".join(f"line {n}" for n in range(20000))  # far beyond the 4,000-char excerpt
    step_logs.write(app.config["WORK_ROOT"], run.uuid, 0, full)
    auth.login("reviewer@x.org")
    page = client.get(f"/runs/{run.uuid}").get_data(as_text=True)
    assert f"/runs/{run.uuid}/steps/ingest/log" in page
    shown = client.get(f"/runs/{run.uuid}/steps/ingest/log")
    assert shown.status_code == 200 and shown.mimetype == "text/plain"
    assert shown.get_data(as_text=True) == full
    saved = client.get(f"/runs/{run.uuid}/steps/ingest/log?download=1")
    assert saved.headers["Content-Disposition"] == (
        f'attachment; filename="BIRDS-{run.uuid[:8]}-1-ingest.log"')
    assert client.get(f"/runs/{run.uuid}/steps/richness/log").status_code == 404  # not kept
    api = client.get(f"/api/v1/runs/{run.uuid}/steps/ingest/log", headers=bearer("member"))
    assert api.status_code == 200 and api.get_data(as_text=True) == full
    auth.logout()
    auth.login("outsider@x.org")
    assert client.get(f"/runs/{run.uuid}/steps/ingest/log").status_code == 404


def test_run_page_draws_the_steps_as_a_gantt_chart(team, client, auth):
    run = _finished_run(team["programme"])
    auth.login("reviewer@x.org")
    page = client.get(f"/runs/{run.uuid}").get_data(as_text=True)
    svg = re.search(r'<svg[^>]*class="gantt-chart".*?</svg>', page, re.S).group(0)
    assert "style=" not in svg
    bars = re.findall(r'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"[^>]*class="gantt-bar '
                      r'gantt-(\w+)"', svg)
    assert [status for _, _, status in bars] == ["succeeded", "failed"]
    (x1, w1, _), (x2, w2, _) = [(float(x), float(w), s) for x, w, s in bars]
    assert x2 == pytest.approx(x1 + w1, abs=0.2) and w2 == pytest.approx(w1 * 1.5, abs=0.2)
    assert "ingest: succeeded, 4.0 s" in svg and "richness: failed, 6.0 s" in svg


def test_programme_page_shows_the_last_50_outcomes(team, client, auth):
    for n in range(55):
        gen_run(team["programme"], status="failed" if n == 54 else "succeeded")
    auth.login("member@x.org")
    page = client.get("/programmes/BIRDS").get_data(as_text=True)
    strip = re.search(r'<svg[^>]*class="outcome-strip".*?</svg>', page, re.S).group(0)
    cells = re.findall(r'class="strip-cell strip-(\w+)', strip)
    assert len(cells) == 50 and cells[-1] == "failed" and set(cells[:-1]) == {"succeeded"}
    assert "style=" not in strip and "Last 50 runs" in strip


def test_operator_reruns_from_the_page_and_the_parent_is_recorded(team, client, auth):
    run = _finished_run(team["programme"])
    auth.login("reviewer@x.org")
    assert "Re-run</button>" not in client.get(f"/runs/{run.uuid}").get_data(as_text=True)
    auth.logout()
    auth.login("operator@x.org")
    assert "Re-run</button>" in client.get(f"/runs/{run.uuid}").get_data(as_text=True)
    response = auth.post(f"/runs/{run.uuid}/rerun")
    assert response.status_code == 302
    child = db.session.scalar(select(MonitoringProgrammeRun)
                              .where(MonitoringProgrammeRun.id != run.id))
    assert response.headers["Location"].endswith(f"/runs/{child.uuid}")
    assert child.status == "queued" and child.run_type == run.run_type
    assert child.input_summary_json["requested"] == {
        "parent_run": run.uuid, "resume_from": None, "definition": DEFINITION,
        "rules": {"rules": []}}
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.object_id == child.uuid,
                                                       AuditEvent.action == "programme_run_rerun"))
    assert event.metadata_json["parent_run"] == run.uuid and event.actor_label == "operator@x.org"
    page = client.get(f"/runs/{child.uuid}").get_data(as_text=True)
    assert "Re-run of" in page and run.uuid[:8] in page


def test_resume_is_offered_only_where_outputs_are_kept(team, client, auth, app):
    run = _finished_run(team["programme"])
    auth.login("operator@x.org")
    assert 'name="step"' not in client.get(f"/runs/{run.uuid}").get_data(as_text=True)
    refused = auth.post(f"/runs/{run.uuid}/rerun", {"step": "richness"})
    assert refused.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(MonitoringProgrammeRun)) == 1
    _keep_outputs(app, run)
    page = client.get(f"/runs/{run.uuid}").get_data(as_text=True)
    assert '<option value="richness" selected>richness</option>' in page
    assert auth.post(f"/runs/{run.uuid}/rerun", {"step": "richness"}).status_code == 302
    child = db.session.scalar(select(MonitoringProgrammeRun)
                              .where(MonitoringProgrammeRun.id != run.id))
    assert child.input_summary_json["requested"]["resume_from"] == "richness"


def test_api_rerun_and_resume(team, client, bearer, app):  # noqa: F811
    run = _finished_run(team["programme"])
    headers = bearer("operator")
    missing = client.post(f"/api/v1/runs/{run.uuid}/rerun", json={"resume_from": "richness"},
                          headers=headers)
    assert missing.status_code == 409 and missing.json["field"] == "resume_from"
    assert "no longer kept" in missing.json["message"]
    _keep_outputs(app, run)
    resumed = client.post(f"/api/v1/runs/{run.uuid}/rerun", json={"resume_from": "richness"},
                          headers=headers)
    assert resumed.status_code == 201, resumed.json
    assert resumed.json["parent_run"] == run.uuid and resumed.json["trigger"] == "integration"
    busy = client.post(f"/api/v1/runs/{run.uuid}/rerun", headers=headers)
    assert busy.status_code == 409 and busy.json["active_run"] == resumed.json["uuid"]
    refused = client.post(f"/api/v1/runs/{run.uuid}/rerun", headers=bearer("reviewer"))
    assert refused.status_code == 403


def test_cleanup_work_removes_outputs_and_logs_past_retention(team, app, runner):
    old = _finished_run(team["programme"], ago=timedelta(days=30))
    recent = _finished_run(team["programme"], ago=timedelta(days=1))
    for run in (old, recent):
        _keep_outputs(app, run)
        step_logs.write(app.config["WORK_ROOT"], run.uuid, 0, "log")
    app.config.update(STEP_OUTPUT_RETENTION_DAYS=14, STEP_LOG_RETENTION_DAYS=60)
    result = runner.invoke(ops_cli, ["cleanup-work"])
    assert result.exit_code == 0, result.output
    assert "step outputs removed: 1  logs removed: 0" in result.output
    root = Path(app.config["WORK_ROOT"])
    assert not (root / old.uuid / "outputs").exists() and (root / old.uuid / "logs").exists()
    assert (root / recent.uuid / "outputs").exists()


def test_flask_ops_rerun_resumes_or_explains(team, app, runner):
    run = _finished_run(team["programme"])
    refused = runner.invoke(ops_cli, ["rerun", run.uuid, "--from", "richness"])
    assert refused.exit_code != 0 and "no longer kept" in refused.output
    _keep_outputs(app, run)
    resumed = runner.invoke(ops_cli, ["rerun", run.uuid, "--from", "richness"])
    assert resumed.exit_code == 0, resumed.output
    assert f"(resumed from richness of {run.uuid})" in resumed.output
    child = db.session.scalar(select(MonitoringProgrammeRun)
                              .where(MonitoringProgrammeRun.id != run.id))
    assert child.trigger == "integration" and child.requested_by_id is None


def test_the_strip_tooltips_follow_the_viewers_time_zone(team, client, auth):
    from datetime import UTC, datetime

    from portal.models import User

    gen_run(team["programme"], status="succeeded",
            queued_at=datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    user = User.query.filter_by(email="member@x.org").one()
    user.time_zone = "Asia/Tokyo"
    db.session.commit()
    auth.login("member@x.org")
    page = client.get("/programmes/BIRDS").get_data(as_text=True)
    strip = re.search(r'<svg[^>]*class="outcome-strip".*?</svg>', page, re.S).group(0)
    assert "2026-01-15 21:00 JST" in strip and "12:00 UTC" not in strip
