"""Benchmark: ten data-quality rules on a Darwin Core occurrence CSV, polars vs pandera.

Usage: ``.venv/bin/python bench/bench_validation.py [--rows N] [--repeat R]``
(default 1,000,000 rows, 5 runs of each engine).

Generates a CSV once (under ``$BENCH_DIR`` when set; removed afterwards) with
defects that make EVERY rule find something: the bench stops (exit 1) when a rule
finds nothing or when the two engines disagree on a rule's count. Then it runs
the engines alternately, each run in a fresh subprocess (project, pandera,
project, pandera, ...), so a run's peak memory (VmHWM) is its own and both see
the same machine load.

- project: the connector's CSV parser given the file's path (as ``ingest.csv`` gives
  it the stored copy), then the ``validate.rules`` step as a pipeline run calls it
  (rejection report included);
- pandera: pandas reads the same file (all text, as the connector does) and
  validates the equivalent schema (``lazy=True``: every failure is collected).
  Each check has the rule's semantics (``bench/validation_pandera.py``).

The timed span is reading the file plus validating, in both; the validation alone
is printed too. Goals (issue 13): >= 1,000,000 rows/s on 1M rows, >= 4x pandera
(medians), peak RSS of the project's run <= 400 MB.
"""

from __future__ import annotations

import argparse
import json
import os
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
from validation_data import BBOX, NOW, RULES, generate  # noqa: E402

__all__ = ["BBOX", "NOW", "RULES"]


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


def reset_peak() -> None:
    """Restart the VmHWM high-water mark at the current RSS (Linux), to measure one phase."""
    clear_refs = Path("/proc/self/clear_refs")
    if clear_refs.exists():
        clear_refs.write_text("5")


