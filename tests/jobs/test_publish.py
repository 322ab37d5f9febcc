"""publish.release: versioned, immutable, checksummed Frictionless releases."""

from __future__ import annotations

import hashlib
import json
import stat
import threading
import time
from pathlib import Path

import frictionless
import polars as pl
import pytest

from jobs import releases
from jobs.registry import get_step
from jobs.steps.base import StepContext, StepError

INPUT = {"uri": "snails/occurrence.csv", "sha256": "ab" * 32, "bytes": 1, "rows": 389}


@pytest.fixture(scope="module")
def snails(shared_data) -> pl.DataFrame:
    path = shared_data / "landsnails-gran-canaria" / "occurrence.csv"
    return pl.read_csv(path, infer_schema=False)


def computed_ctx(
    tmp_path: Path,
    snails: pl.DataFrame,
    *,
    dry_run: bool = False,
    params: dict | None = None,
    code: str = "SNAILS",
) -> StepContext:
    """A context as the runner leaves it after ingest + richness + trend."""
    ctx = StepContext(
        run_uuid="run-1",
        programme_code=code,
        step_key="richness",
        params={},
        rules=[],
        data_root=tmp_path,
        publish_root=tmp_path / "publish",
        work_dir=tmp_path / "work",
        store_root=tmp_path / "store",
        dry_run=dry_run,
        tables={"occurrence": snails},
        primary_table="occurrence",
        programme_licence="CC0-1.0",
    )
    ctx.lineage["inputs"].append(dict(INPUT))
    for key, step_type, step_params in (
        ("richness", "compute.species_richness", {}),
        ("trend", "compute.trend", {"min_years": 3, "missing_count": "one"}),
    ):
        ctx.step_key, ctx.params = key, step_params
        ctx.tables.update(get_step(step_type)(ctx).tables)
    ctx.step_key, ctx.params = "publish", {"name": "snail-indicators", **(params or {})}
    ctx.log_lines = []
    return ctx


def publish(ctx: StepContext):
    return get_step("publish.release")(ctx)


def release_dirs(ctx: StepContext) -> list[str]:
    base = ctx.publish_root / ctx.programme_code
    return sorted(p.name for p in base.iterdir()) if base.exists() else []


def test_first_release_is_a_valid_frictionless_package(tmp_path, snails):
    ctx = computed_ctx(tmp_path, snails)
    result = publish(ctx)

    assert result.status == "succeeded"
    assert result.details["version"] == "1.0"
    folder = ctx.publish_root / "SNAILS" / "1.0"
    assert sorted(p.name for p in folder.iterdir()) == [
        "datapackage.json",
        "lineage.json",
        "richness.csv",
        "trend.csv",
        "trend.insufficient.csv",
    ]
    report = frictionless.validate(str(folder / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])

    package = json.loads((folder / "datapackage.json").read_text())
    assert package["name"] == "snail-indicators" and package["version"] == "1.0"
    assert package["licenses"][0]["name"] == "CC0-1.0"
    assert package["sources"] == [{"title": INPUT["uri"], "path": INPUT["uri"]}]
    richness = next(r for r in package["resources"] if r["name"] == "richness")
    data = (folder / "richness.csv").read_bytes()
    assert richness["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert richness["bytes"] == len(data)
    assert richness["rows"] == ctx.tables["richness"].height
    assert {f["name"]: f["type"] for f in richness["schema"]["fields"]} == {
        "locality": "string",
        "year": "integer",
        "species_richness": "integer",
        "records": "integer",
    }
    assert ctx.lineage["release"]["version"] == "1.0"
    assert ctx.lineage["release"]["path"] == "SNAILS/1.0"
    recorded = {f["path"]: f["sha256"] for f in ctx.lineage["release"]["files"]}
    assert recorded["richness.csv"] == hashlib.sha256(data).hexdigest()
    lineage = json.loads((folder / "lineage.json").read_text())
    assert lineage["inputs"] == [INPUT] and lineage["release"]["version"] == "1.0"
    assert [o["table"] for o in lineage["outputs"]] == ["richness", "trend", "trend.insufficient"]


def test_a_tampered_release_fails_frictionless_validation(tmp_path, snails):
    ctx = computed_ctx(tmp_path, snails)
    publish(ctx)
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in (ctx.publish_root / "SNAILS" / "1.0").iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    with (copy / "richness.csv").open("a") as handle:
        handle.write("Somewhere,2020,1,1\n")
    assert not frictionless.validate(str(copy / "datapackage.json")).valid


def test_release_files_are_read_only_and_no_staging_is_left(tmp_path, snails):
    ctx = computed_ctx(tmp_path, snails)
    publish(ctx)
    folder = ctx.publish_root / "SNAILS" / "1.0"
    for path in [folder, *folder.iterdir()]:
        assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), path
    assert release_dirs(ctx) == ["1.0"]


