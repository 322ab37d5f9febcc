"""Row and column transforms: filter, exclude_rejected, derive, deduplicate, select,
rename, union. Each stays lazy: nothing is read until the step collects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import polars as pl

from jobs.transforms.base import (
    Log,
    Tables,
    TransformError,
    as_list,
    describe_kind,
    get_table,
    no_log,
    require_columns,
    schema_of,
)
from jobs.transforms.expressions import compile_condition, compile_expression
from portal.services.expression_language import ExpressionError

#: Columns of a validate step's ``<table>.rejected`` table (see ``exclude_rejected``).
ROW_COLUMN = "_row"
RULE_IDS_COLUMN = "_rule_ids"


def filter_rows(tables: Tables, table: str, condition: str) -> pl.LazyFrame:
    """Keep the rows of ``table`` where ``condition`` is true (null counts as false).

    Args:
        tables: the run's tables.
        table: the table to filter.
        condition: an expression of ``portal.services.expression_language``, e.g.
            ``"flag is null or flag not in (6, 9, 10)"``.

    Raises:
        TransformError: the condition does not parse, names an unknown column or
            mixes types (the message says which).
    """
    frame = get_table(tables, table)
    try:
        predicate = compile_condition(condition, schema_of(frame))
    except ExpressionError as exc:
        raise TransformError(f"condition on table {table!r}: {exc}") from None
    return frame.filter(predicate)


def exclude_rejected(
    tables: Tables,
    table: str,
    rejected: pl.DataFrame,
    rule_severities: Mapping[str, str],
    rules: Sequence[str] | None = None,
    severities: Sequence[str] = ("warning",),
    log: Log = no_log,
) -> pl.LazyFrame:
    """Drop the rows of ``table`` that failed rules in an earlier validation.

    Args:
        tables: the run's tables.
        table: the validated table (unchanged since the validation).
        rejected: the validation's rejected rows: ``_row`` (position in the table)
            and ``_rule_ids`` (";"-joined ids of the rules the row failed).
        rule_severities: rule id -> severity, from the programme's rule set.
        rules: drop rows failing any of these rule ids; when None, rows failing
            any rule whose severity is in ``severities``.
        severities: severities whose failures are dropped when ``rules`` is None.
        log: receives one line saying how many rows were dropped and why.

    Raises:
        TransformError: an unknown rule id, or the validation does not match the table.
    """
    frame = get_table(tables, table)
    if rules is not None:
        unknown = [rule for rule in rules if rule not in rule_severities]
        if unknown:
            raise TransformError(f"no rule with id {', '.join(map(repr, unknown))} in the "
                                 f"rule set (ids: {', '.join(sorted(rule_severities))})")
        chosen = set(rules)
    else:
        chosen = {rule for rule, severity in rule_severities.items() if severity in severities}
    height = frame.select(pl.len()).collect().item()
    if rejected.height and rejected.get_column(ROW_COLUMN).max() >= height:
        raise TransformError(f"the validation of {table!r} does not match the table any more "
                             f"({height} rows): validate it again before excluding rows")
    failed_ids = rejected.get_column(RULE_IDS_COLUMN).str.split(";")
    hit = failed_ids.list.eval(pl.element().is_in(sorted(chosen))).list.any()
    positions = rejected.filter(hit).get_column(ROW_COLUMN).cast(pl.UInt32)
    log(f"dropped {positions.len()} row(s) of {table!r} that failed "
        f"{'rule(s) ' + ', '.join(sorted(chosen)) if chosen else 'no selected rule'}")
    index = "__row_position__"
    while index in schema_of(frame):
        index += "_"
    return (frame.with_row_index(index).filter(~pl.col(index).is_in(positions.implode()))
            .drop(index))


def derive(tables: Tables, table: str, columns: Mapping[str, str]) -> pl.LazyFrame:
    """Add or replace columns computed by expressions (in order; later ones see earlier).

    Args:
        tables: the run's tables.
        table: the table to extend.
        columns: new column name -> expression, e.g. ``{"year": "year(eventDate)"}``.

    Raises:
        TransformError: naming the column whose expression is wrong and why.
    """
    frame = get_table(tables, table)
    if not columns:
        raise TransformError("derive: no columns to compute")
    for name, text in columns.items():
        try:
            typed = compile_expression(text, schema_of(frame))
        except ExpressionError as exc:
            raise TransformError(f"derive {name!r} on table {table!r}: {exc}") from None
        frame = frame.with_columns(typed.expr.alias(name))
    return frame


def deduplicate(tables: Tables, table: str, keys: Sequence[str] | None = None,
                keep: Literal["first", "last"] = "first") -> pl.LazyFrame:
    """Keep one row per key (the first or last in table order); all columns when no keys."""
    frame = get_table(tables, table)
    subset = as_list(keys) or None
    if subset:
        require_columns(frame, subset, table, "deduplicate key")
    return frame.unique(subset=subset, keep=keep, maintain_order=True)


def select_columns(tables: Tables, table: str, columns: Sequence[str] | None = None,
                   rename: Mapping[str, str] | None = None) -> pl.LazyFrame:
    """Keep ``columns`` (in that order; all when None) and rename ``old -> new``."""
    frame = get_table(tables, table)
    if columns:
        require_columns(frame, columns, table)
        frame = frame.select(columns)
    if rename:
        require_columns(frame, list(rename), table, "to rename")
        kept = [c for c in schema_of(frame) if c not in rename]
        clashes = sorted(set(kept) & set(rename.values()))
        if clashes:
            raise TransformError(f"rename on table {table!r}: column(s) "
                                 f"{', '.join(map(repr, clashes))} already exist")
        frame = frame.rename(dict(rename))
    return frame


def union(tables: Tables, names: Sequence[str], log: Log = no_log) -> pl.LazyFrame:
    """Stack tables with the same columns (in any order; the first table's order is kept).

    Raises:
        TransformError: a table lacks or adds columns, or a column's type differs.
    """
    if len(names) < 2:
        raise TransformError("union needs at least two tables")
    frames = [get_table(tables, name) for name in names]
    first = schema_of(frames[0])
    aligned = [frames[0]]
    for name, frame in zip(names[1:], frames[1:], strict=True):
        schema = schema_of(frame)
        missing = [c for c in first if c not in schema]
        extra = [c for c in schema if c not in first]
        if missing or extra:
            parts = [f"lacks {', '.join(map(repr, missing))}" if missing else "",
                     f"adds {', '.join(map(repr, extra))}" if extra else ""]
            raise TransformError(f"union: table {name!r} {' and '.join(p for p in parts if p)} "
                                 f"compared with {names[0]!r}")
        for column, dtype in first.items():
            if schema[column] != dtype:
                raise TransformError(
                    f"union: column {column!r} is {describe_kind(dtype)} in {names[0]!r} but "
                    f"{describe_kind(schema[column])} in {name!r}")
        aligned.append(frame.select(list(first)))
    log(f"stacked {len(names)} tables: {', '.join(names)}")
    return pl.concat(aligned, how="vertical")
