"""compute.trim and compute.msi as plain step functions, and their charts in a release."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from jobs.indicators.msi import msi
from jobs.indicators.trim import from_long, trim
from jobs.registry import get_step
from jobs.steps.base import StepContext, StepError, frame_fingerprint
from portal.services.pipeline_spec import validate_pipeline

YEARS = list(range(2011, 2019))
PARAMS = {"table": "counts", "taxon": "species", "site": "site", "time": "year",
          "count": "n", "model": 3, "overdispersion": True, "serial_correlation": True}


def count_table(seed: int = 5) -> pl.DataFrame:
    """Two common species with trends and a rare one seen in two years only.

    Every visit records every species (0 when not found); a fifth of the site-years
    were not visited (no rows); a few counts are empty (not counted).
    """
    rng = random.Random(seed)
    rows = []
    for site in range(20):
        level = rng.uniform(0.5, 2.0)
        for year in YEARS:
            if rng.random() < 0.2:
                continue
            for species, change in (("Alauda arvensis", -0.08), ("Parus major", 0.08)):
                mean = 6 * level * np.exp(change * (year - YEARS[0]))
                value = str(np.random.default_rng(rng.randrange(10**6)).poisson(mean))
                rows.append((f"S{site:02d}", str(year), species,
                             "" if rng.random() < 0.03 else value))
            rare = "2" if site == 4 and year in (2012, 2015) else "0"
            rows.append((f"S{site:02d}", str(year), "Otis tarda", rare))
    return pl.DataFrame(rows, schema=["site", "year", "species", "n"], orient="row")


def context(tmp_path: Path, key: str, params: dict, tables: dict) -> StepContext:
    return StepContext(run_uuid="run-trim", programme_code="TRIMTEST", step_key=key,
                       params=params, rules=[], data_root=tmp_path,
                       publish_root=tmp_path / "publish", work_dir=tmp_path / "work",
                       store_root=tmp_path / "store", tables=dict(tables),
                       primary_table=next(iter(tables)), programme_licence="CC-BY-4.0")


@pytest.fixture
def counts() -> pl.DataFrame:
    return count_table()


def direct_fit(counts: pl.DataFrame, species: str, **options):
    rows = counts.filter(pl.col("species") == species)
    values = [None if v == "" else float(v) for v in rows["n"]]
    data = from_long(rows["site"].to_list(), [int(y) for y in rows["year"]], values)
    return trim(data, **options)


def test_trim_step_figures_equal_calling_trim_directly(tmp_path, counts):
    assert validate_pipeline({"steps": [{"key": "trim", "type": "compute.trim",
                                         "params": PARAMS}]}) == []
    ctx = context(tmp_path, "trim", PARAMS, {"counts": counts})
    result = get_step("compute.trim")(ctx)

    assert result.status == "succeeded"
    assert list(result.tables) == ["trim_indices", "trim_slopes", "trim_fit", "trim_wald",
                                   "trim_coefficients"]
    indices = result.tables["trim_indices"]
    for species in ("Alauda arvensis", "Parus major"):
        expected = direct_fit(counts, species, model=3, overdisp=True, serialcor=True)
        ours = indices.filter(pl.col("taxon") == species).sort("time")
        assert ours["time"].to_list() == YEARS
        np.testing.assert_allclose(ours["imputed_index"], expected.indices.imputed, rtol=1e-12)
        np.testing.assert_allclose(ours["imputed_index_se"], expected.indices.se_imputed,
                                   rtol=1e-12)
        np.testing.assert_allclose(ours["model_total"], expected.totals.model, rtol=1e-12)
        np.testing.assert_allclose(ours["imputed_total_se"], expected.totals.se_imputed,
                                   rtol=1e-12)
        slope = result.tables["trim_slopes"].filter(pl.col("taxon") == species,
                                                    pl.col("variant") == "imputed").row(
            0, named=True)
        assert slope["additive"] == pytest.approx(expected.slopes["imputed"].additive, rel=1e-12)
        assert slope["se_additive"] == pytest.approx(expected.slopes["imputed"].se_additive,
                                                     rel=1e-12)
        assert slope["verdict"] == expected.verdict
        fit = result.tables["trim_fit"].filter(pl.col("taxon") == species).row(0, named=True)
        assert fit["status"] == "ok" and fit["converged"] is True
        assert fit["chi2"] == pytest.approx(expected.gof.chi2, rel=1e-12)
        assert fit["overdispersion"] == pytest.approx(expected.overdispersion, rel=1e-12)
        assert fit["serial_correlation"] == pytest.approx(expected.serial_correlation,
                                                          rel=1e-12)
        # Not-visited site-years and empty counts are missing, never zero.
        assert fit["missing"] == expected.data.n_missing > 0
    # The declining species is classed as declining, the increasing one as increasing.
    verdicts = dict(result.tables["trim_fit"].select("taxon", "verdict").iter_rows())
    assert "decline" in verdicts["Alauda arvensis"].lower()
    assert "increase" in verdicts["Parus major"].lower()

    assert result.output_fingerprint == frame_fingerprint(indices)
    assert [entry["table"] for entry in ctx.lineage["outputs"]] == list(result.tables)


def test_a_taxon_without_enough_data_is_listed_with_trims_reason(tmp_path, counts):
    ctx = context(tmp_path, "trim", PARAMS, {"counts": counts})
    result = get_step("compute.trim")(ctx)

    fit = result.tables["trim_fit"].filter(pl.col("taxon") == "Otis tarda").row(0, named=True)
    assert fit["status"] == "insufficient"
    assert fit["reason"] == "time points without positive counts"
    assert "2011" in fit["detail"]
    assert result.tables["trim_indices"].filter(pl.col("taxon") == "Otis tarda").height == 0
    assert result.details["insufficient"] == 1 and result.details["fitted"] == 2
    assert result.details["unfitted"][0]["taxon"] == "Otis tarda"
    assert any("Otis tarda: insufficient" in line for line in ctx.log_lines)
    # Model 2 (one slope) only needs positive counts somewhere: it fits.
    model2 = get_step("compute.trim")(context(tmp_path, "t2", {**PARAMS, "model": 2},
                                              {"counts": counts}))
    assert model2.tables["t2_fit"].filter(pl.col("taxon") == "Otis tarda")["status"][0] == "ok"


def test_absent_rows_are_missing_and_explicit_zeros_are_counted(tmp_path):
    """A taxon without a row for a site-year is not counted there (follow the input)."""
    rows = [("S1", "2001", "a", "3"), ("S1", "2002", "a", "5"), ("S2", "2001", "a", "2"),
            ("S2", "2002", "a", "0"), ("S1", "2001", "b", "4"), ("S1", "2002", "b", "")]
    table = pl.DataFrame(rows, schema=["site", "year", "species", "n"], orient="row")
    result = get_step("compute.trim")(context(tmp_path, "trim", {**PARAMS, "model": 2},
                                              {"counts": table}))
    fit = {row["taxon"]: row for row in result.tables["trim_fit"].iter_rows(named=True)}
    assert (fit["a"]["observed"], fit["a"]["zero"], fit["a"]["missing"]) == (4, 1, 0)
    assert (fit["b"]["observed"], fit["b"]["missing"]) == (1, 1)


@pytest.mark.parametrize(("params", "message"), [
    ({"model": 2, "changepoints": [2030]}, "params.changepoints: 2030 is not a time point"),
    ({"model": 3, "changepoints": [2013]}, "need model 2"),
    ({"model": 2, "changepoints": [2013], "stepwise": True}, "at least two changepoints"),
    ({"base": 1999}, "params.base: 1999"),
    ({"count": "nope"}, "count column 'nope' is not in the table"),
    ({"weight": "effort"}, "column 'effort' is not in the table"),
])
def test_bad_parameters_fail_the_step_naming_the_parameter(tmp_path, counts, params, message):
    with pytest.raises(StepError, match=message):
        get_step("compute.trim")(context(tmp_path, "trim", {**PARAMS, **params},
                                         {"counts": counts}))


def test_repeated_site_and_year_asks_for_an_aggregate(tmp_path, counts):
    doubled = pl.concat([counts, counts.head(1)])
    with pytest.raises(StepError, match="'Alauda arvensis'.*aggregate first"):
        get_step("compute.trim")(context(tmp_path, "trim", PARAMS, {"counts": doubled}))


def run_trim_and_msi(tmp_path: Path, counts: pl.DataFrame, msi_params: dict):
    ctx = context(tmp_path, "trim", PARAMS, {"counts": counts})
    trimmed = get_step("compute.trim")(ctx)
    ctx.tables.update(trimmed.tables)
    ctx.step_key, ctx.params = "msi", msi_params
    result = get_step("compute.msi")(ctx)
    ctx.tables.update(result.tables)
    return ctx, trimmed, result


def test_msi_step_combines_the_groups_trim_indices(tmp_path, counts):
    params = {"group": "farmland", "taxa": ["Alauda arvensis", "Parus major", "Otis tarda"],
              "nsim": 500, "seed": 11}
    ctx, trimmed, result = run_trim_and_msi(tmp_path, counts, params)

    indices = trimmed.tables["trim_indices"]
    wide = [indices.filter(pl.col("taxon") == s).sort("time")
            for s in ("Alauda arvensis", "Parus major")]
    expected = msi(["Alauda arvensis", "Parus major"], YEARS,
                   np.vstack([w["imputed_index"].to_numpy() for w in wide]),
                   np.vstack([w["imputed_index_se"].to_numpy() for w in wide]),
                   nsim=500, seed=11)
    table = result.tables["msi"]
    assert table["group"].unique().to_list() == ["farmland"]
    np.testing.assert_allclose(table["msi"], expected.msi, rtol=1e-12)
    np.testing.assert_allclose(table["lower"], expected.lower, rtol=1e-12)
    assert table["msi"][0] == 100.0
    species = {row["taxon"]: row for row in result.tables["msi_species"].iter_rows(named=True)}
    assert species["Otis tarda"]["included"] is False
    assert "no TRIM indices" in species["Otis tarda"]["reason"]
    assert result.tables["msi_trend"]["verdict"][0] == expected.trends[0].verdict
    assert result.details["charts"][0]["title"] == "farmland"


def test_msi_of_taxa_without_indices_fails_clearly(tmp_path, counts):
    with pytest.raises(StepError, match="none of the group's taxa has TRIM indices"):
        run_trim_and_msi(tmp_path, counts, {"group": "g", "taxa": ["Otis tarda", "Nope"]})


def test_publish_writes_one_svg_chart_per_taxon_and_msi(tmp_path, counts):
    ctx, _, _ = run_trim_and_msi(tmp_path, counts, {"group": "farmland birds", "nsim": 200})
    ctx.step_key, ctx.params = "publish", {"name": "indices"}
    result = get_step("publish.release")(ctx)

    release = tmp_path / "publish" / "TRIMTEST" / "1.0"
    charts = sorted(p.name for p in release.glob("*.svg"))
    assert charts == ["msi-farmland-birds.svg", "trim-indices-alauda-arvensis.svg",
                      "trim-indices-parus-major.svg"]
    svg = (release / "trim-indices-alauda-arvensis.svg").read_text()
    assert svg.startswith("<?xml") and "Alauda arvensis" in svg and "decline" in svg.lower()
    assert "<script" not in svg and "style=" not in svg
    package = json.loads((release / "datapackage.json").read_text())
    svg_resources = [r for r in package["resources"] if r["path"].endswith(".svg")]
    assert {r["mediatype"] for r in svg_resources} == {"image/svg+xml"}
    assert package["profile"] == "data-package"
    assert {f["path"] for f in result.details["files"]} >= set(charts)


def test_on_the_effort_aware_grid_zeros_are_explicit_and_unsurveyed_cells_missing(tmp_path):
    """transform.complete's grid: a survey without the taxon is 0, no survey is missing."""
    observations = pl.DataFrame(
        [("S1", "2001", "a", "3"), ("S1", "2002", "a", "5"), ("S2", "2001", "b", "2"),
         ("S2", "2003", "a", "4"), ("S1", "2003", "b", "1")],
        schema=["site", "year", "species", "n"], orient="row")
    surveys = pl.DataFrame([("S1", "2001"), ("S1", "2002"), ("S1", "2003"), ("S2", "2001"),
                            ("S2", "2003")], schema=["site", "year"], orient="row")
    ctx = context(tmp_path, "grid", {"table": "obs", "surveys": "surveys", "site": "site",
                                     "period": "year", "taxon": "species", "values": ["n"],
                                     "as": "grid"},
                  {"obs": observations, "surveys": surveys})
    ctx.tables.update(get_step("transform.complete")(ctx).tables)
    ctx.step_key, ctx.params = "trim", {**PARAMS, "table": "grid", "model": 2}
    fit = {row["taxon"]: row for row in
           get_step("compute.trim")(ctx).tables["trim_fit"].iter_rows(named=True)}
    # Taxon a: counted at the 5 surveys, 0 at two of them (S1 2003, S2 2001, where only b
    # was recorded); S2 was not surveyed in 2002: missing, not zero.
    assert (fit["a"]["observed"], fit["a"]["zero"], fit["a"]["missing"]) == (5, 2, 1)
    assert (fit["b"]["observed"], fit["b"]["zero"], fit["b"]["missing"]) == (5, 3, 1)
