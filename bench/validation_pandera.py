"""The pandera equivalent of the validation benchmark's rules (``validation_data.RULES``).

Each check has its rule's semantics, so both engines count the same failing rows:
empty values pass a value rule (pandera's ``ignore_na``), numbers and dates are read
from trimmed text, a date is read as its start (``2016-08`` is 1 August, a range
starts on its first day) and must lie between 1900-01-01 and the run's date, the
regular expression must match the whole value, the first of duplicate ids passes,
a name or locality that is only blanks counts as empty.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from validation_data import BBOX, NOW, REQUIRED, RULES

# pandera's names for its built-in checks -> the rule ids.
BUILT_IN = {"not_nullable": "name", "field_uniqueness": "occ-unique",
            "column_in_dataframe": "required"}
RANGES = {rule["id"]: (rule["min"], rule["max"]) for rule in RULES if rule["type"] == "range"}
BASIS = next(rule["values"] for rule in RULES if rule["id"] == "basis")


def number(series: pd.Series) -> pd.Series:
    """Trimmed text as float; what is not a number becomes NaN."""
    return pd.to_numeric(series.str.strip(), errors="coerce")


def start_date(series: pd.Series) -> pd.Series:
    """Darwin Core date text as the date it starts on (``validate.rules``' reading)."""
    text = series.str.strip()
    length = text.str.len()
    after_day = text.str.slice(10, 11).isin(["T", " ", "/"])
    candidate = np.select(
        [length == 10, after_day,
         (length == 7) | (text.str.slice(7, 8) == "/"),
         (length == 4) | (text.str.slice(4, 5) == "/")],
        [text, text.str.slice(0, 10), text.str.slice(0, 7) + "-01",
         text.str.slice(0, 4) + "-01-01"],
        default=None,
    )
    return pd.to_datetime(pd.Series(candidate, index=series.index), format="%Y-%m-%d",
                          errors="coerce")


def date_ok(series: pd.Series) -> pd.Series:
    """A date, not after the run's date, not before 1900."""
    parsed = start_date(series)
    low, high = pd.Timestamp("1900-01-01"), pd.Timestamp(NOW.date())
    return parsed.notna() & (parsed >= low) & (parsed <= high)


def coords_ok(frame: pd.DataFrame) -> pd.Series:
    """No coordinates, or both readable, in range, not 0/0 and inside the box."""
    lat, lon = number(frame["decimalLatitude"]), number(frame["decimalLongitude"])
    present = frame["decimalLatitude"].notna() | frame["decimalLongitude"].notna()
    valid = (lat.abs() <= 90) & (lon.abs() <= 180) & ~((lat == 0) & (lon == 0))
    inside = lon.between(BBOX[0], BBOX[2]) & lat.between(BBOX[1], BBOX[3])
    return ~present | (valid & inside)


def in_range(rule_id: str) -> pa.Check:
    """The range rule ``rule_id``: a number within its bounds."""
    low, high = RANGES[rule_id]
    return pa.Check(lambda s: number(s).between(low, high), name=rule_id)


def schema() -> pa.DataFrameSchema:
    """The rules as one pandera schema (columns as text, as the CSV holds them)."""
    columns: dict[str, pa.Column] = {name: pa.Column(nullable=True) for name in REQUIRED}
    columns.update({
        "occurrenceID": pa.Column(nullable=True, unique=True, report_duplicates="exclude_first"),
        "scientificName": pa.Column(
            nullable=False, checks=pa.Check(lambda s: s.str.strip() != "", name="name")),
        "eventDate": pa.Column(nullable=True, checks=pa.Check(date_ok, name="date")),
        "individualCount": pa.Column(nullable=True, checks=in_range("count")),
        "year": pa.Column(nullable=True, checks=in_range("year")),
        "basisOfRecord": pa.Column(nullable=True,
                                   checks=pa.Check(lambda s: s.isin(BASIS), name="basis")),
        "countryCode": pa.Column(
            nullable=True, checks=pa.Check(lambda s: s.str.fullmatch(r"[A-Z]{2}"), name="country")),
        # Empty (null or blank) localities are the rule's failing rows; its tolerance is
        # a verdict on their count, which pandera has no notion of.
        "locality": pa.Column(nullable=True, checks=pa.Check(
            lambda s: s.notna() & (s.str.strip() != ""), ignore_na=False, name="locality")),
    })
    return pa.DataFrameSchema(columns, checks=[pa.Check(coords_ok, name="coords")])


def count_failures(cases: pd.DataFrame) -> dict[str, Any]:
    """Failing rows per rule id from pandera's failure cases.

    A frame-wide check reports each failing row once per column, so rows are counted
    once; a missing column (no row index) counts as one failure.
    """
    renamed = cases["check"].astype(str).replace(BUILT_IN)
    rows = cases["index"].astype("float64").fillna(-1)
    return {str(check): int(count) for check, count in rows.groupby(renamed).nunique().items()}
