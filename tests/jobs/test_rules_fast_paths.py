"""The rules engine's shortcuts give the very results of the plain reading.

Numbers and dates are read with a fast path (an untrimmed cast, the first ten
characters of a value that starts with a day) and the full reading only where the
fast path found nothing; row-wise rules run slice by slice. Each test compares the
engine's answer with the plain expression's on values chosen to trip a shortcut.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from jobs.rules import RuleEnv, evaluate_rules
from jobs.rules import engine as rules_engine
from jobs.rules.base import as_number
from jobs.rules.temporal import start_date

DATES = [
    "2016-08-03", " 2016-08-03", "2016-08-03 ", "\t016-08-03", "016-08-03 ", "2016-8-03",
    "2016-08-03T10:15", "2016-08-03 10:15", "2016-08-03/2016-08-05", "2016-08-03x",
    "2016-08", "2016-08/2016-09", "2016", "2016/2017", " 2016 ", "2016-02-30", "2015-02-29",
    "+2016-08-03", "02016-08-03", "2016-08-03\u3000", "\u00a02016-08-03", "", "   ", None,
    "unknown", "0999-12-31", "2016-08-0é",
]
NUMBERS = [
    "5", " 5", "5 ", "\t7\n", "\u00a05", "1e3", " -2.5 ", "inf", " nan", "NaN", "n/a", "",
    "  ", None, "1,5", "0x10", "+4", ".5", "5.",
]
ENV = RuleEnv(now=datetime(2026, 1, 1, tzinfo=UTC), tables={}, vocabulary=lambda s, c: None)


@pytest.mark.parametrize("column,values,derive", [
    ("eventDate", DATES, start_date), ("individualCount", NUMBERS, as_number),
])
def test_fast_path_reads_every_value_as_the_full_reading(column, values, derive):
    frame = pl.DataFrame({column: values}, schema={column: pl.String})
    derived = derive(frame, column)
    assert derived.fast is not None
    expected = frame.select(derived.expr.alias("value")).to_series()
    got = rules_engine._derive(frame, [derived]).get_column(derived.name).alias("value")
    assert got.to_list() == pytest.approx(expected.to_list(), nan_ok=True)


RULES = [
    {"id": "ids", "type": "unique", "severity": "error", "columns": ["occurrenceID"]},
    {"id": "day", "type": "date", "severity": "error", "column": "eventDate"},
    {"id": "count", "type": "range", "severity": "warning", "column": "individualCount",
     "min": 1, "max": 10},
    {"id": "name", "type": "not_null", "severity": "error", "column": "scientificName"},
]


def _table(rows: int) -> pl.DataFrame:
    return pl.DataFrame({
        "occurrenceID": [f"occ-{index % 17}" for index in range(rows)],
        "eventDate": [DATES[index % len(DATES)] for index in range(rows)],
        "individualCount": [NUMBERS[index % len(NUMBERS)] for index in range(rows)],
        "scientificName": [None if index % 5 == 0 else "Parus major" for index in range(rows)],
    }, schema={"occurrenceID": pl.String, "eventDate": pl.String,
               "individualCount": pl.String, "scientificName": pl.String})


def test_row_wise_rules_in_small_slices_report_what_one_pass_reports(monkeypatch):
    table = _table(100)
    whole = evaluate_rules(table, RULES, ENV)
    monkeypatch.setattr(rules_engine, "BATCH_ROWS", 7)
    sliced = evaluate_rules(table, RULES, ENV)
    assert [r["failing_rows"] for r in whole.results] == [83, 44, 55, 20]  # as before the shortcuts
    assert sliced.results == whole.results
    assert sliced.rejected.equals(whole.rejected)
    # a repeat is a repeat of a row in another slice too
    assert sliced.rejected.filter(pl.col("_row") == 17)["_rule_ids"].item().startswith("ids")


def test_an_empty_table_still_reports_every_rule():
    evaluation = evaluate_rules(_table(0), RULES, ENV)
    assert [r["failing_rows"] for r in evaluation.results] == [0, 0, 0, 0]
    assert evaluation.rejected.height == 0
