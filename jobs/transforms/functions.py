"""The functions of the expression language: strings, dates, numbers, coalesce.

Each entry declares its arity and builds a polars expression from compiled
arguments (``expressions.Typed``). Literal-only arguments (a substring to find, a
number of digits) must be literals so that the result does not depend on data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from portal.services.expression_language import ExpressionError

Builder = Callable[[Any, str, list[Any]], Any]


@dataclass(frozen=True)
class Function:
    """A function: (min, max) argument count (max None: any) and its builder."""

    arity: tuple[int, int | None]
    build: Builder
    description: str


def _typed(expr: pl.Expr, kind: str, label: str) -> Any:
    from jobs.transforms.expressions import Typed

    return Typed(expr, kind, label)


def _text_arg(compiler: Any, name: str, arg: Any) -> pl.Expr:
    if arg.kind not in ("text", "number", "null"):
        raise ExpressionError(f"{name}() needs text, got {arg.label}")
    return compiler.convert(arg, "text").expr


def _literal_text(name: str, arg: Any) -> str:
    meta = arg.expr.meta
    if arg.kind != "text" or not meta.is_literal():
        raise ExpressionError(f"{name}(): the text to look for must be a quoted literal")
    return pl.select(arg.expr).item()


def _literal_int(name: str, arg: Any) -> int:
    if arg.kind != "number" or not arg.expr.meta.is_literal():
        raise ExpressionError(f"{name}(): expected a whole number literal, got {arg.label}")
    value = pl.select(arg.expr).item()
    if float(value) != int(value):
        raise ExpressionError(f"{name}(): expected a whole number, got {value}")
    return int(value)


def _string_fn(method: Callable[[pl.Expr], pl.Expr], kind: str = "text") -> Builder:
    def build(compiler: Any, name: str, args: list[Any]) -> Any:
        return _typed(method(_text_arg(compiler, name, args[0])), kind, f"{name}(...)")

    return build


def _match_fn(method: str) -> Builder:
    def build(compiler: Any, name: str, args: list[Any]) -> Any:
        text = _text_arg(compiler, name, args[0])
        needle = _literal_text(name, args[1])
        if method == "contains":
            return _typed(text.str.contains(needle, literal=True), "bool", f"{name}(...)")
        return _typed(getattr(text.str, method)(needle), "bool", f"{name}(...)")

    return build


def _substr(compiler: Any, name: str, args: list[Any]) -> Any:
    text = _text_arg(compiler, name, args[0])
    start = _literal_int(name, args[1])
    if start < 1:
        raise ExpressionError("substr(): positions start at 1")
    length = _literal_int(name, args[2]) if len(args) > 2 else None
    return _typed(text.str.slice(start - 1, length), "text", "substr(...)")


def _replace(compiler: Any, name: str, args: list[Any]) -> Any:
    text = _text_arg(compiler, name, args[0])
    old, new = _literal_text(name, args[1]), _literal_text(name, args[2])
    return _typed(text.str.replace_all(old, new, literal=True), "text", "replace(...)")


def _concat(compiler: Any, name: str, args: list[Any]) -> Any:
    parts = [_text_arg(compiler, name, arg) for arg in args]
    return _typed(pl.concat_str(parts), "text", "concat(...)")


def _coalesce(compiler: Any, name: str, args: list[Any]) -> Any:
    args = compiler.common(args, "coalesce()")
    kind = next((arg.kind for arg in args if arg.kind != "null"), "null")
    return _typed(pl.coalesce([arg.expr for arg in args]), kind, "coalesce(...)")


def _as_date_like(compiler: Any, name: str, arg: Any) -> pl.Expr:
    if arg.kind in ("date", "datetime"):
        return arg.expr
    if arg.kind == "text":
        return compiler.convert(arg, "date").expr
    raise ExpressionError(f"{name}() needs a date, got {arg.label}")


def _date_part(part: str) -> Builder:
    def build(compiler: Any, name: str, args: list[Any]) -> Any:
        arg = args[0]
        if part == "year" and arg.kind == "text":
            # A year alone ("2019") or a date range is still a year.
            year = arg.expr.str.extract(r"^\s*(\d{4})", 1).cast(pl.Int32, strict=False)
            return _typed(year, "number", f"{name}(...)")
        value = _as_date_like(compiler, name, arg)
        return _typed(getattr(value.dt, part)().cast(pl.Int32), "number", f"{name}(...)")

    return build


def _date(compiler: Any, name: str, args: list[Any]) -> Any:
    if len(args) == 1:
        return _typed(_as_date_like(compiler, name, args[0]).cast(pl.Date), "date", "date(...)")
    if len(args) != 3:
        raise ExpressionError("date() takes one argument (text) or three (year, month, day)")
    year, month, day = (compiler.number(arg, "date").expr.cast(pl.Int32) for arg in args)
    valid = month.is_between(1, 12) & day.is_between(1, 31)
    built = pl.concat_str([year, pl.lit("-"), month.cast(pl.String).str.zfill(2), pl.lit("-"),
                           day.cast(pl.String).str.zfill(2)])
    parsed = built.str.to_date("%Y-%m-%d", strict=False)
    return _typed(pl.when(valid).then(parsed), "date", "date(...)")


def _numeric(method: Callable[[pl.Expr], pl.Expr]) -> Builder:
    def build(compiler: Any, name: str, args: list[Any]) -> Any:
        return _typed(method(compiler.number(args[0], name).expr), "number", f"{name}(...)")

    return build


def _round(compiler: Any, name: str, args: list[Any]) -> Any:
    digits = _literal_int(name, args[1]) if len(args) > 1 else 0
    value = compiler.number(args[0], name).expr
    return _typed(value.round(digits), "number", "round(...)")


def _integer(compiler: Any, name: str, args: list[Any]) -> Any:
    value = compiler.number(args[0], name).expr
    return _typed(value.cast(pl.Float64).floor().cast(pl.Int64), "number", "integer(...)")


FUNCTIONS: dict[str, Function] = {
    "coalesce": Function((2, None), _coalesce, "first value that is not null"),
    "lower": Function((1, 1), _string_fn(lambda e: e.str.to_lowercase()), "lower case"),
    "upper": Function((1, 1), _string_fn(lambda e: e.str.to_uppercase()), "upper case"),
    "trim": Function((1, 1), _string_fn(lambda e: e.str.strip_chars()), "without outer spaces"),
    "length": Function((1, 1), _string_fn(lambda e: e.str.len_chars(), "number"),
                       "number of characters"),
    "substr": Function((2, 3), _substr, "substr(text, start from 1, length)"),
    "replace": Function((3, 3), _replace, "replace(text, 'old', 'new')"),
    "concat": Function((1, None), _concat, "texts joined (null if any is null)"),
    "contains": Function((2, 2), _match_fn("contains"), "contains(text, 'part')"),
    "starts_with": Function((2, 2), _match_fn("starts_with"), "starts_with(text, 'prefix')"),
    "ends_with": Function((2, 2), _match_fn("ends_with"), "ends_with(text, 'suffix')"),
    "year": Function((1, 1), _date_part("year"), "year of a date (or of 'YYYY...' text)"),
    "month": Function((1, 1), _date_part("month"), "month of a date, 1-12"),
    "day": Function((1, 1), _date_part("day"), "day of the month"),
    "day_of_year": Function((1, 1), _date_part("ordinal_day"), "day of the year, 1-366"),
    "date": Function((1, 3), _date, "date(text) or date(year, month, day)"),
    "number": Function((1, 1), _numeric(lambda e: e), "text read as a number (else null)"),
    "integer": Function((1, 1), _integer, "whole number (rounded down)"),
    "text": Function((1, 1), lambda c, n, a: _typed(c.convert(a[0], "text").expr, "text",
                                                     "text(...)"), "value as text"),
    "abs": Function((1, 1), _numeric(lambda e: e.abs()), "absolute value"),
    "floor": Function((1, 1), _numeric(lambda e: e.floor()), "rounded down"),
    "ceil": Function((1, 1), _numeric(lambda e: e.ceil()), "rounded up"),
    "round": Function((1, 2), _round, "round(number, digits)"),
}
