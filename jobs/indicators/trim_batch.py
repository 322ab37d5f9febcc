"""TRIM over a long table: one fit per taxon, and the fits as tables.

The input is a long table with one row per taxon × site × time (TRIM's "count file"
in long form). A null count means "not counted"; 0 means "counted, none found"
(invariant 11). A site × time that has no row for a taxon is not counted for that
taxon: on an effort-aware table (``transform.complete``) every surveyed cell has a
row, with 0 where the taxon was not found, so absent rows there really are visits
not made. The time axis is shared by every taxon (every time point of the table, at
its regular step), so the indices of all taxa line up for a multi-species indicator.
When the table has ``transform.complete``'s ``surveyed`` column, a cell it marks as
not surveyed is missing whatever its count says.

Method and figures: :mod:`jobs.indicators.trim` (Pannekoek & van Strien, TRIM 3
manual, 2005; Bogaart, van der Loo & Pannekoek, rtrim, 2016).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

import numpy as np
import polars as pl

from jobs.indicators.columns import ColumnError, resolve_columns
from jobs.indicators.trim import DataSummary, TrimData, TrimResult, trim
from jobs.indicators.trim.overall import Slope

TAXON, SITE, TIME, COUNT, WEIGHT = "_taxon", "_site", "_time", "_count", "_weight"
#: ``transform.complete``'s column saying whether a site and time point was surveyed.
SURVEYED = "surveyed"


@dataclass
class CountTable:
    """A long count table reduced to typed columns, and what was left out.

    Attributes:
        frame: ``_taxon, _site, _time, _count`` (+ ``_weight`` and covariates), NaN count
            where not counted.
        times: the shared time axis (every time point from first to last at its step).
        columns: role -> source column used.
        dropped: reason -> rows left out.
    """

    frame: pl.DataFrame
    times: list[int]
    columns: dict[str, str | None]
    covariates: list[str]
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def rows_dropped(self) -> int:
        """Rows left out (a row counts once even with several problems)."""
        return self.dropped.get("_total", 0)


def _text(column: str) -> pl.Expr:
    text = pl.col(column).cast(pl.Utf8).str.strip_chars()
    return pl.when(text == "").then(None).otherwise(text)


def _time(column: str) -> pl.Expr:
    """An integer time point: a whole number (e.g. a year) or the year of an ISO date."""
    text = _text(column)
    number = text.cast(pl.Float64, strict=False)
    whole = pl.when(number == number.round(0)).then(number.cast(pl.Int64, strict=False))
    return pl.coalesce(whole, text.str.extract(r"^(\d{4})-", 1).cast(pl.Int64, strict=False))


def time_axis(values: Sequence[int]) -> list[int]:
    """Every time point from the first to the last at the data's regular step."""
    points = sorted(set(values))
    if len(points) < 2:
        return points
    step = reduce(math.gcd, (b - a for a, b in zip(points, points[1:], strict=False)))
    return list(range(points[0], points[-1] + 1, step))


