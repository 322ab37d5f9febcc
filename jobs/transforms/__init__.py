"""Transforms: plain functions over named polars tables (see ``jobs.steps.transform``).

The expression language of filters, derived columns and rule conditions lives in
``portal.services.expression_language`` (parsing) and ``jobs.transforms.expressions``
(compiling to polars).
"""

from jobs.transforms.aggregate import aggregate
from jobs.transforms.base import TransformError, table_fingerprint
from jobs.transforms.complete import complete
from jobs.transforms.join import join
from jobs.transforms.rows import (
    deduplicate,
    derive,
    exclude_rejected,
    filter_rows,
    select_columns,
    union,
)
from portal.services.expression_language import ExpressionError

__all__ = [
    "ExpressionError",
    "TransformError",
    "aggregate",
    "complete",
    "deduplicate",
    "derive",
    "exclude_rejected",
    "filter_rows",
    "join",
    "select_columns",
    "table_fingerprint",
    "union",
]
