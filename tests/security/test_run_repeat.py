"""Hostile input to re-run / resume and to full step logs: path tricks, wrong types,
another programme's runs, bad JSON. Nothing is queued and no file outside the run's
log folder is read."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import MonitoringProgrammeRun, MonitoringProgrammeRunStep
from portal.services import step_logs
from tests.factories import gen_programme, gen_run, gen_steward, gen_user


@pytest.fixture
def world(app):
    """SITES (operator@x.org operates it) with a finished run; OTHER with a run of its own."""
    from portal.auth.tokens import create_token

    operator = gen_user("operator@x.org")
    mine, other = gen_programme("SITES"), gen_programme("OTHER")
    gen_steward(mine, operator, "operator")
    runs = {}
    for programme in (mine, other):
        run = gen_run(programme, status="failed", input_summary_json={
            "definition": programme.pipeline_definition_json, "rules": {"rules": []}})
        db.session.add(MonitoringProgrammeRunStep(run_id=run.id, ordering=0, step_key="ingest",
                                                  step_type="ingest.csv", status="failed"))
        db.session.commit()
        step_logs.write(app.config["WORK_ROOT"], run.uuid, 0, f"secret log of {programme.code}")
        runs[programme.code] = run
    _, secret = create_token(operator, "ci")
    return {"runs": runs, "headers": {"Authorization": f"Bearer {secret}"}}


def _runs() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(MonitoringProgrammeRun))


@pytest.mark.parametrize("body,field", [
    ("{not json", "body"), ("[1]", "body"), ('{"resume_from": 3}', "resume_from"),
    ('{"resume_from": ["ingest"]}', "resume_from"), ('{"resume_from": "../../etc"}', "resume_from"),
    ('{"resume_from": ""}', "resume_from"), ('{"from": "ingest"}', "from"),
])
def test_bad_rerun_bodies_are_json_400s(world, client, body, field):
    run = world["runs"]["SITES"]
    response = client.post(f"/api/v1/runs/{run.uuid}/rerun", data=body,
                           content_type="application/json", headers=world["headers"])
    assert response.status_code == 400 and response.is_json, response.data[:200]
    assert response.json["field"] == field
    assert _runs() == 2


def test_another_programmes_run_is_not_found(world, client):
    other = world["runs"]["OTHER"]
    assert client.post(f"/api/v1/runs/{other.uuid}/rerun",
                       headers=world["headers"]).status_code == 404
    log = client.get(f"/api/v1/runs/{other.uuid}/steps/ingest/log", headers=world["headers"])
    assert log.status_code == 404 and "OTHER" not in log.get_data(as_text=True)
    assert _runs() == 2


@pytest.mark.parametrize("step_key", ["..", "../0", "..%2F..%2Fetc%2Fpasswd", "0", "ingest%00",
                                      "INGEST"])
def test_step_keys_cannot_reach_other_files(world, client, step_key):
    run = world["runs"]["SITES"]
    response = client.get(f"/api/v1/runs/{run.uuid}/steps/{step_key}/log",
                          headers=world["headers"])
    assert response.status_code in (400, 404)
    assert "secret log" not in response.get_data(as_text=True)
