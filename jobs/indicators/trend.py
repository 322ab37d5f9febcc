"""Log-linear trend of yearly totals per taxon, with a t-based 95% interval.

Method (documented choice):

* yearly total per taxon = sum of counts in each surveyed year; a surveyed year is one
  with any record in the table. A taxon not recorded in a surveyed year gets total 0
  there (absence is information), while years with no survey at all are left out;
* the regression is ``log(total + 1) ~ year`` by ordinary least squares. The ``+ 1``
  keeps zero totals in the fit instead of silently discarding them;
* percent change per year = ``(exp(slope) - 1) * 100``; its 95% interval transforms
  ``slope ± t(0.975, n - 2) * se(slope)`` the same way;
* a taxon recorded (total > 0) in fewer than ``min_years`` years gets no trend: it is
  listed in the ``insufficient`` table instead of being guessed.

Everything is computed with group_by aggregations; t quantiles come from scipy.stats.
This is the simple log-linear trend of totals, for exploration: it has no site effects,
so it follows changes in which sites were surveyed. Published indices and trends use
TRIM (``jobs.indicators.trim``).
"""

from __future__ import annotations

import polars as pl
from scipy import special, stats

from jobs.indicators.columns import COUNT, PERIOD, TAXON, prepare
from jobs.indicators.measures import IndicatorResult, column_overrides, finish

MIN_YEARS_FLOOR = 3  # two points always fit a line exactly: no interval is possible


def regularized_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b) for 0 <= x <= 1 (scipy.special)."""
    return float(special.betainc(a, b, min(max(x, 0.0), 1.0)))


def t_cdf(t: float, df: float) -> float:
    """Cumulative distribution function of Student's t with ``df`` degrees of freedom."""
    return float(stats.t.cdf(t, df))


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (scipy.stats.t.ppf).

    Args:
        p: probability strictly between 0 and 1 (0.975 for a two-sided 95% interval).
        df: degrees of freedom, > 0.

    Returns:
        t such that P(T <= t) = p.
    """
    if not 0.0 < p < 1.0 or df <= 0:
        raise ValueError("t_quantile needs 0 < p < 1 and df > 0")
    return float(stats.t.ppf(p, df))


def yearly_totals(frame: pl.DataFrame) -> pl.DataFrame:
    """Totals per taxon per surveyed year, with 0 where a taxon was not recorded."""
    totals = frame.group_by(TAXON, PERIOD).agg(pl.col(COUNT).sum().alias("total"))
    years = frame.select(PERIOD).unique()
    taxa = totals.filter(pl.col("total") > 0).select(TAXON).unique()
    return (
        taxa.join(years, how="cross")
        .join(totals, on=[TAXON, PERIOD], how="left")
        .with_columns(pl.col("total").fill_null(0.0))
    )


def _fit(grid: pl.DataFrame) -> pl.DataFrame:
    x, y = pl.col(PERIOD).cast(pl.Float64), (pl.col("total") + 1.0).log()
    sums = grid.group_by(TAXON).agg(
        pl.len().cast(pl.Int64).alias("n_years"),
        ((x - x.mean()) ** 2).sum().alias("sxx"),
        ((x - x.mean()) * (y - y.mean())).sum().alias("sxy"),
        ((y - y.mean()) ** 2).sum().alias("syy"),
    )
    slope = pl.col("sxy") / pl.col("sxx")
    residual = (pl.col("syy") - pl.col("slope") * pl.col("sxy")).clip(lower_bound=0.0)
    fitted = sums.with_columns(slope.alias("slope"), (pl.col("n_years") - 2).alias("df"))
    fitted = fitted.with_columns(((residual / pl.col("df")) / pl.col("sxx")).sqrt().alias("se"))
    dfs = sorted(set(fitted.get_column("df").to_list()))
    quantiles = pl.DataFrame(
        {"df": dfs, "t": [t_quantile(0.975, df) for df in dfs]},
        schema={"df": pl.Int64, "t": pl.Float64},
    )
    return fitted.join(quantiles, on="df", how="left")


def trend(
    frame: pl.DataFrame,
    *,
    taxon: str | None = None,
    period: str | None = None,
    count: str | None = None,
    min_years: int = 5,
    missing_count: str = "error",
    invalid_count: str = "skip",
) -> IndicatorResult:
    """Percent change per year per taxon from a log-linear fit of yearly totals.

    Args:
        frame: the input table; ``period`` must hold years.
        taxon / period / count: column names (None: the Darwin Core default).
        min_years: fewest years with the taxon recorded for a trend (at least 3).
        missing_count / invalid_count: how missing and invalid counts are read
            (``jobs.indicators.columns.prepare``).

    Returns:
        ``table``: ``<taxon>, n_years, years_recorded, first_year, last_year, slope, se,
        percent_change_per_year, ci95_low, ci95_high`` for taxa with enough years;
        ``extra["insufficient"]``: ``<taxon>, years_recorded, first_year, last_year``
        for the others.
    """
    min_years = max(int(min_years), MIN_YEARS_FLOOR)
    prepared = prepare(
        frame,
        column_overrides(taxon=taxon, period=period, count=count),
        ("taxon", "period", "count"),
        missing_count=missing_count,
        invalid_count=invalid_count,
    )
    grid = yearly_totals(prepared.frame)
    recorded = pl.col(PERIOD).filter(pl.col("total") > 0)
    coverage = grid.group_by(TAXON).agg(
        recorded.len().cast(pl.Int64).alias("years_recorded"),
        recorded.min().alias("first_year"),
        recorded.max().alias("last_year"),
    )
    enough = coverage.filter(pl.col("years_recorded") >= min_years)
    fitted = _fit(grid.join(enough.select(TAXON), on=TAXON, how="semi"))

    def percent(expr: pl.Expr) -> pl.Expr:
        return ((expr.exp() - 1.0) * 100.0).round(4)

    margin = pl.col("t") * pl.col("se")
    table = (
        enough.join(fitted, on=TAXON)
        .select(
            TAXON,
            "n_years",
            "years_recorded",
            "first_year",
            "last_year",
            pl.col("slope").round(8),
            pl.col("se").round(8),
            percent(pl.col("slope")).alias("percent_change_per_year"),
            percent(pl.col("slope") - margin).alias("ci95_low"),
            percent(pl.col("slope") + margin).alias("ci95_high"),
        )
        .sort(TAXON)
    )
    insufficient = coverage.filter(pl.col("years_recorded") < min_years).sort(TAXON)
    result = finish(
        prepared,
        table,
        details={
            "min_years": min_years,
            "method": "OLS of log(total + 1) on year over surveyed years",
            "insufficient_taxa": insufficient.height,
        },
    )
    result.extra["insufficient"] = finish(prepared, insufficient).table
    return result