def test_unchanged_outputs_publish_nothing(tmp_path, snails):
    publish(computed_ctx(tmp_path, snails))
    ctx = computed_ctx(tmp_path, snails)
    result = publish(ctx)
    assert result.status == "succeeded"
    assert result.details == {"unchanged": True, "version": "1.0"}
    assert ctx.log_lines == ["unchanged"]
    assert release_dirs(ctx) == ["1.0"]


def test_data_equal_to_a_withdrawn_release_is_published_again(tmp_path, snails):
    """"Unchanged" is measured against the newest release that is not withdrawn."""
    from portal.services.candidates import write_withdrawn_index

    publish(computed_ctx(tmp_path, snails.head(200)))  # 1.0
    publish(computed_ctx(tmp_path, snails))  # 1.1
    base = tmp_path / "publish" / "SNAILS"
    write_withdrawn_index(base, {"1.1": {"reason": "wrong site codes"}})
    # The data of 1.0 (live) is unchanged; publishing it again writes nothing.
    assert publish(computed_ctx(tmp_path, snails.head(200))).details == {
        "unchanged": True, "version": "1.0"}
    # The data of the withdrawn 1.1 comes back under a new version (1.2), not "unchanged".
    dry = publish(computed_ctx(tmp_path, snails, dry_run=True))
    assert dry.details["would_publish_version"] == "1.2"
    result = publish(computed_ctx(tmp_path, snails))
    assert result.details["version"] == "1.2" and not result.details.get("unchanged")
    assert release_dirs(computed_ctx(tmp_path, snails)) == ["1.0", "1.1", "1.2",
                                                            "withdrawn.json"]


def test_changed_outputs_take_the_next_minor_then_a_major_bump(tmp_path, snails):
    publish(computed_ctx(tmp_path, snails))
    assert publish(computed_ctx(tmp_path, snails.head(200))).details["version"] == "1.1"
    ctx = computed_ctx(tmp_path, snails.head(100), params={"bump": "major"})
    assert publish(ctx).details["version"] == "2.0"
    assert publish(computed_ctx(tmp_path, snails.head(50))).details["version"] == "2.1"
    assert release_dirs(ctx) == ["1.0", "1.1", "2.0", "2.1"]


def test_dry_run_writes_nothing_and_consumes_no_version(tmp_path, snails):
    ctx = computed_ctx(tmp_path, snails, dry_run=True)
    result = publish(ctx)
    assert result.details["dry_run"] is True
    assert result.details["would_publish_version"] == "1.0"
    assert not ctx.publish_root.exists()
    assert ctx.lineage["release"] is None

    publish(computed_ctx(tmp_path, snails))
    same = publish(computed_ctx(tmp_path, snails, dry_run=True))
    assert same.details["would_publish_version"] is None and same.details["unchanged"] is True
    changed = publish(computed_ctx(tmp_path, snails.head(10), dry_run=True))
    assert changed.details["would_publish_version"] == "1.1"
    assert publish(computed_ctx(tmp_path, snails.head(10))).details["version"] == "1.1"


