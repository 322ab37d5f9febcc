"""Which columns an indicator reads, and turning string columns into typed values.

Ingest hands over all-string tables. Each indicator needs up to four roles — taxon,
site, period and count — whose defaults are Darwin Core terms; a step's params can
name other columns (e.g. the Portal ant census: species, plot, year, colonies).

Values are cast with ``strict=False``; a row whose value cannot be used is dropped
and counted under a reason, so the step can report what it left out.

How counts are read is part of each indicator's definition (``COUNT_POLICIES``):

- ``missing_count``: what a row without a count means — ``one`` (a record counts 1,
  the reading of presence-only data), ``skip`` (left out, counted) or ``error`` (the
  step fails naming the rows);
- ``invalid_count``: a count that is not a number, or is negative — ``skip`` (left
  out, counted) or ``error``;
- surveyed: when the table has a ``surveyed`` column (``transform.complete``'s grid),
  only its surveyed rows are read: an unsurveyed cell is "not looked", never a record.
  Without it, a site/period counts as surveyed when it has any record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

ROLES = ("taxon", "site", "period", "count")

# Darwin Core terms tried in order; the first present column holding any value wins.
DEFAULTS: dict[str, tuple[str, ...]] = {
    "taxon": ("scientificName",),
    "site": ("locationID", "locality"),
    "period": ("year", "eventDate"),
    "count": ("individualCount", "organismQuantity"),
}
DATE_COLUMN = "eventDate"

# Internal names used while computing; outputs get the source names back.
TAXON, SITE, PERIOD, COUNT = "_taxon", "_site", "_period", "_count"

#: The column of ``transform.complete`` saying whether a site/period was surveyed.
SURVEYED_COLUMN = "surveyed"
MISSING_COUNT = ("one", "skip", "error")
INVALID_COUNT = ("skip", "error")
_TRUE_TEXT = ("true", "t", "1", "yes")
_FALSE_TEXT = ("false", "f", "0", "no")


class ColumnError(ValueError):
    """A required column is missing or names a column the table lacks."""


class CountError(ColumnError):
    """Counts the indicator's policy refuses (missing or invalid counts set to ``error``)."""


@dataclass
class Prepared:
    """A table reduced to typed indicator columns.

    Attributes:
        frame: columns ``_taxon, _site, _period, _count`` (those requested), valid rows only.
        dropped: reason -> number of rows with that problem (a row may have several).
        rows_dropped: number of rows left out.
        columns: role -> source column used (count None means every row counts 1).
        names: role -> name the role's column gets in an output table.
    """

    frame: pl.DataFrame
    dropped: dict[str, int]
    rows_dropped: int
    columns: dict[str, str | None]
    names: dict[str, str] = field(default_factory=dict)
    used: pl.Series | None = None  # per input row: whether the computation read it


def _has_values(frame: pl.DataFrame, column: str) -> bool:
    text = pl.col(column).cast(pl.Utf8).str.strip_chars()
    return bool(frame.select((text.is_not_null() & (text != "")).any()).item())


def resolve_columns(
    frame: pl.DataFrame, overrides: Mapping[str, Any], roles: Iterable[str]
) -> dict[str, str | None]:
    """Pick the source column for each role: the override, else the first useful default.

    Args:
        frame: the input table.
        overrides: role -> column name given in the step's params (None or absent: default).
        roles: the roles this indicator needs.

    Returns:
        role -> column name; ``count`` may be None (no count column: each row counts 1).

    Raises:
        ColumnError: an override names a missing column, or no default fits a needed role.
    """
    chosen: dict[str, str | None] = {}
    for role in roles:
        name = overrides.get(role)
        if name:
            if name not in frame.columns:
                raise ColumnError(f"{role} column {name!r} is not in the table")
            chosen[role] = name
            continue
        candidates = [c for c in DEFAULTS[role] if c in frame.columns and _has_values(frame, c)]
        if candidates:
            chosen[role] = candidates[0]
        elif role == "count":
            chosen[role] = None
        else:
            tried = " or ".join(DEFAULTS[role])
            raise ColumnError(f"no {role} column: the table has no {tried}; set params.{role}")
    return chosen


