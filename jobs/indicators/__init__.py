"""Biodiversity indicators as pure functions over polars DataFrames.

Each function takes a table and column names (None: the Darwin Core default) and
returns an :class:`IndicatorResult`; the ``compute.*`` steps wrap them.
"""

from jobs.indicators.columns import DEFAULTS, ROLES, ColumnError, prepare, resolve_columns
from jobs.indicators.measures import IndicatorResult, abundance, occupancy, species_richness
from jobs.indicators.trend import t_cdf, t_quantile, trend

__all__ = [
    "DEFAULTS",
    "ROLES",
    "ColumnError",
    "IndicatorResult",
    "abundance",
    "occupancy",
    "prepare",
    "resolve_columns",
    "species_richness",
    "t_cdf",
    "t_quantile",
    "trend",
]
