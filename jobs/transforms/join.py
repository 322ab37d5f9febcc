"""``join``: combine two tables on keys, with the declared cardinality checked.

A steward declares what the keys mean — ``many_to_one`` (each occurrence belongs to
one event), ``one_to_one``, ``one_to_many`` or ``many_to_many`` — and the join
refuses data that contradicts it: a duplicated event id would silently repeat every
occurrence of that event (fan-out) and inflate every count computed after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import polars as pl

from jobs.transforms.base import (
    Log,
    Tables,
    TransformError,
    as_list,
    describe_kind,
    get_table,
    key_examples,
    no_log,
    null_key_counts,
    require_columns,
    schema_of,
)

Cardinality = Literal["one_to_one", "many_to_one", "one_to_many", "many_to_many"]
CARDINALITIES = ("one_to_one", "many_to_one", "one_to_many", "many_to_many")
MATCHED = "__matched__"


def duplicated_keys(frame: pl.LazyFrame, keys: Sequence[str]) -> pl.DataFrame:
    """Key values held by more than one row (null keys excluded), most repeated first."""
    return (
        frame.select(keys).drop_nulls()
        .group_by(keys).agg(pl.len().alias("rows"))
        .filter(pl.col("rows") > 1)
        .sort(["rows", *keys], descending=[True, *([False] * len(keys))])
        .collect()
    )


def _check_unique(side: pl.LazyFrame, side_keys: list[str], side_name: str,
                  other: pl.LazyFrame, other_keys: list[str], other_name: str,
                  cardinality: str) -> None:
    duplicates = duplicated_keys(side, side_keys)
    if duplicates.is_empty():
        return
    repeated = (
        other.join(duplicates.lazy().select(side_keys), left_on=other_keys, right_on=side_keys,
                   how="semi")
        .select(pl.len()).collect().item()
    )
    keys = ", ".join(side_keys)
    raise TransformError(
        f"join declared {cardinality}, but table {side_name!r} has {duplicates.height} value(s) "
        f"of {keys} on more than one row ({int(duplicates['rows'].sum())} rows; e.g. "
        f"{'; '.join(key_examples(duplicates, side_keys))}): {repeated} row(s) of "
        f"{other_name!r} would be repeated. Remove the duplicates (transform.deduplicate) "
        "or declare the cardinality the data has."
    )


def join(
    tables: Tables,
    left: str,
    right: str,
    on: str | Sequence[str],
    right_on: str | Sequence[str] | None = None,
    how: Literal["inner", "left"] = "inner",
    cardinality: Cardinality = "many_to_one",
    log: Log = no_log,
) -> pl.DataFrame:
    """Join ``right`` onto ``left`` by key columns and check the declared cardinality.

    Args:
        tables: the run's tables.
        left, right: table names.
        on: the key column(s) of ``left`` (and of ``right`` unless ``right_on``).
        right_on: the key column(s) of ``right`` when they are named differently.
        how: ``inner`` keeps matched rows; ``left`` keeps every left row.
        cardinality: what the keys mean; ``many_to_one`` requires unique keys on the
            right, ``one_to_many`` on the left, ``one_to_one`` on both.
        log: receives lines about null keys, unmatched rows and renamed columns.

    Returns:
        The joined table: left columns, then the right's non-key columns (a name
        both tables use gets ``_<right>`` on the right's copy), left row order.

    Raises:
        TransformError: a missing key column, key types that differ, or keys that
            contradict the cardinality (with counts and examples).
    """
    if how not in ("inner", "left"):
        raise TransformError(f"join: how must be 'inner' or 'left', not {how!r}")
    if cardinality not in CARDINALITIES:
        raise TransformError(f"join: cardinality must be one of {', '.join(CARDINALITIES)}")
    left_keys, right_keys = as_list(on), as_list(right_on) or as_list(on)
    if not left_keys or len(left_keys) != len(right_keys):
        raise TransformError("join: give as many right_on keys as on keys")
    lhs, rhs = get_table(tables, left), get_table(tables, right)
    require_columns(lhs, left_keys, left, "join key")
    require_columns(rhs, right_keys, right, "join key")
    left_schema, right_schema = schema_of(lhs), schema_of(rhs)
    for lkey, rkey in zip(left_keys, right_keys, strict=True):
        if left_schema[lkey] != right_schema[rkey]:
            raise TransformError(
                f"join key {lkey!r} is {describe_kind(left_schema[lkey])} in {left!r} but "
                f"{rkey!r} is {describe_kind(right_schema[rkey])} in {right!r}: make them the "
                "same type first (transform.derive, e.g. text(...) or integer(...))")

    for name, frame, keys in ((left, lhs, left_keys), (right, rhs, right_keys)):
        for key, count in null_key_counts(frame, keys).items():
            log(f"{count} row(s) of {name!r} have no {key}: they match nothing")
    if cardinality in ("many_to_one", "one_to_one"):
        _check_unique(rhs, right_keys, right, lhs, left_keys, left, cardinality)
    if cardinality in ("one_to_many", "one_to_one"):
        _check_unique(lhs, left_keys, left, rhs, right_keys, right, cardinality)

    clashes = [c for c in right_schema if c in left_schema and c not in right_keys]
    if clashes:
        log(f"columns in both tables, right copy renamed: "
            f"{', '.join(f'{c} -> {c}_{right}' for c in clashes)}")
    marked = rhs.with_columns(pl.lit(True).alias(MATCHED)) if how == "left" else rhs
    joined = lhs.join(marked, left_on=left_keys, right_on=right_keys, how=how,
                      suffix=f"_{right}", coalesce=True, maintain_order="left").collect()
    if how == "left":
        unmatched = joined.get_column(MATCHED).null_count()
        joined = joined.drop(MATCHED)
        log(f"{unmatched} row(s) of {left!r} found no match in {right!r} (kept, right "
            "columns empty)")
    elif cardinality in ("many_to_one", "one_to_one"):
        dropped = tables[left].lazy().select(pl.len()).collect().item() - joined.height
        log(f"{dropped} row(s) of {left!r} found no match in {right!r} (dropped)")
    return joined
