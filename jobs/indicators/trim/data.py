"""Data preparation for TRIM: a site × time count matrix, TRIM's data rules and their reasons.

TRIM (TRends and Indices for Monitoring data; Pannekoek & van Strien, TRIM 3 manual,
Statistics Netherlands 2005) works on a matrix ``f[i, j]`` of counts at site ``i`` and
time point ``j``; a missing cell (not surveyed) is NaN, a zero is "surveyed, none found".
Its own rules, applied here before any fitting:

* sites without a single positive count carry no information about the time effects
  and are removed (and reported);
* with no positive count at all, or fewer than two time points, there is nothing to fit;
* model 3 needs a positive count at every time point (per covariate class when
  covariates are used), model 2 in every changepoint segment;
* there must be at least as many observed counts as parameters.

A failed rule gives an :class:`InsufficientData` reason instead of a guessed estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class InsufficientData:
    """Why a taxon could not be fitted (TRIM's data rules)."""

    reason: str
    detail: dict = field(default_factory=dict)


@dataclass
class TrimData:
    """The cleaned input of one TRIM fit.

    Attributes:
        counts: (sites, times) counts, NaN where not counted.
        weights: (sites, times) site weights (1 where none were given).
        covariates: name -> (sites,) class codes 0..k-1 (constant per site).
        covariate_levels: name -> the original class labels, in code order.
        site_ids: labels of the kept sites.
        time_points: labels of the time points (e.g. years), equally spaced.
        removed_sites: labels of sites removed for having no positive count.
    """

    counts: np.ndarray
    weights: np.ndarray
    covariates: dict[str, np.ndarray]
    covariate_levels: dict[str, list]
    site_ids: list
    time_points: list
    removed_sites: list = field(default_factory=list)

    @property
    def observed(self) -> np.ndarray:
        """Boolean (sites, times) mask of counted cells."""
        return np.isfinite(self.counts)

    @property
    def shape(self) -> tuple[int, int]:
        """(number of sites, number of time points)."""
        return self.counts.shape


def from_long(
    site: Sequence,
    time: Sequence,
    count: Sequence,
    *,
    weight: Sequence | None = None,
    covariates: dict[str, Sequence] | None = None,
) -> TrimData:
    """Build a :class:`TrimData` from records (one per site × time; count None/NaN = missing).

    Args:
        site, time, count: equal-length columns; time labels must be equally spaced numbers.
        weight: optional site weight per record.
        covariates: optional name -> class label per record; a site must keep one class.

    Returns:
        The matrix form (sites sorted by label). Raises ValueError on malformed input
        (duplicate site × time, unequal time steps, a site with two covariate classes).
    """
    site_arr, time_arr = np.asarray(site), np.asarray(time)
    values = np.array([np.nan if c is None else c for c in count], dtype=float)
    site_ids, site_idx = np.unique(site_arr, return_inverse=True)
    time_ids, time_idx = np.unique(time_arr, return_inverse=True)
    if len(time_ids) > 2 and len(np.unique(np.diff(time_ids.astype(float)))) != 1:
        raise ValueError("time points must be equally spaced (e.g. every year)")
    shape = (len(site_ids), len(time_ids))
    if np.any(np.bincount(site_idx * shape[1] + time_idx, minlength=shape[0] * shape[1]) > 1):
        raise ValueError("more than one count for a site and time point")
    counts = np.full(shape, np.nan)
    counts[site_idx, time_idx] = values
    weights = np.ones(shape)
    if weight is not None:
        weights[site_idx, time_idx] = np.asarray(weight, dtype=float)
    codes, levels = {}, {}
    for name, labels in (covariates or {}).items():
        level_ids, class_idx = np.unique(np.asarray(labels), return_inverse=True)
        per_site = np.full(shape[0], -1)
        per_site[site_idx] = class_idx
        per_site_check = np.zeros((shape[0], len(level_ids)), dtype=bool)
        per_site_check[site_idx, class_idx] = True
        if np.any(per_site_check.sum(axis=1) > 1):
            raise ValueError(f"covariate {name!r}: a site has more than one class")
        codes[name], levels[name] = per_site, level_ids.tolist()
    return TrimData(counts, weights, codes, levels, site_ids.tolist(), time_ids.tolist())


def from_matrix(
    counts: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    covariates: dict[str, Sequence] | None = None,
    site_ids: Sequence | None = None,
    time_points: Sequence | None = None,
) -> TrimData:
    """Build a :class:`TrimData` from a (sites, times) matrix with NaN for missing counts."""
    counts = np.asarray(counts, dtype=float)
    n_sites, n_times = counts.shape
    codes, levels = {}, {}
    for name, labels in (covariates or {}).items():
        level_ids, class_idx = np.unique(np.asarray(labels), return_inverse=True)
        codes[name], levels[name] = class_idx, level_ids.tolist()
    return TrimData(
        counts=counts,
        weights=np.ones_like(counts) if weights is None else np.asarray(weights, dtype=float),
        covariates=codes,
        covariate_levels=levels,
        site_ids=list(range(1, n_sites + 1)) if site_ids is None else list(site_ids),
        time_points=list(range(1, n_times + 1)) if time_points is None else list(time_points),
    )


def drop_empty_sites(data: TrimData) -> TrimData:
    """Remove sites without any positive count (TRIM removes and reports them)."""
    keep = np.nansum(data.counts, axis=1) > 0
    if keep.all():
        return data
    covariates, levels = {}, {}
    for name, codes in data.covariates.items():
        kept_codes = codes[keep]
        used = np.unique(kept_codes)
        covariates[name] = np.searchsorted(used, kept_codes)
        levels[name] = [data.covariate_levels[name][k] for k in used]
    return TrimData(
        counts=data.counts[keep],
        weights=data.weights[keep],
        covariates=covariates,
        covariate_levels=levels,
        site_ids=[s for s, k in zip(data.site_ids, keep, strict=True) if k],
        time_points=data.time_points,
        removed_sites=data.removed_sites
        + [s for s, k in zip(data.site_ids, keep, strict=True) if not k],
    )


def segments(n_times: int, changepoints: Sequence[int]) -> np.ndarray:
    """Segment number per time point for model 2 (0 = before the first changepoint).

    Changepoints are 0-based time indices; segment k runs from changepoint k-1
    (exclusive) to changepoint k (inclusive), matching the slope parameters.
    """
    seg = np.zeros(n_times, dtype=int)
    for k, cp in enumerate(changepoints, start=1):
        seg[cp + 1 :] = k
    return seg


def check_sufficient(
    data: TrimData, model: int, changepoints: Sequence[int], n_params: int
) -> InsufficientData | None:
    """Apply TRIM's data rules; return the first failed rule, or None when fitting may go on."""
    counts = data.counts
    n_sites, n_times = counts.shape
    if n_sites == 0 or not np.nansum(counts) > 0:
        return InsufficientData("no positive counts", {"removed_sites": len(data.removed_sites)})
    if n_times < 2:
        return InsufficientData("fewer than two time points", {"time_points": n_times})
    positive_per_time = np.nansum(counts, axis=0) > 0
    n_obs = int(np.isfinite(counts).sum())
    if n_obs < n_params:
        return InsufficientData(
            "fewer observed counts than parameters",
            {"observed": n_obs, "parameters": n_params},
        )
    groups = [np.ones(n_sites, dtype=bool)]
    for codes in data.covariates.values():
        groups += [codes == k for k in range(int(codes.max()) + 1)]
    if model == 3:
        for group in groups:
            totals = np.nansum(counts[group], axis=0)
            empty = [data.time_points[j] for j in np.flatnonzero(totals <= 0)]
            if empty:
                return InsufficientData("time points without positive counts", {"times": empty})
    elif model == 2 and len(changepoints):
        seg = segments(n_times, changepoints)
        for group in groups:
            totals = np.nansum(counts[group], axis=0)
            per_segment = np.bincount(seg, weights=totals, minlength=len(changepoints) + 1)
            empty = [data.time_points[changepoints[k - 1]] for k in range(1, len(per_segment))
                     if per_segment[k] <= 0]
            if empty:
                return InsufficientData(
                    "changepoint segments without positive counts", {"changepoints": empty}
                )
    if not positive_per_time.any():
        return InsufficientData("no positive counts")
    return None
