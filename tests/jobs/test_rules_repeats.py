"""The ``unique`` rule's hashed reading gives the very verdicts of its expression.

Repeats are found on 64-bit key hashes and confirmed on the real values
(``jobs.rules.repeats``). Each test compares that with the plain expression
(``is_first_distinct`` over the rows in scope), on keys with nulls, several
columns, conditions, and hashes forced to collide.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import polars as pl
import pytest

from jobs.rules import RuleEnv, evaluate_rules, repeats, structure

ENV = RuleEnv(now=datetime(2026, 1, 1, tzinfo=UTC), tables={}, vocabulary=lambda s, c: None)
VALUES = [None, "", "a", "b", "ab", "x" * 20, "y" * 20]


def _table(rows: int, seed: int) -> pl.DataFrame:
    draw = random.Random(seed)
    return pl.DataFrame({
        "a": [draw.choice(VALUES) for _ in range(rows)],
        "b": [draw.choice(VALUES) for _ in range(rows)],
        "n": [draw.choice([None, 1, 2, 3]) for _ in range(rows)],
        "flag": [draw.choice(["y", "n"]) for _ in range(rows)],
    }, schema={"a": pl.String, "b": pl.String, "n": pl.Int64, "flag": pl.String})


def _expected(frame: pl.DataFrame, columns: list[str], scoped: bool) -> list[bool]:
    failing = repeats.repeats_expr(columns)
    if scoped:
        in_scope = pl.col("flag") == "y"
        failing = in_scope & failing.over(in_scope)
    return frame.select(failing).to_series().to_list()


@pytest.mark.parametrize("columns", [["a"], ["a", "b"], ["b", "a"], ["a", "n"], ["n"]])
@pytest.mark.parametrize("scoped", [False, True])
@pytest.mark.parametrize("rows", [0, 1, 2, 40, 1000, 70_000])
def test_hashed_repeats_are_the_expression_s(columns, scoped, rows):
    frame = _table(rows, seed=rows + len(columns))
    scope = frame.select(pl.col("flag") == "y").to_series() if scoped else None
    got = repeats.repeated_rows(frame, scope, columns=columns)
    assert got.len() == rows
    assert got.to_list() == _expected(frame, columns, scoped)


def test_keys_sharing_a_hash_are_told_apart_by_their_values(monkeypatch):
    monkeypatch.setattr(repeats, "_hash", lambda columns: pl.lit(7, dtype=pl.UInt64)
                        + pl.col(columns[0]).is_null().cast(pl.UInt64))
    frame = _table(500, seed=5)
    got = repeats.repeated_rows(frame, None, columns=["a", "b"])
    assert got.to_list() == _expected(frame, ["a", "b"], scoped=False)


def test_the_rule_reports_as_with_the_plain_expression(monkeypatch):
    frame = _table(3000, seed=9)
    rules = [
        {"id": "ab", "type": "unique", "severity": "error", "columns": ["a", "b"]},
        {"id": "yes", "type": "unique", "severity": "error", "columns": ["a"],
         "condition": "flag == 'y'"},
        {"id": "b", "type": "not_null", "severity": "warning", "column": "b"},
    ]
    hashed = evaluate_rules(frame, rules, ENV)
    monkeypatch.setattr(structure, "hashable", lambda frame, columns: False)
    plain = evaluate_rules(frame, rules, ENV)
    assert hashed.results[0]["failing_rows"] > 0 and hashed.results[1]["failing_rows"] > 0
    assert hashed.results == plain.results
    assert hashed.rejected.equals(plain.rejected)


def test_float_keys_keep_the_expression():
    frame = pl.DataFrame({"x": [0.0, -0.0, float("nan"), float("nan"), None]})
    assert not repeats.hashable(frame, ["x"])
    result = evaluate_rules(frame, [{"id": "x", "type": "unique", "severity": "error",
                                     "columns": ["x"]}], ENV).results[0]
    assert result["failing_rows"] == frame.select(repeats.repeats_expr(["x"])).sum().item()
