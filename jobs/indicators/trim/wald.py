"""Goodness of fit and Wald tests of TRIM (TRIM 3 manual, sections 2.6 and 2.7).

Goodness of fit over the counted cells: Pearson ``chi2 = sum (f - mu)^2 / mu``,
likelihood ratio ``LR = 2 sum f log(f / mu)``, both against chi-square with
``df = n_observed - n_sites - n_time_parameters``; ``AIC = LR - 2 df`` (up to a constant).
With overdispersion or serial correlation these are descriptive only.

Wald tests ``W = theta' V(theta)^-1 theta`` ~ chi-square(rank), with V from the GEE
covariance (so valid under overdispersion and serial correlation):

* slope (model 2, one trend): ``theta = beta``;
* changes in slope (model 2 with changepoints): ``theta = beta_k - beta_{k-1}`` at each
  changepoint, jointly over the baseline and every covariate class;
* deviations from the linear trend (model 3 without covariates): the deviations
  ``gamma*_3..gamma*_J`` (two are implied by the constraints), df = J - 2;
* each covariate (models 2 and 3): all its class effects on the time parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from jobs.indicators.trim.design import Design


@dataclass
class GoodnessOfFit:
    """Chi-square, likelihood ratio and AIC of a fitted model."""

    chi2: float
    chi2_p: float
    lr: float
    lr_p: float
    df: int
    aic: float


@dataclass
class WaldTest:
    """One Wald test: what it tests, the statistic, its df and p."""

    test: str
    label: object
    statistic: float
    df: int
    p: float


def goodness_of_fit(counts: np.ndarray, mu: np.ndarray, n_params: int) -> GoodnessOfFit:
    """Chi-square, LR and AIC over the counted cells; ``n_params`` = sites + time parameters."""
    observed = np.isfinite(counts)
    f, m = counts[observed], mu[observed]
    chi2 = float(np.sum((f - m) ** 2 / m))
    positive = f > 0
    lr = float(2.0 * np.sum(f[positive] * np.log(f[positive] / m[positive])))
    df = int(observed.sum()) - n_params
    sf = (lambda x: float(stats.chi2.sf(x, df))) if df > 0 else (lambda x: float("nan"))
    return GoodnessOfFit(chi2, sf(chi2), lr, sf(lr), df, lr - 2.0 * df)


def wald(theta: np.ndarray, cov: np.ndarray, test: str, label=None) -> WaldTest:
    """The Wald statistic of ``theta`` with covariance ``cov``."""
    theta = np.atleast_1d(theta)
    cov = np.atleast_2d(cov)
    statistic = float(theta @ np.linalg.solve(cov, theta))
    df = len(theta)
    return WaldTest(test, label, statistic, df, float(stats.chi2.sf(statistic, df)))


def slope_tests(design: Design, beta: np.ndarray, var_beta: np.ndarray, times: list) -> list:
    """Wald tests on the model 2 slopes: one slope, or the change at each changepoint."""
    p0, blocks = design.n_base, design.blocks.shape[1]
    if p0 == 0:
        return []
    if p0 == 1 and design.changepoints == (0,) and blocks == 1:
        return [wald(beta, var_beta, "slope")]
    difference = np.eye(p0) - np.eye(p0, k=-1)
    transform = np.kron(np.eye(blocks), difference)
    changes, cov = transform @ beta, transform @ var_beta @ transform.T
    tests = []
    for k, cp in enumerate(design.changepoints):
        idx = np.arange(blocks) * p0 + k
        tests.append(wald(changes[idx], cov[np.ix_(idx, idx)], "change in slope", times[cp]))
    return tests


def covariate_tests(design: Design, beta: np.ndarray, var_beta: np.ndarray) -> list:
    """Wald test per covariate on all its class effects."""
    p0 = design.n_base
    names: dict[str, list[int]] = {}
    for block, (name, _level) in enumerate(design.block_labels):
        if block:
            names.setdefault(name, []).extend(range(block * p0, (block + 1) * p0))
    return [
        wald(beta[idx], var_beta[np.ix_(idx, idx)], "covariate", name)
        for name, idx in names.items()
    ]


def deviation_test(deviations: np.ndarray, cov: np.ndarray) -> WaldTest:
    """Model 3: are the deviations from the linear trend jointly zero? (df = J - 2)."""
    return wald(deviations[2:], cov[2:, 2:], "deviations from linear trend")
