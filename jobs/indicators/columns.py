"""Which columns an indicator reads, and turning string columns into typed values.

Ingest hands over all-string tables. Each indicator needs up to four roles — taxon,
site, period and count — whose defaults are Darwin Core terms; a step's params can
name other columns (e.g. the Portal ant census: species, plot, year, colonies).

Values are cast with ``strict=False``; a row whose value cannot be used is dropped
and counted under a reason, so the step can report what it left out.
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


class ColumnError(ValueError):
    """A required column is missing or names a column the table lacks."""


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


def prepare(frame: pl.DataFrame, overrides: Mapping[str, Any], roles: Iterable[str]) -> Prepared:
    """Resolve the columns, cast them, drop unusable rows and count why.

    A missing (empty) count means the record counts 1; a count that is present but not
    a number, or is negative, drops the row. Missing taxon or site, or a period that is
    not a year, drops the row.

    Args:
        frame: the input table (usually all-string columns).
        overrides: role -> column name from the step's params.
        roles: the roles this indicator needs.

    Returns:
        The typed frame, the drop counts by reason and the columns used.
    """
    roles = [r for r in ROLES if r in set(roles)]
    columns = resolve_columns(frame, overrides, roles)
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
            exprs[COUNT] = pl.lit(1.0)
        else:
            raw_count = _text(columns["count"])
            value = raw_count.cast(pl.Float64, strict=False)
            exprs[COUNT] = pl.when(raw_count.is_null()).then(1.0).otherwise(value)
    typed = frame.select(**exprs, _raw_count=raw_count)

    problems = {
        "taxon_missing": pl.col(TAXON).is_null() if TAXON in exprs else None,
        "site_missing": pl.col(SITE).is_null() if SITE in exprs else None,
        "period_not_a_year": pl.col(PERIOD).is_null() if PERIOD in exprs else None,
        "count_not_a_number": (
            pl.col(COUNT).is_null() | ~pl.col(COUNT).is_finite() if COUNT in exprs else None
        ),
        "count_negative": pl.col(COUNT) < 0 if COUNT in exprs else None,
    }
    problems = {reason: expr for reason, expr in problems.items() if expr is not None}
    flags = typed.select(**{reason: expr.fill_null(False) for reason, expr in problems.items()})
    if problems:
        unusable = flags.select(pl.any_horizontal(pl.all())).to_series()
    else:
        unusable = pl.Series([False] * typed.height, dtype=pl.Boolean)
    counts = flags.sum().row(0, named=True) if problems else {}
    clean = typed.filter(~unusable).select(list(exprs))
    return Prepared(
        frame=clean,
        dropped={reason: int(n) for reason, n in counts.items() if n},
        rows_dropped=int(unusable.sum()),
        columns=columns,
        names=_output_names(columns, overrides),
    )


def _output_names(
    columns: Mapping[str, str | None], overrides: Mapping[str, Any]
) -> dict[str, str]:
    names = {role: name for role, name in columns.items() if name}
    if names.get("period") == DATE_COLUMN and not overrides.get("period"):
        names["period"] = "year"  # the period holds the date's year, not the date
    return names