def test_concurrent_publishers_get_distinct_versions(tmp_path, snails, monkeypatch):
    real_latest = releases.latest_version

    def slow_latest(base):
        found = real_latest(base)
        time.sleep(0.05)  # let every publisher see the same latest before anyone renames
        return found

    monkeypatch.setattr(releases, "latest_version", slow_latest)
    contexts = [computed_ctx(tmp_path, snails.head(300 - 20 * i)) for i in range(6)]
    barrier = threading.Barrier(len(contexts))
    versions: list[str] = []

    def run(ctx: StepContext) -> None:
        barrier.wait()
        versions.append(publish(ctx).details["version"])

    threads = [threading.Thread(target=run, args=(ctx,)) for ctx in contexts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(versions) == [f"1.{i}" for i in range(6)]
    assert release_dirs(contexts[0]) == sorted(versions)


def test_concurrent_identical_publishes_make_one_release(tmp_path, snails, monkeypatch):
    real_latest = releases.latest_version
    monkeypatch.setattr(
        releases, "latest_version", lambda base: (real_latest(base), time.sleep(0.05))[0]
    )
    contexts = [computed_ctx(tmp_path, snails) for _ in range(3)]
    barrier = threading.Barrier(len(contexts))
    details: list[dict] = []

    def run(ctx: StepContext) -> None:
        barrier.wait()
        details.append(publish(ctx).details)

    threads = [threading.Thread(target=run, args=(ctx,)) for ctx in contexts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(bool(d.get("unchanged")) for d in details) == [False, True, True]
    assert {d["version"] for d in details} == {"1.0"}
    assert release_dirs(contexts[0]) == ["1.0"]


def test_a_publisher_that_loses_the_rename_takes_the_next_version(tmp_path, snails, monkeypatch):
    publish(computed_ctx(tmp_path, snails))
    real_latest = releases.latest_version
    calls = []

    def stale_then_real(base):
        calls.append(base)
        return None if len(calls) == 1 else real_latest(base)  # first look misses 1.0

    monkeypatch.setattr(releases, "latest_version", stale_then_real)
    ctx = computed_ctx(tmp_path, snails.head(30))
    assert publish(ctx).details["version"] == "1.1"
    assert len(calls) == 2
    package = json.loads((ctx.publish_root / "SNAILS" / "1.1" / "datapackage.json").read_text())
    assert package["version"] == "1.1"
    old = json.loads((ctx.publish_root / "SNAILS" / "1.0" / "datapackage.json").read_text())
    assert old["version"] == "1.0"


def test_default_publishes_compute_outputs_not_ingested_tables(tmp_path, snails):
    ctx = computed_ctx(tmp_path, snails, params={"tables": ["richness"]})
    assert [f["path"] for f in publish(ctx).details["files"]] == ["richness.csv"]
    ctx = computed_ctx(tmp_path / "b", snails)
    names = [f["table"] for f in publish(ctx).details["files"]]
    assert "occurrence" not in names and names[0] == "richness"


def test_refuses_missing_tables_and_unsafe_codes(tmp_path, snails):
    with pytest.raises(StepError, match="missing tables: nope"):
        publish(computed_ctx(tmp_path, snails, params={"tables": ["nope"]}))
    with pytest.raises(StepError, match="cannot name a release folder"):
        publish(computed_ctx(tmp_path, snails, code=".."))
    assert not (tmp_path / "publish").exists()


def test_next_version_rules():
    assert releases.next_version(None) == "1.0"
    assert releases.next_version("1.9") == "1.10"
    assert releases.next_version("1.9", "major") == "2.0"
    assert releases.parse_version("10.2") == (10, 2)
    with pytest.raises(ValueError):
        releases.parse_version("1.02")
