"""Rule preview in a real worker: per-rule counts equal a real validation run's, and
nothing is saved to the programme, the alerts or the releases."""

from __future__ import annotations

import json
import re
import shutil
from html import unescape

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import MonitoringProgrammeAlert, MonitoringProgrammeRun
from tests.engine.conftest import (  # noqa: F401 — fixtures
    app_config,
    empty_queues,
    engine_roots,
    start_worker,
    stop_process_group,
    wait_final,
    wait_for,
)
from tests.factories import gen_programme, gen_steward, gen_user

PIPELINE = {"steps": [
    {"key": "ingest", "type": "ingest.darwin_core", "params": {"source": "inbox/latest"}},
    {"key": "validate", "type": "validate.rules"},
]}
DRAFT = {"rules": [
    {"id": "quantity-present", "type": "not_null", "severity": "warning",
     "column": "organismQuantity"},
    {"id": "canary-box", "type": "coordinates", "severity": "error",
     "latitude": "decimalLatitude", "longitude": "decimalLongitude",
     "bbox": [-15.9, 27.7, -15.3, 28.2]},
    {"id": "recent", "type": "date", "severity": "error", "column": "eventDate",
     "min": "2000-01-01"},
]}


@pytest.fixture(scope="module")
def preview_worker(engine_roots):  # noqa: F811
    empty_queues()
    process = start_worker(engine_roots)
    yield process
    stop_process_group(process)


def test_preview_matches_a_real_validation_run(app, client, auth, shared_data, engine_roots,  # noqa: F811
                                               preview_worker):
    inbox = engine_roots / "data" / "SNAILS" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    shutil.copy(shared_data / "landsnails-gran-canaria" / "occurrence.csv",
                inbox / "20260101T000000Z-occurrence.csv")
    (inbox / "latest").unlink(missing_ok=True)
    (inbox / "latest").symlink_to("20260101T000000Z-occurrence.csv")
    programme = gen_programme("SNAILS", pipeline_definition_json=PIPELINE)
    gen_steward(programme, gen_user("st@x.org"), "steward")
    auth.login("st@x.org")

    started = auth.post("/programmes/SNAILS/rules/edit",
                        {"draft": json.dumps(DRAFT), "action": "preview"})
    assert started.status_code == 200, started.get_data(as_text=True)
    poll_url = unescape(re.search(r'hx-get="([^"]+/rules/preview/[^"]+)"',
                                  started.get_data(as_text=True)).group(1))

    def finished():
        response = client.get(poll_url, headers={"HX-Request": "true"})
        return response if response.status_code == 286 else None

    page = wait_for(finished, message="the preview").get_data(as_text=True)
    preview = {rule_id: int(count) for rule_id, count in re.findall(
        r'data-rule="([^"]+)".*?data-failing="(\d+)"', page, re.S)}
    assert set(preview) == {"quantity-present", "canary-box", "recent"}
    assert preview["quantity-present"] == 40  # the table's 40 rows without organismQuantity
    assert preview["recent"] > 0  # the 1988 records
    assert "be blocked" in page

    # Nothing was saved: no rules, no run, no alert.
    db.session.expire_all()
    assert programme.data_quality_rules_json == {"rules": []}
    assert db.session.scalar(select(func.count()).select_from(MonitoringProgrammeRun)) == 0
    assert db.session.scalar(select(func.count()).select_from(MonitoringProgrammeAlert)) == 0

    # Save the draft and run a real validation: the same counts.
    programme.data_quality_rules_json = DRAFT
    db.session.commit()
    from portal.services.runs import queue_run

    result = queue_run(programme, gen_user("op@x.org"), run_type="validate")
    run = wait_final(result.run.id)
    assert run.status == "blocked"
    step = next(s for s in run.steps if s.step_type == "validate.rules")
    real = {r["id"]: r["failing_rows"] for r in step.details_json["rules"]}
    assert real == preview


def test_preview_of_an_invalid_draft_names_the_path(app, client, auth):
    programme = gen_programme("SNAILS", pipeline_definition_json=PIPELINE)
    gen_steward(programme, gen_user("st@x.org"), "steward")
    auth.login("st@x.org")
    bad = {"rules": [{"id": "x", "type": "range", "severity": "loud", "column": "a"}]}
    response = auth.post("/programmes/SNAILS/rules/edit",
                         {"draft": json.dumps(bad), "action": "preview"})
    assert response.status_code == 400
    assert "$.rules[0].severity" in response.get_data(as_text=True)


def test_preview_of_another_programme_is_not_shown(app, client, auth):
    gen_steward(gen_programme("MINE"), gen_user("st@x.org"), "steward")
    gen_programme("THEIRS")
    auth.login("st@x.org")
    response = client.get("/programmes/MINE/rules/preview/not-a-job")
    assert response.status_code == 200 and "expired" in response.get_data(as_text=True)
