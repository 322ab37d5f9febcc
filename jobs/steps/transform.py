"""The ``transform.*`` steps: ``jobs.transforms`` functions wrapped for the runner.

Tables are named: a step reads ``params.table`` (``left``/``right`` for a join,
``tables`` for a union; default the primary table) and writes its result under
``params.as`` (default: the table it read, replaced in place; a union must name
it). Each step collects its plan once and reports rows in / out / rejected and a
fingerprint of its output. Declarations (JSON Schema, title, description, example)
are in ``transform.json`` beside this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from jobs.registry import register
from jobs.steps.base import StepContext, StepError, StepResult
from jobs.transforms import (
    ExpressionError,
    TransformError,
    aggregate,
    complete,
    deduplicate,
    derive,
    exclude_rejected,
    filter_rows,
    join,
    select_columns,
    table_fingerprint,
    union,
)

#: Suffix of the table in which ``validate.rules`` leaves a table's rejected rows.
REJECTED_SUFFIX = ".rejected"


def input_name(ctx: StepContext, param: str = "table") -> str:
    """The table a step reads: ``params[param]``, else the primary table."""
    name = ctx.params.get(param) or ctx.primary_table
    if name is None:
        raise StepError(f"{ctx.step_key}: set params.{param}: no table has been read yet")
    return name


def finish(ctx: StepContext, inputs: list[str], output: Any, default_as: str,
           dropped: bool = False, details: dict[str, Any] | None = None) -> StepResult:
    """Collect ``output``, store it under ``params.as`` and report the step.

    Args:
        ctx: the step context.
        inputs: the tables read (the first is the main one: rows in).
        output: the transform's LazyFrame or DataFrame.
        default_as: the output name when ``params.as`` is not set.
        dropped: whether rows missing from the output were left out on purpose
            (counted as rejected).
        details: extra facts for the run page.
    """
    frame = output.collect() if isinstance(output, pl.LazyFrame) else output
    name = ctx.params.get("as") or default_as
    stale = f"{name}{REJECTED_SUFFIX}"
    if stale in ctx.tables and name in ctx.tables:
        # The validation's row positions describe the table being replaced.
        del ctx.tables[stale]
        ctx.log(f"{stale} no longer describes {name!r}: removed")
    rows_in = ctx.tables[inputs[0]].height
    ctx.log(f"{ctx.step_key}: {frame.height} rows x {frame.width} columns from "
            f"{', '.join(inputs)} into {name!r}")
    return StepResult(
        rows_in=rows_in,
        rows_out=frame.height,
        rows_rejected=max(rows_in - frame.height, 0) if dropped else 0,
        details={"inputs": {table: ctx.tables[table].height for table in inputs},
                 "output_table": name, "columns": list(frame.columns), **(details or {})},
        tables={name: frame},
        input_fingerprint=table_fingerprint(ctx.tables[inputs[0]]),
        output_fingerprint=table_fingerprint(frame),
    )


def transform_step(type_name: str) -> Callable[[Callable[[StepContext], StepResult]],
                                              Callable[[StepContext], StepResult]]:
    """Register a transform step; a TransformError becomes a StepError naming the step."""

    def bind(func: Callable[[StepContext], StepResult]) -> Callable[[StepContext], StepResult]:
        def step(ctx: StepContext) -> StepResult:
            try:
                return func(ctx)
            except (TransformError, ExpressionError) as exc:
                raise StepError(f"{ctx.step_key}: {exc}") from None

        step.__name__, step.__doc__ = func.__name__, func.__doc__
        return register(type_name)(step)

    return bind


@transform_step("transform.filter")
def filter_step(ctx: StepContext) -> StepResult:
    """Keep the rows where ``params.condition`` is true."""
    name = input_name(ctx)
    out = filter_rows(ctx.tables, name, ctx.params["condition"])
    return finish(ctx, [name], out, name, dropped=True,
                  details={"condition": ctx.params["condition"]})


@transform_step("transform.exclude_rejected")
def exclude_rejected_step(ctx: StepContext) -> StepResult:
    """Drop the rows that failed ``params.rules`` (or rules of ``params.severities``)."""
    name = input_name(ctx)
    rejected = ctx.tables.get(f"{name}{REJECTED_SUFFIX}")
    if rejected is None:
        raise StepError(f"{ctx.step_key}: table {name!r} has not been validated since it was "
                        "last changed: put a validate.rules step on it before this one")
    severities = {rule["id"]: rule["severity"] for rule in ctx.rules}
    out = exclude_rejected(ctx.tables, name, rejected, severities, ctx.params.get("rules"),
                           ctx.params.get("severities", ["warning"]), log=ctx.log)
    return finish(ctx, [name], out, name, dropped=True)


@transform_step("transform.join")
def join_step(ctx: StepContext) -> StepResult:
    """Join ``params.right`` onto ``params.left`` with the declared cardinality checked."""
    left, right = input_name(ctx, "left"), ctx.params["right"]
    out = join(ctx.tables, left, right, ctx.params["on"], ctx.params.get("right_on"),
               ctx.params.get("how", "inner"), ctx.params.get("cardinality", "many_to_one"),
               log=ctx.log)
    return finish(ctx, [left, right], out, left,
                  details={"how": ctx.params.get("how", "inner"),
                           "cardinality": ctx.params.get("cardinality", "many_to_one")})


@transform_step("transform.derive")
def derive_step(ctx: StepContext) -> StepResult:
    """Add or replace columns from expressions."""
    name = input_name(ctx)
    return finish(ctx, [name], derive(ctx.tables, name, ctx.params["columns"]), name)


@transform_step("transform.aggregate")
def aggregate_step(ctx: StepContext) -> StepResult:
    """Group by keys and summarise."""
    name = input_name(ctx)
    out = aggregate(ctx.tables, name, ctx.params["by"], ctx.params["aggregations"],
                    log=ctx.log)
    return finish(ctx, [name], out, name)


@transform_step("transform.deduplicate")
def deduplicate_step(ctx: StepContext) -> StepResult:
    """Keep the first (or last) row per key."""
    name = input_name(ctx)
    out = deduplicate(ctx.tables, name, ctx.params.get("keys"), ctx.params.get("keep", "first"))
    return finish(ctx, [name], out, name, dropped=True)


@transform_step("transform.select")
def select_step(ctx: StepContext) -> StepResult:
    """Keep some columns, optionally renaming them."""
    name = input_name(ctx)
    out = select_columns(ctx.tables, name, ctx.params.get("columns"), ctx.params.get("rename"))
    return finish(ctx, [name], out, name)


@transform_step("transform.rename")
def rename_step(ctx: StepContext) -> StepResult:
    """Rename columns (old name -> new name)."""
    name = input_name(ctx)
    return finish(ctx, [name], select_columns(ctx.tables, name, None, ctx.params["columns"]),
                  name)


@transform_step("transform.union")
def union_step(ctx: StepContext) -> StepResult:
    """Stack tables with the same columns under a new name."""
    names = list(ctx.params["tables"])
    out = union(ctx.tables, names, log=ctx.log)
    result = finish(ctx, names, out, ctx.params["as"])
    result.rows_in = sum(ctx.tables[name].height for name in names)
    return result


@transform_step("transform.complete")
def complete_step(ctx: StepContext) -> StepResult:
    """Build the site × period × taxon grid against the surveys (0 vs missing)."""
    name = input_name(ctx)
    params = ctx.params
    out = complete(ctx.tables, name, params["surveys"], params["site"], params["period"],
                   params["taxon"], params["values"], params.get("effort"), params.get("taxa"),
                   log=ctx.log)
    surveyed = int(out.get_column("surveyed").sum())
    return finish(ctx, [name, params["surveys"]], out, name,
                  details={"cells": out.height, "surveyed_cells": surveyed,
                           "unsurveyed_cells": out.height - surveyed})
