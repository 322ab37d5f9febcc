"""Stepwise selection of model 2 changepoints (TRIM 3 manual, section 2.5).

Starting from all proposed changepoints, TRIM alternates:

1. remove the changepoint whose Wald test for a change in slope is least significant,
   if its p exceeds ``p_remove`` (0.20), and refit;
2. for every removed changepoint, a score test (Rao) of re-inserting it at the current
   estimates: ``S = U' (-i_b)^-1 U`` with ``U`` and ``i_b`` evaluated for the model with
   that changepoint added and its new slope equal to the neighbouring one (so the
   fitted counts are unchanged); re-insert the most significant one if its p is below
   ``p_enter`` (0.15), and refit;

until neither step changes the set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from jobs.indicators.trim.covariance import WorkingCovariance
from jobs.indicators.trim.design import Design, make_design
from jobs.indicators.trim.estimation import Fit
from jobs.indicators.trim.wald import slope_tests


@dataclass
class StepwiseStep:
    """One step of the selection: a changepoint removed or re-inserted, and its p."""

    action: str
    changepoint: object
    p: float


def _expanded_beta(design: Design, beta: np.ndarray, active: list[int], candidate: int):
    """Current slopes with a copy for ``candidate`` so that the fitted counts do not change."""
    blocks = design.blocks.shape[1]
    per_block = beta.reshape(blocks, len(active))
    before = sum(cp < candidate for cp in active)
    copy = per_block[:, before - 1 : before] if before else np.zeros((blocks, 1))
    return np.concatenate([per_block[:, :before], copy, per_block[:, before:]], axis=1)


def score_p(data, fit: Fit, design: Design, active: list[int], candidate: int) -> float:
    """p of the score test for adding ``candidate`` (0-based) to the ``active`` changepoints."""
    trial = sorted(active + [candidate])
    trial_design = make_design(
        2, data.counts.shape[1], trial, data.covariates, data.covariate_levels, len(data.counts)
    )
    beta = _expanded_beta(design, fit.beta, active, candidate).reshape(-1)
    observed = np.isfinite(data.counts)
    mu = np.exp(fit.alpha[:, None] + trial_design.linear_predictor(beta)) / data.weights
    cov = WorkingCovariance.at(mu, observed, fit.sig2, fit.rho)
    omega = cov.omega()
    om = omega.row_sums()
    info = trial_design.cross(omega) - trial_design.outer(om, 1.0 / om.sum(axis=1))
    resid = np.where(observed, data.counts, 0.0) - np.where(observed, mu, 0.0)
    score = trial_design.project(mu * cov.solve(resid))
    statistic = float(score @ np.linalg.solve(info, score))
    return float(stats.chi2.sf(statistic, design.blocks.shape[1]))


def select_changepoints(
    data,
    changepoints: list[int],
    refit: Callable[[list[int]], tuple[Fit, Design]],
    *,
    p_remove: float = 0.2,
    p_enter: float = 0.15,
    max_steps: int = 100,
) -> tuple[Fit, Design, list[StepwiseStep]]:
    """Run TRIM's stepwise changepoint selection.

    Args:
        data: the :class:`~jobs.indicators.trim.data.TrimData` being fitted.
        changepoints: proposed changepoints (0-based time indices).
        refit: fits model 2 with the given changepoints, returning (fit, design).
        p_remove / p_enter: TRIM's thresholds for removal and re-insertion.

    Returns:
        The final fit and design and the list of steps taken.
    """
    times = data.time_points
    active = sorted(changepoints)
    fit, design = refit(active)
    history: list[StepwiseStep] = []
    for _ in range(max_steps):
        changed = False
        if active:
            tests = slope_tests(design, fit.beta, fit.var_beta, times)
            worst = int(np.argmax([t.p for t in tests]))
            if tests[worst].p > p_remove:
                history.append(StepwiseStep("removed", times[active[worst]], tests[worst].p))
                active = active[:worst] + active[worst + 1 :]
                fit, design = refit(active)
                changed = True
        removed = [cp for cp in changepoints if cp not in active]
        if removed and active:
            scores = [score_p(data, fit, design, active, cp) for cp in removed]
            best = int(np.argmin(scores))
            if scores[best] < p_enter:
                history.append(StepwiseStep("re-inserted", times[removed[best]], scores[best]))
                active = sorted(active + [removed[best]])
                fit, design = refit(active)
                changed = True
        if not changed:
            break
    return fit, design, history
