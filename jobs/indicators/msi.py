"""Multi-species indicator (MSI): the geometric mean of species indices, with Monte Carlo
confidence intervals, a smoothed trend and trend classes — the CBS MSI-tool method.

Method (Soldaat, Pannekoek, Verweij, van Turnhout & van Strien, "A Monte Carlo method
to account for sampling error in multi-species indicators", Ecological Indicators 81,
340-347, 2017; the MSI-tool of Statistics Netherlands, as published in R by
BRCindicators ``msi_tool``):

1. Species indices (100 in the base year) and their standard errors — TRIM's imputed
   indices — go to the log scale: ``log I`` with ``SE(log I) = SE(I) / I`` (delta method).
   Species whose mean coefficient of variation (over indices >= 10) reaches ``max_cv``
   are left out; indices below ``truncation`` are set to it with SE 0.
2. Monte Carlo: ``nsim`` draws of every species' log index from N(log I, SE(log I)),
   floored at ``log(truncation)``.
3. Per draw, the MSI is chained: the mean over species of the year-to-year changes
   (each capped at ``±log(max_ratio)``), accumulated from the base year (log 100).
   With complete data this is exactly the geometric mean of the species indices;
   with missing years it is the chain index of the species counted in both years.
4. The MSI per year is the mean of the draws, its SE their standard deviation; the
   tool then draws the MSI again per year from N(mean, SD) for the trends: the overall
   and short-term linear trends are the mean (and SD) of the per-draw OLS slopes of
   log MSI on year, classified as TRIM does (Soldaat et al. 2007, J. Ornithol. 148:
   S351-S357): strong increase (lower 95% limit of the yearly factor > 1.05),
   moderate increase (> 1), steep decline (upper < 0.95), moderate decline (< 1),
   stable (interval inside 0.95-1.05 and narrower than 0.10), otherwise uncertain.
5. The smoothed trend is a LOESS of every draw (local quadratic, tricube weights,
   ``span`` of the years; computed exactly, like R's ``loess(surface="direct")``);
   its mean and 95% band, and the change from each year to the last, classified with
   the same classes.

All randomness comes from ``numpy.random.default_rng(seed)``: the same inputs and
seed give the same figures (a replay is identical).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

Z95 = 1.959963984540054


@dataclass
class MsiTrend:
    """One linear trend of the MSI (log scale slope per year and its yearly factor)."""

    period: str
    start: int
    end: int
    additive: float
    se_additive: float
    multiplicative: float
    se_multiplicative: float
    verdict: str
    percent_change: float
    se_percent_change: float


@dataclass
class MsiResult:
    """The MSI of one group of species.

    Attributes:
        years: the time points.
        msi / se: the indicator (100 in the base year) and its standard error.
        lower / upper: its 95% Monte Carlo interval.
        smoothed / smoothed_lower / smoothed_upper: the LOESS trend and its 95% band.
        smoothed_class: trend class of the smoothed change from each year to the last
            (None for the last year).
        trends: overall and short-term linear trends.
        species: the species used; excluded: species left out -> reason.
        mean_cv: species -> mean coefficient of variation of its indices.
    """

    years: list[int]
    msi: np.ndarray
    se: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    smoothed: np.ndarray
    smoothed_lower: np.ndarray
    smoothed_upper: np.ndarray
    smoothed_class: list[str | None]
    trends: list[MsiTrend]
    species: list[str]
    excluded: dict[str, str] = field(default_factory=dict)
    mean_cv: dict[str, float] = field(default_factory=dict)


class MsiError(ValueError):
    """No indicator can be computed (no usable species, too few years)."""


def classify(factor: float, se_factor: float) -> str:
    """The MSI-tool's trend class of a yearly factor with its standard error."""
    low, high = factor - Z95 * se_factor, factor + Z95 * se_factor
    return classify_interval(low, high)


