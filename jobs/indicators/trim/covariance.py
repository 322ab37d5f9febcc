"""TRIM's working covariance, batched over sites.

For site ``i`` with observed time points ``t_1 < ... < t_n`` TRIM uses (TRIM 3 manual,
section 2.3; Bogaart et al., rtrim methods vignette, eq. for V_i)::

    V_i = sigma^2 D_i^{1/2} R_i D_i^{1/2},   D_i = diag(mu_i),   R_i[k, l] = rho^|t_k - t_l|

with ``sigma^2`` the overdispersion and ``rho`` the lag-one serial correlation.
``R_i`` is the correlation of a first-order Markov chain observed at irregular times,
so its inverse is tridiagonal along the observed time points: with link coefficients
``phi_k = rho^(t_{k+1} - t_k)``,

    Q[k, k]   = [k > 1] / (1 - phi_{k-1}^2) + [k = 1] + [k < n] phi_k^2 / (1 - phi_k^2)
    Q[k, k+1] = -phi_k / (1 - phi_k^2).

That closed form is built for all sites at once and kept as a diagonal plus one link
per consecutive pair of observed time points (:class:`ChainMatrices`), so no per-site
matrix is ever formed or inverted: memory and time are linear in sites × time points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ChainMatrices:
    """Symmetric per-site matrices that are tridiagonal along each site's observed times.

    ``diagonal`` is (I, J); ``link`` holds the entry between an observed time point and
    the next observed one, for the cells ``(rows, cols)`` linked to ``targets``.
    """

    diagonal: np.ndarray
    link: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    targets: np.ndarray

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """``M_i v_i`` for (I, J) vectors."""
        out = self.diagonal * vectors
        r, c, t = self.rows, self.cols, self.targets
        out[r, c] += self.link * vectors[r, t]
        out[r, t] += self.link * vectors[r, c]
        return out

    def scaled(self, scale: np.ndarray, factor: float) -> ChainMatrices:
        """``factor * diag(scale_i) M_i diag(scale_i)``."""
        r, c, t = self.rows, self.cols, self.targets
        return ChainMatrices(
            factor * scale * scale * self.diagonal,
            factor * scale[r, c] * scale[r, t] * self.link, r, c, t,
        )

    def row_sums(self) -> np.ndarray:
        """``M_i 1`` per site: (I, J)."""
        return self.apply(np.ones_like(self.diagonal))

    def summed(self, site_weights: np.ndarray) -> np.ndarray:
        """``sum_i w_i M_i``: a (J, J) matrix."""
        n_times = self.diagonal.shape[1]
        total = np.diag(site_weights @ self.diagonal)
        flat = np.bincount(
            self.cols * n_times + self.targets,
            weights=site_weights[self.rows] * self.link,
            minlength=n_times * n_times,
        ).reshape(n_times, n_times)
        return total + flat + flat.T

    def dense(self) -> np.ndarray:
        """The (I, J, J) matrices (for tests and small problems)."""
        n_sites, n_times = self.diagonal.shape
        out = np.zeros((n_sites, n_times, n_times))
        idx = np.arange(n_times)
        out[:, idx, idx] = self.diagonal
        out[self.rows, self.cols, self.targets] = self.link
        out[self.rows, self.targets, self.cols] = self.link
        return out


def ar1_precision(observed: np.ndarray, rho: float) -> ChainMatrices:
    """Inverse AR(1) correlation among each site's observed time points.

    Args:
        observed: (I, J) mask of counted cells.
        rho: lag-one correlation, |rho| < 1 (0 gives the identity on counted cells).

    Returns:
        ``Q`` with ``Q[i][obs, obs] = inv(R_i)``, zero in missing rows/columns.
    """
    n_sites, n_times = observed.shape
    index = np.arange(n_times)
    position = np.where(observed, index, n_times)
    following = np.minimum.accumulate(position[:, ::-1], axis=1)[:, ::-1]
    following = np.concatenate([following[:, 1:], np.full((n_sites, 1), n_times)], axis=1)
    linked = observed & (following < n_times) & (rho != 0.0)
    rows, cols = np.nonzero(linked)
    targets = following[rows, cols]
    phi = np.power(rho, (targets - cols).astype(float))
    scale = 1.0 / (1.0 - phi * phi)
    diagonal = observed.astype(float)
    diagonal[rows, cols] += phi * phi * scale
    diagonal[rows, targets] += scale - 1.0
    return ChainMatrices(diagonal, -phi * scale, rows, cols, targets)


@dataclass
class WorkingCovariance:
    """``V_i`` for every site, held as ``sigma^2``, ``sqrt(mu)`` and the precision of R."""

    sqrt_mu: np.ndarray
    observed: np.ndarray
    sig2: float
    precision: ChainMatrices

    @classmethod
    def at(
        cls, mu: np.ndarray, observed: np.ndarray, sig2: float, rho: float
    ) -> WorkingCovariance:
        """The covariance at expected counts ``mu`` with correlation ``rho``."""
        return cls(np.sqrt(np.where(observed, mu, 0.0)), observed, sig2,
                   ar1_precision(observed, rho))

    def solve(self, vectors: np.ndarray) -> np.ndarray:
        """``V_i^{-1} v_i`` for (I, J) vectors (zero at missing cells)."""
        safe = np.where(self.observed, self.sqrt_mu, 1.0)
        scaled = self.precision.apply(np.where(self.observed, vectors, 0.0) / safe)
        return np.where(self.observed, scaled / safe, 0.0) / self.sig2

    def omega(self) -> ChainMatrices:
        """``Omega_i = D_i V_i^{-1} D_i = D_i^1/2 R_i^-1 D_i^1/2 / sigma^2`` for every site."""
        return self.precision.scaled(self.sqrt_mu, 1.0 / self.sig2)

    def correlation_sandwich(self, scale: np.ndarray, rho: float) -> np.ndarray:
        """``sum_i sigma^2 S_i R S_i`` over sites, ``S_i = diag(sqrt(scale_i))``: (J, J).

        Used for the variance of observed counts in time totals (``scale = w^2 mu``,
        zero where not counted); ``R`` is the full AR(1) matrix.
        """
        root = np.sqrt(scale)
        n_times = scale.shape[1]
        lags = np.abs(np.subtract.outer(np.arange(n_times), np.arange(n_times)))
        corr = np.power(rho, lags) if rho != 0.0 else np.eye(n_times)
        return self.sig2 * (root.T @ root) * corr
