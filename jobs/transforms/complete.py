"""``complete``: the effort step — the site × period × taxon grid with 0 and missing apart.

Monitoring counts only mean something against effort. Given the surveys actually
made (site × period, optionally with effort such as trap-nights or minutes), the
grid holds every site × period × taxon:

- surveyed, taxon recorded: its values;
- surveyed, taxon not recorded: 0 ("looked, found none");
- not surveyed: missing (null) — never 0.

Sites and periods are those of the surveys table; taxa are those observed (or a
given list). Indicators and trend methods (TRIM treats missing counts as missing,
not zero) rely on this distinction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
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
    numeric_column,
    require_columns,
    schema_of,
)
from jobs.transforms.join import duplicated_keys

SURVEYED = "surveyed"
MAX_CELLS = 200_000_000


def _surveys(frame: pl.LazyFrame, name: str, axes: list[str], effort: str | None
             ) -> pl.LazyFrame:
    nulls = null_key_counts(frame, axes)
    if nulls:
        raise TransformError(f"surveys table {name!r}: "
                             + "; ".join(f"{n} row(s) have no {key}" for key, n in nulls.items())
                             + " (a survey needs a site and a period)")
    summaries = [pl.lit(True).alias(SURVEYED)]
    if effort:
        value = numeric_column(frame, effort, name)
        summaries.append(pl.when(value.count() > 0).then(value.sum()).alias(effort))
    return frame.group_by(axes).agg(summaries)


def complete(
    tables: Tables,
    table: str,
    surveys: str,
    site: str,
    period: str,
    taxon: str,
    values: str | Sequence[str],
    effort: str | None = None,
    taxa: Sequence[str] | None = None,
    log: Log = no_log,
) -> pl.DataFrame:
    """Build the site × period × taxon grid of ``values`` against the surveys made.

    Args:
        tables: the run's tables.
        table: observations with one row per site, period and taxon (aggregate first).
        surveys: the surveys made: one or more rows per site and period visited.
        site, period: the grid's site and period columns (in both tables, same type).
        taxon: the observations' taxon column.
        values: the observation columns to fill (0 where surveyed and not recorded).
        effort: a column of ``surveys`` summed per site and period into the grid.
        taxa: the taxa of the grid (default: every taxon observed).
        log: receives the grid's size and rows left out.

    Returns:
        Columns site, period, taxon, ``surveyed`` (bool), effort (when given) and the
        value columns (as numbers), sorted by site, period and taxon.

    Raises:
        TransformError: missing columns, key types that differ, surveys without site
            or period, several observation rows for one cell, or observations at a
            site and period that the surveys table does not list (with examples).
    """
    axes, value_columns = [site, period], as_list(values)
    obs, made = get_table(tables, table), get_table(tables, surveys)
    require_columns(obs, [*axes, taxon, *value_columns], table)
    require_columns(made, axes + ([effort] if effort else []), surveys)
    obs_schema, survey_schema = schema_of(obs), schema_of(made)
    for axis in axes:
        if obs_schema[axis] != survey_schema[axis]:
            raise TransformError(
                f"complete: {axis!r} is {describe_kind(obs_schema[axis])} in {table!r} but "
                f"{describe_kind(survey_schema[axis])} in {surveys!r}: make them the same type")
    visits = _surveys(made, surveys, axes, effort).collect()

    missing = null_key_counts(obs, [*axes, taxon])
    if missing:
        log(f"left out {sum(missing.values())} observation row(s) without "
            f"{', '.join(missing)}")
        obs = obs.drop_nulls([*axes, taxon])
    observed = obs.select([*axes, taxon, *[
        numeric_column(obs, column, table).alias(column) for column in value_columns]]).collect()

    sites = visits.get_column(site).unique().sort()
    periods = visits.get_column(period).unique().sort()
    taxon_axis = (pl.Series(taxon, list(taxa)).cast(obs_schema[taxon]).unique().sort()
                  if taxa is not None else observed.get_column(taxon).unique().sort())
    shape = (sites.len(), periods.len(), taxon_axis.len())
    cells = shape[0] * shape[1] * shape[2]
    if cells > MAX_CELLS:
        raise TransformError(f"complete: the grid would have {cells} cells (more than "
                             f"{MAX_CELLS}); filter or aggregate first")

    # Each survey and observation gets its cell's position in the sorted grid.
    visit_cells = _positions(visits, [(site, sites), (period, periods)])
    obs_sp = _positions(observed, [(site, sites), (period, periods)])
    obs_taxon = _positions(observed, [(taxon, taxon_axis)])
    surveyed_sp = np.zeros(shape[0] * shape[1], dtype=bool)
    surveyed_sp[visit_cells.to_numpy()] = True
    listed = obs_taxon.is_not_null()
    if not listed.all():
        log(f"left out {int((~listed).sum())} observation row(s) of taxa not in the list")
        observed, obs_sp, obs_taxon = observed.filter(listed), obs_sp.filter(listed), \
            obs_taxon.filter(listed)
    at_surveyed = obs_sp.is_not_null().to_numpy()
    at_surveyed[at_surveyed] = surveyed_sp[obs_sp.drop_nulls().to_numpy()]
    _refuse_unsurveyed(observed.filter(pl.Series(~at_surveyed)), axes, table, surveys)
    positions = obs_sp.to_numpy() * shape[2] + obs_taxon.to_numpy()
    _refuse_repeated(observed, pl.Series(positions), [*axes, taxon], table)

    log(f"grid of {shape[0]} site(s) × {shape[1]} period(s) × {shape[2]} taxa = {cells} "
        f"rows; {visits.height} site/period(s) surveyed")
    site_period = np.repeat(np.arange(shape[0] * shape[1], dtype=np.uint32), shape[2])
    surveyed = pl.Series(SURVEYED, surveyed_sp[site_period])
    columns = [
        sites.gather(site_period // shape[1]),
        periods.gather(site_period % shape[1]),
        taxon_axis.gather(np.tile(np.arange(shape[2], dtype=np.uint32), shape[0] * shape[1])),
        surveyed,
    ]
    if effort:
        per_cell = pl.Series(effort, [None] * (shape[0] * shape[1]), pl.Float64)
        per_cell = per_cell.scatter(visit_cells.to_numpy(), visits.get_column(effort))
        columns.append(per_cell.gather(site_period))
    for column in value_columns:
        values_ = observed.get_column(column)
        full = pl.zeros(cells, values_.dtype, eager=True).alias(column).scatter(positions,
                                                                                 values_)
        columns.append(full)
    grid = pl.DataFrame(columns)
    return grid.with_columns(pl.when(pl.col(SURVEYED)).then(pl.col(c)).alias(c)
                             for c in value_columns)


def _positions(frame: pl.DataFrame, axes: list[tuple[str, pl.Series]]) -> pl.Series:
    """Each row's position in the grid of sorted ``axes`` (null when a value is off-axis)."""
    position = pl.lit(0, pl.Int64)
    for column, axis in axes:
        position = position * axis.len() + pl.col(f"__{column}__")
    lookup = frame.lazy()
    for column, axis in axes:
        lookup = lookup.join(
            pl.LazyFrame({column: axis, f"__{column}__": pl.int_range(axis.len(), eager=True)}),
            on=column, how="left", maintain_order="left")
    return lookup.select(position.alias("position")).collect().to_series()


def _refuse_unsurveyed(outside: pl.DataFrame, axes: list[str], table: str, surveys: str
                       ) -> None:
    if outside.height:
        cells = outside.group_by(axes, maintain_order=True).agg(pl.len().alias("rows"))
        raise TransformError(
            f"complete: {outside.height} observation row(s) of {table!r} are at a site and "
            f"period missing from the surveys table {surveys!r} (e.g. "
            f"{'; '.join(key_examples(cells, axes))}): add those surveys")


def _refuse_repeated(observed: pl.DataFrame, positions: pl.Series, keys: list[str], table: str
                     ) -> None:
    if positions.is_duplicated().any():
        repeated = duplicated_keys(observed.lazy(), keys)
        raise TransformError(
            f"complete: table {table!r} has {repeated.height} site/period/taxon cell(s) on "
            f"several rows (e.g. {'; '.join(key_examples(repeated, keys))}): "
            "aggregate it per site, period and taxon first (transform.aggregate)")