def _text(column: str) -> pl.Expr:
    """The column as trimmed text, with empty strings as null."""
    text = pl.col(column).cast(pl.Utf8).str.strip_chars()
    return pl.when(text == "").then(None).otherwise(text)


def _year(column: str) -> pl.Expr:
    """An integer year from a year column or from the start of an ISO 8601 date."""
    text = _text(column)
    return pl.coalesce(
        text.cast(pl.Int64, strict=False),
        text.str.extract(r"^(\d{4})(?:-|$)", 1).cast(pl.Int64, strict=False),
    )


def _period_expr(frame: pl.DataFrame, column: str, overridden: bool) -> pl.Expr:
    # A default ``year`` falls back row by row to eventDate's year: both say the same thing.
    if not overridden and column == "year" and DATE_COLUMN in frame.columns:
        return pl.coalesce(_year("year"), _year(DATE_COLUMN))
    return _year(column)


def surveyed_mask(frame: pl.DataFrame, column: str = SURVEYED_COLUMN) -> pl.Series | None:
    """Per row, whether its site/period was surveyed; None when the table has no such column.

    The column is ``transform.complete``'s boolean ``surveyed``, or its text form
    (``true``/``false``) once published and read back.

    Raises:
        ColumnError: the column holds a value that is neither true nor false.
    """
    if column not in frame.columns:
        return None
    values = frame.get_column(column)
    if values.dtype == pl.Boolean:
        return values.fill_null(False)
    text = values.cast(pl.Utf8).str.strip_chars().str.to_lowercase()
    unknown = ~(text.is_in(_TRUE_TEXT) | text.is_in(_FALSE_TEXT) | text.is_null())
    if unknown.any():
        example = values.filter(unknown).head(3).to_list()
        raise ColumnError(f"column {column!r} must hold true or false (found {example})")
    return text.is_in(_TRUE_TEXT)


def _refuse(kind: str, rows: int, column: str, examples: list[Any], fix: str) -> CountError:
    shown = ", ".join(str(row) for row in examples)
    return CountError(f"{rows} row(s) have {kind} in count column {column!r} "
                      f"(e.g. data row(s) {shown}): {fix}")