def prepare_counts(
    frame: pl.DataFrame,
    columns: Mapping[str, str | None],
    weight: str | None = None,
    covariates: Sequence[str] = (),
) -> CountTable:
    """Type the taxon, site, time and count columns; drop (and count) unusable rows.

    Args:
        frame: the input table (string or typed columns).
        columns: role (taxon, site, time, count) -> column; None takes the Darwin Core
            default (scientificName, locationID, year, individualCount).
        weight: optional site-weight column (a positive number per row).
        covariates: optional categorical covariate columns (one class per site).

    Returns:
        The typed table; a count that is present but not a number, or negative, drops
        the row (an empty count stays as "not counted").

    Raises:
        ColumnError: a named column is missing or no default fits.
    """
    roles = {"taxon": columns.get("taxon"), "site": columns.get("site"),
             "period": columns.get("time"), "count": columns.get("count")}
    chosen = resolve_columns(frame, roles, ("taxon", "site", "period", "count"))
    if chosen["count"] is None:
        raise ColumnError("no count column: set params.count (TRIM needs counts)")
    for name in [weight, *covariates]:
        if name and name not in frame.columns:
            raise ColumnError(f"column {name!r} is not in the table")
    raw = _text(chosen["count"])
    if SURVEYED in frame.columns:  # transform.complete's grid: a cell not surveyed is missing
        surveyed = _text(SURVEYED).str.to_lowercase().is_in(["true", "t", "1", "yes"])
        raw = pl.when(surveyed).then(raw)
    exprs = {TAXON: _text(chosen["taxon"]), SITE: _text(chosen["site"]),
             TIME: _time(chosen["period"]), COUNT: raw.cast(pl.Float64, strict=False),
             "_raw": raw}
    if weight:
        exprs[WEIGHT] = _text(weight).cast(pl.Float64, strict=False)
    exprs.update({f"_cov_{name}": _text(name) for name in covariates})
    typed = frame.select(**exprs)
    problems = {
        "taxon_missing": pl.col(TAXON).is_null(),
        "site_missing": pl.col(SITE).is_null(),
        "time_not_a_whole_number": pl.col(TIME).is_null(),
        "count_not_a_number": pl.col("_raw").is_not_null()
        & (pl.col(COUNT).is_null() | ~pl.col(COUNT).is_finite()),
        "count_negative": pl.col(COUNT) < 0,
    }
    if weight:
        problems["weight_not_positive"] = pl.col(WEIGHT).is_null() | (pl.col(WEIGHT) <= 0)
    problems.update({f"{name}_missing": pl.col(f"_cov_{name}").is_null() for name in covariates})
    flags = typed.select(**{k: v.fill_null(False) for k, v in problems.items()})
    bad = flags.select(pl.any_horizontal(pl.all())).to_series()
    dropped = {k: int(v) for k, v in flags.sum().row(0, named=True).items() if v}
    if bad.any():
        dropped["_total"] = int(bad.sum())
    clean = typed.filter(~bad).drop("_raw").with_columns(pl.col(COUNT).fill_null(float("nan")))
    names = {"taxon": chosen["taxon"], "site": chosen["site"], "time": chosen["period"],
             "count": chosen["count"]}
    return CountTable(clean, time_axis(clean.get_column(TIME).to_list()), names,
                      list(covariates), dropped)


class DuplicateCounts(ValueError):
    """A taxon has two rows for one site and time point (aggregate first)."""


def taxon_data(table: CountTable, rows: pl.DataFrame) -> TrimData:
    """The site × time matrix of one taxon's rows on the table's shared time axis."""
    times = table.times
    sites = sorted(set(rows.get_column(SITE).to_list()))
    site_index = {s: i for i, s in enumerate(sites)}
    time_index = {t: j for j, t in enumerate(times)}
    i = np.fromiter((site_index[s] for s in rows.get_column(SITE)), int, rows.height)
    j = np.fromiter((time_index[t] for t in rows.get_column(TIME)), int, rows.height)
    shape = (len(sites), len(times))
    if np.any(np.bincount(i * shape[1] + j, minlength=shape[0] * shape[1]) > 1):
        raise DuplicateCounts("more than one count for a site and time point")
    counts = np.full(shape, np.nan)
    counts[i, j] = rows.get_column(COUNT).to_numpy()
    weights = np.ones(shape)
    if WEIGHT in rows.columns:
        weights[i, j] = rows.get_column(WEIGHT).to_numpy()
    codes, levels = {}, {}
    for name in table.covariates:
        labels = rows.get_column(f"_cov_{name}").to_numpy()
        level_ids, class_idx = np.unique(labels, return_inverse=True)
        per_site = np.zeros((shape[0], len(level_ids)), dtype=bool)
        per_site[i, class_idx] = True
        if np.any(per_site.sum(axis=1) > 1):
            raise ValueError(f"covariate {name!r}: a site has more than one class")
        codes[name], levels[name] = per_site.argmax(axis=1), level_ids.tolist()
    return TrimData(counts, weights, codes, levels, sites, list(times))