def classify_interval(low: float, high: float) -> str:
    """Trend class of a 95% interval of a yearly factor (Soldaat et al. 2007)."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "unknown"
    if low > 1.05:
        return "strong increase"
    if high < 0.95:
        return "steep decline"
    if low > 1.0:
        return "moderate increase"
    if high < 1.0:
        return "moderate decline"
    if (low - 0.95) * (1.05 - high) < 0.0 or high - low > 0.10:
        return "uncertain"
    return "stable"


def loess_matrix(x: np.ndarray, span: float = 0.75, degree: int = 2) -> np.ndarray:
    """The linear smoother ``L`` of LOESS at the points ``x`` (fitted = ``L @ y``).

    Cleveland's local regression as R's ``loess(surface="direct")``: for each point,
    a weighted least-squares polynomial of ``degree`` with tricube weights over the
    ``floor(n * span)`` nearest points (distance scaled by the farthest of them).
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    q = max(int(np.floor(n * span)), degree + 1)
    smoother = np.zeros((n, n))
    for row, x0 in enumerate(x):
        distance = np.abs(x - x0)
        h = np.sort(distance)[min(q, n) - 1]
        if span > 1:  # R widens the window beyond the data for span > 1
            h *= span
        h = max(h, 1e-12)
        w = np.clip(1.0 - (distance / h) ** 3, 0.0, None) ** 3
        design = np.vander(x - x0, degree + 1, increasing=True)
        weighted = design * w[:, None]
        smoother[row] = np.linalg.pinv(design.T @ weighted)[0] @ weighted.T
    return smoother


def _slopes(log_msi: np.ndarray, years: np.ndarray) -> np.ndarray:
    """OLS slope of every draw (columns) on ``years``."""
    centred = years - years.mean()
    return centred @ (log_msi - log_msi.mean(axis=0)) / (centred @ centred)


def _trend(period: str, years: np.ndarray, draws: np.ndarray, smooth: np.ndarray) -> MsiTrend:
    slopes = _slopes(draws, years)
    slope, sd = float(slopes.mean()), float(slopes.std(ddof=1))
    factor = float(np.exp(slope))
    change = np.exp(smooth[-1] - smooth[0]) * 100.0 - 100.0
    return MsiTrend(period, int(years[0]), int(years[-1]), slope, sd, factor, sd * factor,
                    classify(factor, sd * factor), float(change.mean()),
                    float(change.std(ddof=1)))


