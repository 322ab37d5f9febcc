"""The validation benchmark's rules and data: a Darwin Core occurrence CSV where every rule
finds something.

Each row-level rule meets about 0.1-0.3% defective rows of several kinds (a missing
or blank name, 0/0, a point outside the box, one coordinate missing, unreadable
numbers, future, impossible and pre-1900 dates, duplicate ids, a bad basis or
country code), 1.5% of localities are empty (the null-fraction rule tolerates 1%),
and the file lacks one required column. Dates come in the precisions Darwin Core
allows (day, minute, month, year, ranges). Generated with numpy and polars, seeded.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

NOW = datetime(2026, 1, 1, tzinfo=UTC)
BASIS = ["HumanObservation", "MachineObservation", "PreservedSpecimen"]
BBOX = [-10.0, 35.0, 5.0, 44.0]  # the demo atlas area (Iberia)
# occurrenceStatus is not in the file: the required-columns rule fails.
REQUIRED = ["occurrenceID", "scientificName", "eventDate", "decimalLatitude",
            "decimalLongitude", "occurrenceStatus"]
RULES: list[dict[str, Any]] = [
    {"id": "required", "type": "required_columns", "severity": "error", "columns": REQUIRED},
    {"id": "occ-unique", "type": "unique", "severity": "error", "columns": ["occurrenceID"]},
    {"id": "name", "type": "not_null", "severity": "error", "column": "scientificName"},
    {"id": "date", "type": "date", "severity": "error", "column": "eventDate", "min": "1900-01-01"},
    {"id": "coords", "type": "coordinates", "severity": "error", "bbox": BBOX},
    {"id": "count", "type": "range", "severity": "warning", "column": "individualCount",
     "min": 1, "max": 10000},
    {"id": "year", "type": "range", "severity": "error", "column": "year",
     "min": 1900, "max": 2026},
    {"id": "basis", "type": "allowed_values", "severity": "error", "column": "basisOfRecord",
     "values": BASIS},
    {"id": "country", "type": "pattern", "severity": "warning", "column": "countryCode",
     "regex": "[A-Z]{2}"},
    {"id": "locality", "type": "null_fraction", "severity": "warning", "column": "locality",
     "max_fraction": 0.01},
]

COLUMNS = ["occurrenceID", "scientificName", "eventDate", "year", "decimalLatitude",
           "decimalLongitude", "locality", "locationID", "individualCount", "basisOfRecord",
           "countryCode"]
# Defect kind -> (column, replacement value); one kind per defective row.
DEFECTS: list[tuple[str, str | None]] = [
    ("scientificName", None), ("scientificName", "  "),
    ("decimalLatitude+decimalLongitude", "0"), ("decimalLatitude", "51.5"),
    ("decimalLongitude", None), ("decimalLatitude", "n/a"),
    ("eventDate", "2031-05-04"), ("eventDate", "2016-13-45"), ("eventDate", "1850-06-01"),
    ("eventDate", "unknown"),
    ("occurrenceID", "duplicate"),
    ("individualCount", "-1"), ("individualCount", "a few"), ("individualCount", "20000"),
    ("year", "1850"), ("year", "20l6"),
    ("basisOfRecord", "Observation"), ("basisOfRecord", "humanobservation"),
    ("countryCode", "es"), ("countryCode", "ESP"),
]
DEFECT_RATE = 0.0015  # per kind


def generate(path: Path, rows: int, seed: int = 42) -> Path:
    """Write ``rows`` occurrences to ``path`` (CSV); return the path."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    genera = ["Parus", "Turdus", "Sylvia", "Anthus", "Motacilla", "Corvus", "Falco", "Buteo"]
    epithets = ["major", "merula", "atricapilla", "pratensis", "alba", "corone", "minor"]
    taxa = [f"{g} {e}" for g in genera for e in epithets]
    sites = 36
    site_lat = np.round(37.0 + rng.random(sites) * 2, 4)
    site_lon = np.round(-5.0 + rng.random(sites) * 3, 4)
    site = rng.integers(0, sites, rows)
    day = np.datetime64("2010-01-01") + rng.integers(0, 16 * 365, rows).astype("timedelta64[D]")
    precision = rng.random(rows)
    index = pl.int_range(0, rows, eager=True)
    frame = pl.DataFrame({
        "index": index,
        "scientificName": np.array(taxa)[np.minimum(rng.exponential(12, rows).astype(int),
                                                    len(taxa) - 1)],
        "day": day,
        "precision": precision,
        "decimalLatitude": site_lat[site] + rng.uniform(-0.01, 0.01, rows),
        "decimalLongitude": site_lon[site] + rng.uniform(-0.01, 0.01, rows),
        "site": site + 1,
        "individualCount": 1 + rng.exponential(2, rows).astype(int),
        "basisOfRecord": np.array(BASIS)[rng.integers(0, len(BASIS), rows)],
        "roll": rng.random(rows),
        "emptyLocality": rng.random(rows) < 0.015,
    })
    iso = pl.col("day").dt.strftime("%Y-%m-%d")
    event_date = (
        pl.when(pl.col("precision") < 0.05).then(pl.format("{}T10:15", iso))
        .when(pl.col("precision") < 0.06).then(pl.col("day").dt.strftime("%Y-%m"))
        .when(pl.col("precision") < 0.065).then(pl.col("day").dt.strftime("%Y"))
        .when(pl.col("precision") < 0.07)
        .then(pl.format("{}/{}", iso,
                        (pl.col("day") + pl.duration(days=2)).dt.strftime("%Y-%m-%d")))
        .otherwise(iso)
    )
    site_text = pl.col("site").cast(pl.String).str.zfill(2)
    frame = frame.select(
        "index", "roll",
        pl.format("urn:bench:occ:{}", pl.col("index").cast(pl.String).str.zfill(8))
        .alias("occurrenceID"),
        "scientificName", event_date.alias("eventDate"),
        pl.col("day").dt.year().cast(pl.String).alias("year"),
        pl.col("decimalLatitude").round(5).cast(pl.String),
        pl.col("decimalLongitude").round(5).cast(pl.String),
        pl.when(pl.col("emptyLocality")).then(None).otherwise(pl.format("Site {}", site_text))
        .alias("locality"),
        pl.format("S{}", site_text).alias("locationID"),
        pl.col("individualCount").cast(pl.String),
        "basisOfRecord",
        pl.lit("ES").alias("countryCode"),
    )
    frame = frame.with_columns(_defects(frame.columns)).select(COLUMNS)
    frame.write_csv(path)
    return path


def _defects(columns: list[str]) -> list:
    """Expressions replacing each column's value on the rows drawn for its defects."""
    import polars as pl

    kind = (pl.col("roll") / DEFECT_RATE).floor().cast(pl.Int64)
    changed: dict[str, pl.Expr] = {}
    for number, (targets, value) in enumerate(DEFECTS):
        for column in targets.split("+"):
            if value == "duplicate":
                replacement = pl.format("urn:bench:occ:{}",
                                        (pl.col("index") - 1).cast(pl.String).str.zfill(8))
            else:
                replacement = pl.lit(value, pl.String)
            base = changed.get(column, pl.col(column))
            hit = (kind == number) & (pl.col("index") > 0)
            changed[column] = pl.when(hit).then(replacement).otherwise(base)
    return [expr.alias(column) for column, expr in changed.items() if column in columns]
