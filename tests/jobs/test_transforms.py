"""Each transform as a plain function and as a step, with figures checked against
independent computations over plain Python rows (the Portal ant census and small
event-core tables built here)."""

from __future__ import annotations

import csv
from collections import defaultdict

import polars as pl
import pytest

from jobs.registry import get_step
from jobs.transforms import (
    TransformError,
    aggregate,
    complete,
    deduplicate,
    derive,
    filter_rows,
    join,
    select_columns,
    union,
)

FLAGGED_OUT = "flag is null or flag not in (6, 9, 10)"


@pytest.fixture
def ant_rows(shared_data) -> list[dict[str, str]]:
    """The ant census as plain dicts (empty cells as "")."""
    with open(shared_data / "portal-ants" / "Portal_ant_colony.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def events_and_occurrences() -> dict[str, pl.DataFrame]:
    """A small event core: 4 events at 2 sites over 2 years, occurrences as text."""
    events = pl.DataFrame({
        "eventID": ["E1", "E2", "E3", "E4", "E5"],
        "locationID": ["S1", "S1", "S2", "S2", "S1"],
        "year": ["2020", "2021", "2020", "2020", "2020"],
        "minutes": ["10", "20", "5", "5", "15"],
    })
    occurrences = pl.DataFrame({
        "occurrenceID": [f"O{i}" for i in range(1, 9)],
        "eventID": ["E1", "E1", "E2", "E3", "E3", "E4", "E5", "E9"],
        "scientificName": ["Parus major", "Erithacus rubecula", "Parus major", "Parus major",
                           "Parus major", "Parus major", "Parus major", "Pica pica"],
        "individualCount": ["2", "3", "1", "4", "6", "", "1", "7"],
    })
    return {"events": events, "occurrences": occurrences}


# --- filter -------------------------------------------------------------------------


def test_filter_excludes_the_ant_census_flagged_rows(ants, ant_rows):
    kept = filter_rows({"data": ants}, "data", FLAGGED_OUT).collect()
    expected = [r for r in ant_rows if r["flag"] == "" or r["flag"] not in ("6", "9", "10")]
    assert kept.height == len(expected) == 34931 - 988 - 183 - 133
    assert kept.get_column("colonies").cast(pl.Int64).sum() == sum(
        int(r["colonies"]) for r in expected)


@pytest.mark.parametrize(("condition", "keep"), [
    ("colonies >= 3 and year < 1990", lambda r: int(r["colonies"]) >= 3 and int(r["year"]) < 1990),
    ("species in ('pogo rugo', 'phei sp')", lambda r: r["species"] in ("pogo rugo", "phei sp")),
    ("not (plot = 1 or plot = '2') and day is null",
     lambda r: r["plot"] not in ("1", "2") and r["day"] == ""),
    ("upper(substr(species, 1, 4)) = 'POGO' and openings - colonies > 0",
     lambda r: r["species"][:4] == "pogo" and r["openings"] != ""
     and int(r["openings"]) - int(r["colonies"]) > 0),
])
def test_conditions_match_a_plain_python_reading(ants, ant_rows, condition, keep):
    kept = filter_rows({"data": ants}, "data", condition).collect()
    assert kept.height == sum(1 for r in ant_rows if keep(r)) > 0


@pytest.mark.parametrize(("condition", "message"), [
    ("colour = 'red'", "no column 'colour'"),
    ("flag in (6, 9", "expected ')'"),
    ("colonies", "not a condition"),
    ("colonies = null", "write 'is null'"),
    ("date(eventDate) > 3", "type mismatch"),
    ("colonies and flag", "'and' needs a condition"),
    ("__import__('os')", "unknown function '__import__'"),
])
def test_bad_conditions_fail_with_a_clear_message(ants, condition, message):
    with pytest.raises(TransformError, match="condition on table 'data'") as error:
        filter_rows({"data": ants}, "data", condition)
    assert message in str(error.value)


def test_filter_of_an_empty_table_is_empty():
    empty = pl.DataFrame({"flag": []}, schema={"flag": pl.String})
    assert filter_rows({"t": empty}, "t", "flag is null").collect().height == 0


# --- join -----------------------------------------------------------------------------


def test_many_to_one_join_carries_event_fields_onto_occurrences():
    tables = events_and_occurrences()
    lines: list[str] = []
    joined = join(tables, "occurrences", "events", ["eventID"], log=lines.append)
    events = {r["eventID"]: r for r in tables["events"].iter_rows(named=True)}
    expected = [{**o, **events[o["eventID"]]} for o in tables["occurrences"].iter_rows(named=True)
                if o["eventID"] in events]
    assert joined.to_dicts() == expected
    assert "1 row(s) of 'occurrences' found no match in 'events' (dropped)" in lines


def test_left_join_keeps_unmatched_rows_and_says_so():
    tables = events_and_occurrences()
    lines: list[str] = []
    joined = join(tables, "occurrences", "events", "eventID", how="left", log=lines.append)
    assert joined.height == 8
    assert joined.filter(pl.col("eventID") == "E9").get_column("locationID").to_list() == [None]
    assert any(line.startswith("1 row(s) of 'occurrences' found no match") for line in lines)


def test_fan_out_fails_with_counts_and_examples():
    tables = events_and_occurrences()
    tables["events"] = pl.concat([tables["events"], tables["events"].head(1)])  # E1 twice
    with pytest.raises(TransformError) as error:
        join(tables, "occurrences", "events", "eventID", cardinality="many_to_one")
    message = str(error.value)
    assert "table 'events' has 1 value(s) of eventID on more than one row" in message
    assert "eventID='E1' (×2)" in message
    assert "2 row(s) of 'occurrences' would be repeated" in message
    assert join(tables, "occurrences", "events", "eventID", cardinality="many_to_many"
                ).height == 7 + 2


def test_one_to_one_checks_both_sides_and_multi_key_joins():
    left = pl.DataFrame({"site": ["a", "a", "b"], "year": [1, 2, 1], "v": [1, 2, 3]})
    right = pl.DataFrame({"site": ["a", "b", "b"], "year": [1, 1, 1], "w": [9, 8, 7]})
    tables = {"l": left, "r": right}
    with pytest.raises(TransformError, match=r"table 'r' has 1 value\(s\) of site, year"):
        join(tables, "l", "r", ["site", "year"], cardinality="one_to_one")
    right_ok = right.head(2)
    joined = join({"l": left, "r": right_ok}, "l", "r", ["site", "year"], cardinality="one_to_one")
    assert joined.select("site", "year", "w").rows() == [("a", 1, 9), ("b", 1, 8)]


def test_join_refuses_key_types_that_differ_and_reports_null_keys():
    left = pl.DataFrame({"id": ["1", None, "2"]})
    right = pl.DataFrame({"id": [1, 2], "x": ["a", "b"]})
    with pytest.raises(TransformError, match="'id' is text in 'l' but 'id' is number"):
        join({"l": left, "r": right}, "l", "r", "id")
    lines: list[str] = []
    joined = join({"l": left, "r": right.with_columns(pl.col("id").cast(pl.String))}, "l", "r",
                  "id", log=lines.append)
    assert joined.height == 2
    assert "1 row(s) of 'l' have no id: they match nothing" in lines


def test_join_names_a_missing_key_column_and_handles_empty_tables():
    tables = events_and_occurrences()
    with pytest.raises(TransformError, match="table 'events' has no column 'event_id'"):
        join(tables, "occurrences", "events", "eventID", right_on="event_id")
    empty = {"o": tables["occurrences"].clear(), "e": tables["events"]}
    assert join(empty, "o", "e", "eventID").height == 0


# --- derive, aggregate, deduplicate, select, union ---------------------------------------


def test_derive_computes_columns_from_the_expression_language(ants, ant_rows):
    out = derive({"data": ants}, "data", {
        "site": "concat('plot-', plot)",
        "decade": "integer(year / 10) * 10",
        "size": "case when colonies >= 5 then 'many' when colonies > 0 then 'some' "
                "else 'none' end",
        "month_of_date": "month(eventDate)",
        "count": "coalesce(colonies, 0) + 1",
    }).collect()
    first = ant_rows[0]
    row = out.row(0, named=True)
    assert row["site"] == f"plot-{first['plot']}"
    assert row["decade"] == int(first["year"]) // 10 * 10
    assert row["count"] == int(first["colonies"]) + 1
    assert row["month_of_date"] == int(first["month"])
    sizes = defaultdict(int)
    for r in ant_rows:
        c = int(r["colonies"])
        sizes["many" if c >= 5 else "some" if c > 0 else "none"] += 1
    assert dict(out.get_column("size").value_counts().iter_rows()) == dict(sizes)


def test_derive_names_the_column_whose_expression_is_wrong(ants):
    with pytest.raises(TransformError, match="derive 'bad' on table 'data': .*'-' needs numbers"):
        derive({"data": ants}, "data", {"ok": "colonies * 2", "bad": "-date(eventDate)"})


def test_aggregate_sums_and_maxima_per_year_and_species_match_python(ants, ant_rows):
    clean = filter_rows({"data": ants}, "data", FLAGGED_OUT).collect()
    out = aggregate({"data": clean}, "data", ["year", "species"], [
        {"column": "colonies", "function": "sum", "as": "colonies"},
        {"column": "colonies", "function": "max", "as": "most"},
        {"column": "plot", "function": "count_distinct", "as": "plots"},
        {"function": "count", "as": "rows"},
    ]).collect()
    sums, most, plots, rows = defaultdict(int), defaultdict(int), defaultdict(set), defaultdict(int)
    for r in ant_rows:
        if r["flag"] in ("6", "9", "10"):
            continue
        key = (r["year"], r["species"])
        sums[key] += int(r["colonies"])
        most[key] = max(most[key], int(r["colonies"]))
        plots[key].add(r["plot"])
        rows[key] += 1
    got = {(r["year"], r["species"]): r for r in out.iter_rows(named=True)}
    assert set(got) == set(sums)
    for key, row in got.items():
        assert (row["colonies"], row["most"], row["plots"], row["rows"]) == (
            sums[key], most[key], len(plots[key]), rows[key])


def test_aggregate_refuses_text_that_is_not_a_number_and_keeps_all_missing_missing():
    frame = pl.DataFrame({"k": ["a", "a", "b", None], "n": ["1", "x", None, "2"]})
    with pytest.raises(TransformError, match=r"'n' of table 't': 1 value\(s\) are not numbers "
                                             r"\(e.g. 'x'\)"):
        aggregate({"t": frame}, "t", "k", [{"column": "n", "function": "sum"}])
    lines: list[str] = []
    out = aggregate({"t": frame.with_columns(pl.col("n").replace("x", "3"))}, "t", "k",
                    [{"column": "n", "function": "sum"}], log=lines.append).collect()
    assert out.rows() == [("a", 4.0), ("b", None), (None, 2.0)]
    assert lines == ["1 row(s) of 't' have no k: grouped together as missing"]
    with pytest.raises(TransformError, match="unknown function 'median'"):
        aggregate({"t": frame}, "t", "k", [{"column": "n", "function": "median"}])


def test_deduplicate_keeps_first_or_last_in_table_order(ants, ant_rows):
    exact = deduplicate({"data": ants}, "data").collect()
    assert exact.height == len({tuple(r.values()) for r in ant_rows})
    frame = pl.DataFrame({"id": [1, 2, 1, 3, 2], "v": ["a", "b", "c", "d", "e"]})
    assert deduplicate({"t": frame}, "t", ["id"]).collect().rows() == [
        (1, "a"), (2, "b"), (3, "d")]
    assert deduplicate({"t": frame}, "t", ["id"], "last").collect().rows() == [
        (1, "c"), (3, "d"), (2, "e")]


def test_select_rename_and_union():
    a = pl.DataFrame({"x": [1], "y": ["a"]})
    b = pl.DataFrame({"y": ["b"], "x": [2]})
    assert union({"a": a, "b": b}, ["a", "b"]).collect().rows() == [(1, "a"), (2, "b")]
    with pytest.raises(TransformError, match="table 'c' lacks 'y'"):
        union({"a": a, "c": a.drop("y")}, ["a", "c"])
    with pytest.raises(TransformError, match="'x' is number .* in 'a' but text in 'd'"):
        union({"a": a, "d": a.with_columns(pl.col("x").cast(pl.String))}, ["a", "d"])
    out = select_columns({"a": a}, "a", ["y", "x"], {"y": "taxon"}).collect()
    assert out.columns == ["taxon", "x"]
    with pytest.raises(TransformError, match="already exist"):
        select_columns({"a": a}, "a", None, {"y": "x"})


# --- complete -------------------------------------------------------------------------


def test_complete_puts_zero_where_surveyed_and_missing_where_not():
    tables = events_and_occurrences()
    joined = join(tables, "occurrences", "events", "eventID")
    counts = aggregate({"j": joined}, "j", ["locationID", "year", "scientificName"],
                       [{"column": "individualCount", "function": "sum", "as": "count"}])
    grid = complete({"c": counts.collect(), "events": tables["events"]}, "c", "events",
                    "locationID", "year", "scientificName", ["count"], effort="minutes")
    cells = {(r["locationID"], r["year"], r["scientificName"]): r
             for r in grid.iter_rows(named=True)}
    assert len(cells) == 2 * 2 * 2  # sites × years × taxa observed in matched events
    # Independent: sum per cell over occurrences whose event is known.
    events = {r["eventID"]: r for r in tables["events"].iter_rows(named=True)}
    expected: dict = defaultdict(int)
    for o in tables["occurrences"].iter_rows(named=True):
        if o["eventID"] in events and o["individualCount"]:
            e = events[o["eventID"]]
            expected[(e["locationID"], e["year"], o["scientificName"])] += int(o["individualCount"])
    assert cells[("S1", "2020", "Parus major")]["count"] == expected[("S1", "2020", "Parus major")]
    assert cells[("S1", "2020", "Parus major")]["minutes"] == 25  # E1 + E5
    assert cells[("S2", "2020", "Erithacus rubecula")]["count"] == 0  # surveyed, not seen
    assert cells[("S2", "2021", "Parus major")]["count"] is None  # never surveyed
    assert cells[("S2", "2021", "Parus major")]["surveyed"] is False
    assert list(cells) == sorted(cells)


def test_complete_refuses_unaggregated_cells_and_observations_without_a_survey():
    surveys = pl.DataFrame({"site": ["a", "b"], "year": [1, 1]})
    twice = pl.DataFrame({"site": ["a", "a"], "year": [1, 1], "taxon": ["x", "x"], "n": [1, 2]})
    with pytest.raises(TransformError, match="aggregate it per site, period and taxon first"):
        complete({"o": twice, "s": surveys}, "o", "s", "site", "year", "taxon", "n")
    elsewhere = pl.DataFrame({"site": ["c"], "year": [1], "taxon": ["x"], "n": [1]})
    with pytest.raises(TransformError, match=r"1 observation row\(s\) of 'o' are at a site and "
                                             r"period missing from the surveys table 's' "
                                             r"\(e.g. site='c', year=1"):
        complete({"o": elsewhere, "s": surveys}, "o", "s", "site", "year", "taxon", "n")
    with pytest.raises(TransformError, match=r"surveys table 's': 1 row\(s\) have no year"):
        complete({"o": twice.head(1), "s": pl.concat([surveys, pl.DataFrame(
            {"site": ["c"], "year": [None]}, schema=surveys.schema)])},
            "o", "s", "site", "year", "taxon", "n")
    with pytest.raises(TransformError, match="'year' is number .* in 'o' but text in 's'"):
        complete({"o": twice.head(1), "s": surveys.with_columns(pl.col("year").cast(pl.String))},
                 "o", "s", "site", "year", "taxon", "n")


# --- as steps -----------------------------------------------------------------------------


def run(make_ctx, type_name: str, params: dict, tables: dict, **fields):
    ctx = make_ctx(params, tables=tables, step_key="t", **fields)
    return ctx, get_step(type_name)(ctx)


def test_steps_name_their_tables_and_count_rows(make_ctx, ants):
    _, result = run(make_ctx, "transform.filter", {"condition": FLAGGED_OUT}, {"data": ants},
                    primary_table="data")
    assert (result.rows_in, result.rows_out, result.rows_rejected) == (
        34931, 34931 - 1304, 1304)
    assert list(result.tables) == ["data"] and result.output_fingerprint

    tables = events_and_occurrences()
    _, joined = run(make_ctx, "transform.join", {"left": "occurrences", "right": "events",
                                                  "on": ["eventID"], "as": "obs"}, tables)
    assert list(joined.tables) == ["obs"] and joined.rows_out == 7
    assert joined.details["inputs"] == {"occurrences": 8, "events": 5}


def test_a_step_error_names_the_step_and_the_problem(make_ctx):
    from jobs.steps.base import StepError

    tables = events_and_occurrences()
    with pytest.raises(StepError, match="^t: no table named 'sites'"):
        run(make_ctx, "transform.join", {"left": "occurrences", "right": "sites",
                                          "on": ["eventID"]}, tables)


def test_exclude_rejected_drops_rows_that_failed_warning_rules(make_ctx, ants, ant_rows):
    rules = [{"id": "no-flag", "type": "allowed_values", "column": "flag", "severity": "warning",
              "values": ["1", "2", "3", "4", "5", "7", "8", "11"]},
             {"id": "day", "type": "not_null", "column": "day", "severity": "info"}]
    tables = {"data": ants}
    ctx = make_ctx({}, rules=rules, tables=tables, primary_table="data")
    validated = get_step("validate.rules")(ctx)
    tables.update(validated.tables)
    ctx, result = run(make_ctx, "transform.exclude_rejected", {}, tables, rules=rules,
                      primary_table="data")
    expected = [r for r in ant_rows if r["flag"] not in ("6", "9", "10")]
    assert result.rows_out == len(expected) and result.rows_rejected == 1304
    assert "data.rejected" not in ctx.tables  # replaced table: the positions are stale
    _, by_id = run(make_ctx, "transform.exclude_rejected", {"rules": ["day"], "as": "dated"},
                   {**tables, "data.rejected": validated.tables["data.rejected"]},
                   rules=rules, primary_table="data")
    assert by_id.rows_out == sum(1 for r in ant_rows if r["day"] != "")


def test_rule_conditions_use_the_same_language(make_ctx, ants, ant_rows):
    rule = {"id": "r", "severity": "error", "type": "not_null", "column": "day",
            "condition": "flag in (9, 10) and year >= 1982"}
    ctx = make_ctx({}, rules=[rule], tables={"data": ants}, primary_table="data")
    [result] = get_step("validate.rules")(ctx).details["rules"]
    scope = [r for r in ant_rows if r["flag"] in ("9", "10") and int(r["year"]) >= 1982]
    assert result["failing_rows"] == sum(1 for r in scope if r["day"] == "")
    assert result["failing_rows"] == 100 and f"of {len(scope)} rows" in result["message"]


def test_every_transform_is_declared_with_a_valid_example():
    from portal.services.pipeline_spec import STEP_TYPES, validate_pipeline

    declared = sorted(name for name in STEP_TYPES if name.startswith("transform."))
    assert declared == sorted([
        "transform.filter", "transform.exclude_rejected", "transform.join", "transform.derive",
        "transform.aggregate", "transform.deduplicate", "transform.select", "transform.rename",
        "transform.union", "transform.complete"])
    for name in declared:
        assert STEP_TYPES[name]["title"] and STEP_TYPES[name]["description"]
        step = {"key": "t", "type": name, "params": STEP_TYPES[name]["example"]}
        assert validate_pipeline({"steps": [step]}) == [], name
        get_step(name)  # bound to code
