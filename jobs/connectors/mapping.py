"""Column mapping applied after any ingest: build a date from parts, then rename columns."""

from __future__ import annotations

from typing import Any

import polars as pl

from jobs.steps.base import StepError

DEFAULT_DATE_TARGET = "eventDate"


def _names(frame: pl.DataFrame | pl.LazyFrame) -> list[str]:
    """Column names of an eager or a lazy table (a lazy one's schema, nothing read)."""
    return frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns


def _require(frame: pl.DataFrame | pl.LazyFrame, columns: list[str], where: str) -> None:
    names = _names(frame)
    missing = [column for column in columns if column not in names]
    if missing:
        raise StepError(
            f"{where}: no column {', '.join(map(repr, missing))} in the table "
            f"(columns: {', '.join(names)})"
        )


def _part(column: str, width: int) -> pl.Expr:
    """A date part as zero-padded digits; anything else (blank, "7.5", "n/a") is null."""
    text = pl.col(column).cast(pl.String).str.strip_chars()
    return pl.when(text.str.contains(r"^\d+$")).then(text.str.zfill(width))


def date_from_parts(frame: pl.DataFrame, spec: dict[str, Any]) -> pl.DataFrame:
    """Add an ISO date column (``YYYY-MM-DD`` text) built from day/month/year columns.

    A row with an empty or impossible day (or month, or year) gets a null date; its
    year and month columns are kept as they were, so per-year summaries still count it.

    Args:
        frame: the ingested table.
        spec: ``{"day": ..., "month": ..., "year": ..., "target": ...}``; day is optional,
            target defaults to ``eventDate``. Without a day the date is null.
    """
    parts = [spec["year"], spec["month"]] + ([spec["day"]] if spec.get("day") else [])
    _require(frame, parts, "mapping.date_from")
    if not spec.get("day"):
        iso = pl.lit(None, dtype=pl.String)
    else:
        text = pl.concat_str(
            [_part(spec["year"], 4), _part(spec["month"], 2), _part(spec["day"], 2)],
            separator="-",
        )
        iso = text.str.to_date("%Y-%m-%d", strict=False).dt.to_string("%Y-%m-%d")
    return frame.with_columns(iso.alias(spec.get("target") or DEFAULT_DATE_TARGET))


def rename_columns(frame: pl.DataFrame, rename: dict[str, str]) -> pl.DataFrame:
    """Rename columns; refuse unknown sources and names that would collide."""
    _require(frame, list(rename), "mapping.rename")
    final = [rename.get(column, column) for column in _names(frame)]
    clashes = sorted({name for name in final if final.count(name) > 1})
    if clashes:
        raise StepError(f"mapping.rename: several columns would be named {', '.join(clashes)}")
    return frame.rename(rename)


def apply_mapping(frame: pl.DataFrame, mapping: dict[str, Any] | None) -> pl.DataFrame:
    """Apply ``params["mapping"]``: ``date_from`` (on source column names), then ``rename``.

    ``frame`` may be lazy (a table read in batches): the mapping then joins its plan.
    """
    if not mapping:
        return frame
    if mapping.get("date_from"):
        frame = date_from_parts(frame, mapping["date_from"])
    if mapping.get("rename"):
        frame = rename_columns(frame, mapping["rename"])
    return frame
