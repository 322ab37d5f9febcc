"""The ``compute.*`` steps: indicators from ``jobs.indicators`` wrapped for the runner.

Each step reads ``params.table`` (default: the primary table), maps the roles taxon /
site / period / count to columns (params override the Darwin Core defaults), reads
counts by its ``missing_count`` / ``invalid_count`` policy, and adds its output under
its own step key. Its details record the rows it used (``jobs.steps.usage``). It
also appends each output to ``ctx.lineage["outputs"]``, which is how
``publish.release`` knows what to publish.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from jobs.indicators import (
    ColumnError,
    IndicatorResult,
    abundance,
    occupancy,
    species_richness,
    trend,
)
from jobs.indicators.columns import SURVEYED_COLUMN
from jobs.registry import register
from jobs.steps.base import StepContext, StepError, StepResult, frame_fingerprint
from jobs.steps.usage import usage

Indicator = Callable[..., IndicatorResult]


def record_output(ctx: StepContext, table: str, frame: pl.DataFrame, fingerprint: str) -> None:
    """Append (or replace, on a retry) a table in ``ctx.lineage["outputs"]``."""
    outputs = ctx.lineage.setdefault("outputs", [])
    outputs[:] = [entry for entry in outputs if entry.get("table") != table]
    outputs.append(
        {"table": table, "rows": frame.height, "sha256": fingerprint, "step": ctx.step_key}
    )


def run_indicator(
    ctx: StepContext, indicator: Indicator, roles: tuple[str, ...], **extra: Any
) -> StepResult:
    """Run ``indicator`` on the step's input table and report it as a StepResult.

    Args:
        ctx: the step context; ``ctx.params`` may name ``table`` and the role columns.
        indicator: a function from ``jobs.indicators``.
        roles: the column roles the indicator accepts.
        **extra: further keyword arguments for the indicator (e.g. ``min_years``).

    Returns:
        A succeeded StepResult whose tables hold ``ctx.step_key`` (and
        ``<step_key>.<suffix>`` for any extra table).

    Raises:
        StepError: a column is missing, or no row is usable.
    """
    table_name = ctx.params.get("table") or ctx.primary_table
    frame = ctx.table(table_name)
    columns = {role: ctx.params.get(role) for role in roles}
    policies = {name: ctx.params[name] for name in ("missing_count", "invalid_count")
                if ctx.params.get(name)}
    try:
        result = indicator(frame, **columns, **policies, **extra)
    except ColumnError as exc:
        raise StepError(f"{ctx.step_key}: {exc}") from exc
    for reason, rows in result.dropped.items():
        ctx.log(f"dropped {rows} rows: {reason.replace('_', ' ')}")
    if frame.height and result.rows_dropped == frame.height:
        raise StepError(f"{ctx.step_key}: no usable rows in table {table_name!r}")

    tables = {ctx.step_key: result.table}
    tables.update(
        {f"{ctx.step_key}.{suffix}": extra_table for suffix, extra_table in result.extra.items()}
    )
    fingerprints = {name: frame_fingerprint(out) for name, out in tables.items()}
    for name, out in tables.items():
        record_output(ctx, name, out, fingerprints[name])
    used = usage(ctx, table_name, frame.height, result.used, result.dropped)
    ctx.log(f"{ctx.step_key}: {result.table.height} rows from {used['used']} of "
            f"{frame.height} input rows")
    if used["flagged_used"]["rows"]:
        ctx.log(f"includes {used['flagged_used']['rows']} rows that failed rules in the "
                "last validation (flagged, not removed: transform.exclude_rejected removes "
                "them)")
    return StepResult(
        rows_in=frame.height,
        rows_out=result.table.height,
        rows_rejected=result.rows_dropped,
        details={
            "input_table": table_name,
            "columns": result.columns,
            "dropped": result.dropped,
            "usage": used,
            "surveyed_from": "surveyed column" if SURVEYED_COLUMN in frame.columns
            else "any record",
            "tables": {name: out.height for name, out in tables.items()},
            **result.details,
        },
        tables=tables,
        input_fingerprint=frame_fingerprint(frame),
        output_fingerprint=fingerprints[ctx.step_key],
    )


@register("compute.species_richness")
def species_richness_step(ctx: StepContext) -> StepResult:
    """Distinct taxa per site per period."""
    return run_indicator(ctx, species_richness, ("taxon", "site", "period", "count"))


@register("compute.abundance")
def abundance_step(ctx: StepContext) -> StepResult:
    """Total count per taxon per period."""
    return run_indicator(ctx, abundance, ("taxon", "period", "count"))


@register("compute.occupancy")
def occupancy_step(ctx: StepContext) -> StepResult:
    """Share of surveyed sites where each taxon was recorded, per period."""
    return run_indicator(ctx, occupancy, ("taxon", "site", "period", "count"))


@register("compute.trend")
def trend_step(ctx: StepContext) -> StepResult:
    """Log-linear yearly trend per taxon; short series go to ``<key>.insufficient``."""
    result = run_indicator(
        ctx, trend, ("taxon", "period", "count"), min_years=ctx.params.get("min_years", 5)
    )
    short = result.tables[f"{ctx.step_key}.insufficient"]
    taxon_column = short.columns[0]
    result.details["insufficient"] = short.head(50).to_dicts()
    if short.height:
        ctx.log(
            f"{short.height} taxa have fewer than {result.details['min_years']} years: "
            f"no trend (e.g. {', '.join(short.get_column(taxon_column).head(3).to_list())})"
        )
    return result
