"""Evaluate a rule set over a table in one vectorised pass and report per rule.

Each row-level rule becomes one boolean column ("this row fails this rule"); all
of them are computed in a single ``select`` so polars runs them in parallel, slice
by slice of rows for the rules that judge each row alone (bounded memory), over the
whole table for those comparing rows (``unique``). The counts, samples and the
rejection report are read from that mask frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from jobs.rules.base import (
    RULE_CHECKS,
    RULE_SCOPES,
    Derived,
    RowCheck,
    RuleConfigError,
    RuleEnv,
    condition_scope,
)

SAMPLE_SIZE = 5
BATCH_ROWS = 1 << 16  # rows per slice for row-wise rules (bounds the memory of a pass)
BLOCKING_SEVERITIES = frozenset({"error", "critical"})
ROW_COLUMN = "_row"
_NO_CSE = pl.QueryOptFlags(comm_subexpr_elim=False)
RULE_IDS_COLUMN = "_rule_ids"


@dataclass
class Evaluation:
    """The outcome of a rule set.

    Attributes:
        results: one dict per rule: id, type, severity, passed, failing_rows,
            fraction, sample, message (and scope: "rows" or "table").
        rejected: every row failing at least one rule, with ``_row`` (its index in
            the table) first and ``_rule_ids`` (";"-joined) last.
    """

    results: list[dict[str, Any]]
    rejected: pl.DataFrame

    @property
    def blocking(self) -> list[str]:
        """Ids of failed rules whose severity blocks the run (error, critical)."""
        return [
            r["id"]
            for r in self.results
            if not r["passed"] and r["severity"] in BLOCKING_SEVERITIES
        ]


@dataclass
class _Pending:
    rule: dict[str, Any]
    check: RowCheck
    scope: pl.Expr | None
    mask: str


def _result(rule: dict[str, Any], passed: bool, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": rule["id"],
        "type": rule["type"],
        "severity": rule["severity"],
        "passed": passed,
        "failing_rows": extra.get("failing_rows", 0),
        "fraction": extra.get("fraction", 0.0),
        "sample": extra.get("sample", []),
        "message": message,
        "scope": extra.get("scope", "rows"),
    }


def _mask_expr(pending: _Pending) -> pl.Expr:
    failing = pending.check.failing.fill_null(False)
    if pending.scope is not None:
        if pending.check.within_scope:
            failing = failing.over(pending.scope)
        failing = pending.scope & failing
    return failing.alias(pending.mask)


def _select_masks(frame: pl.DataFrame, pending: list[_Pending]) -> pl.DataFrame:
    """Compute every rule's mask: row-wise rules batch by batch, the others on the whole table.

    A row-wise rule's verdict on a row depends on that row only, so its masks are
    computed over slices of ``BATCH_ROWS`` rows: the derived columns and the
    intermediate results of one slice at a time are held, not the whole table's. A
    rule comparing rows (``unique``) sees the whole table, through its own ``evaluate``
    function when it has one. The masks keep rule order.
    """
    whole = [p for p in pending if p.check.within_scope or p.check.whole_table]
    by_row = [p for p in pending if p not in whole]
    parts: dict[str, pl.Series] = {}
    for item in [p for p in whole if p.check.evaluate is not None]:
        scope = None if item.scope is None else frame.select(item.scope).to_series()
        parts[item.mask] = item.check.evaluate(frame, scope).alias(item.mask)
    whole = [p for p in whole if p.mask not in parts]
    if whole:
        parts.update(_batch_masks(frame, whole).to_dict())
    if by_row:
        batches = [_batch_masks(frame.slice(offset, BATCH_ROWS), by_row)
                   for offset in range(0, max(frame.height, 1), BATCH_ROWS)]
        parts.update(pl.concat(batches, how="vertical").to_dict())
    return pl.DataFrame([parts[p.mask] for p in pending])


def _batch_masks(frame: pl.DataFrame, pending: list[_Pending]) -> pl.DataFrame:
    """Cast what the rules share once (derived columns), then compute the masks in one pass.

    The derived columns are materialised eagerly (a lazy plan would inline them back
    into each rule), and common-subexpression elimination is off: the derived
    columns already share the costly parts, and CSE costs more than it saves here.
    """
    derived: dict[str, Derived] = {}
    for item in pending:
        for column in item.check.derived:
            derived.setdefault(column.name, column)
    work = _derive(frame, list(derived.values())) if derived else frame
    return work.lazy().select([_mask_expr(p) for p in pending]).collect(optimizations=_NO_CSE)


def _inputs(column: Derived) -> list[str]:
    return list(dict.fromkeys(column.expr.meta.root_names()))


def _derive(frame: pl.DataFrame, derived: list[Derived]) -> pl.DataFrame:
    """Add the derived columns to ``frame``, all computed in one parallel pass.

    A column with a fast path is computed with it on every row, then with its full
    expression only on the rows the fast path left null while an input has a value
    (gathered, computed, scattered back): the common values never pay for the rare.
    """
    work = frame.with_columns(
        (column.expr if column.fast is None else column.fast).alias(column.name)
        for column in derived
    )
    fixed = [column for column in derived if column.fast is not None]
    if not fixed:
        return work
    redo = work.select(
        (pl.col(column.name).is_null()
         & pl.any_horizontal(pl.col(name).is_not_null()
                             for name in _inputs(column))).arg_true()
        .implode().alias(column.name)
        for column in fixed
    )
    repaired = []
    for column in fixed:
        rows = redo.get_column(column.name)[0]
        if rows.len() * 2 > frame.height:  # mostly rare values: read them all at once
            repaired.append(frame.select(column.expr.alias(column.name)).to_series())
        elif rows.len():
            inputs = frame.select(_inputs(column))[rows]
            values = inputs.select(column.expr.alias(column.name)).to_series()
            repaired.append(work.get_column(column.name).scatter(rows, values))
    return work.with_columns(repaired) if repaired else work


def _masks(frame: pl.DataFrame, pending: list[_Pending]) -> tuple[pl.DataFrame, dict[str, str]]:
    """Evaluate all masks at once; when that fails, isolate the rules that cannot run."""
    if not pending:
        return pl.DataFrame(), {}
    try:
        return _select_masks(frame, pending), {}
    except pl.exceptions.PolarsError:
        columns, errors = [], {}
        for item in pending:
            try:
                columns.append(_select_masks(frame, [item]).to_series())
            except pl.exceptions.PolarsError as exc:
                errors[item.mask] = str(exc).strip().splitlines()[0]
                columns.append(pl.repeat(False, frame.height, eager=True).alias(item.mask))
        return pl.DataFrame(columns), errors


def _json_safe(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return frame.with_columns(
        pl.col(name).cast(pl.String)
        for name, dtype in frame.schema.items()
        if not (dtype in (pl.String, pl.Boolean) or dtype.is_integer())
    ).to_dicts()


def _sample(frame: pl.DataFrame, mask: pl.Series) -> list[dict[str, Any]]:
    rows = mask.arg_true().head(SAMPLE_SIZE)
    return _json_safe(frame[rows].insert_column(0, rows.alias(ROW_COLUMN)))


def _row_result(pending: _Pending, failing: int, in_scope: int, sample: list) -> dict[str, Any]:
    rule, check = pending.rule, pending.check
    fraction = failing / in_scope if in_scope else 0.0
    allowed = check.max_fraction
    if allowed is None:
        allowed = 1.0 - float(rule.get("tolerance", 1.0))
    passed = fraction <= allowed + 1e-12
    if failing == 0:
        message = f"all {in_scope} rows pass"
    else:
        message = f"{failing} of {in_scope} rows ({fraction:.2%}) {check.what}"
        if passed:
            message += f"; within the tolerated {allowed:.2%}"
    return _result(rule, passed, message, failing_rows=failing, fraction=fraction, sample=sample)


def evaluate_rules(frame: pl.DataFrame, rules: list[dict[str, Any]], env: RuleEnv) -> Evaluation:
    """Check ``frame`` against ``rules``.

    Args:
        frame: the table to check.
        rules: rule dicts as declared in ``pipeline_spec.RULE_TYPES``.
        env: the run's reference time, tables and vocabulary loader.

    Returns:
        The per-rule results (in rule order) and the rejected rows.
    """
    results: dict[int, dict[str, Any]] = {}
    pending: list[tuple[int, _Pending]] = []
    for index, rule in enumerate(rules):
        try:
            check_func = RULE_CHECKS.get(rule["type"])
            if check_func is None:
                raise RuleConfigError(f"unknown rule type {rule['type']!r}")
            scope = condition_scope(frame, rule.get("condition"))
            if RULE_SCOPES[rule["type"]] == "table":
                subset = frame if scope is None else frame.filter(scope)
                verdict = check_func(subset, rule, env)
                results[index] = _result(rule, verdict.passed, verdict.message, scope="table")
                continue
            check = check_func(frame, rule, env)
            pending.append((index, _Pending(rule, check, scope, f"__rule_{index}__")))
        except RuleConfigError as exc:
            scope_kind = RULE_SCOPES.get(rule["type"], "rows")
            results[index] = _result(rule, False, str(exc), scope=scope_kind)

    masks, errors = _masks(frame, [p for _, p in pending])
    failing_counts = masks.sum().row(0, named=True) if pending else {}
    scoped = [p for _, p in pending if p.scope is not None]
    scope_sizes = (
        frame.select(p.scope.sum().alias(p.mask) for p in scoped).row(0, named=True)
        if scoped
        else {}
    )
    for index, item in pending:
        if item.mask in errors:
            results[index] = _result(item.rule, False, f"cannot be checked: {errors[item.mask]}")
            continue
        failing = int(failing_counts[item.mask])
        sample = _sample(frame, masks.get_column(item.mask)) if failing else []
        in_scope = int(scope_sizes.get(item.mask, frame.height))
        results[index] = _row_result(item, failing, in_scope, sample)

    ordered = [results[index] for index in range(len(rules))]
    return Evaluation(ordered, _rejected(frame, masks, pending, failing_counts))


def _rejected(
    frame: pl.DataFrame,
    masks: pl.DataFrame,
    pending: list[tuple[int, _Pending]],
    failing_counts: dict[str, Any],
) -> pl.DataFrame:
    """Rows failing any row-level rule, with their index and the ids of the rules failed."""
    failed = [p for _, p in pending if failing_counts.get(p.mask)]
    data = frame.drop(ROW_COLUMN, RULE_IDS_COLUMN, strict=False)
    if not failed:
        return (
            data.clear()
            .insert_column(0, pl.Series(ROW_COLUMN, [], pl.UInt32))
            .with_columns(pl.lit(None, pl.String).alias(RULE_IDS_COLUMN))
        )
    rule_ids = pl.concat_str(
        [pl.when(pl.col(p.mask)).then(pl.lit(p.rule["id"])) for p in failed],
        separator=";",
        ignore_nulls=True,
    )
    # Gathered by index: only the failing rows are copied, never the whole table.
    rows = masks.select(pl.any_horizontal(p.mask for p in failed)).to_series().arg_true()
    return (
        data[rows]
        .insert_column(0, rows.alias(ROW_COLUMN))
        .with_columns(masks[rows].select(rule_ids.alias(RULE_IDS_COLUMN)).to_series())
    )
