"""Replay: a recorded run re-executed from its stored inputs is proven identical, or not."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest

from jobs.lineage import build_lineage
from jobs.replay import execute_steps, replay
from jobs.steps import compute
from portal.services.pipeline_spec import validate_pipeline, validate_rules

DEFINITION = {
    "steps": [
        {
            "key": "ingest",
            "type": "ingest.darwin_core",
            "params": {"source": "snails/occurrence.csv", "as": "occurrence"},
        },
        {"key": "checks", "type": "validate.rules", "params": {}},
        {"key": "richness", "type": "compute.species_richness", "params": {}},
        # The snail records without organismQuantity are presence records: each counts 1.
        {"key": "trend", "type": "compute.trend",
         "params": {"min_years": 3, "missing_count": "one"}},
        {"key": "publish", "type": "publish.release", "params": {"name": "snail-indicators"}},
    ]
}
RULES = {
    "rules": [
        {"id": "taxon", "type": "not_null", "severity": "error", "column": "scientificName"},
        {"id": "enough", "type": "row_count", "severity": "warning", "min": 100},
    ]
}


@pytest.fixture
def recorded(tmp_path, shared_data) -> SimpleNamespace:
    """Run the pipeline once for real and keep its lineage, as the runner would."""
    assert validate_pipeline(DEFINITION) == [] and validate_rules(RULES) == []
    data_root = tmp_path / "data"
    (data_root / "snails").mkdir(parents=True)
    shutil.copy(
        shared_data / "landsnails-gran-canaria" / "occurrence.csv",
        data_root / "snails" / "occurrence.csv",
    )
    roots = SimpleNamespace(
        data_root=data_root,
        store_root=tmp_path / "store",
        publish_root=tmp_path / "publish",
    )
    execution = execute_steps(
        DEFINITION,
        RULES,
        programme_code="SNAILS",
        run_uuid="run-1",
        data_root=roots.data_root,
        publish_root=roots.publish_root,
        work_dir=tmp_path / "work",
        store_root=roots.store_root,
        licence="CC0-1.0",  # the programme's; the replay reads it from the recorded release
    )
    assert [result.status for _, result in execution.results] == ["succeeded"] * 5
    steps = [
        SimpleNamespace(key=step["key"], type=step["type"], **vars(result))
        for step, result in execution.results
    ]
    roots.lineage = build_lineage(DEFINITION, RULES, "test-version", steps, execution.lineage)
    roots.sandbox = tmp_path / "sandbox"
    return roots


def run_replay(recorded: SimpleNamespace, definition: dict = DEFINITION, **kwargs) -> dict:
    return replay(
        definition,
        RULES,
        recorded.lineage,
        data_root=kwargs.get("data_root", recorded.data_root),
        store_root=recorded.store_root,
        sandbox_dir=recorded.sandbox,
        programme_code="SNAILS",
    )


def test_replay_from_stored_inputs_is_identical(recorded, tmp_path):
    # The live file may change or vanish: a replay reads the recorded bytes from the store.
    (recorded.data_root / "snails" / "occurrence.csv").unlink()
    report = run_replay(recorded)

    assert report["differences"] == []
    assert report["identical"] is True
    kinds = {item["kind"] for item in report["compared"]}
    assert kinds == {"definition", "rules", "input", "step", "output", "release_file"}
    files = [i for i in report["compared"] if i["kind"] == "release_file"]
    assert {i["name"] for i in files} == {"richness.csv", "trend.csv", "trend.insufficient.csv"}
    assert all(i["recorded"] and i["recorded"] == i["replayed"] for i in report["compared"])
    assert [s["status"] for s in report["steps"]] == ["succeeded"] * 5
    # The replay published into its sandbox, never next to the real releases.
    assert (recorded.sandbox / "publish" / "SNAILS" / "1.0" / "richness.csv").is_file()
    assert sorted(p.name for p in (recorded.publish_root / "SNAILS").iterdir()) == ["1.0"]


def test_a_changed_stored_input_is_reported_and_nothing_runs(recorded):
    (entry,) = recorded.lineage["inputs"]
    stored = recorded.store_root / entry["sha256"][:2] / entry["sha256"]
    stored.write_bytes(stored.read_bytes().replace(b"Napaeus", b"Napaeux", 1))

    report = run_replay(recorded)
    assert report["identical"] is False
    (difference,) = report["differences"]
    assert difference["problem"] == "input changed"
    assert difference["name"] == "snails/occurrence.csv"
    assert difference["recorded"] == entry["sha256"] != difference["replayed"]
    assert report["steps"] == [] and not recorded.sandbox.exists()


def test_a_missing_stored_input_is_reported(recorded):
    entry = recorded.lineage["inputs"][0]
    (recorded.store_root / entry["sha256"][:2] / entry["sha256"]).unlink()
    report = run_replay(recorded)
    assert report["identical"] is False
    assert report["differences"][0]["problem"] == "input missing"


def test_changed_code_is_caught_by_the_output_fingerprints(recorded, monkeypatch):
    real = compute.species_richness

    def off_by_one(frame: pl.DataFrame, **columns):
        result = real(frame, **columns)
        result.table = result.table.with_columns(pl.col("species_richness") + 1)
        return result

    monkeypatch.setattr(compute, "species_richness", off_by_one)
    report = run_replay(recorded)
    assert report["identical"] is False
    different = {(d["kind"], d["name"]) for d in report["differences"]}
    assert different == {
        ("step", "richness"),
        ("step", "publish"),
        ("output", "richness"),
        ("release_file", "richness.csv"),
    }


def test_a_different_definition_is_reported(recorded):
    changed = copy.deepcopy(DEFINITION)
    changed["steps"][3]["params"]["min_years"] = 4
    report = run_replay(recorded, changed)
    assert report["identical"] is False
    kinds = {d["kind"] for d in report["differences"]}
    assert "definition" in kinds


def test_a_failing_replay_step_is_a_difference(recorded):
    broken = copy.deepcopy(DEFINITION)
    broken["steps"][2]["params"] = {"site": "no_such_column"}
    report = run_replay(recorded, broken)
    assert report["identical"] is False
    failed = [d for d in report["differences"] if d["kind"] == "step_status"]
    assert failed[0]["name"] == "richness" and "no_such_column" in failed[0]["problem"]
    assert [s["key"] for s in report["steps"]] == ["ingest", "checks", "richness"]


def test_replay_needs_no_data_root_file(recorded, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_replay(recorded, data_root=empty)["identical"] is True
    assert isinstance(recorded.lineage["inputs"][0]["sha256"], str)
    assert Path(recorded.store_root).is_dir()


def test_a_run_recorded_with_the_old_csv_fingerprints_still_replays_identical(
        tmp_path, shared_data):
    """Runs recorded before the lineage named a fingerprint scheme made CSV-text
    fingerprints; their replay makes them the same way and proves them identical."""
    from jobs.steps.base import LEGACY_FINGERPRINT_SCHEME, fingerprint_scheme

    with fingerprint_scheme(LEGACY_FINGERPRINT_SCHEME):
        old = recorded.__wrapped__(tmp_path, shared_data)
    old.lineage.pop("fingerprint_scheme")  # as a run of the previous release recorded it
    report = run_replay(old)
    assert report["identical"] is True, report["differences"]
    steps = [i for i in report["compared"] if i["kind"] == "step" and i["recorded"]]
    assert steps and all(i["identical"] for i in steps)


def test_the_fingerprint_scheme_is_recorded_and_matters(recorded):
    assert recorded.lineage["fingerprint_scheme"] == "rows-v2"
    pretending_old = {**recorded.lineage}
    pretending_old.pop("fingerprint_scheme")
    recorded.lineage = pretending_old
    report = run_replay(recorded)
    assert report["identical"] is False
    assert {d["kind"] for d in report["differences"]} >= {"step"}
