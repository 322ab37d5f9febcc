"""Check a lazy table (``ingest.csv`` with ``params.lazy``) in batches, in bounded memory.

The rules engine (``jobs.rules.evaluate_rules``) runs on one batch of rows at a time;
the per-rule counts are summed and the pass/fail verdicts taken on the totals, so the
results read as for a table held whole. Memory is one batch, the rejected rows and,
for each ``unique`` rule, 9 bytes a row: a repeat is found on a 64-bit hash of the key
columns over the whole table (two different keys would have to share a hash for a
row to be flagged wrongly: about one chance in 10^4 at 50 million rows).

Rules that need the whole table at once are refused with a clear message:
``freshness``, ``row_count`` and ``reference`` rules, and ``unique`` with a condition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from jobs.rules import BLOCKING_SEVERITIES, RuleEnv, evaluate_rules
from jobs.rules.base import condition_scope
from jobs.steps.base import StepError

#: Rows checked at a time.
BATCH_ROWS = 1_000_000
WHOLE_TABLE_RULES = frozenset({"freshness", "row_count", "reference"})
_SAMPLE_SIZE = 5


@dataclass
class BatchedEvaluation:
    """What :func:`evaluate_lazy` found: as ``jobs.rules.Evaluation``, plus the height."""

    results: list[dict[str, Any]]
    rejected: pl.DataFrame
    height: int

    @property
    def blocking(self) -> list[str]:
        """Ids of failed rules whose severity blocks the run."""
        return [r["id"] for r in self.results
                if not r["passed"] and r["severity"] in BLOCKING_SEVERITIES]


@dataclass
class _Total:
    rule: dict[str, Any]
    failing: int = 0
    in_scope: int = 0
    what: str = ""
    sample: list | None = None
    table_result: dict[str, Any] | None = None


def evaluate_lazy(frame: pl.LazyFrame, rules: list[dict[str, Any]], env: RuleEnv,
                  batch_rows: int = BATCH_ROWS) -> BatchedEvaluation:
    """Check ``frame`` against ``rules`` batch by batch (see the module docstring).

    Raises:
        StepError: a rule needs the whole table at once.
    """
    for rule in rules:
        if rule["type"] in WHOLE_TABLE_RULES or (rule["type"] == "unique"
                                                 and rule.get("condition")):
            raise StepError(f"rule {rule['id']} ({rule['type']}) needs the whole table in "
                            "memory: it cannot check a table read lazily (drop params.lazy "
                            "from the ingest step, or the rule)")
    names = set(frame.collect_schema().names())
    # A unique rule naming a missing column stays as it is: the engine reports it.
    repeats = {rule["id"]: _repeats(frame, rule) for rule in rules
               if rule["type"] == "unique" and names.issuperset(rule["columns"])}
    local = [_as_local(rule) if rule["id"] in repeats else rule for rule in rules]
    totals = {rule["id"]: _Total(rule) for rule in rules}
    rejected: list[pl.DataFrame] = []
    offset = 0
    for batch in frame.collect_batches(chunk_size=batch_rows):
        if repeats:
            batch = batch.with_columns(
                pl.Series(_flag_column(rule_id), mask.slice(offset, batch.height))
                for rule_id, mask in repeats.items())
        evaluation = evaluate_rules(batch, local, env)
        for rule, result in zip(local, evaluation.results, strict=True):
            _add(totals[rule["id"]], result, batch, rule, offset)
        part = evaluation.rejected
        if part.height:
            part = part.with_columns(pl.col("_row") + offset)
            rejected.append(part.drop([_flag_column(r) for r in repeats], strict=False))
        offset += batch.height
    results = [_finish(total) for total in totals.values()]
    report = pl.concat(rejected) if rejected else pl.DataFrame(
        {"_row": [], "_rule_ids": []}, schema={"_row": pl.UInt32, "_rule_ids": pl.String})
    return BatchedEvaluation(results=results, rejected=report, height=offset)


def _flag_column(rule_id: str) -> str:
    return f"__repeat__{rule_id}"


def _repeats(frame: pl.LazyFrame, rule: dict[str, Any]) -> pl.Series:
    """True for each row repeating an earlier row's key (64-bit key hashes, streamed)."""
    columns = list(rule["columns"])
    keyed = pl.any_horizontal([pl.col(c).is_not_null() for c in columns])
    key = pl.struct(columns).hash(seed=0)
    hashed = frame.select(key.alias("key"), keyed.alias("keyed")).collect(engine="streaming")
    return (hashed["keyed"] & ~hashed["key"].is_first_distinct()).rename("repeat")


def _as_local(rule: dict[str, Any]) -> dict[str, Any]:
    """A ``unique`` rule as a row-local check of its precomputed repeat flags."""
    return {"id": rule["id"], "type": "allowed_values", "severity": rule["severity"],
            "column": _flag_column(rule["id"]), "values": [False],
            **({"tolerance": rule["tolerance"]} if "tolerance" in rule else {})}


def _add(total: _Total, result: dict[str, Any], batch: pl.DataFrame, rule: dict[str, Any],
         offset: int) -> None:
    """Add one batch's result for a rule to its running total."""
    if result.get("scope") == "table":
        if total.table_result is None or not result["passed"]:
            total.table_result = result
        return
    scope = condition_scope(batch, rule.get("condition"))
    total.in_scope += batch.height if scope is None else int(batch.select(scope.sum()).item())
    total.failing += result["failing_rows"]
    if result["failing_rows"] and not total.what and "%) " in result["message"]:
        total.what = result["message"].split("%) ", 1)[1].split("; within", 1)[0]
    if result["failing_rows"] and total.sample is None:
        total.sample = [{**row, "_row": row["_row"] + offset} if "_row" in row else row
                        for row in result["sample"]][:_SAMPLE_SIZE]
    if not result["passed"] and not result["failing_rows"]:
        total.table_result = result  # the rule could not be checked: its reason stands


def _finish(total: _Total) -> dict[str, Any]:
    """The rule's result over the whole table, as the engine words it."""
    rule = total.rule
    if total.table_result is not None:
        return {**total.table_result, "type": rule["type"]}
    fraction = total.failing / total.in_scope if total.in_scope else 0.0
    allowed = rule.get("max_fraction")
    if allowed is None:
        allowed = 1.0 - float(rule.get("tolerance", 1.0))
    passed = fraction <= float(allowed) + 1e-12
    if rule["type"] == "unique":
        total.what = f"repeat an earlier row's {' + '.join(rule['columns'])}"
    if total.failing == 0:
        message = f"all {total.in_scope} rows pass"
    else:
        message = f"{total.failing} of {total.in_scope} rows ({fraction:.2%}) {total.what}"
        if passed:
            message += f"; within the tolerated {allowed:.2%}"
    return {"id": rule["id"], "type": rule["type"], "severity": rule["severity"],
            "passed": passed, "failing_rows": total.failing, "fraction": fraction,
            "sample": [{k: v for k, v in row.items() if not k.startswith("__repeat__")}
                       for row in total.sample or []],
            "message": message, "scope": "rows"}
