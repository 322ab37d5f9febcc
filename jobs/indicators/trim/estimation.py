"""Estimation of TRIM's log-linear model by generalised estimating equations.

Model (Pannekoek & van Strien, TRIM 3 manual, 2005, ch. 2; van der Meulen et al.;
Bogaart, van der Loo & Pannekoek, rtrim methods vignette "Models and statistical
methods in rtrim", 2016)::

    log(w_ij mu_ij) = alpha_i + B_i beta,   Var(f_i) = V_i = sigma^2 D^1/2 R_i D^1/2

Estimator: Fisher scoring on the GEE score equations (Liang & Zeger 1986), exactly as
TRIM iterates them:

* site effects from their own score equation ``mu_i' V_i^-1 (f_i - mu_i) = 0``, i.e.
  ``alpha_i = log(z_i' f_i) - log(z_i' exp(B_i beta) / w_i)`` with ``z_i = V_i^-1 mu_i``
  (``z_i = 1`` under maximum likelihood);
* time effects by a scoring step ``beta -= i_b^-1 U_b`` with the site effects profiled
  out: ``U_b = sum_i B_i' D_i V_i^-1 (f_i - mu_i)`` and
  ``-i_b = sum_i B_i' (Omega_i - Omega_i 1 1' Omega_i / d_i) B_i``,
  ``Omega_i = D_i V_i^-1 D_i``, ``d_i = 1' Omega_i 1``; the step is halved (at most
  seven times) while it raises the likelihood-ratio statistic;
* iterations start as Poisson maximum likelihood (``sigma^2 = 1``, ``rho = 0``); after
  convergence they continue as GEE, re-estimating ``sigma^2`` (Pearson chi-square over
  its degrees of freedom) and ``rho`` (mean lag-one product of Pearson residuals over
  ``sigma^2``) each iteration, until ``sigma^2``, ``rho`` and ``beta`` change by less than
  the convergence criterion.

The covariance of ``beta`` is ``(-i_b)^-1``. All per-site work is batched numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jobs.indicators.trim.covariance import ChainMatrices, WorkingCovariance
from jobs.indicators.trim.design import Design

MAX_BETA = 20.0  # |beta| beyond this means a time effect drifted to (near) zero counts
MAX_STEP_HALVINGS = 7


class EstimationError(Exception):
    """The model cannot be estimated from these data (reported, never raised to a step)."""


@dataclass
class Fit:
    """The estimated model and the state every later figure is computed from."""

    alpha: np.ndarray
    beta: np.ndarray
    mu: np.ndarray
    var_beta: np.ndarray
    sig2: float
    rho: float
    method: str
    iterations: int
    converged: bool
    covariance: WorkingCovariance
    omega: ChainMatrices


class _Estimator:
    def __init__(self, counts, weights, design: Design, overdisp, serialcor, conv_crit):
        self.f = counts
        self.observed = np.isfinite(counts)
        self.f0 = np.where(self.observed, counts, 0.0)
        self.positive = self.f0 > 0
        self.w = weights
        self.design = design
        self.overdisp, self.serialcor, self.crit = overdisp, serialcor, conv_crit
        self.n_obs = int(self.observed.sum())
        self.alpha = np.log(self.f0.sum(axis=1) / counts.shape[1])
        self.beta = np.zeros(design.n_beta)
        self.sig2, self.rho = 1.0, 0.0
        self.mu = self.expected()
        self.cov = WorkingCovariance.at(self.mu, self.observed, 1.0, 0.0)

    def expected(self) -> np.ndarray:
        mu = np.exp(self.alpha[:, None] + self.design.linear_predictor(self.beta)) / self.w
        if np.any(mu < 1e-12):
            raise EstimationError("zero expected count: a time effect collapsed to zero")
        return mu

    def update_alpha(self, gee: bool) -> None:
        shape = np.exp(self.design.linear_predictor(self.beta)) / self.w
        if gee:
            z = self.cov.solve(self.mu)
        else:
            z = self.observed.astype(float)
        numerator = (z * self.f0).sum(axis=1)
        denominator = (z * np.where(self.observed, shape, 0.0)).sum(axis=1)
        if np.all(numerator > 0) and np.all(denominator > 0):
            self.alpha = np.log(numerator) - np.log(denominator)
        else:  # TRIM's fallback: rescale each site to its observed total
            ratio = self.f0.sum(axis=1) / np.where(self.observed, self.mu, 0.0).sum(axis=1)
            self.alpha = self.alpha + np.where(ratio > 1e-7, np.log(np.maximum(ratio, 1e-300)), 0)
        if not np.all(np.isfinite(self.alpha)):
            raise EstimationError("site effects could not be estimated")

    def deviance(self) -> float:
        f, mu = self.f0[self.positive], self.mu[self.positive]
        return float(2.0 * np.sum(f * np.log(f / mu)))

    def update_dispersion(self) -> None:
        resid = np.where(self.observed, (self.f0 - self.mu) / np.sqrt(self.mu), 0.0)
        df = self.n_obs - len(self.alpha) - self.design.n_beta
        sig2 = float(np.sum(resid**2) / df) if df > 0 else 1.0
        if not np.isfinite(sig2) or sig2 < 1e-7:
            raise EstimationError("overdispersion estimate is zero or not finite")
        if self.serialcor:
            pairs = self.observed[:, :-1] & self.observed[:, 1:]
            products = np.sum((resid[:, :-1] * resid[:, 1:])[pairs])
            self.rho = float(products / (pairs.sum() * sig2)) if pairs.any() else 0.0
            if not abs(self.rho) < 1.0:
                raise EstimationError(f"serial correlation estimate {self.rho:.3f} outside (-1, 1)")
        self.sig2 = sig2 if self.overdisp else 1.0

    def update_covariance(self, gee: bool) -> None:
        rho = self.rho if gee and self.serialcor else 0.0
        self.cov = WorkingCovariance.at(self.mu, self.observed, self.sig2, rho)

    def information(self) -> tuple[np.ndarray, np.ndarray]:
        omega = self.cov.omega()
        om = omega.row_sums()
        d = om.sum(axis=1)
        info = self.design.cross(omega) - self.design.outer(om, 1.0 / d)
        score = self.design.project(self.mu * self.cov.solve(self.f0 - self.mu))
        return info, score

    def update_beta(self, gee: bool) -> float:
        info, score = self.information()
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError as exc:
            raise EstimationError("time effects are not identifiable from these data") from exc
        if not np.all(np.isfinite(step)):
            raise EstimationError("time effects are not identifiable from these data")
        beta0, deviance0, size = self.beta.copy(), self.deviance(), 1.0
        for _ in range(MAX_STEP_HALVINGS):
            self.beta = beta0 + size * step
            if np.any(np.abs(self.beta) > MAX_BETA):
                raise EstimationError("a time effect is excessively large (near-zero counts)")
            self.mu = self.expected()
            self.update_alpha(gee)
            self.mu = self.expected()
            deviance = self.deviance()
            if 0 < deviance < (1.0 + self.crit) * deviance0:
                break
            size /= 2.0
        return float(np.max(np.abs(step))) if len(step) else 0.0

    def run(self, max_iter: int) -> Fit:
        final_gee = self.overdisp or self.serialcor
        gee, converged, previous = False, False, None
        iteration = 0
        while iteration < max_iter:
            iteration += 1
            self.update_alpha(gee)
            self.mu = self.expected()
            if gee:
                self.update_dispersion()
            self.update_covariance(gee)
            change = self.update_beta(gee) if self.design.n_beta else 0.0
            state = (self.sig2, self.rho)
            done = previous is not None and max(
                abs(state[0] - previous[0]), abs(state[1] - previous[1]), change
            ) < self.crit
            previous = state
            if done and gee == final_gee:
                converged = True
                break
            if done:
                gee = True
        self.mu = self.expected()
        self.update_covariance(gee)
        omega = self.cov.omega()
        info, _ = self.information() if self.design.n_beta else (np.zeros((0, 0)), None)
        var_beta = np.linalg.inv(info) if self.design.n_beta else np.zeros((0, 0))
        return Fit(
            alpha=self.alpha, beta=self.beta, mu=self.mu, var_beta=var_beta,
            sig2=self.sig2, rho=self.rho, method="GEE" if gee else "ML",
            iterations=iteration, converged=converged, covariance=self.cov, omega=omega,
        )


def estimate(
    counts: np.ndarray,
    weights: np.ndarray,
    design: Design,
    *,
    overdisp: bool = False,
    serialcor: bool = False,
    conv_crit: float = 1e-5,
    max_iter: int = 200,
) -> Fit:
    """Fit TRIM's model to a (sites, times) count matrix (NaN = not counted).

    Args:
        counts: counts, every site with at least one positive count.
        weights: site weights per cell (1 for unweighted data).
        design: the model's time design (see :mod:`jobs.indicators.trim.design`).
        overdisp / serialcor: estimate overdispersion / AR(1) serial correlation (GEE).
        conv_crit: convergence criterion on sigma^2, rho and the beta step.
        max_iter: iterations before giving up (then ``converged`` is False).

    Returns:
        The :class:`Fit`. Raises :class:`EstimationError` when the model cannot be
        estimated (excessive time effects, zero expected counts, singular information).
    """
    return _Estimator(counts, weights, design, overdisp, serialcor, conv_crit).run(max_iter)
