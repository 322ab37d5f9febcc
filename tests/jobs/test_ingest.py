"""The CSV and Darwin Core ingest steps: tables, lineage, the store, replay and refusals."""

from __future__ import annotations

import os

import polars as pl
import pytest

from jobs.registry import get_step
from jobs.steps.base import StepError, frame_fingerprint, sha256_file
from portal.services.pipeline_spec import validate_pipeline
from tests.jobs.conftest import ANTS, SNAILS


def ingest(make_ctx, step_type, params, **fields):
    ctx = make_ctx(params, **fields)
    return ctx, get_step(step_type)(ctx)


def test_csv_ingest_reads_the_ant_census_as_strings(make_ctx, data_root):
    ctx, result = ingest(make_ctx, "ingest.csv", {"source": ANTS, "as": "colonies"})

    frame = result.tables["colonies"]
    assert result.status == "succeeded"
    assert frame.shape == (34931, 9)
    assert set(frame.schema.dtypes()) == {pl.String}
    assert result.rows_in == result.rows_out == 34931
    assert result.details["sha256"] == sha256_file(data_root / ANTS)
    assert result.details["bytes"] == (data_root / ANTS).stat().st_size
    assert result.details["columns"][:3] == ["day", "month", "year"]
    assert result.output_fingerprint == frame_fingerprint(frame)
    # The runner had not named a primary table yet: the ingest's table becomes it.
    assert ctx.primary_table == "colonies"


def test_ingest_records_lineage_and_stores_the_raw_bytes(make_ctx, data_root, tmp_path):
    ctx, result = ingest(make_ctx, "ingest.csv", {"source": ANTS}, step_key="load")

    [entry] = ctx.lineage["inputs"]
    digest = sha256_file(data_root / ANTS)
    assert entry == {
        "uri": ANTS,
        "sha256": digest,
        "bytes": (data_root / ANTS).stat().st_size,
        "rows": 34931,
        "columns": result.details["columns"],
        "step": "load",
        "table": "data",
    }
    stored = tmp_path / "store" / digest[:2] / digest
    assert stored.read_bytes() == (data_root / ANTS).read_bytes()


def test_replay_reads_the_recorded_copy_not_the_live_file(make_ctx, data_root, tmp_path):
    first_ctx, first = ingest(make_ctx, "ingest.csv", {"source": ANTS})
    digest = first.details["sha256"]
    (data_root / ANTS).write_text("day,month,year\n1,1,2000\n")  # the live file changed

    _, replayed = ingest(
        make_ctx,
        "ingest.csv",
        {"source": ANTS},
        replay_inputs={ANTS: tmp_path / "store" / digest[:2] / digest},
    )
    assert replayed.details["sha256"] == digest
    assert replayed.output_fingerprint == first.output_fingerprint

    _, live = ingest(make_ctx, "ingest.csv", {"source": ANTS})
    assert live.rows_out == 1


def test_primary_table_set_by_the_runner_is_kept(make_ctx):
    ctx, _ = ingest(make_ctx, "ingest.csv", {"source": ANTS, "as": "second"}, primary_table="first")
    assert ctx.primary_table == "first"


def test_date_from_builds_iso_dates_and_keeps_year_and_month_when_day_is_empty(make_ctx):
    params = {
        "source": ANTS,
        "mapping": {
            "date_from": {"day": "day", "month": "month", "year": "year", "target": "date"},
            "rename": {"plot": "site", "species": "taxon", "colonies": "count"},
        },
    }
    _, result = ingest(make_ctx, "ingest.csv", params)
    frame = result.tables["data"]

    assert {"site", "taxon", "count", "date"} <= set(frame.columns)
    assert "plot" not in frame.columns
    assert frame.row(0, named=True)["date"] == "1977-07-13"
    no_day = frame.filter(pl.col("day").is_null())
    assert no_day.height == 3953  # the real defect: thousands of rows without a day
    assert no_day.get_column("date").null_count() == no_day.height
    assert no_day.get_column("year").null_count() == 0
    assert no_day.get_column("month").null_count() == 0


def test_date_from_nulls_impossible_dates(make_ctx, data_root):
    (data_root / "parts.csv").write_text("d,m,y\n30,2,2001\n7,3,2001\nx,3,2001\n")
    params = {
        "source": "parts.csv",
        "mapping": {"date_from": {"day": "d", "month": "m", "year": "y"}},
    }
    _, result = ingest(make_ctx, "ingest.csv", params)
    assert result.tables["data"].get_column("eventDate").to_list() == [None, "2001-03-07", None]


def test_mapping_naming_an_unknown_column_is_a_clear_error(make_ctx):
    params = {"source": ANTS, "mapping": {"rename": {"plots": "site"}}}
    with pytest.raises(StepError, match=r"mapping.rename: no column 'plots'"):
        ingest(make_ctx, "ingest.csv", params)


