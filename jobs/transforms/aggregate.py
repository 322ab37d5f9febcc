"""``aggregate``: one row per group of key values, with summaries of other columns.

Sums, means, minima and maxima read text columns as numbers and refuse text that is
not a number (with examples) rather than dropping it. A sum over a group whose
values are all missing is missing, not 0: "no count" is not "counted nothing".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from jobs.transforms.base import (
    Log,
    Tables,
    TransformError,
    as_list,
    get_table,
    no_log,
    null_key_counts,
    numeric_column,
    require_columns,
    schema_of,
)

FUNCTIONS = ("sum", "max", "min", "mean", "count", "count_distinct", "first")
NUMERIC = ("sum", "mean")


def _value(frame: pl.LazyFrame, column: str, function: str, table: str) -> pl.Expr:
    dtype = schema_of(frame)[column]
    if function in NUMERIC or (function in ("max", "min") and dtype == pl.String):
        return numeric_column(frame, column, table)
    return pl.col(column)


def _summary(frame: pl.LazyFrame, spec: Mapping[str, Any], table: str) -> pl.Expr:
    function = spec.get("function")
    column = spec.get("column")
    if function not in FUNCTIONS:
        raise TransformError(f"aggregate: unknown function {function!r} "
                             f"(one of {', '.join(FUNCTIONS)})")
    name = spec.get("as") or (f"{function}_{column}" if column else function)
    if column is None:
        if function != "count":
            raise TransformError(f"aggregate {name!r}: {function} needs a column")
        return pl.len().alias(name)
    require_columns(frame, [column], table, f"aggregate {name!r}")
    value = _value(frame, column, function, table)
    if function == "sum":
        expr = pl.when(value.count() > 0).then(value.sum())
    elif function == "count":
        present = value.is_not_null()
        if schema_of(frame)[column] == pl.String:
            present = present & (value.str.strip_chars() != "")
        expr = present.sum()
    elif function == "count_distinct":
        expr = value.drop_nulls().n_unique()
    else:
        expr = getattr(value, function)()
    return expr.alias(name)


def aggregate(tables: Tables, table: str, by: str | Sequence[str],
              aggregations: Sequence[Mapping[str, Any]], log: Log = no_log) -> pl.LazyFrame:
    """Group ``table`` by ``by`` and summarise.

    Args:
        tables: the run's tables.
        table: the table to group.
        by: the key column(s); rows without a key value form their own group
            (the log says how many).
        aggregations: each ``{"column": c, "function": f, "as": name}``; ``f`` is one of
            sum, max, min, mean, count (rows, or values present in ``c``),
            count_distinct, first (in table order). ``as`` defaults to ``f_c``.
        log: receives a line per key column with missing values.

    Returns:
        One row per group, keys first, groups in order of first appearance.

    Raises:
        TransformError: a missing column, an unknown function, duplicate output
            names, or text that is not a number under sum/mean/min/max.
    """
    frame = get_table(tables, table)
    keys = as_list(by)
    if not keys:
        raise TransformError("aggregate: give the key column(s) in 'by'")
    if not aggregations:
        raise TransformError("aggregate: give at least one aggregation")
    require_columns(frame, keys, table, "group key")
    summaries = [_summary(frame, spec, table) for spec in aggregations]
    names = keys + [expr.meta.output_name() for expr in summaries]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise TransformError(f"aggregate: output column(s) {', '.join(map(repr, repeated))} "
                             "named twice: set 'as'")
    for key, count in null_key_counts(frame, keys).items():
        log(f"{count} row(s) of {table!r} have no {key}: grouped together as missing")
    return frame.group_by(keys, maintain_order=True).agg(summaries)
