"""Benchmark: the transform steps against the same operations written directly in polars.

Usage: ``.venv/bin/python bench/bench_transforms.py [--occurrences N] [--events M]
[--rounds R]`` (default 10,000,000 occurrences, 1,000,000 events, 2 rounds).

Generates an event-core data set once (parquet): events (eventID, locationID, year,
samplingEffort) and occurrences (eventID, scientificName, individualCount,
occurrenceStatus). The work, in both implementations:

1. join occurrences to events on eventID (many_to_one, checked);
2. filter: ``occurrenceStatus = 'present' and individualCount > 0``;
3. aggregate the maximum count per event and species;
4. aggregate the sum of those maxima per site, year and species;
5. complete against the surveys (the events table): site × year × species grid, 0
   where surveyed and not recorded, missing where not surveyed, effort summed.

"project" runs the registered ``transform.*`` steps through a StepContext, as the
runner does (one collect per step, row counts, cardinality checks, fingerprints).
"reference" is the same work as one lazy polars query, as a polars user would write
it. Each measurement runs in a fresh subprocess (project, reference, project,
reference, ...); the timed span excludes reading the parquet files; peak memory is
the subprocess's ``ru_maxrss`` (inputs included in both). Both must produce the
same grid (row count, sums, cells). Goal: within 1.3x of direct polars.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from goals import record  # noqa: E402

SITES_PER_EVENT = 40  # 1,000,000 events -> 25,000 sites
YEARS = 50
TAXA = 20
KEYS = ["locationID", "year", "scientificName"]


def generate(folder: Path, occurrences: int, events: int) -> None:
    """Write events.parquet and occurrences.parquet (seeded, reproducible)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(7)
    sites = max(events // SITES_PER_EVENT, 1)
    event_ids = np.arange(events)
    pl.DataFrame({
        "eventID": pl.Series(event_ids).cast(pl.String).str.zfill(8),
        "locationID": pl.Series(rng.integers(0, sites, events)).cast(pl.String).str.zfill(6),
        "year": rng.integers(2000, 2000 + YEARS, events),
        "samplingEffort": rng.choice([30.0, 45.0, 60.0], events),
    }).write_parquet(folder / "events.parquet")
    taxa = [f"Species {i:02d}" for i in range(TAXA)]
    pl.DataFrame({
        "eventID": pl.Series(rng.integers(0, events, occurrences)).cast(pl.String).str.zfill(8),
        "scientificName": pl.Series(rng.integers(0, TAXA, occurrences)).map_elements(
            taxa.__getitem__, return_dtype=pl.String) if occurrences < 1000 else
        pl.Series([taxa], dtype=pl.List(pl.String)).explode().gather(
            pl.Series(rng.integers(0, TAXA, occurrences))),
        "individualCount": rng.integers(0, 20, occurrences),
        "occurrenceStatus": pl.Series(["present", "absent"]).gather(
            pl.Series((rng.random(occurrences) < 0.1).astype("int64"))),
    }).write_parquet(folder / "occurrences.parquet")


def run_project(tables: dict[str, Any], work: Path) -> Any:
    """The pipeline's transform steps, run the way the runner runs them."""
    from jobs.registry import get_step
    from jobs.steps.base import StepContext

    steps = [
        ("transform.join", {"left": "occurrences", "right": "events", "on": ["eventID"],
                            "cardinality": "many_to_one"}),
        ("transform.filter", {"condition": "occurrenceStatus = 'present' and "
                                           "individualCount > 0"}),
        ("transform.aggregate", {"by": ["eventID", *KEYS], "as": "per_event", "aggregations": [
            {"column": "individualCount", "function": "max", "as": "count"}]}),
        ("transform.aggregate", {"table": "per_event", "by": KEYS, "as": "per_site",
                                 "aggregations": [
                                     {"column": "count", "function": "sum", "as": "count"}]}),
        ("transform.complete", {"table": "per_site", "surveys": "events", "site": "locationID",
                                "period": "year", "taxon": "scientificName", "values": ["count"],
                                "effort": "samplingEffort", "as": "grid"}),
    ]
    primary = "occurrences"
    for index, (type_name, params) in enumerate(steps):
        ctx = StepContext(run_uuid="bench", programme_code="BENCH", step_key=f"s{index}",
                          params=params, rules=[], data_root=work, publish_root=work,
                          work_dir=work, store_root=work, tables=tables, primary_table=primary)
        result = get_step(type_name)(ctx)
        tables.update(result.tables)
    return tables["grid"]


def run_reference(tables: dict[str, Any]) -> Any:
    """The same work as one lazy polars query."""
    import polars as pl

    events = tables["events"].lazy()
    per_site = (
        tables["occurrences"].lazy()
        .join(events, on="eventID", how="inner", validate="m:1")
        .filter((pl.col("occurrenceStatus") == "present") & (pl.col("individualCount") > 0))
        .group_by(["eventID", *KEYS]).agg(pl.col("individualCount").max().alias("count"))
        .group_by(KEYS).agg(pl.col("count").sum())
    )
    surveys = events.group_by(["locationID", "year"]).agg(
        pl.col("samplingEffort").sum(), pl.lit(True).alias("surveyed"))
    grid = (
        events.select("locationID").unique()
        .join(events.select("year").unique(), how="cross")
        .join(per_site.select("scientificName").unique(), how="cross")
        .join(surveys, on=["locationID", "year"], how="left")
        .join(per_site, on=KEYS, how="left")
        .with_columns(pl.col("surveyed").fill_null(False))
        .with_columns(pl.when(pl.col("surveyed")).then(pl.col("count").fill_null(0))
                      .alias("count"))
        .select(*KEYS, "surveyed", "samplingEffort", "count")
        .sort(KEYS)
    )
    return grid.collect()


def measure(kind: str, folder: Path) -> dict[str, Any]:
    """Run one implementation in this process and report time, memory and the result."""
    import polars as pl

    tables = {"occurrences": pl.read_parquet(folder / "occurrences.parquet"),
              "events": pl.read_parquet(folder / "events.parquet")}
    loaded_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    if kind == "project":
        with tempfile.TemporaryDirectory() as work:
            grid = run_project(tables, Path(work))
    else:
        grid = run_reference(tables)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary = grid.select(pl.len().alias("rows"), pl.col("count").sum().alias("count"),
                          pl.col("count").is_null().sum().alias("missing"),
                          (pl.col("count") == 0).sum().alias("zeros"),
                          pl.col("samplingEffort").sum().alias("effort"))
    cells = grid.select(*KEYS, pl.col("count").cast(pl.Float64)).hash_rows(seed=0).sum()
    return {"kind": kind, "seconds": seconds, "peak_mb": peak_mb, "loaded_mb": loaded_mb,
            "result": {**summary.row(0, named=True), "cells_hash": int(cells)}}


def main() -> None:
    """Generate the data, alternate the implementations in subprocesses, print ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--occurrences", type=int, default=10_000_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--measure", choices=["project", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.data)))
        return

    with tempfile.TemporaryDirectory(prefix="bench-transforms-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        generate(folder, args.occurrences, args.events)
        print(f"generated {args.occurrences:,} occurrences and {args.events:,} events "
              f"in {time.perf_counter() - started:.1f} s")
        runs: dict[str, list[dict[str, Any]]] = {"project": [], "reference": []}
        for round_number in range(1, args.rounds + 1):
            for kind in ("project", "reference"):
                out = subprocess.run(
                    [sys.executable, __file__, "--measure", kind, "--data", str(folder)],
                    capture_output=True, text=True, cwd=ROOT)
                if out.returncode:
                    sys.exit(f"{kind} failed:\n{out.stderr}")
                report = json.loads(out.stdout.strip().splitlines()[-1])
                runs[kind].append(report)
                print(f"round {round_number} {kind:<9} {report['seconds']:7.2f} s  "
                      f"peak {report['peak_mb']:8.0f} MB  (inputs loaded: "
                      f"{report['loaded_mb']:.0f} MB)")
    results = {kind: reports[0]["result"] for kind, reports in runs.items()}
    same = all(r["result"] == results["project"] for rs in runs.values() for r in rs)
    print(f"grid: {results['project']['rows']:,} rows, {results['project']['zeros']:,} zeros, "
          f"{results['project']['missing']:,} missing; identical results: {same}")
    if not same:
        print(json.dumps(results, indent=1))
    seconds = {k: statistics.median(r["seconds"] for r in rs) for k, rs in runs.items()}
    peak = {k: statistics.median(r["peak_mb"] for r in rs) for k, rs in runs.items()}
    time_ratio = seconds["project"] / seconds["reference"]
    memory_ratio = peak["project"] / peak["reference"]
    print(f"median time:  project {seconds['project']:.2f} s, reference "
          f"{seconds['reference']:.2f} s, ratio {time_ratio:.2f}x")
    print(f"median peak:  project {peak['project']:.0f} MB, reference "
          f"{peak['reference']:.0f} MB, ratio {memory_ratio:.2f}x")
    size = f"{args.occurrences / 1e6:g}M occurrences"
    reference = (f"direct polars {seconds['reference']:.2f} s, {peak['reference']:.0f} MB "
                 f"(median of {args.rounds}, alternating)")
    record("transforms", f"time ratio, {size}", figure=time_ratio, unit="x", goal="<= 1.3",
           met=time_ratio <= 1.3, reference=reference)
    record("transforms", f"memory ratio, {size}", figure=memory_ratio, unit="x", goal="<= 1.3",
           met=memory_ratio <= 1.3, reference=reference)
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
