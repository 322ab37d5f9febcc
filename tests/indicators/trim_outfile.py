"""Readers for the TRIM 3 test cases: command files (.tcf), data (.dat) and output (.out).

Only what the skylark cases use: the figures of the *final* model in an output file
(after stepwise selection, when there was one), as plain numbers with the number of
decimals they were printed with, so tests can compare at the printed precision.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

CASES = Path(__file__).parent / "trim_cases"
NUMBER = r"-?\d+(?:\.\d+)?"
SUMMARY = {
    "removed_sites": r"Number of sites without positive counts \(removed\)",
    "n_zero": "Number of observed zero counts",
    "n_positive": "Number of observed positive counts",
    "n_observed": "Total number of observed counts",
    "n_missing": "Number of missing counts",
    "n_counts": "Total number of counts",
    "total_count": "Total count",
}


@dataclass(frozen=True)
class Printed:
    """A printed number and its precision (half a unit in the last printed place)."""

    value: float
    half_unit: float

    @classmethod
    def of(cls, text: str) -> Printed:
        decimals = len(text.split(".")[1]) if "." in text else 0
        return cls(float(text), 0.5 * 10.0**-decimals)


@dataclass
class Command:
    """A parsed .tcf command file."""

    file: str
    ntimes: int
    ncovars: int
    labels: list[str]
    missing: float
    weight: bool
    model: int = 3
    overdisp: bool = False
    serialcor: bool = False
    changepoints: list[int] = field(default_factory=list)
    covariates: list[int] = field(default_factory=list)
    stepwise: bool = False
    overall_changepoints: list[int] = field(default_factory=list)


def read_tcf(name: str) -> Command:
    """Read ``trim_cases/<name>.tcf``."""
    lines = [ln.strip() for ln in (CASES / f"{name}.tcf").read_text().splitlines()]
    values: dict[str, str] = {}
    labels: list[str] = []
    in_labels = False
    for line in lines:
        if not line:
            continue
        key, _, rest = line.partition(" ")
        key = key.lower()
        if in_labels:
            if key == "end":
                in_labels = False
            else:
                labels.append(line)
            continue
        if key == "labels":
            in_labels = True
        else:
            values[key] = rest.strip()

    def ints(text: str) -> list[int]:
        return [int(x) for x in text.split()]

    return Command(
        file=Path(values["file"]).name,
        ntimes=int(values["ntimes"]),
        ncovars=int(values["ncovars"]),
        labels=labels,
        missing=float(values["missing"]),
        weight=values["weight"].lower() == "present",
        model=int(values.get("model", 3)),
        overdisp=values.get("overdisp", "off").lower() == "on",
        serialcor=values.get("serialcor", "off").lower() == "on",
        changepoints=ints(values.get("changepoints", "")),
        covariates=ints(values.get("covariates", "")),
        stepwise=values.get("stepwise", "off").lower() == "on",
        overall_changepoints=ints(values.get("overallchangepoints", "")),
    )


def read_dat(command: Command) -> list[list[float]]:
    """Records of the data file: site, time, count (None if missing), [weight], covariates."""
    rows = []
    for line in (CASES / command.file).read_text().splitlines():
        parts = line.split()
        if not parts:
            continue
        row: list = [float(x) for x in parts]
        if row[2] == command.missing:
            row[2] = None
        rows.append(row)
    return rows


def _rows(lines: list[str], start: int) -> list[list[str]]:
    """Numeric rows after line ``start`` until a line that does not start with a number."""
    rows = []
    for line in lines[start + 1 :]:
        parts = line.split()
        if not parts and rows:
            break
        if parts and re.fullmatch(NUMBER, parts[0]):
            rows.append(parts)
        elif rows:
            break
    return rows


def _last(lines: list[str], pattern: str) -> int | None:
    hits = [k for k, line in enumerate(lines) if re.search(pattern, line)]
    return hits[-1] if hits else None


def read_out(name: str) -> dict:
    """The final model's figures from ``trim_cases/<name>.out``."""
    lines = (CASES / f"{name}.out").read_text().replace("\r", "").splitlines()
    out: dict = {"version": re.search(r"TRIM (\d\.\d+)", lines[0]).group(1)}
    summary = {}
    for key, label in SUMMARY.items():
        k = _last(lines, rf"^\s*{label}\s+{NUMBER}\s*$")
        summary[key] = float(lines[k].split()[-1]) if k is not None else None
    summary["n_sites"] = int(re.search(r"Site\s+number of values:\s+(\d+)", "\n".join(lines))[1])
    out["summary"] = summary
    for key, pattern in (("sig2", "Estimated Overdispersion"), ("rho", "Serial Correlation")):
        k = _last(lines, pattern)
        if k is not None:
            out[key] = Printed.of(lines[k].split("=")[1].strip())
    for key, label in (("chi2", "Chi-square"), ("lr", "Likelihood Ratio")):
        m = re.search(rf"{label}\s+({NUMBER}), df\s+(\d+), p\s+({NUMBER})",
                      lines[_last(lines, label)])
        out[key] = (Printed.of(m.group(1)), int(m.group(2)), Printed.of(m.group(3)))
    out["aic"] = Printed.of(lines[_last(lines, "AIC")].split()[-1])
    wald: dict = {}
    for key, title in (("slope", "SLOPE PARAMETER"), ("deviations", "DEVIATIONS FROM")):
        k = _last(lines, title)
        if k is not None:
            m = re.search(rf"Wald-Test\s+({NUMBER}), df\s+(\d+), p\s+({NUMBER})", lines[k + 1])
            wald[key] = [(None, Printed.of(m.group(1)), int(m.group(2)), Printed.of(m.group(3)))]
    for key, title in (("covariate", "SIGNIFICANCE OF COVARIATES"), ("change", "CHANGES IN SLOPE")):
        k = _last(lines, title)
        if k is not None:
            rows = _rows(lines, k + 1) if key == "change" else [
                ln.split() for ln in lines[k + 2 :] if len(ln.split()) == 4
            ][:1]
            wald[key] = [(r[0], Printed.of(r[1]), int(r[2]), Printed.of(r[3])) for r in rows]
    out["wald"] = wald
    out["stepwise"] = [
        (int(m.group(1)), Printed.of(m.group(2)))
        for line in lines
        if (m := re.search(rf"Deleted ChangePoint\s+(\d+)\s+Significance to delete\s+({NUMBER})",
                           line))
    ]
    out["coefficients"] = _coefficients(lines)
    for key, title in (("indices", "Time INDICES"), ("totals", "TIME TOTALS")):
        rows = _rows(lines, _last(lines, title))
        out[key] = [[Printed.of(x) for x in r] for r in rows]
    out["slopes"] = _slopes(lines)
    return out


