"""Indicators on the real data, checked against independent plain-Python computations."""

from __future__ import annotations

import csv
import math
import statistics
from collections import defaultdict
from pathlib import Path

import polars as pl
import pytest

from jobs.indicators import (
    abundance,
    occupancy,
    species_richness,
    t_cdf,
    t_quantile,
    trend,
)

ANT_COLUMNS = {"taxon": "species", "count": "colonies"}


@pytest.fixture(scope="module")
def ants_csv(shared_data) -> Path:
    return shared_data / "portal-ants" / "Portal_ant_colony.csv"


@pytest.fixture(scope="module")
def snails_csv(shared_data) -> Path:
    return shared_data / "landsnails-gran-canaria" / "occurrence.csv"


@pytest.fixture(scope="module")
def ants(ants_csv) -> pl.DataFrame:
    return pl.read_csv(ants_csv, infer_schema=False)


@pytest.fixture(scope="module")
def snails(snails_csv) -> pl.DataFrame:
    return pl.read_csv(snails_csv, infer_schema=False)


@pytest.fixture(scope="module")
def ant_rows(ants_csv) -> list[dict[str, str]]:
    with ants_csv.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def snail_rows(snails_csv) -> list[dict[str, str]]:
    with snails_csv.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_ant_plot_1_species_richness_matches_literal_and_csv_module(ants, ant_rows):
    result = species_richness(ants, site="plot", **ANT_COLUMNS)
    table = result.table

    def richness(year: int) -> int:
        row = table.filter(pl.col("plot") == "1", pl.col("year") == year)
        assert row.height == 1
        return row["species_richness"].item()

    assert richness(1977) == 12
    assert richness(1987) == 5
    expected: dict[tuple[str, int], set[str]] = defaultdict(set)
    for row in ant_rows:
        if float(row["colonies"]) > 0:
            expected[(row["plot"], int(row["year"]))].add(row["species"])
    assert len(expected[("1", 1977)]) == 12 and len(expected[("1", 1987)]) == 5
    computed = {(r["plot"], r["year"]): r["species_richness"] for r in table.iter_rows(named=True)}
    assert computed == {key: len(species) for key, species in expected.items()}
    assert result.rows_dropped == 0


def test_abundance_totals_match_csv_module(ants, ant_rows):
    table = abundance(ants, **ANT_COLUMNS).table
    expected: dict[tuple[str, int], int] = defaultdict(int)
    for row in ant_rows:
        expected[(row["species"], int(row["year"]))] += int(row["colonies"])
    assert table.schema["total_count"] == pl.Int64
    computed = {(r["species"], r["year"]): r["total_count"] for r in table.iter_rows(named=True)}
    assert computed == dict(expected)
    assert table.columns == ["species", "year", "total_count", "records"]


def test_occupancy_is_share_of_surveyed_plots(ants, ant_rows):
    table = occupancy(ants, site="plot", **ANT_COLUMNS).table
    surveyed: dict[int, set[str]] = defaultdict(set)
    occupied: dict[tuple[str, int], set[str]] = defaultdict(set)
    for row in ant_rows:
        surveyed[int(row["year"])].add(row["plot"])
        occupied[(row["species"], int(row["year"]))].add(row["plot"])
    row = table.filter(pl.col("species") == "phei sp", pl.col("year") == 1978).row(0, named=True)
    assert row["sites_surveyed"] == len(surveyed[1978])
    assert row["occupancy"] == pytest.approx(
        len(occupied[("phei sp", 1978)]) / len(surveyed[1978]), abs=1e-6
    )
    # A taxon gets an explicit 0 in surveyed years where it was not found.
    absent = table.filter(pl.col("species") == "phei sp", pl.col("year") == 1977)
    assert absent["occupancy"].item() == 0.0
    species = {r["species"] for r in ant_rows}
    assert table.height == len(species) * len(surveyed)
    assert table["occupancy"].is_between(0, 1).all()


@pytest.mark.parametrize(
    ("df", "expected"),
    [
        (1, 12.7062),
        (2, 4.3027),
        (5, 2.5706),
        (10, 2.2281),
        (30, 2.0423),
        (100, 1.9840),
        (200, 1.9719),
    ],
)
def test_t_quantile_matches_published_table(df, expected):
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-4)


def test_t_quantile_is_symmetric_and_inverts_the_cdf():
    assert t_quantile(0.95, 10) == pytest.approx(1.8125, abs=1e-4)
    assert t_quantile(0.025, 7) == pytest.approx(-t_quantile(0.975, 7))
    assert t_cdf(t_quantile(0.9, 3), 3) == pytest.approx(0.9, abs=1e-9)
    with pytest.raises(ValueError):
        t_quantile(1.0, 5)


def _independent_trend(rows: list[dict[str, str]], species: str) -> tuple[float, float, int]:
    years = sorted({int(r["year"]) for r in rows})
    totals = dict.fromkeys(years, 0)
    for row in rows:
        if row["species"] == species:
            totals[int(row["year"])] += int(row["colonies"])
    xs, ys = years, [math.log(totals[year] + 1) for year in years]
    slope, intercept = statistics.linear_regression(xs, ys)
    residuals = [y - (intercept + slope * x) for x, y in zip(xs, ys, strict=True)]
    mean_x = statistics.fmean(xs)
    se = math.sqrt(
        sum(r * r for r in residuals) / (len(xs) - 2) / sum((x - mean_x) ** 2 for x in xs)
    )
    return slope, se, len(xs)


