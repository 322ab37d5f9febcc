"""One way for every benchmark to state a goal, its figure and its reference.

Each benchmark calls :func:`record` once per goal it checks. The line is printed at
once (so a benchmark run alone still says whether it met its goals) and, when
``BENCH_RESULTS`` names a file, appended to it as one JSON line; ``make bench``
(scripts/bench.sh) prints every recorded goal as one summary table at the end
(:func:`print_summary`).

    from goals import record
    record("validation", "rows/s on 1M rows", figure=1.2e6, unit="rows/s",
           goal=">= 1,000,000", met=True, reference="pandera 290,000 rows/s",
           database="-")
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def record(bench: str, goal_name: str, *, figure: float, unit: str, goal: str, met: bool,
           reference: str = "", database: str = "-") -> None:
    """Print one goal's outcome and append it to ``$BENCH_RESULTS`` when set."""
    verdict = "MET" if met else "NOT MET"
    ref = f"  (reference: {reference})" if reference else ""
    print(f"GOAL [{bench}|{database}] {goal_name}: {figure:,.4g} {unit}, goal {goal} -> "
          f"{verdict}{ref}", flush=True)
    target = os.environ.get("BENCH_RESULTS")
    if target:
        entry = {"bench": bench, "database": database, "goal_name": goal_name,
                 "figure": figure, "unit": unit, "goal": goal, "met": bool(met),
                 "reference": reference}
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")


def print_summary(path: Path) -> int:
    """Print the recorded goals as one table; return 0 when every goal was met."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] \
        if path.exists() else []
    if not rows:
        print("no benchmark goals were recorded")
        return 1
    print("\n" + "=" * 100)
    print("SUMMARY: every goal, with the reference measured in the same run")
    print(f"{'benchmark':<14} {'db':<10} {'goal':<44} {'figure':>16} {'target':>14}  verdict")
    for row in rows:
        figure = f"{row['figure']:,.4g} {row['unit']}"
        print(f"{row['bench']:<14} {row['database']:<10} {row['goal_name'][:44]:<44} "
              f"{figure:>16} {row['goal']:>14}  {'met' if row['met'] else 'NOT MET'}")
        if row.get("reference"):
            print(f"{'':<26}reference: {row['reference']}")
    missed = sum(1 for row in rows if not row["met"])
    print(f"{len(rows) - missed} of {len(rows)} goals met")
    return 0 if missed == 0 else 1


if __name__ == "__main__":
    sys.exit(print_summary(Path(sys.argv[1])))
