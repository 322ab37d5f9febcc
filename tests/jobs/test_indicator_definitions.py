"""What the indicators' numbers mean: missing and invalid counts, "surveyed", the rows a
step used, and the period published as ``year`` — each checked against a computation
over plain rows written here."""

from __future__ import annotations

import csv
from collections import defaultdict

import polars as pl
import pytest

from jobs.indicators import abundance, occupancy, species_richness, trend
from jobs.indicators.columns import ColumnError, CountError
from jobs.registry import get_step
from jobs.transforms import complete
from portal.services.step_usage import usage_sentence

ANTS = {"taxon": "species", "site": "plot", "period": "year", "count": "colonies"}


@pytest.fixture(scope="module")
def snail_rows(shared_data) -> list[dict[str, str]]:
    with open(shared_data / "landsnails-gran-canaria" / "occurrence.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def snail_frame(shared_data) -> pl.DataFrame:
    path = shared_data / "landsnails-gran-canaria" / "occurrence.csv"
    return pl.read_csv(path, infer_schema=False)


def test_abundance_refuses_to_guess_a_missing_count_by_default(snail_frame):
    with pytest.raises(CountError, match=r"40 row\(s\) have no value in count column "
                                         r"'organismQuantity'.*missing_count"):
        abundance(snail_frame)
    with pytest.raises(CountError, match="missing_count"):
        trend(snail_frame, min_years=3)


def test_missing_count_skip_leaves_rows_out_and_says_so(snail_frame, snail_rows):
    result = abundance(snail_frame, missing_count="skip")
    counted = [r for r in snail_rows if r["organismQuantity"]]
    assert result.dropped == {"count_missing": 40}
    assert result.rows_dropped == 40 and int(result.used.sum()) == len(counted)
    assert result.table["total_count"].sum() == sum(float(r["organismQuantity"])
                                                    for r in counted)


def test_presence_indicators_read_a_record_without_count_as_present(snail_frame, snail_rows):
    # Richness keeps the presence-only reading by default: every record names a taxon.
    richness = species_richness(snail_frame)
    expected: dict = defaultdict(set)
    for row in snail_rows:
        if float(row["organismQuantity"] or 1) > 0:
            expected[(row["locality"], int(row["year"]))].add(row["scientificName"])
    assert {(r["locality"], r["year"]): r["species_richness"]
            for r in richness.table.iter_rows(named=True)} == {
        key: len(names) for key, names in expected.items()}
    with pytest.raises(CountError):
        species_richness(snail_frame, missing_count="error")


def test_invalid_counts_are_skipped_or_refused():
    frame = pl.DataFrame({"scientificName": ["A a", "A a", "B b"], "year": ["2020"] * 3,
                          "individualCount": ["3", "many", "-1"]})
    skipped = abundance(frame)
    assert skipped.dropped == {"count_not_a_number": 1, "count_negative": 1}
    assert skipped.table.rows() == [("A a", 2020, 3, 1)]
    with pytest.raises(CountError, match=r"1 row\(s\) have a value that is not a number.*"
                                         r"data row\(s\) 2"):
        abundance(frame, invalid_count="error")
    with pytest.raises(ColumnError, match="missing_count must be one of"):
        abundance(frame, missing_count="zero")


def grid_inputs() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Counts at surveyed site/years, and the surveys: site 3 surveyed in 2021 with
    nothing found; site 2 never surveyed in 2021; site 10 sorts after site 3."""
    counts = pl.DataFrame({
        "site": ["1", "1", "2", "10", "1", "10"],
        "year": ["2020", "2020", "2020", "2020", "2021", "2021"],
        "taxon": ["A a", "B b", "A a", "B b", "A a", "A a"],
        "n": [2.0, 1.0, 5.0, 4.0, 3.0, 1.0],
    })
    surveys = pl.DataFrame({"site": ["1", "2", "3", "10", "1", "3", "10"],
                            "year": ["2020", "2020", "2020", "2020", "2021", "2021", "2021"]})
    return counts, surveys


def test_a_completed_grid_counts_surveyed_zeros_and_never_unsurveyed_cells():
    counts, surveys = grid_inputs()
    grid = complete({"c": counts.lazy(), "s": surveys.lazy()}, "c", "s", "site", "year",
                    "taxon", ["n"])
    assert grid.filter(~pl.col("surveyed"))["n"].null_count() == 2  # site 2, 2021
    columns = {"taxon": "taxon", "site": "site", "period": "year", "count": "n"}

    total = abundance(grid, taxon="taxon", period="year", count="n")  # default: error
    assert total.dropped == {"not_surveyed": 2}
    assert {(t, y): c for t, y, c, _ in total.table.rows()} == {
        ("A a", 2020): 7, ("A a", 2021): 4, ("B b", 2020): 5, ("B b", 2021): 0}

    occ = occupancy(grid, **columns)
    by_key = {(r["taxon"], r["year"]): r for r in occ.table.iter_rows(named=True)}
    # 2021: sites 1, 3 and 10 were surveyed (3 found nothing); site 2 was not.
    assert by_key[("A a", 2021)]["sites_surveyed"] == 3
    assert by_key[("A a", 2021)]["sites_occupied"] == 2
    assert by_key[("B b", 2021)]["occupancy"] == 0.0
    assert by_key[("A a", 2020)]["sites_surveyed"] == 4

    rich = species_richness(grid, **columns)
    assert rich.table.select("site", "year", "species_richness").rows() == [
        ("1", 2020, 2), ("1", 2021, 1), ("2", 2020, 1), ("3", 2020, 0), ("3", 2021, 0),
        ("10", 2020, 1), ("10", 2021, 1)]  # numeric site ids sort numerically

    # Published and read back, the grid's surveyed column is text: same figures.
    text = pl.read_csv(grid.write_csv().encode(), infer_schema=False)
    assert occupancy(text, **columns).table.equals(occ.table)


def test_the_period_is_published_as_year_whatever_its_column():
    frame = pl.DataFrame({"taxon": ["A a", "A a"], "season": ["2019", "2020"],
                          "n": ["1", "2"]})
    table = abundance(frame, taxon="taxon", period="season", count="n").table
    assert table.columns == ["taxon", "year", "total_count", "records"]


def make_ctx(tmp_path, key, params, tables, rules=()):
    from jobs.steps.base import StepContext

    return StepContext(run_uuid="r", programme_code="T", step_key=key, params=params,
                       rules=list(rules), data_root=tmp_path, publish_root=tmp_path / "p",
                       work_dir=tmp_path / "w", store_root=tmp_path / "s", tables=tables,
                       primary_table="data")


def test_the_step_records_what_it_used_and_what_failed_rules(tmp_path):
    frame = pl.DataFrame({"species": ["a", "a", "b", "b", "c"], "year": ["2020"] * 5,
                          "colonies": ["1", "", "2", "2", "x"],
                          "flag": [None, None, "10", None, None]})
    rules = [{"id": "not-redone", "type": "range", "severity": "warning", "column": "flag",
              "max": 5}]
    tables = {"data": frame}
    ctx = make_ctx(tmp_path, "checks", {}, tables, rules)
    validated = get_step("validate.rules")(ctx)
    assert (validated.rows_in, validated.rows_out, validated.rows_rejected) == (5, 5, 1)
    assert usage_sentence(validated.details) == (
        "checked 5 rows of data: 1 failed a rule and are flagged, not removed "
        "(transform.exclude_rejected removes them)")
    tables.update(validated.tables)

    params = {"taxon": "species", "period": "year", "count": "colonies",
              "missing_count": "skip"}
    result = get_step("compute.abundance")(make_ctx(tmp_path, "abundance", params, tables))
    usage = result.details["usage"]
    assert (usage["rows"], usage["used"]) == (5, 3)
    assert usage["excluded"] == {"count_missing": 1, "count_not_a_number": 1}
    assert usage["flagged_used"] == {"rows": 1, "rules": {"not-redone": 1}}
    assert usage_sentence(result.details) == (
        "used 3 of 5 rows of data (2 excluded — count missing: 1, count not a number: 1); "
        "includes 1 rows that failed rules in the validation (not-redone: 1), flagged but "
        "not removed")
    assert result.details["surveyed_from"] == "any record"

    tables.update(get_step("transform.exclude_rejected")(
        make_ctx(tmp_path, "clean", {}, tables, rules)).tables)
    again = get_step("compute.abundance")(make_ctx(tmp_path, "abundance", params, tables))
    assert usage_sentence(again.details) == (
        "used 2 of 4 rows of data (2 excluded — count missing: 1, count not a number: 1)")


def test_a_step_error_names_the_policy(tmp_path, snail_frame):
    from jobs.steps.base import StepError

    ctx = make_ctx(tmp_path, "abundance", {}, {"data": snail_frame})
    with pytest.raises(StepError, match="abundance: 40 row.*missing_count: one"):
        get_step("compute.abundance")(ctx)
