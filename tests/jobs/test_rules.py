"""Each rule type on the real tables and on defects derived from them in the test."""

from __future__ import annotations

import polars as pl
import pytest

from jobs.registry import get_step
from tests.jobs.conftest import ANT_SPECIES

GRAN_CANARIA = [-15.9, 27.7, -15.3, 28.2]
ANT_COLUMNS = ["day", "month", "year", "plot", "stake", "species", "colonies", "openings", "flag"]


def check(make_ctx, frame: pl.DataFrame, rule: dict, tables: dict | None = None) -> dict:
    """Run one rule through the validate step and return its result."""
    rule = {"id": rule.get("id", "r"), "severity": rule.get("severity", "error"), **rule}
    ctx = make_ctx({}, rules=[rule], tables={"data": frame, **(tables or {})}, primary_table="data")
    [result] = get_step("validate.rules")(ctx).details["rules"]
    return result


def set_rows(frame: pl.DataFrame, column: str, rows: list[int], value) -> pl.DataFrame:
    """Derive a defective copy: ``column`` takes ``value`` on the given row indices."""
    hit = pl.int_range(pl.len()).is_in(rows)
    return frame.with_columns(
        pl.when(hit).then(pl.lit(value, pl.String)).otherwise(column).alias(column)
    )


def test_required_columns(make_ctx, snails):
    ok = check(
        make_ctx, snails, {"type": "required_columns", "columns": ["occurrenceID", "eventDate"]}
    )
    assert ok["passed"] is True
    bad = check(make_ctx, snails, {"type": "required_columns", "columns": ["eventDate", "habitat"]})
    assert bad["passed"] is False
    assert bad["message"] == "missing column(s): habitat"
    assert bad["scope"] == "table"


def test_not_null_on_the_snails_and_on_blanked_names(make_ctx, snails):
    rule = {"type": "not_null", "column": "scientificName"}
    assert check(make_ctx, snails, rule)["passed"] is True

    blanked = set_rows(
        set_rows(snails, "scientificName", [3, 7], None), "scientificName", [11], "  "
    )
    result = check(make_ctx, blanked, rule)
    assert result["passed"] is False
    assert result["failing_rows"] == 3
    assert result["fraction"] == pytest.approx(3 / 389)
    assert [row["_row"] for row in result["sample"]] == [3, 7, 11]
    assert result["sample"][0]["occurrenceID"] == snails.row(3, named=True)["occurrenceID"]
    assert "3 of 389 rows" in result["message"]


def test_unique_occurrence_ids_and_the_ant_census_exact_duplicates(make_ctx, snails, ants):
    assert check(make_ctx, snails, {"type": "unique", "columns": ["occurrenceID"]})["passed"]

    result = check(make_ctx, ants, {"type": "unique", "columns": ANT_COLUMNS})
    repeats = ants.height - ants.select(ANT_COLUMNS).unique().height
    assert repeats > 0  # the real census has exact duplicate rows
    assert result["passed"] is False
    assert result["failing_rows"] == repeats
    # The first of each group passes: every sampled row repeats an earlier one.
    for sample in result["sample"]:
        earlier = ants.head(sample["_row"]).select(ANT_COLUMNS)
        key = {column: sample[column] for column in ANT_COLUMNS}
        assert (
            earlier.filter(
                pl.all_horizontal(
                    pl.col(c).eq_missing(pl.lit(v, pl.String)) for c, v in key.items()
                )
            ).height
            >= 1
        )


def test_unique_on_a_single_column_with_a_duplicated_id(make_ctx, snails):
    first_id = snails.row(0, named=True)["occurrenceID"]
    duplicated = set_rows(snails, "occurrenceID", [200], first_id)
    result = check(make_ctx, duplicated, {"type": "unique", "columns": ["occurrenceID"]})
    assert result["failing_rows"] == 1
    assert result["sample"][0]["_row"] == 200


def test_range(make_ctx, snails):
    rule = {"type": "range", "column": "year", "min": 1980, "max": 2026}
    assert check(make_ctx, snails, rule)["passed"] is True
    defective = set_rows(set_rows(snails, "year", [5], "1850"), "year", [6], "about 2016")
    result = check(make_ctx, defective, rule)
    assert result["failing_rows"] == 2
    assert [row["year"] for row in result["sample"]] == ["1850", "about 2016"]


