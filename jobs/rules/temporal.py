"""Date rules: parseable, not in the future, within bounds; and freshness of the newest date.

Darwin Core dates are ISO 8601 text of varying precision. A value is read as its
start: ``2016-08-03``, ``2016-08-03T10:15``, ``2016-08-03/2016-08-05`` (a range),
``2016-08`` (the 1st of the month) and ``2016`` (1 January).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from jobs.rules.base import (
    Derived,
    RowCheck,
    RuleConfigError,
    RuleEnv,
    TableCheck,
    require,
    rule_check,
)

_AFTER_DAY = ["T", " ", "/"]
_DIGITS = list("0123456789")
# Every character str.strip_chars() removes (Unicode White_Space), and a few more.
_BLANKS = sorted({chr(code) for code in range(0x3001) if chr(code).isspace()})
_ISO_DAY = {"format": "%Y-%m-%d", "strict": False, "cache": False}


def start_date(frame: pl.DataFrame, column: str) -> Derived:
    """The column's values as dates (their start); text that is not a date is null."""
    return Derived(f"__date__{column}", _start_date_expr(frame, column),
                   fast=_fast_day_expr(frame, column))


def _fast_day_expr(frame: pl.DataFrame, column: str) -> pl.Expr | None:
    """The start date of values that begin with a day (``2016-08-03``, ``2016-08-03T10:15``).

    Only for text that trimming would not change (a digit first, no blank last): then
    its first ten characters are the very candidate ``_start_date_expr`` parses. Other
    values are left null, for the full reading.
    """
    if frame.schema[column] != pl.String:
        return None
    value = pl.col(column)
    untrimmed = value.str.slice(0, 1).is_in(_DIGITS) & ~value.str.slice(-1, 1).is_in(_BLANKS)
    day_first = (value.str.len_bytes() == 10) | value.str.slice(10, 1).is_in(_AFTER_DAY)
    return pl.when(untrimmed & day_first).then(value.str.slice(0, 10)).str.to_date(**_ISO_DAY)


def _start_date_expr(frame: pl.DataFrame, column: str) -> pl.Expr:
    dtype = frame.schema[column]
    if dtype == pl.Date:
        return pl.col(column)
    if isinstance(dtype, pl.Datetime):
        return pl.col(column).dt.date()
    text = pl.col(column).cast(pl.String).str.strip_chars()
    length = text.str.len_bytes()

    def char_at(position: int) -> pl.Expr:
        return text.str.slice(position, 1)

    # One candidate "YYYY-MM-DD" per value, parsed once: cheaper than parsing each form.
    candidate = (
        pl.when(length == 10)
        .then(text)
        .when(char_at(10).is_in(_AFTER_DAY))
        .then(text.str.slice(0, 10))
        .when((length == 7) | (char_at(7) == "/"))
        .then(pl.concat_str([text.str.slice(0, 7), pl.lit("-01")]))
        .when((length == 4) | (char_at(4) == "/"))
        .then(pl.concat_str([text.str.slice(0, 4), pl.lit("-01-01")]))
    )
    return candidate.str.to_date(**_ISO_DAY)  # no cache: parsing is cheaper than hashing


def _bound(rule: dict[str, Any], key: str) -> date | None:
    if rule.get(key) is None:
        return None
    try:
        return date.fromisoformat(rule[key])
    except ValueError:
        raise RuleConfigError(f"{key} {rule[key]!r} is not an ISO date (YYYY-MM-DD)") from None


@rule_check("date")
def date_values(frame: pl.DataFrame, rule: dict[str, Any], env: RuleEnv) -> RowCheck:
    """Values are dates, not after the run's date (unless ``allow_future``), within min/max."""
    column = rule["column"]
    require(frame, column)
    derived = start_date(frame, column)
    parsed = derived.col
    failing = parsed.is_null()
    problems = ["not a date"]
    if not rule.get("allow_future", False):
        today = env.now.date()
        failing = failing | (parsed > today)
        problems.append(f"after {today.isoformat()}")
    low, high = _bound(rule, "min"), _bound(rule, "max")
    if low is not None:
        failing = failing | (parsed < low)
        problems.append(f"before {low.isoformat()}")
    if high is not None:
        failing = failing | (parsed > high)
        problems.append(f"after {high.isoformat()}")
    return RowCheck(
        pl.col(column).is_not_null() & failing,
        f"have a {column} that is {', or '.join(problems)}",
        derived=(derived,),
    )


@rule_check("freshness", scope="table")
def freshness(frame: pl.DataFrame, rule: dict[str, Any], env: RuleEnv) -> TableCheck:
    """The newest date of the column is at most ``max_age_days`` before the run."""
    column = rule["column"]
    require(frame, column)
    newest = frame.select(start_date(frame, column).expr.max()).item()
    if newest is None:
        return TableCheck(False, f"no date in {column}: the data's age is unknown")
    age = (env.now.date() - newest).days
    limit = rule["max_age_days"]
    if age > limit:
        return TableCheck(
            False, f"newest {column} is {newest.isoformat()}, {age} days old (limit {limit})"
        )
    return TableCheck(True, f"newest {column} is {newest.isoformat()}, {age} days old")
