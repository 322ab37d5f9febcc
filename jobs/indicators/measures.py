"""Species richness, abundance and occupancy: group_by over typed indicator columns.

Each function takes a table and column names (None: the Darwin Core default) and returns
an :class:`IndicatorResult`. Output tables keep the source column names for their
dimensions (e.g. ``plot``, ``year``) and are sorted, so equal inputs give equal bytes.

A record "counts" towards presence when its count is positive: a row with count 0
shows the site was surveyed, not that the taxon was there. How a missing or invalid
count is read, and what counts as surveyed, is each function's ``missing_count`` /
``invalid_count`` policy (``jobs.indicators.columns``); the defaults are
``COUNT_DEFAULTS``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from jobs.indicators.columns import (
    COUNT,
    PERIOD,
    SITE,
    TAXON,
    Prepared,
    natural_order,
    prepare,
)

PRESENT = pl.col(COUNT) > 0

#: Each indicator's default reading of a missing count. Presence indicators read a
#: record without a count as one individual (presence-only data); summing indicators
#: refuse to guess a number.
COUNT_DEFAULTS = {"species_richness": "one", "occupancy": "one", "abundance": "error",
                  "trend": "error"}


@dataclass
class IndicatorResult:
    """An indicator table plus what was left out.

    Attributes:
        table: the indicator, sorted by its dimension columns.
        dropped: reason -> rows with that problem (see ``columns.prepare``).
        rows_dropped: rows left out of the computation.
        columns: role -> source column used.
        extra: further tables (suffix -> frame), e.g. the trend's ``insufficient`` taxa.
        details: JSON-serialisable facts for the step's details.
        used: per input row, whether the indicator read it.
    """

    table: pl.DataFrame
    dropped: dict[str, int]
    rows_dropped: int
    columns: dict[str, str | None]
    extra: dict[str, pl.DataFrame] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    used: pl.Series | None = None  # per input row: whether the indicator read it


def column_overrides(**columns: str | None) -> dict[str, str | None]:
    """Keep the roles whose column was given (the rest take defaults)."""
    return {role: name for role, name in columns.items() if name}


def finish(prepared: Prepared, table: pl.DataFrame, **kwargs: Any) -> IndicatorResult:
    """Rename internal columns to their output names and wrap the result."""
    internal = {TAXON: "taxon", SITE: "site", PERIOD: "period"}
    renames = {
        col: prepared.names[role]
        for col, role in internal.items()
        if col in table.columns and role in prepared.names
    }
    return IndicatorResult(
        table=table.rename(renames),
        dropped=prepared.dropped,
        rows_dropped=prepared.rows_dropped,
        columns=prepared.columns,
        used=prepared.used,
        **kwargs,
    )


def species_richness(
    frame: pl.DataFrame,
    *,
    taxon: str | None = None,
    site: str | None = None,
    period: str | None = None,
    count: str | None = None,
    missing_count: str | None = None,
    invalid_count: str = "skip",
) -> IndicatorResult:
    """Number of distinct taxa recorded per site per period.

    Returns:
        A table ``<site>, <period>, species_richness, records``; a site surveyed in a
        period with only zero counts has richness 0.
    """
    prepared = prepare(
        frame,
        column_overrides(taxon=taxon, site=site, period=period, count=count),
        ("taxon", "site", "period", "count"),
        missing_count=missing_count or COUNT_DEFAULTS["species_richness"],
        invalid_count=invalid_count,
    )
    table = (
        prepared.frame.group_by(SITE, PERIOD)
        .agg(
            pl.col(TAXON).filter(PRESENT).n_unique().cast(pl.Int64).alias("species_richness"),
            pl.len().cast(pl.Int64).alias("records"),
        )
    )
    table = table.sort(*natural_order(table, SITE), PERIOD)
    return finish(prepared, table)


def abundance(
    frame: pl.DataFrame,
    *,
    taxon: str | None = None,
    period: str | None = None,
    count: str | None = None,
    missing_count: str | None = None,
    invalid_count: str = "skip",
) -> IndicatorResult:
    """Total count per taxon per period over the surveyed rows.

    A record without a count fails the indicator unless ``missing_count`` says
    otherwise (``one``: counts 1; ``skip``: left out).

    Returns:
        A table ``<taxon>, <period>, total_count, records``. ``total_count`` is an
        integer when every count is a whole number, else a float.
    """
    prepared = prepare(
        frame,
        column_overrides(taxon=taxon, period=period, count=count),
        ("taxon", "period", "count"),
        missing_count=missing_count or COUNT_DEFAULTS["abundance"],
        invalid_count=invalid_count,
    )
    table = (
        prepared.frame.group_by(TAXON, PERIOD)
        .agg(pl.col(COUNT).sum().alias("total_count"), pl.len().cast(pl.Int64).alias("records"))
        .sort(TAXON, PERIOD)
    )
    return finish(prepared, whole_numbers_as_int(table, "total_count"))


def whole_numbers_as_int(table: pl.DataFrame, column: str) -> pl.DataFrame:
    """Return ``table`` with a float column cast to Int64 if all its values are whole."""
    values = table.get_column(column)
    if values.len() and bool((values == values.round(0)).all()):
        return table.with_columns(pl.col(column).cast(pl.Int64))
    return table.with_columns(pl.col(column).round(6))


def occupancy(
    frame: pl.DataFrame,
    *,
    taxon: str | None = None,
    site: str | None = None,
    period: str | None = None,
    count: str | None = None,
    missing_count: str | None = None,
    invalid_count: str = "skip",
) -> IndicatorResult:
    """Share of surveyed sites where each taxon was recorded, per period.

    Surveyed sites of a period are the distinct sites with a surveyed row in it: the
    ``surveyed`` column of a completed grid when present, else any record. Every taxon
    recorded anywhere gets a row for every surveyed period, so a period where it was
    not found shows occupancy 0 rather than being absent.

    Returns:
        A table ``<taxon>, <period>, sites_occupied, sites_surveyed, occupancy``.
    """
    prepared = prepare(
        frame,
        column_overrides(taxon=taxon, site=site, period=period, count=count),
        ("taxon", "site", "period", "count"),
        missing_count=missing_count or COUNT_DEFAULTS["occupancy"],
        invalid_count=invalid_count,
    )
    data = prepared.frame
    surveyed = data.group_by(PERIOD).agg(
        pl.col(SITE).n_unique().cast(pl.Int64).alias("sites_surveyed")
    )
    occupied = (
        data.filter(PRESENT)
        .group_by(TAXON, PERIOD)
        .agg(pl.col(SITE).n_unique().cast(pl.Int64).alias("sites_occupied"))
    )
    taxa = occupied.select(TAXON).unique()
    table = (
        taxa.join(surveyed, how="cross")
        .join(occupied, on=[TAXON, PERIOD], how="left")
        .with_columns(pl.col("sites_occupied").fill_null(0))
        .with_columns(
            (pl.col("sites_occupied") / pl.col("sites_surveyed")).round(6).alias("occupancy")
        )
        .select(TAXON, PERIOD, "sites_occupied", "sites_surveyed", "occupancy")
        .sort(TAXON, PERIOD)
    )
    return finish(prepared, table)
