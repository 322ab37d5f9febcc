"""Through a real worker: a run with no declared licence fails at publish with the reason
and publishes nothing; the programme's licence, or the input package's, is published."""

from __future__ import annotations

import json
from pathlib import Path

from portal.services.programme_edit import ProgrammeChanges, update_programme
from portal.services.runs import queue_run
from tests.engine.conftest import wait_final
from tests.factories import gen_programme, gen_user
from tests.packages import camera_trap_rows, write_camtrap_dp

PIPELINE = {"steps": [
    {"key": "ingest", "type": "ingest.csv", "params": {"source": "counts.csv"}},
    {"key": "richness", "type": "compute.species_richness",
     "params": {"taxon": "species", "site": "plot", "period": "year"}},
    {"key": "publish", "type": "publish.release", "params": {"name": "plots"}},
]}


def test_no_licence_fails_the_run_then_the_programme_licence_is_published(app, worker,
                                                                          engine_roots):
    folder = engine_roots / "data" / "NOLICENCE"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "counts.csv").write_text("year,plot,species\n2020,1,Pheidole\n2020,2,Myrmica\n")
    programme = gen_programme("NOLICENCE", pipeline_definition_json=PIPELINE, licence="")
    owner = gen_user()
    release = Path(app.config["PUBLISH_ROOT"]) / "NOLICENCE"

    run = wait_final(queue_run(programme, owner).run.id)

    assert run.status == "failed"
    assert "no licence for the release" in run.error_message
    steps = {step.step_key: step for step in run.steps}
    assert steps["richness"].status == "succeeded"
    assert steps["publish"].status == "failed"
    assert "Release licence" in steps["publish"].details_json["message"]
    assert not release.exists()

    update_programme(programme, owner, ProgrammeChanges(
        title=programme.title, description="", refresh_cadence="manual", timezone="UTC",
        scheduler_enabled=False, pipeline_definition=json.dumps(PIPELINE),
        data_quality_rules=json.dumps({"rules": []}), lineage_notes="",
        licence="CC-BY-4.0"))
    run = wait_final(queue_run(programme, owner).run.id)

    assert run.status == "succeeded", run.error_message
    package = json.loads((release / "1.0" / "datapackage.json").read_text())
    assert package["licenses"] == [{"name": "CC-BY-4.0", "title": "CC BY 4.0",
                                    "path": "https://creativecommons.org/licenses/by/4.0/"}]
    assert run.lineage_json["release"]["licence_from"] == "programme"


def test_a_camtrap_package_licence_is_published_when_the_programme_has_none(app, worker,
                                                                             engine_roots):
    folder = engine_roots / "data" / "TRAPLICENCE"
    write_camtrap_dp(folder / "camtrap", camera_trap_rows())
    pipeline = {"steps": [
        {"key": "ingest", "type": "ingest.camtrap_dp",
         "params": {"source": "camtrap/datapackage.json"}},
        {"key": "publish", "type": "publish.release",
         "params": {"name": "traps", "tables": ["deployments"]}},
    ]}
    programme = gen_programme("TRAPLICENCE", pipeline_definition_json=pipeline, licence="")

    run = wait_final(queue_run(programme, gen_user()).run.id)

    assert run.status == "succeeded", run.error_message
    release = Path(app.config["PUBLISH_ROOT"]) / "TRAPLICENCE" / "1.0"
    package = json.loads((release / "datapackage.json").read_text())
    assert package["licenses"][0]["name"] == "CC-BY-4.0"  # as the package declares
    assert run.lineage_json["release"]["licence_from"] == "input"
