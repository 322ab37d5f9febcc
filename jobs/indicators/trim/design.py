"""Design of TRIM's time effects: the matrix B of ``log mu = alpha_i + B_i beta``.

Models (TRIM 3 manual, chapter 2; Bogaart et al., rtrim methods vignette, section 2):

* model 1, no time effects: ``log mu_ij = alpha_i`` (B has no columns);
* model 2, linear trend with changepoints ``c_1 < ... < c_k``: one slope per segment,
  ``B[j, k] = clip(j - c_k, 0, c_{k+1} - c_k)``, so the log-expected count is piecewise
  linear in time, flat before the first changepoint (changepoint at the first time
  point gives the ordinary linear trend);
* model 3, a parameter per time point: ``B = I_J`` without its first column, so
  ``gamma_1 = 0`` and ``gamma_j`` is the log ratio of time ``j`` to time 1.

Categorical covariates (constant per site) add, per class other than the first, a copy
of B that is active only at the sites of that class: ``B_i = [B0, c_i2 B0, c_i3 B0, ...]``.
The per-site indicator matrix ``C`` (sites × blocks) carries that structure, so no
per-site B is ever materialised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Design:
    """Time design of one model.

    Attributes:
        base: (J, p0) baseline design B0.
        blocks: (I, K) 0/1 indicator: block 0 is every site, block k a covariate class.
        block_labels: (covariate name, class label) per block; block 0 is ("baseline", None).
        model: 1, 2 or 3.
        changepoints: 0-based changepoint time indices (model 2).
    """

    base: np.ndarray
    blocks: np.ndarray
    block_labels: list
    model: int
    changepoints: tuple[int, ...]

    @property
    def n_base(self) -> int:
        """Parameters per block (p0)."""
        return self.base.shape[1]

    @property
    def n_beta(self) -> int:
        """Total number of time parameters."""
        return self.base.shape[1] * self.blocks.shape[1]

    def linear_predictor(self, beta: np.ndarray) -> np.ndarray:
        """(I, J) values of ``B_i beta`` for every site."""
        per_block = self.base @ beta.reshape(self.blocks.shape[1], self.n_base).T  # (J, K)
        return self.blocks @ per_block.T

    def project(self, site_vectors: np.ndarray) -> np.ndarray:
        """``sum_i B_i' v_i`` for (I, J) site vectors ``v``: a (n_beta,) vector."""
        per_block = site_vectors.T @ self.blocks  # (J, K)
        return (self.base.T @ per_block).T.reshape(-1)

    def cross(self, site_matrices) -> np.ndarray:
        """``sum_i B_i' M_i B_i`` for per-site :class:`ChainMatrices`: (n_beta, n_beta)."""
        k = self.blocks.shape[1]
        inner = np.zeros((k, self.n_base, k, self.n_base))
        for a in range(k):
            for b in range(a, k):
                summed = site_matrices.summed(self.blocks[:, a] * self.blocks[:, b])
                inner[a, :, b, :] = self.base.T @ summed @ self.base
                inner[b, :, a, :] = inner[a, :, b, :].T
        return inner.reshape(self.n_beta, self.n_beta)

    def outer(self, site_vectors: np.ndarray, site_scale: np.ndarray) -> np.ndarray:
        """``sum_i s_i (B_i' v_i)(B_i' v_i)'`` for (I, J) vectors and (I,) scales."""
        projected = site_vectors @ self.base  # (I, p0)
        full = (self.blocks[:, :, None] * projected[:, None, :]).reshape(len(site_vectors), -1)
        return (full * site_scale[:, None]).T @ full

    def per_site(self, site_vectors: np.ndarray) -> np.ndarray:
        """(I, n_beta) rows ``B_i' v_i`` for (I, J) site vectors."""
        projected = site_vectors @ self.base
        return (self.blocks[:, :, None] * projected[:, None, :]).reshape(len(site_vectors), -1)

    def weighted_rows(self, site_weights: np.ndarray) -> np.ndarray:
        """``H[j, :] = sum_i w_ij B_i[j, :]``: (J, n_beta)."""
        per_block = site_weights.T @ self.blocks  # (J, K)
        return (per_block[:, :, None] * self.base[:, None, :]).reshape(len(self.base), -1)


def base_matrix(model: int, n_times: int, changepoints: Sequence[int] = ()) -> np.ndarray:
    """The baseline design B0 (J × p0) of model 1, 2 or 3 (changepoints 0-based)."""
    if model == 1:
        return np.zeros((n_times, 0))
    if model == 3:
        return np.eye(n_times)[:, 1:]
    cps = list(changepoints)
    ends = cps[1:] + [n_times - 1]
    j = np.arange(n_times)[:, None]
    start, stop = np.array(cps)[None, :], np.array(ends)[None, :]
    return np.clip(j - start, 0, stop - start).astype(float)


def make_design(
    model: int,
    n_times: int,
    changepoints: Sequence[int],
    covariates: dict[str, np.ndarray],
    covariate_levels: dict[str, list],
    n_sites: int,
) -> Design:
    """Assemble the :class:`Design` for a model, its changepoints and site covariates."""
    base = base_matrix(model, n_times, changepoints)
    columns, labels = [np.ones(n_sites)], [("baseline", None)]
    for name, codes in covariates.items():
        for k in range(1, len(covariate_levels[name])):
            columns.append((codes == k).astype(float))
            labels.append((name, covariate_levels[name][k]))
    return Design(base, np.column_stack(columns), labels, model, tuple(changepoints))
