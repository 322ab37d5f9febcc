"""SVG charts written into a release beside the index tables they draw.

``compute.trim`` and ``compute.msi`` mark their main output in the run's lineage
(``outputs[i]["chart"]``: which tables hold the series and the verdicts). When
``publish.release`` publishes such a table, it also publishes one standalone SVG per
taxon (TRIM) or per group (MSI), drawn by :func:`portal.services.charts.index_chart`
from the full tables — the run page shows at most a few dozen, the release has all.
The charts are derived from the CSV files, so equal tables give equal charts (and a
replay compares them like any other release file).
"""

from __future__ import annotations

import re
from typing import Any

from jobs.indicators.chart_specs import msi_chart_specs, trim_chart_specs
from jobs.steps.base import StepContext, sha256_bytes
from portal.services.charts import index_chart


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:80] or "chart"


def _specs(ctx: StepContext, chart: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        if chart.get("kind") == "trim":
            return trim_chart_specs(ctx.tables[chart["indices"]], ctx.tables[chart["fit"]])
        if chart.get("kind") == "msi":
            return msi_chart_specs(ctx.tables[chart["table"]], ctx.tables[chart["trend"]])
    except KeyError:  # a table the mark names is gone (e.g. replaced by a later step)
        return []
    return []


def chart_files(ctx: StepContext, published: list[str], taken: set[str]) -> dict[str, bytes]:
    """SVG file name -> bytes for every charted table among ``published``.

    Args:
        ctx: the publish step's context (its lineage outputs carry the chart marks).
        published: the names of the tables being published.
        taken: file names already in the release (a chart never overwrites one).
    """
    files: dict[str, bytes] = {}
    for entry in ctx.lineage.get("outputs", []):
        chart, table = entry.get("chart"), entry.get("table")
        if not chart or table not in published:
            continue
        for spec in _specs(ctx, chart):
            stem = f"{_slug(table)}-{_slug(str(spec['title']))}"
            name, n = f"{stem}.svg", 1
            while name in files or name in taken:
                n += 1
                name = f"{stem}-{n}.svg"
            files[name] = index_chart(spec, standalone=True).encode()
    return files


def add_chart_files(ctx: StepContext, published: list[str], data: dict[str, bytes],
                    resources: list[dict[str, Any]], files: list[dict[str, Any]]) -> None:
    """Add the charts of ``published`` tables to a release being assembled (in place)."""
    for path, svg in chart_files(ctx, published, set(data)).items():
        digest = sha256_bytes(svg)
        data[path] = svg
        resources.append({"name": path.removesuffix(".svg"), "path": path,
                          "profile": "data-resource", "format": "svg",
                          "mediatype": "image/svg+xml", "bytes": len(svg),
                          "hash": f"sha256:{digest}"})
        files.append({"path": path, "sha256": digest, "bytes": len(svg), "rows": 0})
