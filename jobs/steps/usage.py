"""What a step actually used, in words a reviewer can trust.

A step's ``details["usage"]`` says how many of its input rows it read, which it left
out and why, and how many rows it read although they failed warning rules in an
earlier ``validate.rules`` step (which flags rows, never removes them). The run page
turns it into one sentence (``portal.services.step_usage``).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from jobs.steps.base import StepContext

#: Suffix of the table in which ``validate.rules`` leaves a table's failing rows.
REJECTED_SUFFIX = ".rejected"


def flagged_rows(ctx: StepContext, table: str, used: pl.Series | None) -> dict[str, Any]:
    """Rows of ``table`` that failed a rule in the last validation and were still used.

    Args:
        ctx: the step context (its tables and the programme's rules).
        table: the table the step read.
        used: per row of ``table``, whether the step read it (None: every row).

    Returns:
        ``{"rows": n, "rules": {rule id: rows}}`` (n is 0 when nothing flagged was used,
        or the table was not validated since it last changed).
    """
    rejected = ctx.tables.get(f"{table}{REJECTED_SUFFIX}")
    if rejected is None or rejected.height == 0:
        return {"rows": 0, "rules": {}}
    rows = rejected.get_column("_row")
    if used is not None:
        keep = used.gather(rows.cast(pl.Int64)) if used.len() else pl.Series([], dtype=pl.Boolean)
        rejected = rejected.filter(keep)
    by_rule = (
        rejected.select(pl.col("_rule_ids").str.split(";").alias("rule")).explode("rule")
        .group_by("rule").len().sort("rule")
    )
    return {"rows": rejected.height,
            "rules": {rule: int(n) for rule, n in by_rule.iter_rows()}}


def usage(ctx: StepContext, table: str, rows: int, used: pl.Series | None,
          excluded: dict[str, int]) -> dict[str, Any]:
    """The ``details["usage"]`` of a step that read ``rows`` rows of ``table``.

    Args:
        ctx: the step context.
        table: the table read.
        rows: its number of rows.
        used: per row, whether the step read it (None: every row).
        excluded: reason -> rows left out for it (a row may have several reasons).
    """
    used_rows = rows if used is None else int(used.sum())
    return {"table": table, "rows": rows, "used": used_rows,
            "excluded": {reason: n for reason, n in excluded.items() if n},
            "flagged_used": flagged_rows(ctx, table, used)}
