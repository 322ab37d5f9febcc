"""The ``validate.rules`` step: check a table against the programme's data-quality rules.

A failing rule of severity error or critical blocks the run; warning and info
rules are only reported. Each rule checks its own table (``"table"``; none: the
step's table or the primary one). Every row failing any rule goes to
``work_dir/rejections.csv``, whose ``_table`` column names its table; nothing is
removed from the tables. Alerts are opened by the runner from
``details["rules"]``, not here. A lazy table (``ingest.csv`` with ``params.lazy``) is
checked in batches, in bounded memory (``jobs.steps.validate_batched``).
"""

from __future__ import annotations

from functools import cache

import polars as pl

from jobs.connectors.delimited import read_delimited, separator_for
from jobs.connectors.sources import lineage_entry, read_data_file
from jobs.registry import register
from jobs.rules import BLOCKING_SEVERITIES, RuleConfigError, RuleEnv, evaluate_rules
from jobs.rules.base import VocabularyLoader
from jobs.rules.tables import rules_by_table
from jobs.steps.base import StepContext, StepError, StepResult, sha256_file
from jobs.steps.usage import REJECTED_SUFFIX
from jobs.steps.validate_batched import evaluate_lazy

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
            frame = read_delimited(raw.path, raw.uri, separator=separator_for(raw.uri))
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
    """Evaluate the programme's rules, each on its own table; block on failing error rules.

    Each table that has rules (or each of ``params.tables``) is checked with its own
    rules (``jobs.rules.tables``). The step flags rows, it removes none: failing rows
    go to the rejection report (with a ``_table`` column) and to ``<table>.rejected``
    for ``transform.exclude_rejected``.

    Returns:
        A StepResult whose ``details["rules"]`` lists every rule's result (with its
        table), whose ``files["rejection_report"]`` names the rejection CSV, and whose
        status is "blocked" (naming the failing rules) when a blocking rule failed.
    """
    only = ctx.params.get("tables") or ([ctx.params["table"]] if ctx.params.get("table")
                                        else None)
    default = ctx.params.get("table") or ctx.primary_table
    if default is None and len(ctx.tables) == 1:
        default = next(iter(ctx.tables))
    grouped = rules_by_table(ctx.rules or [], default, only)
    if not grouped:
        grouped = {table_name(ctx): []}
    env = RuleEnv(now=ctx.now, tables=ctx.tables, vocabulary=vocabulary_loader(ctx))

    results: list[dict] = []
    reports: list[pl.DataFrame] = []
    tables: dict[str, pl.DataFrame] = {}
    checked: dict[str, dict[str, int]] = {}
    blocking: list[str] = []
    for name, rules in grouped.items():
        if name is None:
            raise StepError("validate.rules: set params.table: the run has several tables")
        if name not in ctx.tables and only is not None:
            ctx.table(name)  # a table the step itself names must exist: StepError
        if name not in ctx.tables:
            known = ", ".join(t for t in ctx.tables if not t.endswith(".rejected")) or "none"
            results += [missing_table(rule, name, known) for rule in rules]
            blocking += [r["id"] for r in rules if r["severity"] in BLOCKING_SEVERITIES]
            continue
        frame = ctx.tables[name]
        if isinstance(frame, pl.LazyFrame):  # ingest.csv with params.lazy: in batches
            evaluation = evaluate_lazy(frame, rules, env)
            height = evaluation.height
        else:
            evaluation = evaluate_rules(frame, rules, env)
            height = frame.height
        results += [{**result, "table": name} for result in evaluation.results]
        blocking += evaluation.blocking
        rejected = evaluation.rejected
        reports.append(rejected.insert_column(0, pl.repeat(name, rejected.height,
                                                           dtype=pl.String, eager=True)
                                              .alias("_table")))
        tables[f"{name}{REJECTED_SUFFIX}"] = rejected.select("_row", "_rule_ids")
        checked[name] = {"rows": height, "rules": len(rules), "flagged": rejected.height}
        ctx.log(f"{len(rules)} rule(s) on {name}: "
                f"{sum(1 for r in evaluation.results if not r['passed'])} failed, "
                f"{rejected.height} of {height} rows flagged")

    ctx.work_dir.mkdir(parents=True, exist_ok=True)
    report = ctx.work_dir / REJECTION_REPORT
    rejections = (pl.concat(reports, how="diagonal_relaxed") if reports
                  else pl.DataFrame({"_table": [], "_row": [], "_rule_ids": []}))
    rejections.write_csv(report)

    failed = [result for result in results if not result["passed"]]
    for result in failed:
        ctx.log(f"rule {result['id']} on {result['table']} ({result['severity']}) failed: "
                f"{result['message']}")
    rows = sum(entry["rows"] for entry in checked.values())
    flagged = sum(entry["flagged"] for entry in checked.values())
    first = next(iter(checked), None)
    return StepResult(
        status="blocked" if blocking else "succeeded",
        rows_in=rows,
        rows_out=rows,  # a validation flags rows; it removes none
        rows_rejected=flagged,
        details={
            "table": first,
            "tables": checked,
            "rules": results,
            "failed": [result["id"] for result in failed],
            "blocking": blocking,
            "usage": {"table": ", ".join(checked) or "no table", "rows": rows,
                      "flagged": flagged},
        },
        message=f"blocked by failing rule(s): {', '.join(blocking)}" if blocking else None,
        files={"rejection_report": str(report)},
        output_fingerprint=sha256_file(report),
        # Which rows failed which rules, by position: transform.exclude_rejected reads it.
        tables=tables,
    )


def missing_table(rule: dict, table: str, known: str) -> dict:
    """The failed result of a rule whose table the run does not have."""
    return {"id": rule["id"], "type": rule["type"], "severity": rule["severity"],
            "passed": False, "failing_rows": 0, "fraction": 0.0, "sample": [],
            "message": f"no table named {table!r} in this run (tables: {known})",
            "scope": "table", "table": table}
