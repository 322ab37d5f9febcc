"""Benchmark: ten data-quality rules on a Darwin Core occurrence CSV, polars vs pandera.

Usage: ``.venv/bin/python bench/bench_validation.py [--rows N]`` (default 1,000,000).

Generates the CSV once, then runs each engine in its own subprocess so that its
peak memory (VmHWM, else ``ru_maxrss``) is its own. The polars run goes through the same code
as a pipeline run: the connector's CSV parser, then the ``validate.rules`` step
(rejection report included). The pandera run reads the same file with pandas and
validates an equivalent schema (``lazy=True``, so every failure is collected). The
timed span includes reading the file in both. Prints rows/second, peak memory, the
failures each engine found per rule, and the speed ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

NOW = datetime(2026, 1, 1, tzinfo=UTC)
BASIS = ["HumanObservation", "MachineObservation", "PreservedSpecimen"]
BBOX = [-10.0, 35.0, 5.0, 44.0]  # the demo atlas area (Iberia)
REQUIRED = ["occurrenceID", "scientificName", "eventDate", "decimalLatitude", "decimalLongitude"]
RULES: list[dict[str, Any]] = [
    {"id": "required", "type": "required_columns", "severity": "error", "columns": REQUIRED},
    {"id": "occ-unique", "type": "unique", "severity": "error", "columns": ["occurrenceID"]},
    {"id": "name", "type": "not_null", "severity": "error", "column": "scientificName"},
    {"id": "date", "type": "date", "severity": "error", "column": "eventDate", "min": "1900-01-01"},
    {"id": "coords", "type": "coordinates", "severity": "error", "bbox": BBOX},
    {
        "id": "count",
        "type": "range",
        "severity": "warning",
        "column": "individualCount",
        "min": 1,
        "max": 10000,
    },
    {
        "id": "year",
        "type": "range",
        "severity": "error",
        "column": "year",
        "min": 1900,
        "max": 2026,
    },
    {
        "id": "basis",
        "type": "allowed_values",
        "severity": "error",
        "column": "basisOfRecord",
        "values": BASIS,
    },
    {
        "id": "country",
        "type": "pattern",
        "severity": "warning",
        "column": "countryCode",
        "regex": "[A-Z]{2}",
    },
    {
        "id": "locality",
        "type": "null_fraction",
        "severity": "warning",
        "column": "locality",
        "max_fraction": 0.01,
    },
]


# pandera's names for its built-in checks -> our rule ids.
PANDERA_NAMES = {"not_nullable": "name", "field_uniqueness": "occ-unique"}


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB.

    VmHWM is the high-water mark of this program's own memory; ru_maxrss would also
    count the parent's peak inherited across fork/exec (Linux keeps it over exec).
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_polars(path: Path) -> dict[str, Any]:
    """Read with the connector and run the validate step; return timing and failures."""
    from jobs.connectors.delimited import read_delimited
    from jobs.steps.base import StepContext
    from jobs.steps.validate import validate_rules

    scratch = Path(tempfile.mkdtemp(prefix="bench-polars-"))
    start = time.perf_counter()
    frame = read_delimited(path.read_bytes(), path.name)
    ctx = StepContext(
        run_uuid="bench",
        programme_code="BENCH",
        step_key="validate",
        params={},
        rules=RULES,
        data_root=path.parent,
        publish_root=scratch / "publish",
        work_dir=scratch / "work",
        store_root=scratch / "store",
        now=NOW,
        tables={"data": frame},
        primary_table="data",
    )
    result = validate_rules(ctx)
    seconds = time.perf_counter() - start
    failures = {
        r["id"]: r["failing_rows"] if r["scope"] == "rows" else int(not r["passed"])
        for r in result.details["rules"]
    }
    return {
        "rows": frame.height,
        "seconds": seconds,
        "peak_mb": peak_rss_mb(),
        "failures": failures,
        "rejected": result.rows_rejected,
    }


def run_pandera(path: Path) -> dict[str, Any]:
    """Read with pandas and validate the equivalent pandera schema."""
    import pandas as pd
    import pandera.pandas as pa

    now = pd.Timestamp(NOW.date())

    def number(series: pd.Series) -> pd.Series:
        return pd.to_numeric(series.str.strip(), errors="coerce")

    def date_ok(series: pd.Series) -> pd.Series:
        parsed = pd.to_datetime(
            series.str.strip().str.slice(0, 10), format="%Y-%m-%d", errors="coerce"
        )
        return parsed.notna() & (parsed <= now) & (parsed >= pd.Timestamp("1900-01-01"))

    def coords_ok(frame: pd.DataFrame) -> pd.Series:
        lat, lon = number(frame["decimalLatitude"]), number(frame["decimalLongitude"])
        present = frame["decimalLatitude"].notna() | frame["decimalLongitude"].notna()
        valid = (lat.abs() <= 90) & (lon.abs() <= 180) & ~((lat == 0) & (lon == 0))
        inside = lon.between(BBOX[0], BBOX[2]) & lat.between(BBOX[1], BBOX[3])
        return ~present | (valid & inside)

    schema = pa.DataFrameSchema(
        {
            "occurrenceID": pa.Column(
                nullable=True, unique=True, report_duplicates="exclude_first"
            ),
            "scientificName": pa.Column(
                nullable=False, checks=pa.Check(lambda s: s.str.strip() != "", name="name")
            ),
            "eventDate": pa.Column(nullable=True, checks=pa.Check(date_ok, name="date")),
            "decimalLatitude": pa.Column(nullable=True),
            "decimalLongitude": pa.Column(nullable=True),
            "individualCount": pa.Column(
                nullable=True, checks=pa.Check(lambda s: number(s).between(1, 10000), name="count")
            ),
            "year": pa.Column(
                nullable=True, checks=pa.Check(lambda s: number(s).between(1900, 2026), name="year")
            ),
            "basisOfRecord": pa.Column(
                nullable=True, checks=pa.Check(lambda s: s.isin(BASIS), name="basis")
            ),
            "countryCode": pa.Column(
                nullable=True,
                checks=pa.Check(lambda s: s.str.fullmatch(r"[A-Z]{2}"), name="country"),
            ),
            "locality": pa.Column(nullable=True),
        },
        checks=[
            pa.Check(coords_ok, name="coords"),
            pa.Check(lambda f: f["locality"].isna().mean() <= 0.01, name="locality"),
        ],
    )
    start = time.perf_counter()
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    try:
        schema.validate(frame, lazy=True)
        cases = None
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    seconds = time.perf_counter() - start
    failures: dict[str, int] = {}
    if cases is not None:
        # A frame-wide check reports each failing row once per column: count rows.
        renamed = cases["check"].astype(str).replace(PANDERA_NAMES)
        rows = cases["index"].fillna(-1)
        for check, count in rows.groupby(renamed).nunique().items():
            failures[check] = int(count)
    return {
        "rows": len(frame),
        "seconds": seconds,
        "peak_mb": peak_rss_mb(),
        "failures": failures,
        "rejected": None,
    }


def child(engine: str, path: Path) -> None:
    """Run one engine and print its figures as JSON on stdout."""
    runner = run_polars if engine == "polars" else run_pandera
    print(json.dumps(runner(path)))


def main() -> None:
    """Generate the data, run both engines in subprocesses, print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per engine, each in a fresh process; best kept"
    )
    parser.add_argument("--engine", choices=["polars", "pandera"], help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        # The demo seed's own generator, at scale (with its deliberate defects).
        from portal.services.demo_data import write_occurrences

        write_occurrences(args.file, args.rows)
        return
    if args.engine:
        child(args.engine, args.file)
        return

    with tempfile.TemporaryDirectory(prefix="bench-dwc-") as folder:
        path = Path(folder) / "occurrence.csv"
        started = time.perf_counter()
        # Generated in a subprocess and flushed, so neither engine pays for it.
        command = [sys.executable, __file__, "--generate", "--rows", str(args.rows)]
        subprocess.run([*command, "--file", str(path)], check=True)
        os.sync()
        size_mb = path.stat().st_size / 1e6
        print(
            f"generated {args.rows:,} rows ({size_mb:.0f} MB) in "
            f"{time.perf_counter() - started:.1f} s; {len(RULES)} rules"
        )
        figures = {}
        for engine in ("polars", "pandera"):
            runs = [run_child(engine, path) for _ in range(args.repeat)]
            figures[engine] = min(runs, key=lambda run: run["seconds"])
            figures[engine]["all_seconds"] = [run["seconds"] for run in runs]
    report(figures)


def run_child(engine: str, path: Path) -> dict[str, Any]:
    """Run one engine in a fresh interpreter and return its figures."""
    done = subprocess.run(
        [sys.executable, __file__, "--engine", engine, "--file", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        sys.exit(f"{engine} run failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(figures: dict[str, dict[str, Any]]) -> None:
    """Print the per-engine figures, the failures found per rule and the ratio."""
    print(
        f"{'engine (best run)':<28}{'rows':>11}{'seconds':>9}{'rows/s':>13}{'peak RSS':>11}  runs"
    )
    for engine, label in (("polars", "polars (validate.rules)"), ("pandera", "pandera (pandas)")):
        f = figures[engine]
        runs = " ".join(f"{seconds:.2f}" for seconds in f["all_seconds"])
        print(
            f"{label:<28}{f['rows']:>11,}{f['seconds']:>9.2f}"
            f"{f['rows'] / f['seconds']:>13,.0f}{f['peak_mb']:>8.0f} MB  {runs}"
        )
    print("failing rows per rule, polars / pandera (null_fraction: a table verdict in pandera):")
    for rule in RULES:
        ours = figures["polars"]["failures"].get(rule["id"], 0)
        theirs = figures["pandera"]["failures"].get(rule["id"], 0)
        print(f"  {rule['id']:<12} {ours:>6} / {theirs}")
    print(f"rows rejected by validate.rules: {figures['polars']['rejected']:,}")
    ratio = figures["pandera"]["seconds"] / figures["polars"]["seconds"]
    print(f"speed ratio polars / pandera: {ratio:.1f}x")


if __name__ == "__main__":
    main()
