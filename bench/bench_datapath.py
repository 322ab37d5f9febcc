"""Benchmark: a real run's data path (ingest.csv + validate.rules) against plain polars.

Usage: ``.venv/bin/python bench/bench_datapath.py [--sizes 1000000 10000000] [--repeat 3]
[--large 50000000]``.

The data is the Portal ant census (``/work/shared/data/portal-ants``) scaled up: its
rows sampled with replacement, with defects injected so that every rule finds
something (unknown species, plots outside 1-24, bad colony counts, future years,
missing days, bad flags, empty species, 0.5% exact repeats; stakes are numbered so
that sampled rows do not otherwise repeat). For each size the project and the
reference run alternately, each in a fresh interpreter, ``--repeat`` times:

- project: the ``ingest.csv`` step (date built from day/month/year) then the
  ``validate.rules`` step, called as a run calls them (a StepContext; the input is
  hashed and copied into the store, the output fingerprinted, the rejection report
  written);
- reference: ``pl.read_csv`` + the same checks written directly in polars, writing
  the same rejection rows.

Each child reports its wall time and peak RSS (VmHWM); the parent prints median and
best per side, the ratios of medians, checks that both found the same failing rows
per rule, and records the goals with ``bench/goals.py``. ``--large N`` also validates
N rows through the bounded-memory path (lazy ingest, batched validation) and prints
its time and peak memory. Temporary files go under ``$BENCH_DIR`` (else the system
temporary folder) and are removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

SHARED = Path(os.environ.get("SHARED_DATA", "/work/shared/data")) / "portal-ants"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
TARGET = 1.3
KEY = ["year", "month", "day", "plot", "stake", "species"]
RULES: list[dict[str, Any]] = [
    {"id": "species-known", "type": "allowed_values", "severity": "error", "column": "species",
     "vocabulary": {"source": "species.csv", "column": "speciescode"}},
    {"id": "species-present", "type": "not_null", "severity": "error", "column": "species"},
    {"id": "plot-range", "type": "range", "severity": "error", "column": "plot",
     "min": 1, "max": 24},
    {"id": "colonies-range", "type": "range", "severity": "warning", "column": "colonies",
     "min": 0, "max": 500},
    {"id": "year-range", "type": "range", "severity": "error", "column": "year",
     "min": 1977, "max": 2026},
    {"id": "date-valid", "type": "date", "severity": "error", "column": "eventDate",
     "min": "1977-01-01"},
    {"id": "day-known", "type": "null_fraction", "severity": "info", "column": "day",
     "max_fraction": 0.01},
    {"id": "flag-code", "type": "pattern", "severity": "warning", "column": "flag",
     "regex": "[0-9]{1,2}"},
    {"id": "no-repeats", "type": "unique", "severity": "warning", "columns": KEY},
]
INGEST_PARAMS = {"source": "census.csv",
                 "mapping": {"date_from": {"day": "day", "month": "month", "year": "year"}}}


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB (VmHWM: its own, not the parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(path: Path, rows: int, seed: int = 13) -> None:
    """Write ``rows`` census rows sampled from the real census, with injected defects."""
    import numpy as np
    import polars as pl

    base = pl.read_csv(SHARED / "Portal_ant_colony.csv", infer_schema=False)
    rng = np.random.default_rng(seed)
    step = 2_000_000
    with path.open("wb") as handle:
        for offset in range(0, rows, step):
            count = min(step, rows - offset)
            part = base[rng.integers(0, base.height, count)]
            roll = pl.Series(rng.random(count))
            part = part.with_columns(
                species=pl.when(roll < 0.002).then(pl.lit("zzzz unkn"))
                .when(roll < 0.003).then(pl.lit(None)).otherwise("species"),
                plot=pl.when((roll >= 0.003) & (roll < 0.005)).then(pl.lit("99"))
                .when((roll >= 0.005) & (roll < 0.006)).then(pl.lit("n/a")).otherwise("plot"),
                colonies=pl.when((roll >= 0.006) & (roll < 0.008)).then(pl.lit("-2"))
                .otherwise("colonies"),
                year=pl.when((roll >= 0.008) & (roll < 0.009)).then(pl.lit("2031"))
                .otherwise("year"),
                flag=pl.when((roll >= 0.009) & (roll < 0.010)).then(pl.lit("x"))
                .otherwise("flag"),
                # Stakes numbered on: sampled rows do not repeat by chance...
                stake=pl.int_range(offset, offset + count).cast(pl.String),
            )
            # ...but 0.5% of the rows repeat the row before them exactly.
            order = np.arange(count)
            repeats = (roll.to_numpy() >= 0.010) & (roll.to_numpy() < 0.015) & (order > 0)
            order[repeats] -= 1
            part = part[order]
            part.write_csv(handle, include_header=offset == 0)


# --- the two sides -----------------------------------------------------------------------


def run_project(folder: Path, large: bool = False) -> dict[str, Any]:
    """ingest.csv then validate.rules, as a run executes them."""
    from jobs.registry import get_step
    from jobs.steps.base import StepContext

    def context(key: str, params: dict[str, Any], tables: dict, primary: str | None,
                lineage: dict) -> StepContext:
        return StepContext(run_uuid="bench", programme_code="BENCH", step_key=key,
                           params=params, rules=RULES, data_root=folder / "data",
                           publish_root=folder / "run" / "publish",
                           work_dir=folder / "run" / "work", store_root=folder / "run" / "store",
                           now=NOW, tables=tables, primary_table=primary, lineage=lineage)

    # The step modules are loaded before the clock starts (a worker has them loaded).
    ingest, validate = get_step("ingest.csv"), get_step("validate.rules")
    start = time.perf_counter()
    tables: dict[str, Any] = {}
    ingest_ctx = context("ingest", {**INGEST_PARAMS, **({"lazy": True} if large else {})},
                         tables, None, {"inputs": [], "outputs": [], "release": None})
    ingested = ingest(ingest_ctx)
    tables.update(ingested.tables)
    validate_ctx = context("validate", {}, tables, ingest_ctx.primary_table, ingest_ctx.lineage)
    result = validate(validate_ctx)
    seconds = time.perf_counter() - start
    failures = {r["id"]: r["failing_rows"] for r in result.details["rules"]}
    shutil.rmtree(folder / "run", ignore_errors=True)
    return {"seconds": seconds, "peak_mb": peak_rss_mb(), "rows": result.rows_in,
            "failures": failures, "rejected": result.rows_rejected}


def run_reference(folder: Path) -> dict[str, Any]:
    """Plain polars: read the file, build the date, check the same rules, write rejections."""
    import polars as pl

    start = time.perf_counter()
    frame = pl.read_csv(folder / "data" / "census.csv", infer_schema=False)
    species = pl.read_csv(folder / "data" / "species.csv", infer_schema=False)
    known = species.get_column("speciescode").drop_nulls().unique()

    def part(column: str, width: int) -> pl.Expr:
        text = pl.col(column).str.strip_chars()
        return pl.when(text.str.contains(r"^\d+$")).then(text.str.zfill(width))

    iso = pl.concat_str([part("year", 4), part("month", 2), part("day", 2)], separator="-")
    frame = frame.with_columns(eventDate=iso.str.to_date("%Y-%m-%d", strict=False)
                               .dt.to_string("%Y-%m-%d"))

    def out_of_range(column: str, low: float, high: float) -> pl.Expr:
        number = pl.col(column).str.strip_chars().cast(pl.Float64, strict=False)
        bad = number.is_null() | number.is_nan() | (number < low) | (number > high)
        return pl.col(column).is_not_null() & bad

    def empty(column: str) -> pl.Expr:
        return pl.col(column).is_null() | (pl.col(column).str.strip_chars() == "")

    day = pl.col("eventDate").str.strip_chars().str.to_date("%Y-%m-%d", strict=False)
    key = pl.struct(KEY)
    masks = {
        "species-known": pl.col("species").is_not_null()
        & ~pl.col("species").is_in(known.implode()),
        "species-present": empty("species"),
        "plot-range": out_of_range("plot", 1, 24),
        "colonies-range": out_of_range("colonies", 0, 500),
        "year-range": out_of_range("year", 1977, 2026),
        "date-valid": pl.col("eventDate").is_not_null()
        & (day.is_null() | (day > NOW.date()) | (day < date(1977, 1, 1))),
        "day-known": empty("day"),
        "flag-code": pl.col("flag").is_not_null()
        & ~pl.col("flag").str.contains("^(?:[0-9]{1,2})$"),
        "no-repeats": pl.any_horizontal([pl.col(c).is_not_null() for c in KEY])
        & ~key.is_first_distinct(),
    }
    flagged = frame.with_columns(**{name: mask.fill_null(False) for name, mask in masks.items()})
    failures = flagged.select(pl.col(list(masks)).sum()).row(0, named=True)
    ids = pl.concat_str([pl.when(pl.col(name)).then(pl.lit(name)) for name in masks],
                        separator=";", ignore_nulls=True)
    rejected = (flagged.with_row_index("_row").filter(pl.any_horizontal(list(masks)))
                .select(pl.exclude(list(masks)), ids.alias("_rule_ids")))
    (folder / "ref").mkdir(exist_ok=True)
    rejected.write_csv(folder / "ref" / "rejections.csv")
    seconds = time.perf_counter() - start
    shutil.rmtree(folder / "ref", ignore_errors=True)
    return {"seconds": seconds, "peak_mb": peak_rss_mb(), "rows": frame.height,
            "failures": {k: int(v) for k, v in failures.items()}, "rejected": rejected.height}


# --- the parent ---------------------------------------------------------------------------


def run_child(side: str, folder: Path) -> dict[str, Any]:
    """Run one side in a fresh interpreter; return its figures."""
    done = subprocess.run([sys.executable, __file__, "--child", side, "--folder", str(folder)],
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{side} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def prepare(folder: Path, rows: int) -> float:
    """Generate the census and the vocabulary under ``folder/data``; return the MB written."""
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SHARED / "Portal_ant_species.csv", data / "species.csv")
    subprocess.run([sys.executable, __file__, "--generate", str(rows), "--folder", str(folder)],
                   check=True)
    os.sync()
    return (data / "census.csv").stat().st_size / 1e6


def measure(folder: Path, rows: int, repeat: int) -> None:
    """Alternate project and reference ``repeat`` times at one size; print and record."""
    from goals import record

    started = time.perf_counter()
    size_mb = prepare(folder, rows)
    print(f"\n{rows:,} rows ({size_mb:,.0f} MB), generated in "
          f"{time.perf_counter() - started:.1f} s; {len(RULES)} rules, {repeat} runs each")
    runs: dict[str, list[dict[str, Any]]] = {"project": [], "reference": []}
    for _ in range(repeat):
        for side in ("project", "reference"):
            runs[side].append(run_child(side, folder))
    print(f"{'side':<34}{'median s':>10}{'best s':>9}{'median MB':>11}{'best MB':>9}  runs (s)")
    medians = {}
    for side, label in (("project", "project (ingest.csv + validate)"),
                        ("reference", "reference (plain polars)")):
        seconds = [run["seconds"] for run in runs[side]]
        peaks = [run["peak_mb"] for run in runs[side]]
        medians[side] = (statistics.median(seconds), statistics.median(peaks))
        print(f"{label:<34}{medians[side][0]:>10.2f}{min(seconds):>9.2f}"
              f"{medians[side][1]:>11.0f}{min(peaks):>9.0f}  "
              + " ".join(f"{value:.2f}" for value in seconds))
    ours, theirs = runs["project"][0], runs["reference"][0]
    same = ours["failures"] == theirs["failures"] and ours["rejected"] == theirs["rejected"]
    print("failing rows per rule, project / reference: "
          + ", ".join(f"{rule['id']} {ours['failures'].get(rule['id'])}/"
                      f"{theirs['failures'].get(rule['id'])}" for rule in RULES)
          + f"; rows rejected {ours['rejected']:,}/{theirs['rejected']:,}"
          + ("" if same else "  <-- THE SIDES DISAGREE"))
    label = f"{rows / 1e6:g}M"
    time_ratio = medians["project"][0] / medians["reference"][0]
    memory_ratio = medians["project"][1] / medians["reference"][1]
    record("datapath", f"time ratio {label}", figure=time_ratio, unit="x", goal=f"<= {TARGET}",
           met=same and time_ratio <= TARGET,
           reference=f"plain polars {medians['reference'][0]:.2f} s, project "
                     f"{medians['project'][0]:.2f} s (medians of {repeat})")
    record("datapath", f"memory ratio {label}", figure=memory_ratio, unit="x",
           goal=f"<= {TARGET}", met=same and memory_ratio <= TARGET,
           reference=f"plain polars {medians['reference'][1]:.0f} MB, project "
                     f"{medians['project'][1]:.0f} MB peak RSS (medians of {repeat})")


def measure_large(folder: Path, rows: int) -> None:
    """Validate ``rows`` rows through the bounded-memory path once; print time and peak."""
    size_mb = prepare(folder, rows)
    figures = run_child("large", folder)
    print(f"\nbounded-memory path, {rows:,} rows ({size_mb:,.0f} MB): "
          f"{figures['seconds']:.1f} s, peak RSS {figures['peak_mb']:,.0f} MB, "
          f"{figures['rejected']:,} rows rejected")


def row_count(rows: str) -> str:
    """Parse a size such as ``1000000``, ``1e6`` or ``10M``."""
    text = rows.strip().upper()
    factor = 1_000_000 if text.endswith("M") else 1
    return str(int(float(text.rstrip("M")) * factor))


def main() -> None:
    """Parse the arguments; run a child, or the whole comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=row_count, default=["1000000", "10000000"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--large", type=row_count, default=None,
                        help="also validate this many rows through the bounded-memory path")
    parser.add_argument("--child", choices=["project", "reference", "large"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--generate", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate(args.folder / "data" / "census.csv", args.generate)
        return
    if args.child:
        runner = {"project": run_project, "reference": run_reference,
                  "large": lambda folder: run_project(folder, large=True)}[args.child]
        print(json.dumps(runner(args.folder)))
        return
    base = os.environ.get("BENCH_DIR") or None
    folder = Path(tempfile.mkdtemp(prefix="bench-datapath-", dir=base))
    try:
        for rows in args.sizes:
            measure(folder, int(rows), args.repeat)
        if args.large:
            measure_large(folder, int(args.large))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