def test_trend_matches_an_independent_regression(ants, ant_rows):
    result = trend(ants, **ANT_COLUMNS, min_years=5)
    row = result.table.filter(pl.col("species") == "cono insa").row(0, named=True)
    slope, se, n = _independent_trend(ant_rows, "cono insa")
    assert row["n_years"] == n == 30  # 1977-2009 without the 1995-1997 gap
    assert row["slope"] == pytest.approx(slope, abs=1e-7)
    assert row["se"] == pytest.approx(se, abs=1e-7)
    assert row["percent_change_per_year"] == pytest.approx((math.exp(slope) - 1) * 100, abs=1e-3)
    t = t_quantile(0.975, n - 2)
    assert row["ci95_low"] == pytest.approx((math.exp(slope - t * se) - 1) * 100, abs=1e-3)
    assert row["ci95_high"] == pytest.approx((math.exp(slope + t * se) - 1) * 100, abs=1e-3)
    assert row["ci95_low"] < row["percent_change_per_year"] < row["ci95_high"]


def test_trend_lists_short_series_instead_of_guessing(ants):
    result = trend(ants, **ANT_COLUMNS, min_years=5)
    short = result.extra["insufficient"]
    assert set(short["species"]) == {
        "camp fest",
        "camp sp",
        "myrm nava",
        "novo sp",
        "phei sp",
        "phei yell",
    }
    assert short["years_recorded"].max() < 5
    assert not set(short["species"]) & set(result.table["species"])
    stricter = trend(ants, **ANT_COLUMNS, min_years=25)
    assert stricter.table.height < result.table.height
    assert stricter.table["years_recorded"].min() >= 25


def test_snail_defaults_come_from_darwin_core(snails, snail_rows):
    result = species_richness(snails)
    assert result.columns == {
        "taxon": "scientificName",
        "site": "locality",
        "period": "year",
        "count": "organismQuantity",
    }
    assert result.table.columns == ["locality", "year", "species_richness", "records"]
    rows = snail_rows
    expected: dict[tuple[str, int], set[str]] = defaultdict(set)
    for row in rows:
        expected[(row["locality"], int(row["year"]))].add(row["scientificName"])
    computed = {
        (r["locality"], r["year"]): r["species_richness"]
        for r in result.table.iter_rows(named=True)
    }
    assert computed == {key: len(names) for key, names in expected.items()}


def test_missing_counts_count_one_when_asked(snails, snail_rows):
    table = abundance(snails, missing_count="one").table
    rows = snail_rows
    assert sum(1 for r in rows if not r["organismQuantity"]) == 40
    expected = sum(float(r["organismQuantity"] or 1) for r in rows)
    assert table["total_count"].sum() == expected
    assert table["records"].sum() == len(rows)


def test_unparseable_values_are_dropped_and_counted(ants):
    index = pl.int_range(pl.len())
    broken = (
        ants.head(100)
        .with_columns(
            pl.when(index < 3).then(pl.lit("many")).otherwise("colonies").alias("colonies")
        )
        .with_columns(
            pl.when(index == 20).then(pl.lit("-2")).otherwise("colonies").alias("colonies")
        )
        .with_columns(pl.when(index == 10).then(pl.lit("n/a")).otherwise("year").alias("year"))
    )
    result = abundance(broken, **ANT_COLUMNS)
    assert result.dropped == {"count_not_a_number": 3, "period_not_a_year": 1, "count_negative": 1}
    assert result.rows_dropped == 5
    assert result.table["records"].sum() == 95


def test_period_falls_back_to_event_date_year():
    frame = pl.DataFrame(
        {
            "scientificName": ["A a", "A a", "B b", "B b"],
            "locality": ["x", "x", "x", "y"],
            "eventDate": ["2019-05-01", "2020-06-02/2020-06-03", "2020", "2020-07-01"],
            "individualCount": ["2", "", "3", "1"],
        }
    )
    table = abundance(frame, missing_count="one").table
    assert table.columns == ["scientificName", "year", "total_count", "records"]
    assert table.rows() == [("A a", 2019, 2, 1), ("A a", 2020, 1, 1), ("B b", 2020, 4, 2)]


def test_a_missing_column_is_named():
    from jobs.indicators import ColumnError

    frame = pl.DataFrame({"species": ["a"], "year": ["2000"]})
    with pytest.raises(ColumnError, match="site"):
        species_richness(frame, taxon="species")
    with pytest.raises(ColumnError, match="'plots'"):
        species_richness(frame, taxon="species", site="plots")


def test_results_are_deterministic(ants):
    first = trend(ants.sample(fraction=1.0, shuffle=True, seed=1), **ANT_COLUMNS).table
    second = trend(ants.sample(fraction=1.0, shuffle=True, seed=2), **ANT_COLUMNS).table
    assert first.write_csv() == second.write_csv()
