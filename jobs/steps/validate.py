"""The ``validate.rules`` step: check a table against the programme's data-quality rules.

A failing rule of severity error or critical blocks the run; warning and info
rules are only reported. Every row failing any rule goes to
``work_dir/rejections.csv``. Alerts are opened by the runner from
``details["rules"]``, not here.
"""

from __future__ import annotations

from functools import cache

import polars as pl

from jobs.connectors.delimited import read_delimited, separator_for
from jobs.connectors.sources import lineage_entry, read_data_file
from jobs.registry import register
from jobs.rules import RuleConfigError, RuleEnv, evaluate_rules
from jobs.rules.base import VocabularyLoader
from jobs.steps.base import StepContext, StepError, StepResult, sha256_file

REJECTION_REPORT = "rejections.csv"


def table_name(ctx: StepContext) -> str:
    """The table to check: ``params.table``, else the primary table, else the only one."""
    name = ctx.params.get("table") or ctx.primary_table
    if name is None and len(ctx.tables) == 1:
        name = next(iter(ctx.tables))
    if name is None:
        raise StepError("validate.rules: set params.table: the run has several tables")
    return name


def vocabulary_loader(ctx: StepContext) -> VocabularyLoader:
    """Return a loader of vocabulary columns under DATA_ROOT, recorded once in lineage."""

    @cache
    def load(source: str, column: str) -> pl.Series:
        try:
            raw = read_data_file(ctx, source, "vocabulary")
            frame = read_delimited(raw.data, raw.uri, separator=separator_for(raw.uri))
        except StepError as exc:
            raise RuleConfigError(str(exc)) from None
        lineage_entry(ctx, raw, frame)
        if column not in frame.columns:
            raise RuleConfigError(
                f"vocabulary {source!r} has no column {column!r} "
                f"(columns: {', '.join(frame.columns)})"
            )
        return frame.get_column(column).drop_nulls().unique()

    return load


@register("validate.rules")
def validate_rules(ctx: StepContext) -> StepResult:
    """Evaluate ``ctx.rules`` on the table; block on failing error/critical rules.

    Returns:
        A StepResult whose ``details["rules"]`` lists every rule's result, whose
        ``files["rejection_report"]`` names the rejection CSV, and whose status is
        "blocked" (naming the failing rules) when a blocking rule failed.
    """
    name = table_name(ctx)
    frame = ctx.table(name)
    env = RuleEnv(now=ctx.now, tables=ctx.tables, vocabulary=vocabulary_loader(ctx))
    evaluation = evaluate_rules(frame, ctx.rules or [], env)

    ctx.work_dir.mkdir(parents=True, exist_ok=True)
    report = ctx.work_dir / REJECTION_REPORT
    evaluation.rejected.write_csv(report)

    failed = [result for result in evaluation.results if not result["passed"]]
    for result in failed:
        ctx.log(f"rule {result['id']} ({result['severity']}) failed: {result['message']}")
    blocking = evaluation.blocking
    rejected = evaluation.rejected.height
    ctx.log(
        f"{len(evaluation.results)} rule(s) on {name}: {len(failed)} failed, "
        f"{rejected} of {frame.height} rows rejected"
    )
    return StepResult(
        status="blocked" if blocking else "succeeded",
        rows_in=frame.height,
        rows_out=frame.height - rejected,
        rows_rejected=rejected,
        details={
            "table": name,
            "rules": evaluation.results,
            "failed": [result["id"] for result in failed],
            "blocking": blocking,
        },
        message=f"blocked by failing rule(s): {', '.join(blocking)}" if blocking else None,
        files={"rejection_report": str(report)},
        output_fingerprint=sha256_file(report),
    )
