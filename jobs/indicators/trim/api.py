"""``trim()``: one TRIM analysis of one taxon, from data rules to every reported figure.

TRIM — TRends and Indices for Monitoring data (Pannekoek & van Strien, TRIM 3 manual,
Statistics Netherlands, 2005; Bogaart, van der Loo & Pannekoek, rtrim, 2016): a Poisson
log-linear model with site and time effects, fitted by generalised estimating equations
with optional overdispersion and AR(1) serial correlation, whose expected counts impute
the missing site × time counts. The steps, each in its own module:

data rules (:mod:`.data`) → design (:mod:`.design`) → estimation (:mod:`.estimation`,
optionally :mod:`.stepwise`) → totals and indices (:mod:`.totals`) → overall slope
(:mod:`.overall`) → goodness of fit and Wald tests (:mod:`.wald`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jobs.indicators.trim.data import TrimData, check_sufficient, drop_empty_sites
from jobs.indicators.trim.design import Design, make_design
from jobs.indicators.trim.estimation import EstimationError, Fit, estimate
from jobs.indicators.trim.overall import overall_slopes
from jobs.indicators.trim.results import Coefficient, DataSummary, TimeSeries, TrimResult
from jobs.indicators.trim.stepwise import select_changepoints
from jobs.indicators.trim.totals import linear_trend_and_deviations, time_index, time_totals
from jobs.indicators.trim.wald import (
    covariate_tests,
    deviation_test,
    goodness_of_fit,
    slope_tests,
)


def _time_positions(points: Sequence | str | None, times: list, model: int) -> list[int]:
    """Changepoints given as time labels or "all" → sorted 0-based positions (< J - 1)."""
    if model != 2:
        return []
    if points is None:
        return [0]
    if isinstance(points, str):
        if points.lower() != "all":
            raise ValueError('changepoints must be time labels or "all"')
        return list(range(len(times) - 1))
    positions = sorted(times.index(p) for p in points)
    if positions and positions[-1] >= len(times) - 1:
        raise ValueError("a changepoint must come before the last time point")
    return positions


def _summary(raw: TrimData, data: TrimData) -> DataSummary:
    counts = raw.counts
    observed = np.isfinite(counts)
    return DataSummary(
        n_sites=len(data.site_ids), n_times=len(raw.time_points),
        n_observed=int(observed.sum()), n_zero=int((counts == 0).sum()),
        n_positive=int((counts > 0).sum()), n_missing=int((~observed).sum()),
        total_count=float(np.nansum(counts)), removed_sites=data.removed_sites,
    )


def _se(cov: np.ndarray) -> np.ndarray:
    return np.sqrt(np.clip(np.diag(cov), 0.0, None))


def _coefficients(design: Design, fit: Fit, times: list) -> list[Coefficient]:
    se = _se(fit.var_beta)
    rows = []
    p0 = design.n_base
    for block, (name, level) in enumerate(design.block_labels):
        label = "baseline" if block == 0 else f"{name}={level}"
        if design.model == 3:
            rows.append(Coefficient(label, times[0], None, None, 0.0, 0.0, 1.0, 0.0))
        for k in range(p0):
            b, s = float(fit.beta[block * p0 + k]), float(se[block * p0 + k])
            if design.model == 3:
                time, start, end = times[k + 1], None, None
            else:
                cps = list(design.changepoints) + [len(times) - 1]
                time, start, end = None, times[cps[k]], times[cps[k + 1]]
            rows.append(Coefficient(label, time, start, end, b, s, np.exp(b), np.exp(b) * s))
    return rows


def _series(times, model, var_model, imputed, var_imputed, observed=None) -> TimeSeries:
    return TimeSeries(list(times), model, _se(var_model), imputed, _se(var_imputed), observed,
                      var_model, var_imputed)


def trim(
    data: TrimData,
    *,
    model: int = 3,
    changepoints: Sequence | str | None = None,
    stepwise: bool = False,
    overdisp: bool = False,
    serialcor: bool = False,
    base: object = None,
    overall_changepoints: Sequence | None = None,
    conv_crit: float = 1e-5,
    max_iter: int = 200,
) -> TrimResult:
    """Fit TRIM model 1, 2 or 3 and compute every figure TRIM reports.

    Args:
        data: site × time counts (see :func:`~jobs.indicators.trim.data.from_long`).
        model: 1 (no time effects), 2 (linear trend with changepoints), 3 (time effects).
        changepoints: model 2 changepoints as time labels, or "all"; default the first
            time point (one linear trend).
        stepwise: select model 2 changepoints stepwise (TRIM's rule).
        overdisp / serialcor: estimate overdispersion / AR(1) serial correlation.
        base: base time label for the indices (default the first time point).
        overall_changepoints: time labels splitting the overall slope into intervals.
        conv_crit / max_iter: convergence criterion and iteration limit.

    Returns:
        A :class:`TrimResult`; insufficient data and inestimable models come back with
        their reason, and non-convergence with ``converged`` False — never raised.
    """
    if model not in (1, 2, 3):
        raise ValueError("model must be 1, 2 or 3")
    times = list(data.time_points)
    cps = _time_positions(changepoints, times, model)
    if stepwise and (model != 2 or len(cps) < 2):
        raise ValueError("stepwise selection needs model 2 and at least two changepoints")
    clean = drop_empty_sites(data)
    summary = _summary(data, clean)
    n_sites, n_times = clean.counts.shape
    design = make_design(model, n_times, cps, clean.covariates, clean.covariate_levels, n_sites)
    result = TrimResult("ok", None, model, summary)
    problem = check_sufficient(clean, model, cps, n_sites + design.n_beta)
    if problem is not None:
        result.status, result.reason, result.detail = "insufficient", problem.reason, problem.detail
        return result

    def refit(points: list[int]) -> tuple[Fit, Design]:
        d = make_design(model, n_times, points, clean.covariates, clean.covariate_levels, n_sites)
        options = {"overdisp": overdisp, "serialcor": serialcor}
        return estimate(clean.counts, clean.weights, d, **options, conv_crit=conv_crit,
                        max_iter=max_iter), d

    try:
        if stepwise:
            fit, design, result.stepwise = select_changepoints(clean, cps, refit)
        else:
            fit, design = refit(cps)
    except (EstimationError, np.linalg.LinAlgError) as exc:
        result.status, result.reason = "failed", str(exc)
        return result
    _report(result, clean, fit, design, times, base, overall_changepoints, overdisp, serialcor)
    return result


def _report(result, data, fit, design, times, base, overall_cps, overdisp, serialcor) -> None:
    """Fill ``result`` with the figures derived from a fit."""
    result.converged, result.iterations, result.method = fit.converged, fit.iterations, fit.method
    result.overdispersion = fit.sig2 if overdisp else None
    result.serial_correlation = fit.rho if serialcor else None
    result.changepoints = [times[c] for c in design.changepoints]
    result.coefficients = _coefficients(design, fit, times)
    result.var_beta = fit.var_beta
    base_pos = 0 if base is None else times.index(base)
    result.base_time = times[base_pos]
    tt = time_totals(data.counts, data.weights, fit, design)
    result.totals = _series(times, tt["model"], tt["var_model"], tt["imputed"],
                            tt["var_imputed"], tt["observed"])
    idx_model, cov_model = time_index(tt["model"], tt["var_model"], [base_pos])
    idx_imp, cov_imp = time_index(tt["imputed"], tt["var_imputed"], [base_pos])
    result.indices = _series(times, idx_model, cov_model, idx_imp, cov_imp)
    result.gof = goodness_of_fit(data.counts, fit.mu, len(fit.alpha) + design.n_beta)
    overall_pos = sorted(times.index(t) for t in overall_cps or ())
    result.slopes = overall_slopes(tt, times, base_pos, result.gof.df, overall_pos)
    tests = covariate_tests(design, fit.beta, fit.var_beta)
    if design.model == 2:
        tests += slope_tests(design, fit.beta, fit.var_beta, times)
    if design.model == 3 and design.blocks.shape[1] == 1:
        gamma = np.concatenate([[0.0], fit.beta])
        var_gamma = np.zeros((len(times), len(times)))
        var_gamma[1:, 1:] = fit.var_beta
        trend = linear_trend_and_deviations(gamma, var_gamma)
        result.linear_trend = Coefficient("baseline", None, times[0], times[-1], trend["slope"],
                                          trend["slope_se"], np.exp(trend["slope"]),
                                          np.exp(trend["slope"]) * trend["slope_se"])
        result.deviations = [
            Coefficient("baseline", t, None, None, g, s, np.exp(g), np.exp(g) * s)
            for t, g, s in zip(times, trend["deviations"], trend["deviations_se"], strict=True)
        ]
        tests.append(deviation_test(trend["deviations"], trend["deviations_cov"]))
    result.wald = tests
    for name, codes in data.covariates.items():
        for k, level in enumerate(data.covariate_levels[name]):
            cls = time_totals(data.counts, data.weights, fit, design, sites=codes == k)
            result.covariate_totals[(name, level)] = _series(
                times, cls["model"], cls["var_model"], cls["imputed"], cls["var_imputed"],
                cls["observed"])
