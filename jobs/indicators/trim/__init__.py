"""TRIM — TRends and Indices for Monitoring data, in numpy and scipy.

The log-linear Poisson model with site and time effects of Pannekoek & van Strien
(TRIM 3 manual, Statistics Netherlands, 2005), estimated by generalised estimating
equations with optional overdispersion and AR(1) serial correlation, as the field's
index and trend method (PECBMS, eBMS, national bird and butterfly schemes). Its
figures equal TRIM 3.61/3.70's printed output on the skylark cases kept in
``tests/indicators/trim_cases`` (see the tests there).

Use :func:`from_long` or :func:`from_matrix` to build the input and :func:`trim` to fit.
"""

from jobs.indicators.trim.api import trim
from jobs.indicators.trim.data import InsufficientData, TrimData, from_long, from_matrix
from jobs.indicators.trim.results import Coefficient, DataSummary, TimeSeries, TrimResult

__all__ = [
    "Coefficient",
    "DataSummary",
    "InsufficientData",
    "TimeSeries",
    "TrimData",
    "TrimResult",
    "from_long",
    "from_matrix",
    "trim",
]
