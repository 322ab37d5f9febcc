"""TRIM's data rules, reported failures and the pieces of the method on their own."""

from __future__ import annotations

import numpy as np
import pytest

from jobs.indicators.trim import from_long, from_matrix, trim
from jobs.indicators.trim.covariance import ar1_precision
from jobs.indicators.trim.overall import verdict

NAN = np.nan


def simulated(n_sites=40, n_times=8, slope=0.05, missing=0.3, seed=1):
    """Negative-binomial-ish counts with site effects, a log-linear trend, some missing."""
    rng = np.random.default_rng(seed)
    site = rng.normal(2.0, 0.7, n_sites)[:, None]
    mu = np.exp(site + slope * np.arange(n_times)[None, :])
    counts = rng.poisson(rng.gamma(4.0, mu / 4.0)).astype(float)
    counts[rng.random(counts.shape) < missing] = NAN
    return counts


def test_all_zero_counts_are_insufficient_not_guessed():
    counts = np.zeros((5, 6))
    counts[0, 2] = NAN
    result = trim(from_matrix(counts), model=3)
    assert result.status == "insufficient"
    assert result.reason == "no positive counts"
    assert result.indices is None and result.slopes == {}


def test_one_time_point_is_insufficient():
    result = trim(from_matrix(np.array([[3.0], [5.0], [1.0]])), model=2)
    assert result.status == "insufficient"
    assert result.reason == "fewer than two time points"


def test_sites_with_only_zeros_or_missing_are_removed_and_named():
    counts = simulated(n_sites=20)
    with_empty = np.vstack([counts, [0, NAN, 0, 0, NAN, 0, 0, 0], np.full(8, NAN)])
    sites = [f"S{k:02d}" for k in range(len(with_empty))]
    full = trim(from_matrix(with_empty, site_ids=sites), model=3, overdisp=True)
    alone = trim(from_matrix(counts, site_ids=sites[:20]), model=3, overdisp=True)
    assert full.data.removed_sites == ["S20", "S21"]
    assert full.data.n_sites == 20
    assert np.allclose(full.indices.imputed, alone.indices.imputed)
    assert np.allclose(full.totals.se_imputed, alone.totals.se_imputed)


def test_model_3_time_point_without_positive_counts_is_named():
    counts = simulated(n_sites=10, n_times=6)
    counts[:, 3] = np.where(np.isnan(counts[:, 3]), NAN, 0.0)
    data = from_matrix(counts, time_points=[2001, 2002, 2003, 2004, 2005, 2006])
    result = trim(data, model=3)
    assert result.status == "insufficient"
    assert result.detail == {"times": [2004]}
    assert trim(data, model=2).status == "ok"  # one trend still has data throughout


def test_non_convergence_is_reported_with_the_last_estimates():
    result = trim(from_matrix(simulated()), model=3, overdisp=True, serialcor=True, max_iter=2)
    assert result.status == "ok"
    assert result.converged is False
    assert result.iterations == 2
    assert result.indices is not None  # figures are there, flagged as not converged


def test_a_collapsing_time_effect_is_reported_as_failed():
    counts = np.full((6, 4), 1e9)
    counts[:, 2] = 0.0
    counts[0, 2] = 1.0  # one bird against a billion: gamma_3 below -20
    result = trim(from_matrix(counts), model=3)
    assert result.status == "failed"
    assert "time effect" in result.reason


def test_converged_fit_recovers_a_known_trend():
    counts = simulated(n_sites=400, n_times=10, slope=-0.08, seed=7)
    result = trim(from_matrix(counts), model=2, overdisp=True, serialcor=True)
    slope = result.coefficients[0]
    assert result.converged
    assert abs(slope.additive + 0.08) < 3 * slope.se_additive
    assert result.overdispersion > 1.0  # gamma-Poisson counts are overdispersed
    assert result.verdict.startswith(("Moderate decline", "Steep decline"))


def test_ar1_precision_is_the_inverse_of_each_sites_correlation():
    rng = np.random.default_rng(3)
    observed = rng.random((30, 9)) > 0.35
    observed[:, 0] = True
    rho = 0.37
    precision = ar1_precision(observed, rho).dense()
    for site in range(30):
        t = np.flatnonzero(observed[site])
        corr = rho ** np.abs(np.subtract.outer(t, t))
        assert np.allclose(precision[site][np.ix_(t, t)], np.linalg.inv(corr))
        assert not precision[site][~observed[site]].any()


@pytest.mark.parametrize(
    ("slope", "se", "expected"),
    [
        (0.10, 0.01, "Strong increase (p<0.01)"),
        (0.03, 0.005, "Moderate increase (p<0.01)"),
        (0.001, 0.005, "Stable"),
        (0.0, 0.05, "Uncertain"),
        (-0.03, 0.012, "Moderate decline (p<0.05)"),
        (-0.12, 0.01, "Steep decline (p<0.01)"),
    ],
)
def test_verdict_classes_follow_trims_limits(slope, se, expected):
    assert verdict(slope, se, df=140) == expected


def test_records_with_two_counts_for_one_site_and_time_are_refused():
    with pytest.raises(ValueError, match="more than one count"):
        from_long([1, 1], [2000, 2000], [3, 4])


def test_unequal_time_steps_are_refused():
    with pytest.raises(ValueError, match="equally spaced"):
        from_long([1, 1, 1], [2000, 2001, 2005], [3, 4, 5])
