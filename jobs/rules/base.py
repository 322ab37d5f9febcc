"""What a rule check is, the registry of rule types, and helpers shared by the checks.

A row-level check returns a polars expression that is true on each failing row;
the engine evaluates every rule's expression in one pass over the table. A
table-level check (required columns, row count, freshness) returns a verdict.
No check loops over rows in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import polars as pl

from jobs.transforms.expressions import compile_condition
from portal.services import expression_language as language


class RuleConfigError(Exception):
    """The rule cannot be checked against this table (unknown column, bad regex...).

    The rule then fails with this message; the step does not crash.
    """


@dataclass(frozen=True)
class Derived:
    """A typed view of a column (a number, a date) computed once and shared by all rules.

    Casting text is the costly part of most checks; several rules (and several uses
    within one rule) read the same derived column instead of casting again.
    """

    name: str
    expr: pl.Expr
    fast: pl.Expr | None = None
    """A cheaper expression equal to ``expr`` on every row where it is not null (e.g. a
    cast without trimming: text that casts as it is has nothing to trim). The engine
    computes ``fast`` on every row and ``expr`` only on the rows it left null."""

    @property
    def col(self) -> pl.Expr:
        """The derived column, to use inside a check's expression."""
        return pl.col(self.name)


@dataclass(frozen=True)
class RowCheck:
    """A row-level check.

    Attributes:
        failing: true on rows that fail (a null result counts as passing).
        what: how failing rows are described, e.g. "have no value in scientificName".
        max_fraction: overrides the rule's tolerance (``null_fraction``'s own threshold).
        within_scope: evaluate the expression among the condition's rows only (``unique``).
        derived: the derived columns ``failing`` reads.
        whole_table: a row's verdict depends on other rows (``unique``): the engine
            evaluates the expression over the whole table, not slice by slice.
        evaluate: for a whole-table check, a function computing the same mask as
            ``failing`` (over the rows in scope, given as a mask or None for all) in
            less memory than the expression; the engine then calls it instead.
    """

    failing: pl.Expr
    what: str
    max_fraction: float | None = None
    within_scope: bool = False
    derived: tuple[Derived, ...] = ()
    whole_table: bool = False
    evaluate: Callable[[pl.DataFrame, pl.Series | None], pl.Series] | None = None


@dataclass(frozen=True)
class TableCheck:
    """A table-level verdict with the sentence explaining it."""

    passed: bool
    message: str


VocabularyLoader = Callable[[str, str], pl.Series]


@dataclass(frozen=True)
class RuleEnv:
    """What checks may consult besides the table.

    Attributes:
        now: the run's reference time (future dates, freshness).
        tables: every table of the run, for ``reference`` rules.
        vocabulary: loads a column of a vocabulary file under DATA_ROOT as strings.
    """

    now: datetime
    tables: Mapping[str, pl.DataFrame]
    vocabulary: VocabularyLoader


CheckFunc = Callable[[pl.DataFrame, dict[str, Any], RuleEnv], RowCheck | TableCheck]
Scope = Literal["rows", "table"]

RULE_CHECKS: dict[str, CheckFunc] = {}
RULE_SCOPES: dict[str, Scope] = {}


def rule_check(type_name: str, scope: Scope = "rows") -> Callable[[CheckFunc], CheckFunc]:
    """Decorator: bind a rule type (declared in ``pipeline_spec.RULE_TYPES``) to its check.

    Args:
        type_name: the rule type, e.g. ``"not_null"``.
        scope: ``"rows"`` for a check returning RowCheck, ``"table"`` for TableCheck
            (a table check receives only the rows selected by the rule's condition).
    """

    def bind(func: CheckFunc) -> CheckFunc:
        RULE_CHECKS[type_name] = func
        RULE_SCOPES[type_name] = scope
        return func

    return bind


def require(frame: pl.DataFrame, *columns: str) -> None:
    """Raise RuleConfigError naming the columns missing from ``frame``."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        shown = ", ".join(frame.columns[:12]) + (", ..." if frame.width > 12 else "")
        raise RuleConfigError(
            f"column {', '.join(map(repr, missing))} not found in the table (columns: {shown})"
        )


def is_text(frame: pl.DataFrame, column: str) -> bool:
    """Whether ``column`` holds strings (as every ingested column does)."""
    return frame.schema[column] == pl.String


def empty(frame: pl.DataFrame, column: str) -> pl.Expr:
    """True where the column has no value: null, or only blanks in a text column."""
    value = pl.col(column)
    if is_text(frame, column):
        return value.is_null() | (value.str.strip_chars() == "")
    return value.is_null()


def as_number(frame: pl.DataFrame, column: str) -> Derived:
    """The column as Float64; text that is not a number becomes null (NaN stays NaN).

    Text is trimmed first. polars' number parser accepts no blank at either end, so a
    value that casts untrimmed reads the same trimmed: the untrimmed cast is the fast
    path, and only the values it cannot read are trimmed.
    """
    value = pl.col(column)
    if is_text(frame, column):
        return Derived(f"__number__{column}",
                       value.str.strip_chars().cast(pl.Float64, strict=False),
                       fast=value.cast(pl.Float64, strict=False))
    return Derived(f"__number__{column}", value.cast(pl.Float64, strict=False))


def as_text_value(value: Any) -> str:
    """A JSON value as the text an ingested column would hold (``10.0`` -> ``"10"``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def equals(frame: pl.DataFrame, column: str, value: Any) -> pl.Expr:
    """True where ``column`` equals a JSON ``value`` (compared as text for text columns)."""
    if is_text(frame, column):
        return pl.col(column) == as_text_value(value)
    return pl.col(column).cast(pl.String) == as_text_value(value)


def condition_scope(frame: pl.DataFrame, condition: dict[str, Any] | str | None
                    ) -> pl.Expr | None:
    """The rows a rule applies to, from its ``condition``.

    A condition is an expression of the transforms' condition language
    (``portal.services.expression_language``), e.g. ``"flag in (6, 9)"``, or the object form
    ``{"column": c}`` (c has a value) / ``{"column": c, "equals": v}`` (c equals v,
    compared as text), which is translated into that language.

    Returns None when the rule has no condition (it applies to every row).
    """
    if not condition:
        return None
    try:
        if isinstance(condition, str):
            tree: language.Node = language.parse(condition)
        else:
            require(frame, condition["column"])
            column = language.Column(condition["column"])
            value = language.Literal(as_text_value(condition.get("equals")))
            tree = (language.Binary("==", column, value) if "equals" in condition
                    else language.IsNull(column, negated=True))
        return compile_condition(tree, frame.schema).fill_null(False)
    except (RuleConfigError, language.ExpressionError) as exc:
        message = str(exc)
        if message.startswith("no column"):
            message = message.replace("no column", "column", 1).replace(
                " (columns:", " not found in the table (columns:", 1)
        raise RuleConfigError(f"condition: {message}") from None