def _coefficients(lines: list[str]) -> dict:
    """Parameter estimates: ``times``, ``slope``, ``intervals``, ``trend``, ``deviations``."""
    start = _last(lines, "PARAMETER ESTIMATES")
    end = _last(lines, "Time INDICES")
    block = lines[start:end]
    found: dict = {"rows": []}
    group, interval = "baseline", None
    for k, line in enumerate(block):
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "Constant" and len(parts) == 1:
            group = "baseline"
        elif parts[0] == "Category":
            group = f"category {parts[1]}"
            parts = parts[2:]
            if len(parts) == 4 and interval is not None:
                found["rows"].append((group, interval, [Printed.of(x) for x in parts]))
                continue
        elif parts[0] == "from" and parts[1] == "upto" and len(parts) == 2:
            interval = tuple(int(x) for x in block[k + 1].split())
            continue
        if parts and parts[0] == "Constant" and len(parts) == 5:
            group, parts = "baseline", parts[1:]
            found["rows"].append((group, interval, [Printed.of(x) for x in parts]))
            continue
        if parts and parts[0] == "Slope" and len(parts) == 5:
            key = "trend" if "Deviations" in " ".join(block[:k]) else "slope"
            found[key] = [Printed.of(x) for x in parts[1:]]
            continue
        if parts and parts[0] == "Time" and len(parts) == 6:
            parts = parts[1:]
        numeric = all(re.fullmatch(NUMBER, x) for x in parts)
        if numeric and len(parts) == 3 and parts[1:] == ["0", "1"]:  # base time: "1  0  1"
            zero, one = Printed.of("0.0000"), Printed.of("1.0000")
            found["rows"].append((group, int(parts[0]), [zero, zero, one, zero]))
            continue
        if not numeric or len(parts) < 3:
            continue
        if "Time Deviations" in " ".join(block[:k]):
            found.setdefault("deviations", []).append([Printed.of(x) for x in parts[1:]])
        elif len(parts) == 6:  # from upto add se mul se
            found["rows"].append((group, (int(parts[0]), int(parts[1])),
                                  [Printed.of(x) for x in parts[2:]]))
        elif len(parts) == 5:  # time add se mul se
            found["rows"].append((group, int(parts[0]), [Printed.of(x) for x in parts[1:]]))
    return found


def _slopes(lines: list[str]) -> dict:
    """Overall slopes by variant, with the verdict text TRIM 3.61 prints."""
    slopes: dict = {}
    for k, line in enumerate(lines):
        if "OVERALL SLOPE" not in line:
            continue
        source = "imputed" if "IMPUTED" in line else "model"
        if "FOR TIME INTERVALS" in line:
            rows = _rows(lines, k + 1)
            slopes[f"{source}_intervals"] = [[Printed.of(x) for x in r[2:]] for r in rows]
            continue
        key = f"{source}_base" if "through base" in line else source
        values = [Printed.of(x) for x in lines[k + 2].split()]
        verdict = line.split(":", 1)[1].rstrip(" *").strip() if ":" in line else None
        slopes[key] = (values, verdict)
    return slopes
