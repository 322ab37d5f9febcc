"""The data path of a real run: table fingerprints, parsing large files in place,
short rows found by the chunked scan, and lazy tables validated in batches."""

from __future__ import annotations

import polars as pl
import pytest

import jobs.connectors.delimited as delimited
import jobs.connectors.ragged as ragged
import jobs.steps.ingest as ingest_module
import jobs.steps.validate_batched as batched
from jobs.connectors.ragged import find_short_rows
from jobs.registry import get_step
from jobs.steps.base import StepError, fold_fingerprint, frame_fingerprint, sha256_file
from tests.jobs.conftest import ANT_SPECIES, ANTS

ANT_RULES = [
    {"id": "species-known", "type": "allowed_values", "severity": "error", "column": "species",
     "vocabulary": {"source": ANT_SPECIES, "column": "speciescode"}},
    {"id": "plot-range", "type": "range", "severity": "error", "column": "plot",
     "min": 1, "max": 20},
    {"id": "day-known", "type": "null_fraction", "severity": "info", "column": "day",
     "max_fraction": 0.01},
    {"id": "date-valid", "type": "date", "severity": "warning", "column": "eventDate",
     "min": "1980-01-01"},
    {"id": "no-repeats", "type": "unique", "severity": "warning",
     "columns": ["year", "month", "day", "plot", "stake", "species"]},
    {"id": "columns", "type": "required_columns", "severity": "critical",
     "columns": ["plot", "species"]},
]
DATE_FROM = {"date_from": {"day": "day", "month": "month", "year": "year"}}


def frame(**columns):
    return pl.DataFrame(columns, schema={name: pl.String for name in columns})


# --- fingerprints ---------------------------------------------------------------------


def test_equal_tables_built_apart_have_equal_fingerprints():
    whole = frame(site=["A", "B", None], count=["1", "2", "3"])
    pieces = pl.concat([frame(site=["A"], count=["1"]), frame(site=["B", None],
                                                              count=["2", "3"])],
                       rechunk=False)
    assert pieces.n_chunks() == 2
    assert frame_fingerprint(whole) == frame_fingerprint(pieces)


@pytest.mark.parametrize("other", [
    frame(site=["A", "B", "C"], count=["1", "2", "3"]),  # a value
    frame(site=["A", "B", ""], count=["1", "2", "3"]),  # empty text is not a null
    frame(site=["B", "A", None], count=["2", "1", "3"]),  # the order of rows
    frame(place=["A", "B", None], count=["1", "2", "3"]),  # a column's name
    frame(site=["A", "B", None], count=["1", "2", "3"], extra=["x", "y", "z"]),
    frame(site=["A", "B"], count=["1", "2"]),  # a row fewer
    pl.DataFrame({"site": ["A", "B", None], "count": [1, 2, 3]}),  # a column's type
])
def test_tables_that_differ_have_different_fingerprints(other):
    assert frame_fingerprint(frame(site=["A", "B", None], count=["1", "2", "3"])) \
        != frame_fingerprint(other)


def test_a_table_read_in_batches_has_the_fingerprint_of_the_whole_table():
    table = pl.DataFrame({"n": [str(i) for i in range(1000)], "v": ["x"] * 1000})
    batches = (table.slice(offset, 77) for offset in range(0, 1000, 77))
    assert fold_fingerprint(table.schema, batches) == frame_fingerprint(table)


def test_an_empty_table_has_a_fingerprint_of_its_columns():
    assert frame_fingerprint(frame(a=[])) != frame_fingerprint(frame(b=[]))


# --- parsing large files in place, short rows ------------------------------------------


def test_a_large_file_is_parsed_from_its_recorded_copy_like_a_small_one(
        make_ctx, data_root, monkeypatch):
    text = (data_root / ANTS).read_bytes()
    small = get_step("ingest.csv")(make_ctx({"source": ANTS})).tables["data"]
    monkeypatch.setattr(delimited, "PARSE_FROM_FILE_BYTES", 1)  # every file is "large"
    ctx = make_ctx({"source": ANTS})
    result = get_step("ingest.csv")(ctx)
    assert result.tables["data"].equals(small)
    assert result.output_fingerprint == frame_fingerprint(small)
    # The recorded copy holds exactly the bytes hashed.
    stored = ctx.store_root / result.details["sha256"][:2] / result.details["sha256"]
    assert stored.read_bytes() == text and sha256_file(stored) == result.details["sha256"]