def cpu_seconds() -> float:
    """CPU time of this process so far (all threads), user plus system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_project(path: Path) -> dict[str, Any]:
    """Read with the connector and run the validate step; return timing and failures."""
    from jobs.connectors.delimited import read_delimited
    from jobs.steps.base import StepContext
    from jobs.steps.validate import validate_rules

    with tempfile.TemporaryDirectory(prefix="bench-project-", dir=path.parent) as tmp:
        scratch = Path(tmp)
        start, cpu = time.perf_counter(), cpu_seconds()
        frame = read_delimited(path, path.name)  # the stored copy's path, as ingest.csv does
        parsed, read_peak = time.perf_counter(), peak_rss_mb()
        reset_peak()
        ctx = StepContext(
            run_uuid="bench", programme_code="BENCH", step_key="validate", params={},
            rules=RULES, data_root=path.parent, publish_root=scratch / "publish",
            work_dir=scratch / "work", store_root=scratch / "store", now=NOW,
            tables={"data": frame}, primary_table="data",
        )
        result = validate_rules(ctx)
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        validate_peak = peak_rss_mb()
    failures = {
        r["id"]: r["failing_rows"] if r["scope"] == "rows" else int(not r["passed"])
        for r in result.details["rules"]
    }
    return {"rows": frame.height, "seconds": seconds,
            "validate_seconds": seconds - (parsed - start), "cpu_seconds": cpu,
            "peak_mb": max(read_peak, validate_peak), "validate_peak_mb": validate_peak,
            "failures": failures, "rejected": result.rows_rejected}


def run_pandera(path: Path) -> dict[str, Any]:
    """Read with pandas and validate the equivalent pandera schema."""
    import pandas as pd
    import pandera.pandas as pa
    from validation_pandera import count_failures, schema

    checks = schema()
    start, cpu = time.perf_counter(), cpu_seconds()
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    parsed, read_peak = time.perf_counter(), peak_rss_mb()
    reset_peak()
    try:
        checks.validate(frame, lazy=True)
        failures: dict[str, int] = {}
    except pa.errors.SchemaErrors as exc:
        failures = count_failures(exc.failure_cases)
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    validate_peak = peak_rss_mb()
    return {"rows": len(frame), "seconds": seconds,
            "validate_seconds": seconds - (parsed - start),
            "cpu_seconds": cpu, "peak_mb": max(read_peak, validate_peak),
            "validate_peak_mb": validate_peak, "failures": failures, "rejected": None}


ENGINES = {"project": run_project, "pandera": run_pandera}
LABELS = {"project": "project (validate.rules)", "pandera": "pandera (pandas)"}


def run_child(engine: str, path: Path) -> dict[str, Any]:
    """Run one engine in a fresh interpreter and return its figures."""
    done = subprocess.run(
        [sys.executable, __file__, "--engine", engine, "--file", str(path)],
        capture_output=True, text=True, cwd=ROOT,
    )
    if done.returncode:
        sys.exit(f"{engine} run failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Generate the data, alternate the engines in subprocesses, print and record goals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5,
                        help="runs per engine, alternating, each in a fresh process")
    parser.add_argument("--engine", choices=sorted(ENGINES), help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        print(json.dumps(ENGINES[args.engine](args.file)))
        return

    runs: dict[str, list[dict[str, Any]]] = {"project": [], "pandera": []}
    with tempfile.TemporaryDirectory(prefix="bench-validation-",
                                     dir=os.environ.get("BENCH_DIR") or None) as folder:
        path = Path(folder) / "occurrence.csv"
        started = time.perf_counter()
        generate(path, args.rows)
        os.sync()
        print(f"generated {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - started:.1f} s; {len(RULES)} rules; "
              f"{args.repeat} runs per engine, alternating, fresh processes; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        for round_number in range(1, args.repeat + 1):
            for engine in ("project", "pandera"):
                figures = run_child(engine, path)
                runs[engine].append(figures)
                print(f"  round {round_number} {engine:<8} {figures['seconds']:6.2f} s "
                      f"(validation {figures['validate_seconds']:.2f} s), CPU "
                      f"{figures['cpu_seconds']:5.2f} s, peak {figures['peak_mb']:4.0f} MB "
                      f"(validation {figures['validate_peak_mb']:.0f} MB)", flush=True)
    sys.exit(report(runs))


def report(runs: dict[str, list[dict[str, Any]]]) -> int:
    """Print the figures, check every rule found something in both engines, record goals.

    Returns the exit status: 1 when a rule found nothing or the engines disagree.
    """
    median = {e: statistics.median(r["seconds"] for r in rs) for e, rs in runs.items()}
    best = {e: min(r["seconds"] for r in rs) for e, rs in runs.items()}
    rows = runs["project"][0]["rows"]
    print("medians of read + validate (validation alone, CPU of all threads); peaks: the "
          "highest run, whole run (validation alone)")
    print(f"{'engine':<26}{'rows':>10}{'median s':>9}{'best s':>7}{'rows/s':>11}"
          f"{'validation s':>13}{'CPU s':>7}{'peak RSS':>18}")
    for engine, engine_runs in runs.items():
        validation = statistics.median(r["validate_seconds"] for r in engine_runs)
        cpu = statistics.median(r["cpu_seconds"] for r in engine_runs)
        peak = max(r["peak_mb"] for r in engine_runs)
        validate_peak = max(r["validate_peak_mb"] for r in engine_runs)
        print(f"{LABELS[engine]:<26}{rows:>10,}{median[engine]:>9.2f}{best[engine]:>7.2f}"
              f"{rows / median[engine]:>11,.0f}{validation:>13.2f}{cpu:>7.2f}"
              f"{peak:>8.0f} MB ({validate_peak:.0f} MB)")

    status = 0
    print("failing rows per rule, project / pandera (table rules: 1 = failed):")
    for rule in RULES:
        counts = {e: {r["failures"].get(rule["id"], 0) for r in rs} for e, rs in runs.items()}
        ours, theirs = counts["project"], counts["pandera"]
        flag = ""
        if 0 in ours or 0 in theirs:
            flag, status = "  <- finds nothing: the data does not exercise this rule", 1
        elif ours != theirs or len(ours) != 1:
            flag, status = "  <- the engines disagree", 1
        print(f"  {rule['id']:<10} {rule['type']:<17} {'/'.join(map(str, sorted(ours))):>7} / "
              f"{'/'.join(map(str, sorted(theirs)))}{flag}")
    print(f"rows rejected by validate.rules: {runs['project'][0]['rejected']:,}")

    rate = rows / median["project"]
    ratio = median["pandera"] / median["project"]
    peak = max(r["peak_mb"] for r in runs["project"])
    n = len(runs["project"])
    reference = (f"pandera {rows / median['pandera']:,.0f} rows/s, {median['pandera']:.2f} s "
                 f"(best {best['pandera']:.2f} s), peak "
                 f"{max(r['peak_mb'] for r in runs['pandera']):.0f} MB; median of {n}, "
                 f"alternating; read + validate")
    cpu = {e: statistics.median(r["cpu_seconds"] for r in rs) for e, rs in runs.items()}
    print(f"speed vs pandera: {ratio:.2f}x on medians, {best['pandera'] / best['project']:.2f}x "
          f"on best runs, {cpu['pandera'] / cpu['project']:.2f}x in CPU time (median); "
          f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    size = f"{rows / 1e6:g}M rows"
    record("validation", f"rows/s on {size}", figure=rate, unit="rows/s", goal=">= 1,000,000",
           met=rate >= 1_000_000, reference=reference)
    record("validation", "speed vs pandera", figure=ratio, unit="x", goal=">= 4x",
           met=ratio >= 4, reference=reference)
    validate_peak = max(r["validate_peak_mb"] for r in runs["project"])
    record("validation", "peak RSS", figure=peak, unit="MB", goal="<= 400 MB",
           met=peak <= 400, reference=f"whole run, reading included; during validation alone "
           f"{validate_peak:.0f} MB; {reference}")
    return status


if __name__ == "__main__":
    main()