def test_allowed_values_from_a_list(make_ctx, snails):
    rule = {
        "type": "allowed_values",
        "column": "basisOfRecord",
        "values": ["HumanObservation", "PreservedSpecimen"],
    }
    assert check(make_ctx, snails, rule)["passed"] is True
    result = check(make_ctx, set_rows(snails, "basisOfRecord", [0], "Sighting"), rule)
    assert result["failing_rows"] == 1


def test_allowed_values_from_the_ant_species_vocabulary(make_ctx, ants):
    rule = {
        "type": "allowed_values",
        "column": "species",
        "vocabulary": {"source": ANT_SPECIES, "column": "speciescode"},
    }
    assert check(make_ctx, ants, rule)["passed"] is True
    result = check(make_ctx, set_rows(ants, "species", [10, 20], "pogo xxxx"), rule)
    assert result["failing_rows"] == 2
    assert "outside the 27 values of ants/Portal_ant_species.csv:speciescode" in result["message"]


def test_allowed_values_with_a_missing_vocabulary_fails_the_rule(make_ctx, ants):
    rule = {
        "type": "allowed_values",
        "column": "species",
        "vocabulary": {"source": "ants/nope.csv", "column": "speciescode"},
    }
    result = check(make_ctx, ants, rule)
    assert result["passed"] is False
    assert "not found under DATA_ROOT" in result["message"]


def test_numeric_allowed_values_match_text_cells(make_ctx, ants):
    rule = {
        "type": "allowed_values",
        "column": "flag",
        "values": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    }
    result = check(make_ctx, ants, rule)
    assert result["passed"] is True, result["message"]


def test_pattern(make_ctx, snails):
    rule = {"type": "pattern", "column": "occurrenceID", "regex": r"WL:SNAIL:GC:OCC:\d{5}"}
    assert check(make_ctx, snails, rule)["passed"] is True
    country = {"type": "pattern", "column": "countryCode", "regex": "[A-Z]{2}"}
    result = check(make_ctx, set_rows(snails, "countryCode", [1], "esp"), country)
    assert result["failing_rows"] == 1  # the whole value must match, not a part of it


def test_an_invalid_regular_expression_fails_the_rule_clearly(make_ctx, snails):
    result = check(make_ctx, snails, {"type": "pattern", "column": "countryCode", "regex": "[A-Z"})
    assert result["passed"] is False
    assert result["message"].startswith("invalid regular expression '[A-Z'")


def test_date_rule_on_the_snails_and_on_defects(make_ctx, snails):
    rule = {"type": "date", "column": "eventDate", "min": "1980-01-01"}
    assert check(make_ctx, snails, rule)["passed"] is True

    defective = set_rows(snails, "eventDate", [0], "2031-05-01")  # after the run's date
    defective = set_rows(defective, "eventDate", [1], "2019-02-30")  # no such day
    defective = set_rows(defective, "eventDate", [2], "1975-06-01")  # before min
    result = check(make_ctx, defective, rule)
    assert result["failing_rows"] == 3
    assert [row["_row"] for row in result["sample"]] == [0, 1, 2]
    assert "after 2026-01-15" in result["message"]

    future_ok = check(make_ctx, defective, {**rule, "allow_future": True})
    assert future_ok["failing_rows"] == 2


def test_date_rule_accepts_darwin_core_date_forms(make_ctx):
    forms = [
        "2016-08-03",
        "2016-08-03T10:15:00Z",
        "2016-08-03/2016-08-05",
        "2016-08",
        "2016",
        "2016/2017",
        None,
    ]
    frame = pl.DataFrame({"eventDate": forms + ["03/08/2016", "2016-13-01"]})
    result = check(make_ctx, frame, {"type": "date", "column": "eventDate"})
    assert result["failing_rows"] == 2
    assert [row["eventDate"] for row in result["sample"]] == ["03/08/2016", "2016-13-01"]


def test_coordinates(make_ctx, snails):
    rule = {"type": "coordinates", "bbox": GRAN_CANARIA}
    assert check(make_ctx, snails, rule)["passed"] is True

    defective = set_rows(
        set_rows(snails, "decimalLatitude", [0], "0"), "decimalLongitude", [0], "0"
    )
    defective = set_rows(defective, "decimalLatitude", [1], "95.2")  # impossible latitude
    defective = set_rows(defective, "decimalLatitude", [2], "40.4")  # Madrid: outside the box
    defective = set_rows(defective, "decimalLongitude", [3], None)  # only one coordinate
    defective = set_rows(
        set_rows(defective, "decimalLatitude", [4], None), "decimalLongitude", [4], None
    )
    result = check(make_ctx, defective, rule)
    assert [row["_row"] for row in result["sample"]] == [0, 1, 2, 3]  # row 4 has none: passes
    without_box = check(make_ctx, defective, {"type": "coordinates"})
    assert without_box["failing_rows"] == 3


