"""Structural rules: required columns, empty values, uniqueness, row counts."""

from __future__ import annotations

from functools import partial
from typing import Any

import polars as pl

from jobs.rules.base import RowCheck, RuleEnv, TableCheck, empty, require, rule_check
from jobs.rules.repeats import hashable, repeated_rows, repeats_expr


@rule_check("required_columns", scope="table")
def required_columns(frame: pl.DataFrame, rule: dict[str, Any], env: RuleEnv) -> TableCheck:
    """Every listed column exists."""
    missing = [column for column in rule["columns"] if column not in frame.columns]
    if missing:
        return TableCheck(False, f"missing column(s): {', '.join(missing)}")
    return TableCheck(True, f"all {len(rule['columns'])} required column(s) present")


@rule_check("not_null")
def not_null(frame: pl.DataFrame, rule: dict[str, Any], env: RuleEnv) -> RowCheck:
    """The column has a value (not null, not blank) in every row."""
    column = rule["column"]
    require(frame, column)
    return RowCheck(empty(frame, column), f"have no value in {column}")


@rule_check("null_fraction")
def null_fraction(frame: pl.DataFrame, rule: dict[str, Any], env: RuleEnv) -> RowCheck:
    """At most ``max_fraction`` of the rows leave the column empty."""
    column = rule["column"]
    require(frame, column)
    return RowCheck(
        empty(frame, column),
        f"have no value in {column} (at most {rule['max_fraction']:.1%} allowed)",
        max_fraction=float(rule["max_fraction"]),
    )


@rule_check("unique")
def unique(frame: pl.DataFrame, rule: dict[str, Any], env: RuleEnv) -> RowCheck:
    """No two rows share the values of these columns.

    The first row of each group passes and every later repeat fails, so the
    rejection report lists exactly the rows to drop. Empty values compare equal
    (exact duplicate rows are caught), but rows whose key columns are all empty
    are left to ``not_null``.
    """
    columns = list(rule["columns"])
    require(frame, *columns)
    return RowCheck(
        repeats_expr(columns),
        f"repeat an earlier row's {' + '.join(columns)}",
        within_scope=True,
        whole_table=True,
        # The same verdicts from 64-bit key hashes, in a fraction of the memory.
        evaluate=partial(repeated_rows, columns=columns) if hashable(frame, columns) else None,
    )


@rule_check("row_count", scope="table")
def row_count(frame: pl.DataFrame, rule: dict[str, Any], env: RuleEnv) -> TableCheck:
    """The table has at least ``min`` and at most ``max`` rows."""
    rows = frame.height
    low, high = rule.get("min"), rule.get("max")
    if low is not None and rows < low:
        return TableCheck(False, f"{rows} rows, fewer than the minimum {low}")
    if high is not None and rows > high:
        return TableCheck(False, f"{rows} rows, more than the maximum {high}")
    return TableCheck(True, f"{rows} rows")
