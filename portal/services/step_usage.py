"""One honest sentence about the rows a step used, for the run timeline.

Steps record ``details["usage"]`` (``jobs.steps.usage``): the rows of the table they
read, how many they used, which they left out and why, and how many of the rows used
had failed rules in an earlier validation. A validation flags rows and removes none,
so its sentence says so instead of "out … rejected …".
"""

from __future__ import annotations

from typing import Any


def _n(value: int) -> str:
    return f"{value:,}"


def _reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{reason.replace('_', ' ')}: {_n(n)}" for reason, n in counts.items())


def usage_sentence(details: dict[str, Any] | None) -> str | None:
    """The sentence for a step's ``details``, or None when it recorded no usage.

    Examples: "used 19,805 of 20,000 rows of occurrence (195 excluded — count missing:
    195)"; "used all 20,000 rows of occurrence; includes 195 rows that failed rules in
    the validation (dup-id: 195), flagged but not removed"; "checked 20,000 rows of
    occurrence: 195 failed a rule and are flagged, not removed".
    """
    usage = (details or {}).get("usage")
    if not isinstance(usage, dict) or not isinstance(usage.get("rows"), int):
        return None
    rows, table = usage["rows"], usage.get("table") or "the table"
    if "flagged" in usage:  # a validation
        flagged = int(usage["flagged"] or 0)
        if not flagged:
            return f"checked {_n(rows)} rows of {table}: every row passed every row rule"
        return (f"checked {_n(rows)} rows of {table}: {_n(flagged)} failed a rule and are "
                "flagged, not removed (transform.exclude_rejected removes them)")
    used = int(usage.get("used", rows))
    if used == rows:
        sentence = f"used all {_n(rows)} rows of {table}"
    else:
        sentence = f"used {_n(used)} of {_n(rows)} rows of {table} ({_n(rows - used)} excluded"
        excluded = usage.get("excluded") or {}
        sentence += f" — {_reasons(excluded)})" if excluded else ")"
    flagged_used = usage.get("flagged_used") or {}
    if flagged_used.get("rows"):
        rules = flagged_used.get("rules") or {}
        sentence += (f"; includes {_n(flagged_used['rows'])} rows that failed rules in the "
                     "validation" + (f" ({_reasons(rules)})" if rules else "")
                     + ", flagged but not removed")
    return sentence
