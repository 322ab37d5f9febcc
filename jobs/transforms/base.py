"""What every transform shares: named tables, errors that name the table and column.

A transform is a plain function over named polars tables (``Tables``: name ->
DataFrame or LazyFrame). It returns a LazyFrame when its plan can stay lazy, or a
DataFrame when it had to look at the data (a join's cardinality check); the step
wrapper (``jobs.steps.transform``) collects once.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import polars as pl

from jobs.transforms.expressions import kind_of

Frame = pl.DataFrame | pl.LazyFrame
Tables = Mapping[str, Frame]
Log = Callable[[str], None]
EXAMPLES = 5


class TransformError(ValueError):
    """A transform cannot be applied; the message names the table, column or value."""


def no_log(message: str) -> None:
    """The default ``log``: discard the line."""


def get_table(tables: Tables, name: str) -> pl.LazyFrame:
    """The named table as a LazyFrame; TransformError lists the tables that exist."""
    if name not in tables:
        known = ", ".join(sorted(tables)) or "none"
        raise TransformError(f"no table named {name!r} (tables: {known})")
    return tables[name].lazy()


def schema_of(frame: Frame) -> pl.Schema:
    """The frame's schema without reading its rows."""
    return frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema


def require_columns(frame: Frame, columns: Sequence[str], table: str, role: str = "") -> None:
    """Raise TransformError naming the columns ``table`` does not have."""
    schema = schema_of(frame)
    missing = [column for column in columns if column not in schema]
    if missing:
        shown = ", ".join(list(schema)[:15]) + (", ..." if len(schema) > 15 else "")
        what = f" ({role})" if role else ""
        raise TransformError(
            f"table {table!r} has no column {', '.join(map(repr, missing))}{what} "
            f"(columns: {shown})"
        )


def as_list(value: str | Sequence[str] | None) -> list[str]:
    """A column name or a list of them, as a list."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def describe_kind(dtype: pl.DataType) -> str:
    """How a dtype is named in messages: text, number, date..."""
    kind = kind_of(dtype)
    return {"number": f"number ({dtype})", "other": str(dtype)}.get(kind, kind)


def null_key_counts(frame: pl.DataFrame | pl.LazyFrame, keys: Sequence[str]) -> dict[str, int]:
    """How many rows have no value in each key column (only the keys with some)."""
    counts = frame.lazy().select(pl.col(key).is_null().sum() for key in keys).collect()
    return {key: int(value) for key, value in counts.row(0, named=True).items() if value}


def key_examples(frame: pl.DataFrame, keys: Sequence[str], count_column: str = "rows"
                 ) -> list[str]:
    """Up to five ``key=value, ... (×n)`` descriptions from a frame of keys and counts."""
    shown = []
    for row in frame.head(EXAMPLES).iter_rows(named=True):
        key = ", ".join(f"{k}={row[k]!r}" for k in keys)
        shown.append(f"{key} (×{row[count_column]})" if count_column in row else key)
    return shown


def numeric_column(frame: pl.LazyFrame, column: str, table: str) -> pl.Expr:
    """``column`` as a number, refusing text that is not a number.

    Text columns (every ingested column) are read as numbers; blank text is
    missing. When a non-blank value is not a number, TransformError gives how many
    and examples, instead of silently treating them as missing.
    """
    dtype = schema_of(frame)[column]
    if dtype.is_numeric():
        return pl.col(column)
    if dtype != pl.String:
        raise TransformError(f"column {column!r} of table {table!r} is "
                             f"{describe_kind(dtype)}, not a number")
    text = pl.col(column).str.strip_chars()
    number = text.cast(pl.Float64, strict=False)
    bad = frame.filter(number.is_null() & text.is_not_null() & (text != "")).select(column)
    problems = bad.select(pl.len().alias("n"), pl.col(column).unique().head(EXAMPLES)
                          .implode().alias("values")).collect()
    if problems["n"][0]:
        raise TransformError(
            f"column {column!r} of table {table!r}: {problems['n'][0]} value(s) are not "
            f"numbers (e.g. {', '.join(map(repr, problems['values'][0]))}); "
            "fix them or turn them into numbers with transform.derive (number(...))"
        )
    return number


_FINGERPRINTS: dict[int, tuple[weakref.ref, str]] = {}


def table_fingerprint(frame: pl.DataFrame) -> str:
    """sha256 of a table's schema and rows, in order (fast: polars row hashes).

    Equal tables give equal fingerprints with the same polars version (the row hash
    is polars' own; ``code_version`` in lineage records the version). A frame is
    hashed once: the next step reading it reuses its fingerprint (frames are immutable).
    """
    cached = _FINGERPRINTS.get(id(frame))
    if cached is not None and cached[0]() is frame:
        return cached[1]
    digest = hashlib.sha256(repr(list(frame.schema.items())).encode())
    digest.update(str(frame.height).encode())
    if frame.height and frame.width:
        digest.update(frame.hash_rows(seed=0).to_numpy().tobytes())
    key = id(frame)
    _FINGERPRINTS[key] = (weakref.ref(frame, lambda _: _FINGERPRINTS.pop(key, None)),
                          digest.hexdigest())
    return _FINGERPRINTS[key][1]


def describe(value: Any) -> str:
    """A short, quoted form of a parameter value for messages."""
    return repr(value) if not isinstance(value, list) else ", ".join(map(repr, value))
