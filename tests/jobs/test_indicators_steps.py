"""The compute.* steps as plain functions: tables, counts, fingerprints and lineage."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from jobs.registry import get_step
from jobs.steps.base import StepContext, StepError, frame_fingerprint
from portal.services.pipeline_spec import BUILTIN_STEP_TYPES, STEP_TYPES, validate_pipeline

ANT_PARAMS = {"taxon": "species", "site": "plot", "count": "colonies", "period": "year"}


@pytest.fixture(scope="module")
def ants(shared_data) -> pl.DataFrame:
    return pl.read_csv(shared_data / "portal-ants" / "Portal_ant_colony.csv", infer_schema=False)


@pytest.fixture(scope="module")
def snails(shared_data) -> pl.DataFrame:
    path = shared_data / "landsnails-gran-canaria" / "occurrence.csv"
    return pl.read_csv(path, infer_schema=False)


def make_ctx(
    tmp_path: Path, key: str, params: dict, tables: dict[str, pl.DataFrame]
) -> StepContext:
    return StepContext(
        run_uuid="run-1",
        programme_code="ANTS",
        step_key=key,
        params=params,
        rules=[],
        data_root=tmp_path,
        publish_root=tmp_path / "publish",
        work_dir=tmp_path / "work",
        store_root=tmp_path / "store",
        tables=dict(tables),
        primary_table=next(iter(tables)),
    )


def test_richness_step_outputs_its_table_and_records_lineage(tmp_path, ants):
    ctx = make_ctx(tmp_path, "richness", ANT_PARAMS, {"colonies": ants})
    result = get_step("compute.species_richness")(ctx)

    table = result.tables["richness"]
    assert list(result.tables) == ["richness"]
    assert result.status == "succeeded"
    assert (result.rows_in, result.rows_out, result.rows_rejected) == (ants.height, table.height, 0)
    assert result.output_fingerprint == frame_fingerprint(table)
    assert result.input_fingerprint == frame_fingerprint(ants)
    one = table.filter(pl.col("plot") == "1", pl.col("year").is_in([1977, 1987])).sort("year")
    assert one["species_richness"].to_list() == [12, 5]
    assert ctx.lineage["outputs"] == [
        {
            "table": "richness",
            "rows": table.height,
            "sha256": frame_fingerprint(table),
            "step": "richness",
        }
    ]
    # A retried step replaces its entry instead of listing the table twice.
    get_step("compute.species_richness")(ctx)
    assert len(ctx.lineage["outputs"]) == 1


def test_trend_step_publishes_short_series_as_a_second_table(tmp_path, ants):
    ctx = make_ctx(tmp_path, "trend", {**ANT_PARAMS, "min_years": 5}, {"colonies": ants})
    result = get_step("compute.trend")(ctx)
    assert set(result.tables) == {"trend", "trend.insufficient"}
    assert [entry["table"] for entry in ctx.lineage["outputs"]] == ["trend", "trend.insufficient"]
    assert result.details["insufficient_taxa"] == 6
    assert {row["species"] for row in result.details["insufficient"]} >= {"camp fest", "phei yell"}
    assert any("fewer than 5 years" in line for line in ctx.log_lines)


def test_step_reports_dropped_rows(tmp_path, ants):
    broken = ants.head(50).with_columns(
        pl.when(pl.int_range(pl.len()) < 4)
        .then(pl.lit("x"))
        .otherwise("colonies")
        .alias("colonies")
    )
    ctx = make_ctx(tmp_path, "abundance", ANT_PARAMS, {"colonies": broken})
    result = get_step("compute.abundance")(ctx)
    assert result.rows_rejected == 4
    assert result.details["dropped"] == {"count_not_a_number": 4}
    assert "dropped 4 rows: count not a number" in ctx.log_lines


def test_step_reads_params_table_else_the_primary(tmp_path, ants, snails):
    ctx = make_ctx(tmp_path, "occ", {}, {"snails": snails, "colonies": ants})
    assert get_step("compute.occupancy")(ctx).rows_in == snails.height
    ctx = make_ctx(
        tmp_path, "occ", {**ANT_PARAMS, "table": "colonies"}, {"snails": snails, "colonies": ants}
    )
    result = get_step("compute.occupancy")(ctx)
    assert result.rows_in == ants.height
    assert result.tables["occ"].columns[:2] == ["species", "year"]


def test_step_errors_name_the_problem(tmp_path, ants):
    ctx = make_ctx(tmp_path, "rich", {"table": "nope"}, {"colonies": ants})
    with pytest.raises(StepError, match="nope"):
        get_step("compute.species_richness")(ctx)
    ctx = make_ctx(tmp_path, "rich", {}, {"colonies": ants})
    with pytest.raises(StepError, match="no taxon column"):
        get_step("compute.species_richness")(ctx)
    unusable = ants.head(5).with_columns(pl.lit("?").alias("year"))
    ctx = make_ctx(tmp_path, "rich", ANT_PARAMS, {"colonies": unusable})
    with pytest.raises(StepError, match="no usable rows"):
        get_step("compute.species_richness")(ctx)


@pytest.mark.parametrize(
    "step_type", sorted(n for n in BUILTIN_STEP_TYPES if n.startswith("compute."))
)
def test_each_declared_compute_type_is_registered_and_its_example_valid(step_type):
    assert get_step(step_type).__module__.startswith("jobs.steps.")
    definition = {
        "steps": [{"key": "c", "type": step_type, "params": STEP_TYPES[step_type]["example"]}]
    }
    assert validate_pipeline(definition) == []