def fit_taxa(table: CountTable, options: Mapping[str, Any]) -> dict[str, TrimResult]:
    """Fit TRIM to every taxon of ``table`` (sorted by name) with the same options.

    Raises:
        DuplicateCounts: a taxon repeats a site and time point.
        ValueError: a covariate changes class within a site, or an option is invalid.
    """
    results: dict[str, TrimResult] = {}
    for (taxon,), rows in sorted(table.frame.partition_by(TAXON, as_dict=True).items()):
        try:
            data = taxon_data(table, rows)
        except DuplicateCounts as exc:
            raise DuplicateCounts(f"taxon {taxon!r}: {exc} (aggregate first)") from None
        try:
            with np.errstate(divide="ignore", invalid="ignore"):  # e.g. a zero base total
                results[taxon] = trim(data, **options)
        except (ArithmeticError, np.linalg.LinAlgError) as exc:  # one taxon, not the run
            results[taxon] = _failed(data, options.get("model", 3), exc)
    return results


def _failed(data: TrimData, model: int, exc: Exception) -> TrimResult:
    observed = np.isfinite(data.counts)
    summary = DataSummary(len(data.site_ids), len(data.time_points), int(observed.sum()),
                          int((data.counts == 0).sum()), int((data.counts > 0).sum()),
                          int((~observed).sum()), float(np.nansum(data.counts)), [])
    return TrimResult("failed", f"not estimable: {exc}", model, summary)


# --- results as tables --------------------------------------------------------------

def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def index_rows(taxon: str, result: TrimResult) -> list[dict[str, Any]]:
    """Time indices and totals of one fitted taxon (none when not fitted)."""
    if not result.ok or result.indices is None:
        return []
    idx, tot = result.indices, result.totals
    return [{"taxon": taxon, "time": t, "base_time": result.base_time,
             "model_index": _num(idx.model[k]), "model_index_se": _num(idx.se_model[k]),
             "imputed_index": _num(idx.imputed[k]), "imputed_index_se": _num(idx.se_imputed[k]),
             "model_total": _num(tot.model[k]), "model_total_se": _num(tot.se_model[k]),
             "imputed_total": _num(tot.imputed[k]), "imputed_total_se": _num(tot.se_imputed[k]),
             "observed_total": _num(tot.observed[k]) if tot.observed is not None else None}
            for k, t in enumerate(idx.time)]


def slope_rows(taxon: str, result: TrimResult) -> list[dict[str, Any]]:
    """Every overall-slope variant of one fitted taxon."""
    rows = []
    for variant, value in result.slopes.items():
        for slope in value if isinstance(value, list) else [value]:
            assert isinstance(slope, Slope)
            rows.append({"taxon": taxon, "variant": variant, "source": slope.source,
                         "kind": slope.kind, "start": slope.start, "end": slope.end,
                         "additive": _num(slope.additive), "se_additive": _num(slope.se_additive),
                         "multiplicative": _num(slope.multiplicative),
                         "se_multiplicative": _num(slope.se_multiplicative),
                         "percent_per_time": _num((slope.multiplicative - 1.0) * 100.0),
                         "p": _num(slope.p), "df": slope.df, "verdict": slope.verdict,
                         "intercept": _num(slope.intercept),
                         "se_intercept": _num(slope.se_intercept)})
    return rows


def fit_row(taxon: str, result: TrimResult) -> dict[str, Any]:
    """Status, reason, data summary, goodness of fit and dispersion of one taxon."""
    gof, data = result.gof, result.data
    reason = result.reason
    if result.ok and not result.converged:
        reason = f"did not converge in {result.iterations} iterations"
    detail = ", ".join(f"{k}: {v}" for k, v in result.detail.items()) or None
    return {"taxon": taxon, "status": result.status, "reason": reason, "detail": detail,
            "model": result.model, "method": result.method, "converged": result.converged,
            "iterations": result.iterations, "sites": data.n_sites, "times": data.n_times,
            "observed": data.n_observed, "zero": data.n_zero, "missing": data.n_missing,
            "total_count": _num(data.total_count), "removed_sites": len(data.removed_sites),
            "chi2": _num(gof.chi2) if gof else None, "chi2_p": _num(gof.chi2_p) if gof else None,
            "lr": _num(gof.lr) if gof else None, "lr_p": _num(gof.lr_p) if gof else None,
            "aic": _num(gof.aic) if gof else None, "df": gof.df if gof else None,
            "overdispersion": _num(result.overdispersion),
            "serial_correlation": _num(result.serial_correlation),
            "changepoints": " ".join(map(str, result.changepoints)) or None,
            "verdict": result.verdict}