def msi(
    species: Sequence[str],
    years: Sequence[int],
    index: np.ndarray,
    se: np.ndarray,
    *,
    base_year: int | None = None,
    nsim: int = 1000,
    seed: int = 1,
    span: float = 0.75,
    last_years: int = 10,
    max_cv: float = 3.0,
    truncation: float = 1.0,
    max_ratio: float = 10.0,
) -> MsiResult:
    """Compute the multi-species indicator of species indices (see the module docstring).

    Args:
        species: S species names (rows of ``index`` and ``se``).
        years: Y equally spaced years (columns).
        index: (S, Y) species indices, any base (each row is rescaled to 100 in the base
            year); NaN where a species has no index.
        se: (S, Y) their standard errors (same scale as ``index``).
        base_year: the year the MSI is 100 in (default the first).
        nsim: Monte Carlo draws; seed: their random seed.
        span: LOESS span (share of the years in each local fit).
        last_years: length of the short-term trend.
        max_cv: species whose mean CV of indices (>= 10) reaches this are left out.
        truncation: indices below this (on the 100 scale) are set to it with SE 0.
        max_ratio: largest year-to-year change of a species index in a draw.

    Raises:
        MsiError: fewer than 2 years, no usable species, or a year pair no species covers.
    """
    years_arr = np.asarray(years, dtype=float)
    if len(years_arr) < 2:
        raise MsiError("an MSI needs at least two years")
    base = 0 if base_year is None else list(years).index(base_year)
    index = np.asarray(index, dtype=float)
    se = np.asarray(se, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = 100.0 / index[:, base]
        index, se = index * scale[:, None], se * scale[:, None]
        cv = np.where(index >= 10, se / index, np.nan)
        cv[(cv == 0) | ~np.isfinite(cv)] = np.nan
        counted = np.isfinite(cv).sum(axis=1)
        mean_cv = np.where(counted > 0, np.nansum(cv, axis=1) / np.maximum(counted, 1), np.nan)
    excluded: dict[str, str] = {}
    keep = []
    for k, name in enumerate(species):
        if not np.isfinite(scale[k]) or scale[k] <= 0:
            excluded[name] = "no positive index in the base year"
        elif np.isfinite(index[k]).sum() < 2:
            excluded[name] = "fewer than two years with an index"
        elif np.isfinite(mean_cv[k]) and mean_cv[k] >= max_cv:
            excluded[name] = f"mean CV {mean_cv[k]:.2f} reaches max_cv {max_cv:g}"
        else:
            keep.append(k)
    if not keep:
        raise MsiError("no species has usable indices")
    index, se = index[keep], se[keep]
    small = index < truncation
    index, se = np.where(small, truncation, index), np.where(small, 0.0, se)
    log_index, log_se = np.log(index), np.nan_to_num(se / index)

    rng = np.random.default_rng(seed)
    n_species, n_years = index.shape
    draws = rng.normal(log_index[..., None], log_se[..., None], (n_species, n_years, nsim))
    draws = np.maximum(draws, np.log(truncation))  # NaN (missing) stays NaN
    changes = np.clip(np.diff(draws, axis=1), -np.log(max_ratio), np.log(max_ratio))
    covered = np.isfinite(changes[:, :, 0]).any(axis=0)
    if not covered.all():
        gaps = [int(years_arr[j]) for j in np.flatnonzero(~covered)]
        raise MsiError(f"no species has indices in both years of {gaps} and the next")
    mean_change = np.nanmean(changes, axis=0)  # (years - 1, nsim)
    chained = np.zeros((n_years, nsim))
    chained[1:] = np.cumsum(mean_change, axis=0)
    log_msi = np.log(100.0) + chained - chained[base]
    mean_log, sd_log = log_msi.mean(axis=1), log_msi.std(axis=1, ddof=1)
    sd_log[base] = 0.0  # the base year is 100 by definition (no rounding noise)

    redrawn = rng.normal(mean_log[:, None], sd_log[:, None], (n_years, nsim))
    centre, spread = redrawn.mean(axis=1), redrawn.std(axis=1, ddof=1)
    centre[base], spread[base] = np.log(100.0), 0.0
    smooth = loess_matrix(years_arr, span) @ redrawn
    smooth_mean, smooth_sd = smooth.mean(axis=1), smooth.std(axis=1, ddof=1)
    to_last = smooth[-1] - smooth  # log change from each year to the last
    classes: list[str | None] = []
    for y in range(n_years - 1):
        d_mean, d_sd, gap = to_last[y].mean(), to_last[y].std(ddof=1), n_years - 1 - y
        classes.append(classify_interval(np.exp((d_mean - Z95 * d_sd) / gap),
                                         np.exp((d_mean + Z95 * d_sd) / gap)))
    classes.append(None)
    trends = [_trend("overall", years_arr, redrawn, smooth)]
    short = min(last_years, n_years)
    if 2 <= short < n_years:
        trends.append(_trend(f"last {short} years", years_arr[-short:], redrawn[-short:],
                             smooth[-short:]))
    msi_values = np.exp(centre)
    lower, upper = np.exp(centre - Z95 * spread), np.exp(centre + Z95 * spread)
    msi_values[base] = lower[base] = upper[base] = 100.0  # exp(log(100)) may miss by an ulp
    return MsiResult(
        years=[int(y) for y in years_arr], msi=msi_values, se=spread * msi_values,
        lower=lower, upper=upper,
        smoothed=np.exp(smooth_mean), smoothed_lower=np.exp(smooth_mean - Z95 * smooth_sd),
        smoothed_upper=np.exp(smooth_mean + Z95 * smooth_sd), smoothed_class=classes,
        trends=trends, species=[species[k] for k in keep], excluded=excluded,
        mean_cv={name: float(mean_cv[k]) for k, name in enumerate(species)
                 if np.isfinite(mean_cv[k])},
    )
