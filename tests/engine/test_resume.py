"""Re-run and resume through a real worker: a resumed run reuses the recorded outputs of
the steps before the failed one (same fingerprints, not executed again) and still replays
identical."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

import tests.engine.resume_steps  # noqa: F401 — the replay executes these steps here
from jobs.cli import ops_cli
from portal.services.rerun import rerun, resumable_steps
from portal.services.runs import queue_run
from tests.engine.conftest import empty_queues, start_worker, stop_process_group, wait_final
from tests.factories import gen_programme, gen_user

PIPELINE = {"steps": [
    {"key": "ingest", "type": "ingest.darwin_core", "params": {"source": "occurrence.csv"}},
    {"key": "validate", "type": "validate.rules"},
    {"key": "richness", "type": "compute.species_richness",
     "params": {"site": "locality", "period": "year"}},
    {"key": "counted", "type": "test.count_runs"},
    {"key": "upstream", "type": "test.fail_until_fixed"},
    {"key": "tail", "type": "test.count_runs"},
]}
RULES = {"rules": [{"id": "name", "type": "not_null", "severity": "error",
                    "column": "scientificName"}]}


@pytest.fixture(scope="module")
def resume_worker(engine_roots) -> Iterator[object]:
    """A worker that also knows this module's test steps."""
    empty_queues()
    process = start_worker(engine_roots, PORTAL_EXTRA_STEP_MODULES=(
        "tests.engine.steps,tests.engine.resume_steps"))
    yield process
    stop_process_group(process)


def _fingerprints(run) -> dict[str, str | None]:
    return {s.step_key: (s.details_json or {}).get("output_fingerprint") for s in run.steps}


def test_resume_from_the_failed_step_reuses_outputs_and_replays_identical(
        app, runner, resume_worker, engine_roots, shared_data):
    folder = engine_roots / "data" / "RESUME"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(shared_data / "landsnails-gran-canaria" / "occurrence.csv", folder)
    user = gen_user()
    programme = gen_programme("RESUME", pipeline_definition_json=PIPELINE,
                              data_quality_rules_json=RULES)
    first = wait_final(queue_run(programme, user).run.id)
    assert first.status == "failed" and "upstream service is down" in first.error_message
    assert resumable_steps(first) == ["validate", "richness", "counted", "upstream"]

    (folder / "fixed").write_text("back up")
    second = wait_final(rerun(first, user, resume_from="upstream").run.id)

    assert second.status == "succeeded", second.error_message
    assert [(s.step_key, s.status, s.attempts) for s in second.steps] == [
        ("ingest", "succeeded", 0), ("validate", "succeeded", 0),
        ("richness", "succeeded", 0), ("counted", "succeeded", 0),
        ("upstream", "succeeded", 1), ("tail", "succeeded", 1)]
    # The steps before "upstream" did not run again: one execution each, by the first run.
    assert (folder / "ran-counted").read_text().split() == [first.uuid]
    assert (folder / "ran-upstream").read_text().split() == [first.uuid, second.uuid]
    assert (folder / "ran-tail").read_text().split() == [second.uuid]
    reused = ["ingest", "validate", "richness", "counted"]
    assert all(s.details_json["reused_from"] == first.uuid
               for s in second.steps if s.step_key in reused)
    # ... and their outputs are the parent's, fingerprint for fingerprint.
    parent, child = _fingerprints(first), _fingerprints(second)
    assert parent["ingest"] and all(child[key] == parent[key] for key in reused)
    assert second.output_summary_json["tables"] == {
        **first.output_summary_json["tables"], **second.output_summary_json["tables"]}
    assert second.lineage_json["parent_run"] == first.uuid
    assert second.lineage_json["resumed_from_step"] == "upstream"
    assert second.lineage_json["inputs"] == first.lineage_json["inputs"]

    replayed = runner.invoke(ops_cli, ["replay", second.uuid])
    assert replayed.exit_code == 0, replayed.output
    assert f"replay of run {second.uuid}: identical" in replayed.output


def test_rerun_executes_every_step_again_with_the_parents_definition(
        app, resume_worker, engine_roots):
    user = gen_user()
    definition = {"steps": [{"key": "load", "type": "ingest.test_table"},
                            {"key": "counted", "type": "test.count_runs"}]}
    programme = gen_programme("AGAIN", pipeline_definition_json=definition)
    first = wait_final(queue_run(programme, user).run.id)
    assert first.status == "succeeded", first.error_message
    programme.pipeline_definition_json = {"steps": [{"key": "load",
                                                     "type": "ingest.test_table"}]}
    from portal.extensions import db

    db.session.commit()
    second = wait_final(rerun(first, user).run.id)
    assert second.status == "succeeded", second.error_message
    assert [(s.step_key, s.attempts) for s in second.steps] == [("load", 1), ("counted", 1)]
    ran = (engine_roots / "data" / "AGAIN" / "ran-counted").read_text().split()
    assert ran == [first.uuid, second.uuid]
    assert second.lineage_json["parent_run"] == first.uuid
    assert second.lineage_json["resumed_from_step"] is None
