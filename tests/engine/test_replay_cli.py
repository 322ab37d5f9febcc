"""`flask ops replay RUN_ID`: a run executed by a real worker replays byte-identical from
its recorded inputs; a changed stored input is reported and the command fails."""

from __future__ import annotations

import shutil
from pathlib import Path

import frictionless

from jobs.cli import ops_cli
from portal.services.runs import queue_run
from tests.engine.conftest import wait_final
from tests.factories import gen_programme, gen_user

PIPELINE = {"steps": [
    {"key": "ingest", "type": "ingest.darwin_core", "params": {"source": "occurrence.csv"}},
    {"key": "validate", "type": "validate.rules"},
    {"key": "richness", "type": "compute.species_richness",
     "params": {"site": "locality", "period": "year"}},
    {"key": "publish", "type": "publish.release", "params": {"name": "snail-richness"}},
]}
RULES = {"rules": [{"id": "name", "type": "not_null", "severity": "error",
                    "column": "scientificName"}]}


def test_replay_is_identical_then_detects_a_changed_input(app, runner, worker, engine_roots,
                                                          shared_data):
    source = engine_roots / "data" / "SNAILS"  # the programme's own folder
    source.mkdir(parents=True, exist_ok=True)
    shutil.copy(shared_data / "landsnails-gran-canaria" / "occurrence.csv", source)
    programme = gen_programme("SNAILS", pipeline_definition_json=PIPELINE,
                              data_quality_rules_json=RULES)
    run = wait_final(queue_run(programme, gen_user()).run.id)
    assert run.status == "succeeded", run.error_message
    assert run.lineage_json["release"]["version"] == "1.0"
    package = Path(app.config["PUBLISH_ROOT"]) / "SNAILS" / "1.0" / "datapackage.json"
    assert frictionless.validate(str(package)).valid

    same = runner.invoke(ops_cli, ["replay", run.uuid])
    assert same.exit_code == 0, same.output
    assert f"replay of run {run.uuid}: identical" in same.output

    # Someone alters the stored copy of the input: the replay must refuse to call it equal.
    digest = run.lineage_json["inputs"][0]["sha256"]
    stored = Path(app.config["LINEAGE_STORE"]) / digest[:2] / digest
    stored.chmod(0o644)
    stored.write_bytes(stored.read_bytes().replace(b"Gran Canaria", b"Tenerife", 1))
    changed = runner.invoke(ops_cli, ["replay", run.uuid])
    assert changed.exit_code == 1
    assert "DIFFERENT" in changed.output
