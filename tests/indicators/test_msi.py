"""The multi-species indicator (MSI-tool method) against independent computations."""

from __future__ import annotations

import numpy as np
import pytest

from jobs.indicators.msi import MsiError, classify_interval, loess_matrix, msi

YEARS = list(range(2001, 2013))


def species_indices(n_species=6, seed=0):
    """Random-walk species indices (1 in the first year), as TRIM reports them."""
    rng = np.random.default_rng(seed)
    index = np.exp(np.cumsum(rng.normal(0.0, 0.12, (n_species, len(YEARS))), axis=1))
    return index / index[:, :1]


def names(n):
    return [f"species {k}" for k in range(n)]


def geometric_mean(index):
    """100 × the geometric mean over species of each index relative to its first year."""
    return 100.0 * np.exp(np.mean(np.log(index / index[:, :1]), axis=0))


def test_without_sampling_error_the_msi_is_the_geometric_mean_exactly():
    index = species_indices()
    result = msi(names(6), YEARS, index, np.zeros_like(index), nsim=200)
    np.testing.assert_allclose(result.msi, geometric_mean(index), rtol=1e-12)
    np.testing.assert_allclose(result.lower, result.msi, rtol=1e-12)
    np.testing.assert_allclose(result.upper, result.msi, rtol=1e-12)
    assert result.msi[0] == 100.0 and result.se[0] == 0.0


def test_indices_on_any_scale_give_the_same_msi():
    index = species_indices()
    scaled = index * np.array([[1.0], [100.0], [3.5], [0.2], [10.0], [1.0]])
    a = msi(names(6), YEARS, index, np.zeros_like(index), nsim=100)
    b = msi(names(6), YEARS, scaled, np.zeros_like(scaled), nsim=100)
    np.testing.assert_allclose(a.msi, b.msi, rtol=1e-12)


def test_monte_carlo_intervals_contain_the_geometric_mean_and_narrow_with_the_ses():
    index = species_indices()
    truth = geometric_mean(index)
    widths = []
    for cv in (0.20, 0.10, 0.05):
        result = msi(names(6), YEARS, index, index * cv, nsim=2000, seed=7)
        assert np.all((result.lower <= truth) & (truth <= result.upper)), cv
        # The MC mean is the geometric mean up to Monte Carlo error (SE / sqrt(nsim) × 4).
        assert np.all(np.abs(np.log(result.msi / truth)) <= 4 * result.se / result.msi
                      / np.sqrt(2000) + 1e-12)
        widths.append(np.log(result.upper[1:] / result.lower[1:]))
    assert np.all(widths[1] < widths[0]) and np.all(widths[2] < widths[1])
    # On the log scale the interval is ±1.96 SE of the mean log index: for k species
    # with the same CV that is ≈ 2 × 1.96 × CV × sqrt(2) / sqrt(k) at most (two years).
    assert np.median(widths[2]) == pytest.approx(2 * 1.96 * 0.05 * np.sqrt(2 / 6), rel=0.25)


def test_a_fixed_seed_gives_identical_figures():
    index = species_indices()
    a = msi(names(6), YEARS, index, index * 0.1, seed=3, nsim=300)
    b = msi(names(6), YEARS, index, index * 0.1, seed=3, nsim=300)
    c = msi(names(6), YEARS, index, index * 0.1, seed=4, nsim=300)
    assert np.array_equal(a.msi, b.msi) and np.array_equal(a.smoothed, b.smoothed)
    assert not np.array_equal(a.msi, c.msi)


def test_missing_years_are_bridged_by_the_chain_of_the_species_counted():
    index = species_indices(4)
    index[2, 5:8] = np.nan  # species 2 has no index in 2006-2008
    result = msi(names(4), YEARS, index, np.zeros_like(index), nsim=50)
    logs = np.log(index / index[:, :1])
    changes = np.diff(logs, axis=1)
    expected = 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(np.nanmean(changes, axis=0))]))
    np.testing.assert_allclose(result.msi, expected, rtol=1e-12)


def test_imprecise_species_are_left_out_with_the_reason():
    index = species_indices(4)
    se = index * 0.1
    se[3] = index[3] * 4.0
    result = msi(names(4), YEARS, index, se, nsim=100, max_cv=3.0)
    assert result.species == names(3)
    assert result.excluded == {"species 3": "mean CV 4.00 reaches max_cv 3"}
    assert result.mean_cv["species 0"] == pytest.approx(0.1)


def test_no_usable_species_is_an_error_not_a_guess():
    index = species_indices(2)
    with pytest.raises(MsiError, match="no species"):
        msi(names(2), YEARS, index, index * 5.0, nsim=100)
    with pytest.raises(MsiError, match="two years"):
        msi(names(2), YEARS[:1], index[:, :1], index[:, :1] * 0.1, nsim=100)


def test_trends_are_classified_like_trim():
    declining = np.exp(-0.08 * np.arange(len(YEARS)))[None, :].repeat(5, axis=0)
    result = msi(names(5), YEARS, declining, declining * 0.02, nsim=500)
    overall = result.trends[0]
    assert overall.period == "overall" and (overall.start, overall.end) == (2001, 2012)
    assert overall.multiplicative == pytest.approx(np.exp(-0.08), abs=0.005)
    assert overall.verdict == "steep decline"
    assert result.trends[1].period == "last 10 years"
    assert result.smoothed_class[0] == "steep decline" and result.smoothed_class[-1] is None
    assert overall.percent_change == pytest.approx((np.exp(-0.08 * 11) - 1) * 100, abs=3)


@pytest.mark.parametrize(("low", "high", "verdict"), [
    (1.06, 1.2, "strong increase"), (1.01, 1.2, "moderate increase"),
    (0.5, 0.94, "steep decline"), (0.5, 0.99, "moderate decline"),
    (0.96, 1.04, "stable"), (0.9, 1.04, "uncertain"), (0.99, 1.10, "uncertain"),
])
def test_classes_of_the_msi_tool(low, high, verdict):
    assert classify_interval(low, high) == verdict


def test_loess_equals_r():
    """R 4 ``predict(loess(y ~ x, span = 0.75, degree = 2, surface = "direct"))``."""
    x = np.arange(1.0, 13.0)
    y = np.array([3, 5, 4, 6, 8, 7, 9, 12, 11, 10, 13, 15.0])
    r_fit = [3.261645888, 4.110406968, 5.004295318, 5.897257536, 6.859011240, 8.079749930,
             9.478636135, 10.564091594, 10.965998775, 11.880225252, 13.019602453,
             14.486362575]
    np.testing.assert_allclose(loess_matrix(x, 0.75) @ y, r_fit, rtol=1e-8)
