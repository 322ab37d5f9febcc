"""The ``compute.trim`` step: TRIM indices and trends per taxon, as release tables.

Reads a long count table (taxon, site, time, count; null count = not counted), fits
TRIM to every taxon with the step's options (:mod:`jobs.indicators.trim`), and adds
five tables under the step key ``<key>``: ``<key>_indices``, ``<key>_slopes``,
``<key>_fit``, ``<key>_wald`` and ``<key>_coefficients``. A taxon TRIM cannot fit
(its own data rules) or that does not converge is a row of ``<key>_fit`` with the
reason — the step still succeeds. Its declaration sits beside it in ``trim.json``.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from jobs.indicators.chart_specs import trim_chart_specs
from jobs.indicators.columns import ColumnError
from jobs.indicators.trim_batch import DuplicateCounts, fit_taxa, prepare_counts, result_tables
from jobs.registry import register
from jobs.steps.base import StepContext, StepError, StepResult, frame_fingerprint
from jobs.steps.compute import record_output

#: Charts kept in the step's details (the run page); the release has one per taxon.
CHARTS_IN_DETAILS = 40
TABLES = ("indices", "slopes", "fit", "wald", "coefficients")


def mark_chart(ctx: StepContext, table: str, chart: dict[str, str]) -> None:
    """Note on ``table``'s lineage output entry which tables ``publish.release`` charts."""
    for entry in ctx.lineage.get("outputs", []):
        if entry.get("table") == table:
            entry["chart"] = chart


def _options(ctx: StepContext, times: list[int]) -> dict[str, Any]:
    params = ctx.params
    model = params.get("model", 3)
    changepoints = params.get("changepoints")
    stepwise = bool(params.get("stepwise", False))

    def known(name: str, value: Any) -> None:
        if value not in times:
            raise StepError(f"{ctx.step_key}: params.{name}: {value!r} is not a time point of "
                            f"the data ({times[0]}–{times[-1]})")

    if model != 2 and (changepoints is not None or stepwise):
        raise StepError(f"{ctx.step_key}: params.changepoints and params.stepwise need model 2")
    if isinstance(changepoints, list):
        for value in changepoints:
            known("changepoints", value)
        if times and max(changepoints) >= times[-1]:
            raise StepError(f"{ctx.step_key}: params.changepoints: a changepoint must come "
                            "before the last time point")
    if stepwise and (changepoints is None or (isinstance(changepoints, list)
                                              and len(changepoints) < 2)):
        raise StepError(f"{ctx.step_key}: params.stepwise needs at least two changepoints "
                        '(a list or "all")')
    for name in ("base",):
        if params.get(name) is not None:
            known(name, params[name])
    for value in params.get("overall_changepoints") or []:
        known("overall_changepoints", value)
    return {"model": model, "changepoints": changepoints, "stepwise": stepwise,
            "overdisp": bool(params.get("overdispersion", False)),
            "serialcor": bool(params.get("serial_correlation", False)),
            "base": params.get("base"),
            "overall_changepoints": params.get("overall_changepoints") or None}


def _summary(fit: pl.DataFrame) -> dict[str, Any]:
    by_status = dict(fit.group_by("status").len().iter_rows())
    not_converged = fit.filter(pl.col("status") == "ok", ~pl.col("converged"))
    unfitted = fit.filter(pl.col("status") != "ok").select("taxon", "status", "reason",
                                                           "detail")
    return {"taxa": fit.height, "fitted": by_status.get("ok", 0),
            "insufficient": by_status.get("insufficient", 0),
            "failed": by_status.get("failed", 0), "not_converged": not_converged.height,
            "unfitted": unfitted.head(50).to_dicts(),
            "not_converged_taxa": not_converged.get_column("taxon").head(50).to_list()}


@register("compute.trim")
def trim_step(ctx: StepContext) -> StepResult:
    """Fit TRIM per taxon and output indices, slopes, fit, Wald tests and coefficients."""
    params = ctx.params
    table_name = params.get("table") or ctx.primary_table
    frame = ctx.table(table_name)
    columns = {role: params.get(role) for role in ("taxon", "site", "time", "count")}
    try:
        counts = prepare_counts(frame, columns, params.get("weight"),
                                params.get("covariates") or [])
    except ColumnError as exc:
        raise StepError(f"{ctx.step_key}: {exc}") from exc
    for reason, rows in counts.dropped.items():
        if reason != "_total":
            ctx.log(f"dropped {rows} rows: {reason.replace('_', ' ')}")
    if counts.frame.height == 0:
        raise StepError(f"{ctx.step_key}: no usable rows in table {table_name!r}")
    options = _options(ctx, counts.times)
    try:
        results = fit_taxa(counts, options)
    except (DuplicateCounts, ValueError) as exc:
        raise StepError(f"{ctx.step_key}: {exc}") from exc

    produced = result_tables(results)
    tables = {f"{ctx.step_key}_{name}": produced[name] for name in TABLES}
    fingerprints = {name: frame_fingerprint(out) for name, out in tables.items()}
    for name, out in tables.items():
        record_output(ctx, name, out, fingerprints[name])
    indices_name = f"{ctx.step_key}_indices"
    mark_chart(ctx, indices_name, {"kind": "trim", "indices": indices_name,
                                   "fit": f"{ctx.step_key}_fit"})
    fit = produced["fit"]
    summary = _summary(fit)
    ctx.log(f"{ctx.step_key}: TRIM model {options['model']} on {summary['taxa']} taxa, "
            f"{len(counts.times)} time points: {summary['fitted']} fitted, "
            f"{summary['insufficient']} with insufficient data, {summary['failed']} failed, "
            f"{summary['not_converged']} not converged")
    for row in summary["unfitted"][:10]:
        ctx.log(f"  {row['taxon']}: {row['status']} — {row['reason']}")
    charts = trim_chart_specs(produced["indices"], fit, CHARTS_IN_DETAILS)
    return StepResult(
        rows_in=frame.height,
        rows_out=produced["indices"].height,
        rows_rejected=counts.rows_dropped,
        details={
            "input_table": table_name, "columns": counts.columns,
            "dropped": {k: v for k, v in counts.dropped.items() if k != "_total"},
            "times": [counts.times[0], counts.times[-1]] if counts.times else [],
            "options": {k: v for k, v in options.items() if v is not None},
            "tables": {name: out.height for name, out in tables.items()},
            **summary,
            "charts": charts, "charts_omitted": max(summary["fitted"] - len(charts), 0),
        },
        tables=tables,
        input_fingerprint=frame_fingerprint(frame),
        output_fingerprint=fingerprints[indices_name],
    )
