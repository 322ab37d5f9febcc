"""Compile the expression language (``portal.services.expression_language``) into polars.

Types follow the table's schema. Ingested columns are text, so text meets numbers
the way a steward expects: a text column compared with, added to or coalesced with a
number is read as a number (text that is not a number, and blank text, is null); a
text column compared with a date is read as an ISO date. ``is null`` is also true of
blank text. Anything else that mixes types (a date plus a number, ``and`` on text)
is refused before any row is read, with the column named. A condition that is null
on a row (a comparison with a missing value) does not select the row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

import polars as pl

from portal.services.expression_language import (
    Binary,
    Call,
    Case,
    Column,
    ExpressionError,
    In,
    IsNull,
    Literal,
    Node,
    Unary,
    parse,
)

Schema = Mapping[str, pl.DataType]


@dataclass(frozen=True)
class Typed:
    """A compiled expression and its kind: number, text, bool, date, datetime, null, other."""

    expr: pl.Expr
    kind: str
    label: str


def kind_of(dtype: pl.DataType) -> str:
    """The language's kind for a polars dtype."""
    if dtype.is_numeric():
        return "number"
    if dtype == pl.String or dtype == pl.Categorical or dtype == pl.Enum:
        return "text"
    if dtype == pl.Boolean:
        return "bool"
    if dtype == pl.Date:
        return "date"
    if dtype == pl.Datetime:
        return "datetime"
    if dtype == pl.Null:
        return "null"
    return "other"


def text_as_number(expr: pl.Expr) -> pl.Expr:
    """Text read as a Float64; blanks and text that is not a number become null."""
    return expr.str.strip_chars().cast(pl.Float64, strict=False)


def text_as_date(expr: pl.Expr) -> pl.Expr:
    """Text read as a date from its first ten characters (ISO 8601 ``YYYY-MM-DD``)."""
    return expr.str.strip_chars().str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)


def _as(typed: Typed, kind: str) -> Typed:
    if typed.kind == kind or typed.kind == "null":
        return typed
    if typed.kind == "text" and kind == "number":
        return Typed(text_as_number(typed.expr), "number", typed.label)
    if typed.kind == "text" and kind == "date":
        return Typed(text_as_date(typed.expr), "date", typed.label)
    if typed.kind == "text" and kind == "datetime":
        return Typed(typed.expr.str.to_datetime(strict=False), "datetime", typed.label)
    if kind == "text":
        return Typed(typed.expr.cast(pl.String), "text", typed.label)
    raise ExpressionError(f"{typed.label} is {_a(typed.kind)}, not {_a(kind)}")


def _a(kind: str) -> str:
    return {"number": "a number", "text": "text", "bool": "a condition", "date": "a date",
            "datetime": "a date-time", "null": "null"}.get(kind, f"a value of type {kind}")


def _common(items: list[Typed], what: str) -> list[Typed]:
    """Bring values to one kind: numbers win over text, dates over text; else all equal."""
    kinds = {item.kind for item in items} - {"null"}
    if len(kinds) <= 1:
        return items
    for strong in ("number", "date", "datetime"):
        if kinds == {strong, "text"}:
            return [_as(item, strong) for item in items]
    shown = ", ".join(f"{item.label} ({_a(item.kind)})" for item in items if item.kind != "null")
    raise ExpressionError(f"type mismatch in {what}: {shown}")