def prepare(frame: pl.DataFrame, overrides: Mapping[str, Any], roles: Iterable[str], *,
            missing_count: str = "one", invalid_count: str = "skip") -> Prepared:
    """Resolve the columns, cast them, leave out unusable rows and count why.

    Rows of an unsurveyed site/period (a ``surveyed`` column that is false) are left
    out first (reason ``not_surveyed``). A missing (empty) count then follows
    ``missing_count``: ``one`` counts 1, ``skip`` leaves the row out
    (``count_missing``), ``error`` refuses the table. A count that is not a number or
    is negative follows ``invalid_count`` (``skip``: ``count_not_a_number`` /
    ``count_negative``; ``error``). Missing taxon or site, or a period that is not a
    year, leaves the row out.

    Args:
        frame: the input table (usually all-string columns).
        overrides: role -> column name from the step's params.
        roles: the roles this indicator needs.
        missing_count: one, skip or error.
        invalid_count: skip or error.

    Returns:
        The typed frame, the counts of rows left out by reason, the columns used and,
        per input row, whether it was used.

    Raises:
        ColumnError: a column is missing; CountError when the count policy refuses rows.
    """
    if missing_count not in MISSING_COUNT or invalid_count not in INVALID_COUNT:
        raise ColumnError(f"missing_count must be one of {', '.join(MISSING_COUNT)} and "
                          f"invalid_count one of {', '.join(INVALID_COUNT)}")
    roles = [r for r in ROLES if r in set(roles)]
    columns = resolve_columns(frame, overrides, roles)
    surveyed = surveyed_mask(frame)
    exprs: dict[str, pl.Expr] = {}
    if "taxon" in roles:
        exprs[TAXON] = _text(columns["taxon"])  # type: ignore[arg-type]
    if "site" in roles:
        exprs[SITE] = _text(columns["site"])  # type: ignore[arg-type]
    if "period" in roles:
        exprs[PERIOD] = _period_expr(frame, columns["period"], bool(overrides.get("period")))  # type: ignore[arg-type]
    raw_count = pl.lit(None, pl.Utf8)
    if "count" in roles:
        if columns["count"] is None:
            if missing_count == "error":
                raise CountError(
                    "no count column: the table has no individualCount or organismQuantity "
                    "with values; set params.count, or missing_count: one to count each "
                    "record as 1")
            exprs[COUNT] = pl.lit(1.0)
        else:
            raw_count = _text(columns["count"])
            value = raw_count.cast(pl.Float64, strict=False)
            exprs[COUNT] = pl.when(raw_count.is_null()).then(1.0).otherwise(value)
    typed = frame.select(**exprs, _raw_count=raw_count)
    if surveyed is not None:
        typed = typed.with_columns(surveyed.alias("_surveyed"))
    else:
        typed = typed.with_columns(pl.lit(True).alias("_surveyed"))

    has_count = COUNT in exprs and columns.get("count") is not None
    missing = pl.col("_raw_count").is_null() if has_count else pl.lit(False)
    not_number = (pl.col(COUNT).is_null() | ~pl.col(COUNT).is_finite()) & ~missing
    problems = {
        "not_surveyed": ~pl.col("_surveyed"),
        "taxon_missing": pl.col(TAXON).is_null() if TAXON in exprs else None,
        "site_missing": pl.col(SITE).is_null() if SITE in exprs else None,
        "period_not_a_year": pl.col(PERIOD).is_null() if PERIOD in exprs else None,
        "count_missing": missing if has_count and missing_count != "one" else None,
        "count_not_a_number": not_number if COUNT in exprs else None,
        "count_negative": pl.col(COUNT) < 0 if COUNT in exprs else None,
    }
    problems = {reason: expr for reason, expr in problems.items() if expr is not None}
    # An unsurveyed row is not an observation: its other problems are not counted.
    flags = typed.select(**{
        reason: (expr if reason == "not_surveyed" else expr & pl.col("_surveyed")).fill_null(False)
        for reason, expr in problems.items()})
    _enforce(flags, columns.get("count"), missing_count, invalid_count)
    unusable = flags.select(pl.any_horizontal(pl.all())).to_series()
    counts = flags.sum().row(0, named=True)
    clean = typed.filter(~unusable).select(list(exprs))
    return Prepared(
        frame=clean,
        dropped={reason: int(n) for reason, n in counts.items() if n},
        rows_dropped=int(unusable.sum()),
        columns=columns,
        names=_output_names(columns, overrides),
        used=~unusable,
    )


def _enforce(flags: pl.DataFrame, column: str | None, missing_count: str,
             invalid_count: str) -> None:
    """Raise CountError when the policy is ``error`` and a surveyed row breaks it."""
    checks = []
    if missing_count == "error" and "count_missing" in flags.columns:
        checks.append(("count_missing", "no value",
                       "set missing_count: one (a record without a count counts 1) or "
                       "skip (leave such rows out)"))
    if invalid_count == "error":
        for reason, kind in (("count_not_a_number", "a value that is not a number"),
                             ("count_negative", "a negative value")):
            if reason in flags.columns:
                checks.append((reason, kind, "correct them, or set invalid_count: skip"))
    for reason, kind, fix in checks:
        bad = flags.get_column(reason)
        if bad.any():
            raise _refuse(kind, int(bad.sum()), str(column), (bad.arg_true().head(3) + 1).to_list(),
                          fix)


def _output_names(
    columns: Mapping[str, str | None], overrides: Mapping[str, Any]
) -> dict[str, str]:
    names = {role: name for role, name in columns.items() if name}
    if "period" in names:
        # The period always holds a year, whichever column it was read from.
        names["period"] = "year"
    return names


def natural_order(frame: pl.DataFrame, column: str) -> list[pl.Expr]:
    """Sort keys for a text column: numerically when every value is a number (plot 2
    before plot 10), else as text."""
    values = frame.get_column(column)
    numbers = values.cast(pl.Utf8).str.strip_chars().cast(pl.Float64, strict=False)
    if values.len() and numbers.null_count() == values.null_count():
        return [pl.col(column).cast(pl.Utf8).str.strip_chars().cast(pl.Float64, strict=False),
                pl.col(column)]
    return [pl.col(column)]
