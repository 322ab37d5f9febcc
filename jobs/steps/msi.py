"""The ``compute.msi`` step: a multi-species indicator from a ``compute.trim`` step's indices.

Reads the TRIM indices table (``<trim key>_indices``: taxon, time, imputed_index,
imputed_index_se), takes the named group's taxa, and computes the MSI with the CBS
MSI-tool method (:mod:`jobs.indicators.msi`). Outputs ``<key>`` (the MSI per time
point), ``<key>_trend`` (linear trends and their classes) and ``<key>_species``
(which taxa were used, and why any were not). Declared in ``msi.json``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from jobs.indicators.chart_specs import msi_chart_specs
from jobs.indicators.msi import MsiError, MsiResult, msi
from jobs.registry import register
from jobs.steps.base import StepContext, StepError, StepResult, frame_fingerprint
from jobs.steps.compute import record_output
from jobs.steps.trim import mark_chart

REQUIRED = ("taxon", "time", "imputed_index", "imputed_index_se")


def _indices_table(ctx: StepContext) -> tuple[str, pl.DataFrame]:
    """``params.indices``, else the last ``compute.trim`` indices table of the run."""
    name = ctx.params.get("indices")
    if not name:
        charted = [entry["table"] for entry in ctx.lineage.get("outputs", [])
                   if (entry.get("chart") or {}).get("kind") == "trim"]
        if not charted:
            raise StepError(f"{ctx.step_key}: no TRIM indices: run a compute.trim step first "
                            "or set params.indices")
        name = charted[-1]
    frame = ctx.table(name)
    missing = [column for column in REQUIRED if column not in frame.columns]
    if missing:
        raise StepError(f"{ctx.step_key}: table {name!r} lacks {', '.join(missing)} "
                        "(params.indices must name a compute.trim indices table)")
    return name, frame


def _tables(group: str, result: MsiResult, species_rows: list[dict[str, Any]], nsim: int
            ) -> dict[str, pl.DataFrame]:
    n = len(result.species)
    main = pl.DataFrame({
        "group": [group] * len(result.years), "time": result.years,
        "msi": result.msi, "se": result.se, "lower": result.lower, "upper": result.upper,
        "smoothed": result.smoothed, "smoothed_lower": result.smoothed_lower,
        "smoothed_upper": result.smoothed_upper, "trend_class": result.smoothed_class,
        "species": [n] * len(result.years),
    }, schema_overrides={"trend_class": pl.String, "time": pl.Int64})
    trend = pl.DataFrame([{
        "group": group, "period": t.period, "start": t.start, "end": t.end,
        "additive": t.additive, "se_additive": t.se_additive,
        "multiplicative": t.multiplicative, "se_multiplicative": t.se_multiplicative,
        "percent_per_time": (t.multiplicative - 1.0) * 100.0, "verdict": t.verdict,
        "percent_change": t.percent_change, "se_percent_change": t.se_percent_change,
        "species": n, "nsim": nsim} for t in result.trends])
    species = pl.DataFrame(species_rows, schema={"group": pl.String, "taxon": pl.String,
                                                 "included": pl.Boolean,
                                                 "mean_cv": pl.Float64, "reason": pl.String})
    return {"": main, "_trend": trend, "_species": species}


@register("compute.msi")
def msi_step(ctx: StepContext) -> StepResult:
    """Combine a group's TRIM indices into a multi-species indicator with trends."""
    params = ctx.params
    group = params["group"]
    source, frame = _indices_table(ctx)
    available = sorted(set(frame.get_column("taxon").to_list()))
    wanted = list(dict.fromkeys(params.get("taxa") or available))
    absent = [taxon for taxon in wanted if taxon not in available]
    present = [taxon for taxon in wanted if taxon in available]
    if not present:
        raise StepError(f"{ctx.step_key}: none of the group's taxa has TRIM indices in "
                        f"{source!r} (e.g. {', '.join(wanted[:3])})")
    times = sorted(set(frame.get_column("time").to_list()))
    wide = {column: frame.filter(pl.col("taxon").is_in(present))
            .pivot(on="time", index="taxon", values=column).sort("taxon")
            for column in ("imputed_index", "imputed_index_se")}
    order = wide["imputed_index"].get_column("taxon").to_list()
    columns = [str(t) for t in times]
    index = wide["imputed_index"].select(columns).to_numpy().astype(float)
    se = wide["imputed_index_se"].select(columns).to_numpy().astype(float)
    base = params.get("base")
    if base is not None and base not in times:
        raise StepError(f"{ctx.step_key}: params.base: {base!r} is not a time point of "
                        f"{source!r} ({times[0]}–{times[-1]})")
    nsim = params.get("nsim", 1000)
    try:
        result = msi(order, times, index, np.nan_to_num(se), base_year=base, nsim=nsim,
                     seed=params.get("seed", 1), span=params.get("span", 0.75),
                     last_years=params.get("last_years", 10), max_cv=params.get("max_cv", 3.0),
                     truncation=params.get("truncation", 1.0),
                     max_ratio=params.get("max_ratio", 10.0))
    except MsiError as exc:
        raise StepError(f"{ctx.step_key}: {exc}") from exc
    reasons = {**result.excluded,
               **{taxon: f"no TRIM indices in {source!r} (see its fit table)"
                  for taxon in absent}}
    species_rows = [{"group": group, "taxon": taxon, "included": taxon in result.species,
                     "mean_cv": result.mean_cv.get(taxon), "reason": reasons.get(taxon)}
                    for taxon in wanted]
    tables = {f"{ctx.step_key}{suffix}": out
              for suffix, out in _tables(group, result, species_rows, nsim).items()}
    fingerprints = {name: frame_fingerprint(out) for name, out in tables.items()}
    for name, out in tables.items():
        record_output(ctx, name, out, fingerprints[name])
    mark_chart(ctx, ctx.step_key, {"kind": "msi", "table": ctx.step_key,
                                   "trend": f"{ctx.step_key}_trend"})
    overall = result.trends[0]
    ctx.log(f"{ctx.step_key}: MSI of {group!r} from {len(result.species)} of {len(wanted)} "
            f"taxa, {times[0]}–{times[-1]}: {overall.verdict} "
            f"({(overall.multiplicative - 1) * 100:+.2f}% per time step)")
    for taxon, reason in reasons.items():
        ctx.log(f"  left out {taxon}: {reason}")
    return StepResult(
        rows_in=frame.height, rows_out=len(result.years),
        details={"input_table": source, "group": group, "species": result.species,
                 "left_out": reasons, "verdict": overall.verdict, "nsim": nsim,
                 "tables": {name: out.height for name, out in tables.items()},
                 "charts": msi_chart_specs(tables[ctx.step_key],
                                           tables[f"{ctx.step_key}_trend"])},
        tables=tables,
        input_fingerprint=frame_fingerprint(frame),
        output_fingerprint=fingerprints[ctx.step_key],
    )
