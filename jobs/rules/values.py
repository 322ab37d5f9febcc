"""Value rules: numeric range, allowed values, regular expressions, references."""

from __future__ import annotations

from typing import Any

import polars as pl

from jobs.rules.base import (
    RowCheck,
    RuleConfigError,
    RuleEnv,
    as_number,
    as_text_value,
    require,
    rule_check,
)
from jobs.rules.tables import referenced_table


def _text(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.String)


@rule_check("range")
def value_range(frame: pl.DataFrame, rule: dict[str, Any], env: RuleEnv) -> RowCheck:
    """Values are numbers between ``min`` and ``max`` (inclusive); empty values pass."""
    column = rule["column"]
    require(frame, column)
    derived = as_number(frame, column)
    number = derived.col
    low, high = rule.get("min"), rule.get("max")
    failing = number.is_null() | number.is_nan()
    if low is not None:
        failing = failing | (number < low)
    if high is not None:
        failing = failing | (number > high)
    if low is not None and high is not None:
        bounds = f" between {low:g} and {high:g}"
    elif low is not None:
        bounds = f" of at least {low:g}"
    elif high is not None:
        bounds = f" of at most {high:g}"
    else:
        bounds = ""
    what = f"have a {column} that is not a number{bounds}"
    return RowCheck(pl.col(column).is_not_null() & failing, what, derived=(derived,))


@rule_check("allowed_values")
def allowed_values(frame: pl.DataFrame, rule: dict[str, Any], env: RuleEnv) -> RowCheck:
    """Values come from ``values`` or from a vocabulary file's column; empty values pass."""
    column = rule["column"]
    require(frame, column)
    if "values" in rule:
        allowed = pl.Series([as_text_value(value) for value in rule["values"]], dtype=pl.String)
        source = f"{len(allowed)} allowed value(s)"
    elif "vocabulary" in rule:
        vocabulary = rule["vocabulary"]
        allowed = env.vocabulary(vocabulary["source"], vocabulary["column"])
        source = f"the {len(allowed)} values of {vocabulary['source']}:{vocabulary['column']}"
    else:
        raise RuleConfigError("give either 'values' or a 'vocabulary'")
    failing = pl.col(column).is_not_null() & ~_text(column).is_in(allowed.implode())
    return RowCheck(failing, f"have a {column} outside {source}")


@rule_check("pattern")
def pattern(frame: pl.DataFrame, rule: dict[str, Any], env: RuleEnv) -> RowCheck:
    """Whole values match the regular expression; empty values pass."""
    column = rule["column"]
    require(frame, column)
    anchored = f"^(?:{rule['regex']})$"
    try:
        pl.select(pl.lit("").str.contains(anchored))
    except pl.exceptions.PolarsError as exc:
        first = str(exc).strip().splitlines()[0]
        raise RuleConfigError(f"invalid regular expression {rule['regex']!r}: {first}") from None
    failing = pl.col(column).is_not_null() & ~_text(column).str.contains(anchored)
    return RowCheck(failing, f"have a {column} not matching {rule['regex']}")


@rule_check("reference")
def reference(frame: pl.DataFrame, rule: dict[str, Any], env: RuleEnv) -> RowCheck:
    """Values appear in ``ref_column`` of the table ``ref_table``; empty values pass.

    (A rule written before rules named their table gives the other table as ``table``:
    ``jobs.rules.tables.referenced_table``.)
    """
    column, table, ref_column = rule["column"], referenced_table(rule), rule["ref_column"]
    if not table:
        raise RuleConfigError("name the table holding the known values: ref_table")
    require(frame, column)
    if table not in env.tables:
        known = ", ".join(env.tables) or "none"
        raise RuleConfigError(f"no table named {table!r} in this run (tables: {known})")
    other = env.tables[table]
    if ref_column not in other.columns:
        raise RuleConfigError(f"table {table!r} has no column {ref_column!r}")
    known_values = other.get_column(ref_column).cast(pl.String).drop_nulls().unique()
    failing = pl.col(column).is_not_null() & ~_text(column).is_in(known_values.implode())
    return RowCheck(failing, f"have a {column} absent from {table}.{ref_column}")