def test_row_count(make_ctx, snails):
    assert check(make_ctx, snails, {"type": "row_count", "min": 100})["passed"] is True
    result = check(make_ctx, snails, {"type": "row_count", "max": 100})
    assert result["passed"] is False
    assert result["message"] == "389 rows, more than the maximum 100"


def test_null_fraction(make_ctx, snails):
    lenient = check(
        make_ctx,
        snails,
        {"type": "null_fraction", "column": "organismQuantity", "max_fraction": 0.2},
    )
    assert lenient["passed"] is True
    assert lenient["failing_rows"] == 40  # the 40 snail rows without organismQuantity
    strict = check(
        make_ctx,
        snails,
        {"type": "null_fraction", "column": "organismQuantity", "max_fraction": 0.05},
    )
    assert strict["passed"] is False


def test_freshness(make_ctx, snails):
    stale = check(
        make_ctx, snails, {"type": "freshness", "column": "eventDate", "max_age_days": 365}
    )
    assert stale["passed"] is False
    assert stale["message"].startswith("newest eventDate is 2020-02-08")
    fresh = check(
        make_ctx, snails, {"type": "freshness", "column": "eventDate", "max_age_days": 3650}
    )
    assert fresh["passed"] is True


def test_reference_to_another_table(make_ctx, ants, data_root):
    species = pl.read_csv(data_root / ANT_SPECIES, infer_schema=False)
    rule = {
        "type": "reference",
        "column": "species",
        "table": "species",
        "ref_column": "speciescode",
    }
    assert check(make_ctx, ants, rule, {"species": species})["passed"] is True
    result = check(make_ctx, set_rows(ants, "species", [0], "camp zzz"), rule, {"species": species})
    assert result["failing_rows"] == 1
    missing = check(make_ctx, ants, rule)
    assert missing["passed"] is False
    assert missing["message"].startswith("no table named 'species' in this run")


def test_tolerance_lets_a_small_failing_fraction_pass(make_ctx, snails):
    rule = {"type": "not_null", "column": "organismQuantity"}
    assert check(make_ctx, snails, rule)["passed"] is False  # default tolerance 1.0
    assert check(make_ctx, snails, {**rule, "tolerance": 0.85})["passed"] is True
    assert check(make_ctx, snails, {**rule, "tolerance": 0.95})["passed"] is False


def test_condition_limits_a_rule_to_some_rows(make_ctx, snails, ants):
    # Rows that have a quantity must say what kind of quantity it is.
    rule = {
        "type": "not_null",
        "column": "organismQuantityType",
        "condition": {"column": "organismQuantity"},
    }
    assert check(make_ctx, snails, rule)["passed"] is True
    assert check(make_ctx, snails, {**rule, "condition": None})["passed"] is False

    flagged = {"type": "not_null", "column": "day", "condition": {"column": "flag", "equals": 9}}
    result = check(make_ctx, ants, flagged)
    in_scope = ants.filter(pl.col("flag") == "9")
    assert result["failing_rows"] == in_scope.get_column("day").null_count()
    assert result["fraction"] == pytest.approx(result["failing_rows"] / in_scope.height)


@pytest.mark.parametrize(
    "rule",
    [
        {"type": "not_null", "column": "colour"},
        {"type": "unique", "columns": ["occurrenceID", "colour"]},
        {"type": "range", "column": "colour", "min": 0},
        {"type": "pattern", "column": "colour", "regex": "x"},
        {"type": "date", "column": "colour"},
        {"type": "coordinates", "latitude": "lat"},
        {"type": "freshness", "column": "colour", "max_age_days": 3},
        {"type": "not_null", "column": "occurrenceID", "condition": {"column": "colour"}},
    ],
)
def test_a_rule_on_a_missing_column_fails_with_a_clear_message(make_ctx, snails, rule):
    result = check(make_ctx, snails, rule)
    assert result["passed"] is False
    assert "not found in the table" in result["message"]
