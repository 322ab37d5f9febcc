"""Chart data of index tables: what the run page and the release's SVG charts draw.

A chart spec is a plain, JSON-serialisable dict (it is stored in the step's details)::

    {"kind": "trim" | "msi", "title": str, "subtitle": str, "time": [int],
     "value": [float], "lower": [float], "upper": [float], "smoothed": [float] | None,
     "verdict": str | None}

``portal.services.charts`` renders it as SVG. TRIM bands are the imputed index
± 1.96 SE (the band rtrim plots); MSI bands are the Monte Carlo 95% interval.
"""

from __future__ import annotations

import math
from typing import Any

import polars as pl

Z95 = 1.959963984540054


def _clean(values: list[Any]) -> list[float | None]:
    return [None if v is None or not math.isfinite(v) else round(float(v), 6) for v in values]


def trim_chart_specs(indices: pl.DataFrame, fit: pl.DataFrame,
                     limit: int | None = None) -> list[dict[str, Any]]:
    """One chart per fitted taxon: imputed index with its 95% band and the verdict.

    Args:
        indices: a ``compute.trim`` indices table.
        fit: its fit table (for the verdict of the recommended overall slope).
        limit: at most this many charts (taxa in name order).
    """
    verdicts = dict(zip(fit.get_column("taxon").to_list(),
                        fit.get_column("verdict").to_list(), strict=True))
    specs = []
    for (taxon,), rows in sorted(indices.partition_by("taxon", as_dict=True).items()):
        if limit is not None and len(specs) >= limit:
            break
        rows = rows.sort("time")
        value = rows.get_column("imputed_index")
        se = rows.get_column("imputed_index_se").fill_null(0.0)
        base = rows.get_column("base_time")[0]
        specs.append({
            "kind": "trim", "title": str(taxon),
            "subtitle": f"TRIM imputed index ({base} = 1) with 95% band",
            "time": rows.get_column("time").to_list(), "value": _clean(value.to_list()),
            "lower": _clean((value - Z95 * se).clip(lower_bound=0.0).to_list()),
            "upper": _clean((value + Z95 * se).to_list()), "smoothed": None,
            "verdict": verdicts.get(taxon),
        })
    return specs


def msi_chart_specs(table: pl.DataFrame, trend: pl.DataFrame) -> list[dict[str, Any]]:
    """One chart per MSI group: the MSI with its interval, the smoothed trend, the verdict."""
    specs = []
    for (group,), rows in sorted(table.partition_by("group", as_dict=True).items()):
        rows = rows.sort("time")
        overall = trend.filter(pl.col("group") == group, pl.col("period") == "overall")
        verdict = overall.get_column("verdict")[0] if overall.height else None
        species = rows.get_column("species")[0]
        specs.append({
            "kind": "msi", "title": str(group),
            "subtitle": f"Multi-species indicator of {species} species with 95% interval "
                        "and smoothed trend",
            "time": rows.get_column("time").to_list(),
            "value": _clean(rows.get_column("msi").to_list()),
            "lower": _clean(rows.get_column("lower").to_list()),
            "upper": _clean(rows.get_column("upper").to_list()),
            "smoothed": _clean(rows.get_column("smoothed").to_list()),
            "verdict": verdict,
        })
    return specs