class _Compiler:
    def __init__(self, schema: Schema):
        self.schema = schema

    def compile(self, node: Node) -> Typed:
        method: Callable[[Node], Typed] = getattr(self, f"_{type(node).__name__.lower()}")
        return method(node)

    def _literal(self, node: Literal) -> Typed:
        value = node.value
        if value is None:
            return Typed(pl.lit(None), "null", "null")
        if isinstance(value, bool):
            return Typed(pl.lit(value), "bool", str(value).lower())
        if isinstance(value, int | float):
            return Typed(pl.lit(value), "number", repr(value))
        return Typed(pl.lit(value, pl.String), "text", repr(value))

    def _column(self, node: Column) -> Typed:
        if node.name not in self.schema:
            shown = ", ".join(list(self.schema)[:15]) + (", ..." if len(self.schema) > 15 else "")
            raise ExpressionError(f"no column {node.name!r} (columns: {shown})")
        kind = kind_of(self.schema[node.name])
        expr = pl.col(node.name)
        if kind == "text" and self.schema[node.name] != pl.String:
            expr = expr.cast(pl.String)
        return Typed(expr, kind, f"column {node.name!r}")

    def _unary(self, node: Unary) -> Typed:
        operand = self.compile(node.operand)
        if node.op == "not":
            return Typed(~self.condition(operand, "not"), "bool", "not ...")
        operand = self.number(operand, "-")
        return Typed(-operand.expr, "number", f"-{operand.label}")

    def _binary(self, node: Binary) -> Typed:
        left, right = self.compile(node.left), self.compile(node.right)
        label = f"{left.label} {node.op} {right.label}"
        if node.op in ("and", "or"):
            a, b = self.condition(left, node.op), self.condition(right, node.op)
            return Typed(a & b if node.op == "and" else a | b, "bool", label)
        if node.op in ("+", "-", "*", "/", "%"):
            a, b = self.number(left, node.op).expr, self.number(right, node.op).expr
            ops = {"+": a + b, "-": a - b, "*": a * b, "/": a / b, "%": a % b}
            return Typed(ops[node.op], "number", label)
        if "null" in (left.kind, right.kind):
            raise ExpressionError(f"{label}: a comparison with null is never true; "
                                  "write 'is null' or 'is not null'")
        left, right = _common([left, right], f"'{label}'")
        ops = {"==": left.expr == right.expr, "!=": left.expr != right.expr,
               "<": left.expr < right.expr, "<=": left.expr <= right.expr,
               ">": left.expr > right.expr, ">=": left.expr >= right.expr}
        return Typed(ops[node.op], "bool", label)

    def _isnull(self, node: IsNull) -> Typed:
        operand = self.compile(node.operand)
        missing = operand.expr.is_null()
        if operand.kind == "text":
            missing = missing | (operand.expr.str.strip_chars() == "")
        return Typed(~missing if node.negated else missing, "bool", f"{operand.label} is null")

    def _in(self, node: In) -> Typed:
        operand = self.compile(node.operand)
        values = [value.value for value in node.values]
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        if operand.kind == "number" or (operand.kind == "text" and numbers):
            if not numbers:
                raise ExpressionError(f"{operand.label} is a number: list numbers after 'in'")
            expr = _as(operand, "number").expr.is_in([float(v) for v in values])
        elif operand.kind == "date":
            expr = operand.expr.is_in([_date(v, operand.label) for v in values])
        elif operand.kind == "text":
            expr = operand.expr.is_in([_text(v) for v in values])
        elif operand.kind == "bool" and all(isinstance(v, bool) for v in values):
            expr = operand.expr.is_in(values)
        else:
            raise ExpressionError(f"'in' cannot compare {operand.label} ({_a(operand.kind)}) "
                                  "with this list")
        # A missing value is neither in nor out of the list.
        expr = pl.when(operand.expr.is_null()).then(None).otherwise(expr)
        return Typed(~expr if node.negated else expr, "bool", f"{operand.label} in (...)")

    def _call(self, node: Call) -> Typed:
        from jobs.transforms.functions import FUNCTIONS

        spec = FUNCTIONS.get(node.name)
        if spec is None:
            raise ExpressionError(f"unknown function {node.name!r} (known: "
                                  f"{', '.join(sorted(FUNCTIONS))})")
        low, high = spec.arity
        if not low <= len(node.args) <= (high if high is not None else len(node.args)):
            wanted = f"{low}" if low == high else f"{low} to {high or 'any number of'}"
            raise ExpressionError(f"{node.name}() takes {wanted} argument(s), "
                                  f"got {len(node.args)}")
        args = [self.compile(arg) for arg in node.args]
        return spec.build(self, node.name, args)

    def _case(self, node: Case) -> Typed:
        conditions = [self.condition(self.compile(c), "case when") for c, _ in node.whens]
        values = [self.compile(v) for _, v in node.whens]
        if node.otherwise is not None:
            values.append(self.compile(node.otherwise))
        values = _common(values, "case ... then values")
        chain = pl.when(conditions[0]).then(values[0].expr)
        for condition, value in zip(conditions[1:], values[1:len(conditions)], strict=True):
            chain = chain.when(condition).then(value.expr)
        expr = chain.otherwise(values[-1].expr if node.otherwise is not None else None)
        kind = next((v.kind for v in values if v.kind != "null"), "null")
        return Typed(expr, kind, "case ... end")

    # -- checks shared with the function table --
    def condition(self, typed: Typed, where: str) -> pl.Expr:
        """``typed`` as a boolean expression, or an error naming what was given."""
        if typed.kind not in ("bool", "null"):
            raise ExpressionError(f"'{where}' needs a condition, got {typed.label} "
                                  f"({_a(typed.kind)})")
        return typed.expr

    def number(self, typed: Typed, where: str) -> Typed:
        """``typed`` as a number (text is read as a number), or an error naming it."""
        if typed.kind not in ("number", "text", "null"):
            raise ExpressionError(f"'{where}' needs numbers, got {typed.label} "
                                  f"({_a(typed.kind)})")
        return _as(typed, "number")

    def common(self, items: list[Typed], what: str) -> list[Typed]:
        """Bring ``items`` to one kind (see ``_common``)."""
        return _common(items, what)

    def convert(self, typed: Typed, kind: str) -> Typed:
        """Convert ``typed`` to ``kind`` (text to number/date, anything to text)."""
        return _as(typed, kind)


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _date(value: object, label: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ExpressionError(f"{label} is a date: {value!r} is not a YYYY-MM-DD date") from None


def compile_expression(text: str | Node, schema: Schema) -> Typed:
    """Compile an expression (text or a parsed tree) against a table's schema.

    Args:
        text: the expression, e.g. ``"coalesce(individualCount, 1) * 2"``.
        schema: the table's column names and dtypes.

    Returns:
        The polars expression with its kind (number, text, bool, date, ...).

    Raises:
        ExpressionError: a syntax error (with its position), an unknown column or
            function, or a type mismatch.
    """
    node = parse(text) if isinstance(text, str) else text
    return _Compiler(schema).compile(node)


def compile_condition(text: str | Node, schema: Schema) -> pl.Expr:
    """Compile a condition: an expression that must be true or false on each row.

    Raises:
        ExpressionError: as ``compile_expression``, or when the expression is not a
            condition (e.g. a bare column of numbers).
    """
    typed = compile_expression(text, schema)
    if typed.kind != "bool":
        raise ExpressionError(f"not a condition: {typed.label} is {_a(typed.kind)} "
                              "(compare it, e.g. '... > 0', or test 'is not null')")
    return typed.expr
