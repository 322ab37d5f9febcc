"""Plain result objects of a TRIM fit: every figure TRIM prints, as numbers.

Arrays are numpy arrays over time points (length J) unless said otherwise; a taxon that
could not be fitted has ``status`` "insufficient" or "failed" and a ``reason``, and a fit
that ran out of iterations has ``converged`` False — none of these raise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from jobs.indicators.trim.overall import Slope
from jobs.indicators.trim.stepwise import StepwiseStep
from jobs.indicators.trim.wald import GoodnessOfFit, WaldTest


@dataclass
class Coefficient:
    """One time parameter: additive (log scale) and multiplicative, with SEs.

    ``block`` is "baseline" or "<covariate>=<class>"; model 3 rows have ``time``,
    model 2 rows ``start``/``end`` (the interval the slope applies to).
    """

    block: str
    time: object
    start: object
    end: object
    additive: float
    se_additive: float
    multiplicative: float
    se_multiplicative: float


@dataclass
class TimeSeries:
    """Totals or indices per time point, model-based and imputed, with standard errors."""

    time: list
    model: np.ndarray
    se_model: np.ndarray
    imputed: np.ndarray
    se_imputed: np.ndarray
    observed: np.ndarray | None = None
    cov_model: np.ndarray | None = None
    cov_imputed: np.ndarray | None = None


@dataclass
class DataSummary:
    """What went into the fit (TRIM's data report)."""

    n_sites: int
    n_times: int
    n_observed: int
    n_zero: int
    n_positive: int
    n_missing: int
    total_count: float
    removed_sites: list


@dataclass
class TrimResult:
    """Everything a TRIM run reports for one taxon.

    Attributes:
        status: "ok", "insufficient" (TRIM's data rules) or "failed" (not estimable).
        reason: why not "ok" (None when ok).
        converged / iterations / method: the estimation ("ML" or "GEE").
        overdispersion / serial_correlation: sigma^2 and rho (None when not estimated).
        changepoints: final model 2 changepoints (time labels); stepwise: selection steps.
        coefficients: time parameters; linear_trend / deviations: model 3 rewritten.
        totals / indices: time totals and indices (base ``base_time``), model and imputed.
        slopes: overall slopes by variant ("imputed" is TRIM's recommended one).
        gof: goodness of fit; wald: Wald tests.
        covariate_totals: (covariate, class) -> totals of that class's sites.
    """

    status: str
    reason: str | None
    model: int
    data: DataSummary
    detail: dict = field(default_factory=dict)
    converged: bool = False
    iterations: int = 0
    method: str | None = None
    overdispersion: float | None = None
    serial_correlation: float | None = None
    changepoints: list = field(default_factory=list)
    stepwise: list[StepwiseStep] = field(default_factory=list)
    coefficients: list[Coefficient] = field(default_factory=list)
    linear_trend: Coefficient | None = None
    deviations: list[Coefficient] = field(default_factory=list)
    var_beta: np.ndarray | None = None
    base_time: object = None
    totals: TimeSeries | None = None
    indices: TimeSeries | None = None
    slopes: dict[str, Slope | list[Slope]] = field(default_factory=dict)
    gof: GoodnessOfFit | None = None
    wald: list[WaldTest] = field(default_factory=list)
    covariate_totals: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the model was fitted (it may still not have converged)."""
        return self.status == "ok"

    @property
    def verdict(self) -> str | None:
        """TRIM's trend class of the recommended overall slope (imputed, with intercept)."""
        slope = self.slopes.get("imputed")
        return slope.verdict if isinstance(slope, Slope) else None
