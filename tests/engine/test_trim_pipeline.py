"""TRIM and the MSI through a real worker: counts file → compute.trim → compute.msi →
release with tables and SVG charts, lineage naming the input, replay identical, and the
charts on the run and programme pages."""

from __future__ import annotations

import csv
from pathlib import Path

import frictionless
import numpy as np
import polars as pl

from jobs.cli import ops_cli
from jobs.indicators.trim import from_long, trim
from portal.services.runs import queue_run
from tests.engine.conftest import wait_final
from tests.factories import gen_programme, gen_steward, gen_user
from tests.jobs.test_trim_step import count_table

CODE = "COUNTS"
TRIM_PARAMS = {"table": "counts", "taxon": "species", "site": "site", "time": "year",
               "count": "n", "model": 3, "overdispersion": True, "serial_correlation": True}
PIPELINE = {"steps": [
    {"key": "ingest", "type": "ingest.csv", "params": {"source": "counts.csv", "as": "counts"}},
    {"key": "trim", "type": "compute.trim", "params": TRIM_PARAMS},
    {"key": "msi", "type": "compute.msi",
     "params": {"group": "farmland birds", "taxa": ["Alauda arvensis", "Parus major"],
                "nsim": 400}},
    {"key": "publish", "type": "publish.release", "params": {"name": "bird-indices"}},
]}


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_trim_and_msi_publish_through_a_worker_and_replay_identical(
        app, runner, worker, engine_roots, client, auth):
    folder = engine_roots / "data" / CODE
    folder.mkdir(parents=True, exist_ok=True)
    table = count_table()
    table.write_csv(folder / "counts.csv")
    programme = gen_programme(CODE, pipeline_definition_json=PIPELINE,
                              data_quality_rules_json={"rules": []})
    reviewer = gen_user("reviewer@counts.org")
    gen_steward(programme, reviewer, "reviewer")

    run = wait_final(queue_run(programme, gen_user()).run.id)

    assert run.status == "succeeded", run.error_message
    steps = {step.step_key: step for step in run.steps}
    assert steps["trim"].details_json["insufficient"] == 1  # Otis tarda, listed not failed
    release = Path(app.config["PUBLISH_ROOT"]) / CODE / "1.0"
    # The published indices are TRIM's own figures for each species.
    published = read_csv(release / "trim_indices.csv")
    rows = table.filter(pl.col("species") == "Parus major")
    expected = trim(from_long(rows["site"].to_list(), [int(y) for y in rows["year"]],
                              [None if v == "" else float(v) for v in rows["n"]]),
                    model=3, overdisp=True, serialcor=True)
    ours = [r for r in published if r["taxon"] == "Parus major"]
    np.testing.assert_allclose([float(r["imputed_index"]) for r in ours],
                               expected.indices.imputed, rtol=1e-12)
    fit = {r["taxon"]: r for r in read_csv(release / "trim_fit.csv")}
    assert fit["Otis tarda"]["status"] == "insufficient"
    assert {p.name for p in release.glob("*.svg")} == {
        "trim-indices-alauda-arvensis.svg", "trim-indices-parus-major.svg",
        "msi-farmland-birds.svg"}
    assert frictionless.validate(str(release / "datapackage.json")).valid
    # Lineage: the input file by content hash, every output table, the release files.
    (source,) = run.lineage_json["inputs"]
    assert source["uri"] == "counts.csv" and len(source["sha256"]) == 64
    outputs = {entry["table"] for entry in run.lineage_json["outputs"]}
    assert {"trim_indices", "trim_fit", "msi", "msi_trend"} <= outputs
    assert "msi-farmland-birds.svg" in {f["path"] for f in run.lineage_json["release"]["files"]}

    replay = runner.invoke(ops_cli, ["replay", run.uuid])
    assert replay.exit_code == 0, replay.output
    assert f"replay of run {run.uuid}: identical" in replay.output

    auth.login("reviewer@counts.org")
    run_page = client.get(f"/runs/{run.uuid}").get_data(as_text=True)
    assert 'aria-label="farmland birds: ' in run_page
    assert 'aria-label="Parus major: ' in run_page
    programme_page = client.get(f"/programmes/{CODE}").get_data(as_text=True)
    assert "release 1.0" in programme_page and 'aria-label="Alauda arvensis: ' in programme_page
