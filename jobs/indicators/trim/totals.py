"""Imputation, time totals and time indices with their covariance (TRIM 3 manual, ch. 3).

* Imputed counts: the observed count where a site was counted, the model's expected
  count ``mu_ij`` where it was not.
* Time totals ``T_j = sum_i w_ij x_ij`` for the model (``x = mu``) and the imputed data.
* Covariance of the model totals by the delta method, with the site effects profiled
  out (TRIM manual eq. 3.3; rtrim methods vignette section 3)::

      V(T) = G diag(1/d) G' + (G F - H) (-i_b)^-1 (G F - H)'

  where ``G[j, i] = w_ij mu_ij``, ``d_i = 1' Omega_i 1``, ``F[i, :] = 1' Omega_i B_i / d_i``
  and ``H[j, :] = sum_i w_ij mu_ij B_i[j, :]``.
* Covariance of the imputed totals: the model covariance with the part due to the
  observed cells replaced by the variance of the observed counts themselves,
  ``sigma^2 sum_i S_i R S_i`` with ``S_i = diag(w_ij sqrt(mu_ij))`` over counted cells.
* Time indices ``tau_j = T_j / T_b`` relative to a base time ``b`` (or the mean over
  several base times), with their covariance by the multivariate delta method.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jobs.indicators.trim.design import Design
from jobs.indicators.trim.estimation import Fit


def imputed_counts(counts: np.ndarray, fit: Fit) -> np.ndarray:
    """The count where counted, the model's expected count where not: (I, J)."""
    return np.where(np.isfinite(counts), counts, fit.mu)


def model_total_covariance(
    fit: Fit, design: Design, weights: np.ndarray, include: np.ndarray
) -> np.ndarray:
    """Delta-method covariance (J × J) of ``sum_i w_ij mu_ij`` over the cells in ``include``."""
    om = fit.omega.row_sums()
    d = om.sum(axis=1)
    wmu = np.where(include, weights * fit.mu, 0.0)
    covariance = (wmu.T / d) @ wmu
    if design.n_beta:
        f_rows = design.per_site(om) / d[:, None]
        gap = wmu.T @ f_rows - design.weighted_rows(wmu)
        covariance = covariance + gap @ fit.var_beta @ gap.T
    return covariance


def observed_total_covariance(
    fit: Fit, weights: np.ndarray, observed: np.ndarray, sites: np.ndarray
) -> np.ndarray:
    """Covariance (J × J) of the weighted observed counts under the working model."""
    scale = np.where(observed & sites[:, None], weights * weights * fit.mu, 0.0)
    return fit.covariance.correlation_sandwich(scale, fit.rho)


def time_totals(
    counts: np.ndarray,
    weights: np.ndarray,
    fit: Fit,
    design: Design,
    sites: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Model, imputed and observed time totals with covariances, over all or some sites.

    Args:
        counts: (I, J) counts, NaN where not counted.
        weights: (I, J) site weights.
        fit: the estimated model.
        design: its time design.
        sites: optional (I,) mask restricting the totals (e.g. one covariate class).

    Returns:
        ``model``, ``imputed``, ``observed`` (J,) totals and ``var_model``,
        ``var_imputed`` (J × J) covariances.
    """
    observed = np.isfinite(counts)
    sites = np.ones(len(counts), dtype=bool) if sites is None else sites
    every = np.broadcast_to(sites[:, None], counts.shape)
    var_model = model_total_covariance(fit, design, weights, every)
    var_observed_model = model_total_covariance(fit, design, weights, every & observed)
    var_observed = observed_total_covariance(fit, weights, observed, sites)
    in_sites = sites[:, None]
    return {
        "model": np.where(in_sites, weights * fit.mu, 0.0).sum(axis=0),
        "imputed": np.where(in_sites, weights * imputed_counts(counts, fit), 0.0).sum(axis=0),
        "observed": np.where(in_sites & observed, weights * np.nan_to_num(counts), 0.0).sum(0),
        "var_model": var_model,
        "var_imputed": var_model - var_observed_model + var_observed,
    }


def time_index(
    totals: np.ndarray, covariance: np.ndarray, base: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Index ``T_j / mean(T_base)`` and its covariance (J × J) by the delta method.

    Args:
        totals: (J,) time totals.
        covariance: their (J × J) covariance.
        base: 0-based base time indices (usually one).

    Returns:
        (index, covariance of the index); the base time has index 1 and variance 0.
    """
    base = list(base)
    reference = float(np.mean(totals[base]))
    gradient = np.eye(len(totals)) / reference
    gradient[:, base] -= np.outer(totals, np.ones(len(base))) / (reference**2 * len(base))
    cov = gradient @ covariance @ gradient.T
    if len(base) == 1:
        cov[base[0], :] = cov[:, base[0]] = 0.0
    return totals / reference, cov


def linear_trend_and_deviations(gamma: np.ndarray, var_gamma: np.ndarray) -> dict:
    """Model 3 rewritten as a linear trend plus deviations (TRIM manual section 2.4).

    ``gamma`` holds all J time effects (gamma_1 = 0). With ``d_j = j - mean(j)`` and
    ``D = sum d_j^2``: slope ``beta* = sum d_j gamma_j / D`` and deviations
    ``gamma*_j = gamma_j - mean(gamma) - d_j beta*``; covariance ``T V T'``.
    """
    n = len(gamma)
    d = np.arange(1, n + 1) - (n + 1) / 2.0
    transform = np.vstack([d / np.sum(d * d), np.eye(n) - 1.0 / n - np.outer(d, d) / np.sum(d * d)])
    values = transform @ gamma
    cov = transform @ var_gamma @ transform.T
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    return {
        "slope": float(values[0]),
        "slope_se": float(se[0]),
        "deviations": values[1:],
        "deviations_se": se[1:],
        "deviations_cov": cov[1:, 1:],
    }