def test_tsv_is_read_with_tabs(make_ctx, data_root):
    (data_root / "counts.tsv").write_text("site\tcount\nA\t3\nB\t\n")
    _, result = ingest(make_ctx, "ingest.csv", {"source": "counts.tsv"})
    assert result.tables["data"].to_dict(as_series=False) == {
        "site": ["A", "B"],
        "count": ["3", None],
    }


def test_explicit_delimiter(make_ctx, data_root):
    (data_root / "semi.csv").write_text("a;b\n1;2\n")
    _, result = ingest(make_ctx, "ingest.csv", {"source": "semi.csv", "delimiter": ";"})
    assert result.tables["data"].columns == ["a", "b"]


def test_darwin_core_ingest_of_the_snails(make_ctx):
    ctx, result = ingest(make_ctx, "ingest.darwin_core", {"source": SNAILS})
    frame = result.tables["data"]
    assert frame.shape == (389, 40)
    assert result.details["non_darwin_core_columns"] == ["orderNumber"]
    assert any("orderNumber" in line for line in ctx.log_lines)


def test_darwin_core_header_term_uris_become_term_names(make_ctx, data_root):
    (data_root / "uris.csv").write_text(
        "http://rs.tdwg.org/dwc/terms/occurrenceID,dwc:scientificName\nx1,Napaeus isletae\n"
    )
    _, result = ingest(make_ctx, "ingest.darwin_core", {"source": "uris.csv"})
    assert result.tables["data"].columns == ["occurrenceID", "scientificName"]


def test_a_table_without_darwin_core_terms_is_refused(make_ctx):
    with pytest.raises(StepError, match="not a Darwin Core table"):
        ingest(make_ctx, "ingest.darwin_core", {"source": ANTS})


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("/etc/passwd", "must be a path relative to DATA_ROOT"),
        ("../outside.csv", "must not contain '..'"),
        ("snails/../../outside.csv", "must not contain '..'"),
        ("snails/missing.csv", "not found under DATA_ROOT"),
        ("snails", "is not a file"),
    ],
)
def test_sources_outside_data_root_or_missing_are_refused(make_ctx, source, message):
    with pytest.raises(StepError, match=message):
        ingest(make_ctx, "ingest.csv", {"source": source})


def test_a_symlink_leading_outside_data_root_is_refused(make_ctx, data_root, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("a,b\n1,2\n")
    os.symlink(secret, data_root / "link.csv")
    with pytest.raises(StepError, match="resolves outside DATA_ROOT"):
        ingest(make_ctx, "ingest.csv", {"source": "link.csv"})


def test_a_symlink_inside_data_root_is_followed(make_ctx, data_root):
    os.symlink(data_root / ANTS, data_root / "latest.csv")
    _, result = ingest(make_ctx, "ingest.csv", {"source": "latest.csv"})
    assert result.rows_out == 34931


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"a,b\n1,2\n3,4,5\n", "more fields than the header"),
        (
            b"a,b,c\n1,2,3\n4,5\n6,7,8\n",
            r"ragged rows: line 3 has 2 field\(s\) where the header has 3",
        ),
        (b"a,b\n1,caf\xe9\n", r"not valid utf-8 text \(byte 0xe9 at offset 9, line 2\)"),
        (b"", "the file is empty"),
        (b'a,b\n"1,2\n', "cannot be parsed as delimited text"),
    ],
)
def test_malformed_files_give_a_clear_error(make_ctx, data_root, content, message):
    (data_root / "bad.csv").write_bytes(content)
    with pytest.raises(StepError, match=message):
        ingest(make_ctx, "ingest.csv", {"source": "bad.csv"})


def test_quoted_fields_with_separators_are_not_ragged(make_ctx, data_root):
    (data_root / "quoted.csv").write_bytes(b'a,b,c\n"x, y",2,\n"z",3,4\n')
    _, result = ingest(make_ctx, "ingest.csv", {"source": "quoted.csv"})
    assert result.tables["data"].get_column("a").to_list() == ["x, y", "z"]


def test_a_utf8_bom_is_dropped(make_ctx, data_root):
    (data_root / "bom.csv").write_bytes(b"\xef\xbb\xbfsite,count\nA,1\n")
    _, result = ingest(make_ctx, "ingest.csv", {"source": "bom.csv"})
    assert result.tables["data"].columns == ["site", "count"]


def test_schema_refuses_unsafe_paths_with_a_readable_message():
    definition = {"steps": [{"key": "in", "type": "ingest.csv", "params": {"source": "../x.csv"}}]}
    [error] = validate_pipeline(definition)
    assert error.path == "$.steps[0].params.source"
    assert error.message == ("must be a path relative to DATA_ROOT/<CODE>/ (the programme's "
                             "folder, e.g. inbox/latest) or shared:<folder>/<path>, without '..'")