def wald_rows(taxon: str, result: TrimResult) -> list[dict[str, Any]]:
    """Wald tests of one fitted taxon."""
    return [{"taxon": taxon, "test": w.test, "label": None if w.label is None else str(w.label),
             "statistic": _num(w.statistic), "df": w.df, "p": _num(w.p)} for w in result.wald]


def coefficient_rows(taxon: str, result: TrimResult) -> list[dict[str, Any]]:
    """Time parameters of one fitted taxon (additive and multiplicative, with SE)."""
    return [{"taxon": taxon, "block": c.block, "time": c.time, "start": c.start, "end": c.end,
             "additive": _num(c.additive), "se_additive": _num(c.se_additive),
             "multiplicative": _num(c.multiplicative),
             "se_multiplicative": _num(c.se_multiplicative)} for c in result.coefficients]


SCHEMAS: dict[str, dict[str, Any]] = {
    "indices": {"taxon": pl.String, "time": pl.Int64, "base_time": pl.Int64,
                **{name: pl.Float64 for name in (
                    "model_index", "model_index_se", "imputed_index", "imputed_index_se",
                    "model_total", "model_total_se", "imputed_total", "imputed_total_se",
                    "observed_total")}},
    "slopes": {"taxon": pl.String, "variant": pl.String, "source": pl.String,
               "kind": pl.String, "start": pl.Int64, "end": pl.Int64, "additive": pl.Float64,
               "se_additive": pl.Float64, "multiplicative": pl.Float64,
               "se_multiplicative": pl.Float64, "percent_per_time": pl.Float64,
               "p": pl.Float64, "df": pl.Int64, "verdict": pl.String, "intercept": pl.Float64,
               "se_intercept": pl.Float64},
    "fit": {"taxon": pl.String, "status": pl.String, "reason": pl.String, "detail": pl.String,
            "model": pl.Int64, "method": pl.String, "converged": pl.Boolean,
            "iterations": pl.Int64, "sites": pl.Int64, "times": pl.Int64, "observed": pl.Int64,
            "zero": pl.Int64, "missing": pl.Int64, "total_count": pl.Float64,
            "removed_sites": pl.Int64, "chi2": pl.Float64, "chi2_p": pl.Float64,
            "lr": pl.Float64, "lr_p": pl.Float64, "aic": pl.Float64, "df": pl.Int64,
            "overdispersion": pl.Float64, "serial_correlation": pl.Float64,
            "changepoints": pl.String, "verdict": pl.String},
    "wald": {"taxon": pl.String, "test": pl.String, "label": pl.String,
             "statistic": pl.Float64, "df": pl.Int64, "p": pl.Float64},
    "coefficients": {"taxon": pl.String, "block": pl.String, "time": pl.Int64,
                     "start": pl.Int64, "end": pl.Int64, "additive": pl.Float64,
                     "se_additive": pl.Float64, "multiplicative": pl.Float64,
                     "se_multiplicative": pl.Float64},
}


def result_tables(results: Mapping[str, TrimResult]) -> dict[str, pl.DataFrame]:
    """The fits as five tables: indices, slopes, fit, wald, coefficients."""
    builders = {"indices": index_rows, "slopes": slope_rows, "wald": wald_rows,
                "coefficients": coefficient_rows}
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in SCHEMAS}
    for taxon, result in results.items():
        for name, build in builders.items():
            rows[name].extend(build(taxon, result))
        rows["fit"].append(fit_row(taxon, result))
    return {name: pl.DataFrame(rows[name], schema=SCHEMAS[name]) for name in SCHEMAS}
