"""The validate.rules step: the gate, the per-rule report and the rejection CSV."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from jobs.registry import get_step
from jobs.steps.base import StepError, sha256_file
from portal.services.pipeline_spec import validate_rules as validate_rule_spec
from tests.jobs.conftest import ANT_SPECIES

# Reasonable Darwin Core checks for an occurrence table.
DWC_RULES = [
    {
        "id": "dwc-columns",
        "type": "required_columns",
        "severity": "critical",
        "columns": ["occurrenceID", "scientificName", "eventDate", "basisOfRecord"],
    },
    {
        "id": "occurrence-id-unique",
        "type": "unique",
        "severity": "error",
        "columns": ["occurrenceID"],
    },
    {"id": "taxon-named", "type": "not_null", "severity": "error", "column": "scientificName"},
    {
        "id": "event-date",
        "type": "date",
        "severity": "error",
        "column": "eventDate",
        "min": "1900-01-01",
    },
    {
        "id": "coordinates",
        "type": "coordinates",
        "severity": "error",
        "bbox": [-15.9, 27.7, -15.3, 28.2],
    },
    {
        "id": "basis",
        "type": "allowed_values",
        "severity": "error",
        "column": "basisOfRecord",
        "values": ["HumanObservation", "PreservedSpecimen", "MaterialSample", "Occurrence"],
    },
    {
        "id": "country",
        "type": "pattern",
        "severity": "warning",
        "column": "countryCode",
        "regex": "[A-Z]{2}",
    },
    {"id": "quantity", "type": "not_null", "severity": "warning", "column": "organismQuantity"},
    {"id": "enough-rows", "type": "row_count", "severity": "error", "min": 100},
]
ANT_RULES = [
    {
        "id": "exact-duplicates",
        "type": "unique",
        "severity": "error",
        "columns": [
            "day",
            "month",
            "year",
            "plot",
            "stake",
            "species",
            "colonies",
            "openings",
            "flag",
        ],
    },
    {"id": "day-recorded", "type": "not_null", "severity": "warning", "column": "day"},
    {
        "id": "known-species",
        "type": "allowed_values",
        "severity": "error",
        "column": "species",
        "vocabulary": {"source": ANT_SPECIES, "column": "speciescode"},
    },
    {
        "id": "plot-range",
        "type": "range",
        "severity": "error",
        "column": "plot",
        "min": 1,
        "max": 24,
    },
]


def validate(make_ctx, frame: pl.DataFrame, rules: list[dict], **fields):
    ctx = make_ctx(
        {}, rules=rules, tables={"data": frame}, primary_table="data", step_key="checks", **fields
    )
    return ctx, get_step("validate.rules")(ctx)


def report(result) -> pl.DataFrame:
    return pl.read_csv(result.files["rejection_report"], infer_schema=False)


def test_the_rule_sets_are_schema_valid():
    assert validate_rule_spec({"rules": DWC_RULES}) == []
    assert validate_rule_spec({"rules": ANT_RULES}) == []


def test_the_snails_pass_darwin_core_checks_with_warnings_only(make_ctx, snails):
    _, result = validate(make_ctx, snails, DWC_RULES)

    assert result.status == "succeeded"
    assert result.message is None
    failed = {r["id"]: r["severity"] for r in result.details["rules"] if not r["passed"]}
    assert failed == {"quantity": "warning"}
    assert result.details["blocking"] == []
    # A validation flags rows and removes none: every row goes on to the next step.
    assert (result.rows_in, result.rows_rejected, result.rows_out) == (389, 40, 389)
    assert result.details["usage"] == {"table": "data", "rows": 389, "flagged": 40}
    rejected = report(result)
    assert rejected.height == 40
    assert set(rejected.get_column("_rule_ids")) == {"quantity"}
    assert set(rejected.get_column("_table")) == {"data"}
    assert rejected.columns[:2] == ["_table", "_row"] and rejected.columns[-1] == "_rule_ids"
    json.dumps(result.details)  # stored as JSON by the runner


def test_defective_snails_are_blocked_by_the_failing_rules(make_ctx, snails):
    # Rows that have an organismQuantity, so that only the planted defects show.
    a, b, c = snails.with_row_index().filter(pl.col("organismQuantity").is_not_null())["index"][:3]
    hit = pl.int_range(pl.len())
    defective = snails.with_columns(
        scientificName=pl.when(hit == a).then(None).otherwise("scientificName"),
        decimalLatitude=pl.when(hit == b).then(pl.lit("0")).otherwise("decimalLatitude"),
        decimalLongitude=pl.when(hit == b).then(pl.lit("0")).otherwise("decimalLongitude"),
        eventDate=pl.when(hit.is_in([b, c])).then(pl.lit("2030-01-01")).otherwise("eventDate"),
    )
    _, result = validate(make_ctx, defective, DWC_RULES)

    assert result.status == "blocked"
    assert result.message == "blocked by failing rule(s): taxon-named, event-date, coordinates"
    by_id = {r["id"]: r for r in result.details["rules"]}
    assert by_id["event-date"]["failing_rows"] == 2
    assert by_id["coordinates"]["sample"][0]["_row"] == b
    rejected = report(result).filter(pl.col("_row").is_in([str(a), str(b), str(c)]))
    assert rejected.select("_row", "_rule_ids").rows() == [
        (str(a), "taxon-named"),
        (str(b), "event-date;coordinates"),
        (str(c), "event-date"),
    ]


def test_the_ant_census_shows_its_real_defects(make_ctx, ants):
    ctx, result = validate(make_ctx, ants, ANT_RULES)

    assert result.status == "blocked"
    assert result.message == "blocked by failing rule(s): exact-duplicates"
    by_id = {r["id"]: r for r in result.details["rules"]}
    assert by_id["day-recorded"]["failing_rows"] == 3953
    assert (
        by_id["day-recorded"]["passed"] is False and by_id["day-recorded"]["severity"] == "warning"
    )
    assert by_id["exact-duplicates"]["failing_rows"] > 0
    assert by_id["known-species"]["passed"] and by_id["plot-range"]["passed"]
    rejected = report(result)
    assert result.rows_rejected == rejected.height
    assert result.rows_out == ants.height
    # The vocabulary read is an input of the run, like the data itself.
    [vocabulary] = ctx.lineage["inputs"]
    assert vocabulary["uri"] == ANT_SPECIES and vocabulary["step"] == "checks"


def test_warnings_and_info_never_block(make_ctx, snails):
    rules = [
        {"id": "w", "type": "row_count", "severity": "warning", "max": 10},
        {"id": "i", "type": "not_null", "severity": "info", "column": "lifeStage"},
    ]
    _, result = validate(make_ctx, snails, rules)
    assert result.status == "succeeded"
    assert result.details["failed"] == ["w", "i"]


def test_a_critical_failure_blocks(make_ctx, snails):
    rules = [
        {
            "id": "c",
            "type": "required_columns",
            "severity": "critical",
            "columns": ["individualCount"],
        }
    ]
    _, result = validate(make_ctx, snails, rules)
    assert result.status == "blocked"
    assert result.rows_rejected == 0  # a table-level failure rejects no particular row


def test_no_rules_still_writes_an_empty_report(make_ctx, snails):
    _, result = validate(make_ctx, snails, [])
    path = Path(result.files["rejection_report"])
    assert path.name == "rejections.csv"
    assert report(result).height == 0
    assert report(result).columns == ["_table", "_row", *snails.columns, "_rule_ids"]
    assert result.output_fingerprint == sha256_file(path)


def test_the_table_to_check(make_ctx, snails, ants):
    rules = [{"id": "rows", "type": "row_count", "severity": "error", "min": 1000}]
    ctx = make_ctx(
        {"table": "ants"}, rules=rules, tables={"data": snails, "ants": ants}, primary_table="data"
    )
    assert get_step("validate.rules")(ctx).details["table"] == "ants"
    lone = make_ctx({}, rules=rules, tables={"occ": snails})  # no primary table: the only one
    assert get_step("validate.rules")(lone).status == "blocked"
    with pytest.raises(StepError, match="no table named 'missing'"):
        get_step("validate.rules")(
            make_ctx({"table": "missing"}, rules=rules, tables={"occ": snails})
        )