def test_short_rows_of_a_large_file_are_refused_with_their_line(make_ctx, data_root,
                                                               monkeypatch):
    body = b"".join(b"%d,site,%d\n" % (i, i) for i in range(200_000))
    (data_root / "big.csv").write_bytes(b"id,site,count\n" + body + b"7,site\n" + body)
    monkeypatch.setattr(ragged, "CHUNK_BYTES", 1000)  # records straddle the chunks
    with pytest.raises(StepError, match=r"line 200002 has 2 field\(s\) where the header "
                                        r"has 3 \(1 short line\(s\) in all\)"):
        get_step("ingest.csv")(make_ctx({"source": "big.csv"}))


@pytest.mark.parametrize("chunk", [1, 2, 5, 1 << 20])
def test_the_short_row_scan_honours_quotes_and_blank_lines_across_chunks(monkeypatch, chunk):
    monkeypatch.setattr(ragged, "CHUNK_BYTES", chunk)
    text = b'a,b,c\n"x,\ny",2,3\n\n  \n"q ""w"", e",5,6\n4,5\r\n7\n8,9,10'
    short = find_short_rows(text, 3)
    assert (short.line, short.fields, short.count) == (7, 2, 2)  # "4,5"; then "7"
    assert find_short_rows(b'a,b,c\n"x,\ny",2,3\n\n8,9,10\n', 3) is None


# --- lazy tables, validated in batches -------------------------------------------------


def run_both(make_ctx, lazy: bool, rules=ANT_RULES):
    tables: dict = {}
    params = {"source": ANTS, "mapping": DATE_FROM, **({"lazy": True} if lazy else {})}
    ingest_ctx = make_ctx(params, tables=tables)
    ingested = get_step("ingest.csv")(ingest_ctx)
    validate_ctx = make_ctx({}, rules, tables=ingested.tables,
                            primary_table=ingest_ctx.primary_table)
    return ingested, get_step("validate.rules")(validate_ctx), validate_ctx


def test_a_lazy_table_is_validated_in_batches_as_the_whole_table_is(make_ctx, monkeypatch):
    eager_ingest, eager, eager_ctx = run_both(make_ctx, lazy=False)
    monkeypatch.setattr(batched, "BATCH_ROWS", 5000)  # 7 batches of the 34,931 rows
    monkeypatch.setattr(ingest_module, "LAZY_BATCH_ROWS", 3000)
    lazy_ingest, lazy, lazy_ctx = run_both(make_ctx, lazy=True)

    assert isinstance(lazy_ingest.tables["data"], pl.LazyFrame)
    assert lazy_ingest.rows_out == eager_ingest.rows_out == 34931
    assert lazy_ingest.output_fingerprint == eager_ingest.output_fingerprint
    assert lazy.status == eager.status == "blocked"
    # The same verdicts, counts, fractions, samples (row numbers) and messages.
    assert lazy.details["rules"] == eager.details["rules"]
    assert [r["id"] for r in eager.details["rules"] if r["failing_rows"]] == [
        "plot-range", "day-known", "date-valid", "no-repeats"]
    assert lazy.rows_rejected == eager.rows_rejected > 0
    assert lazy.tables["data.rejected"].equals(eager.tables["data.rejected"])


def test_a_rule_needing_the_whole_table_is_refused_on_a_lazy_table(make_ctx):
    rules = [{"id": "fresh", "type": "freshness", "severity": "warning",
              "column": "eventDate", "max_age_days": 400}]
    with pytest.raises(StepError, match=r"rule fresh \(freshness\) needs the whole table"):
        run_both(make_ctx, lazy=True, rules=rules)
