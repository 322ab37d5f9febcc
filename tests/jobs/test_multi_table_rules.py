"""One rule document, many tables: each rule checks the table it names."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from jobs.registry import get_step
from jobs.steps.base import StepContext, StepError
from portal.services.pipeline_spec import validate_rules as validate_rule_spec

DEPLOYMENTS = pl.DataFrame({"deploymentID": ["d1", "d2", "d3"],
                            "latitude": ["41.1", "95.0", "41.3"]})
OBSERVATIONS = pl.DataFrame({"observationID": ["o1", "o2", "o3", "o4"],
                             "deploymentID": ["d1", "d1", "d9", "d3"],
                             "count": ["1", "2", "1", "-4"]})
RULES = [
    {"id": "lat", "type": "range", "severity": "warning", "table": "deployments",
     "column": "latitude", "min": -90, "max": 90},
    {"id": "known-deployment", "type": "reference", "severity": "warning",
     "table": "observations", "column": "deploymentID", "ref_table": "deployments",
     "ref_column": "deploymentID"},
    {"id": "count", "type": "range", "severity": "warning", "table": "observations",
     "column": "count", "min": 0},
    # No table: the primary table (here: observations), as before rules named tables.
    {"id": "ids", "type": "unique", "severity": "error", "columns": ["observationID"]},
]


def ctx_for(tmp_path: Path, params: dict, rules: list[dict], **tables) -> StepContext:
    return StepContext(run_uuid="r", programme_code="CT", step_key="checks", params=params,
                       rules=rules, data_root=tmp_path, publish_root=tmp_path / "p",
                       work_dir=tmp_path / "w", store_root=tmp_path / "s",
                       tables=dict(tables), primary_table="observations")


def test_each_table_is_checked_with_its_own_rules(tmp_path):
    ctx = ctx_for(tmp_path, {}, RULES, deployments=DEPLOYMENTS, observations=OBSERVATIONS)
    result = get_step("validate.rules")(ctx)

    assert result.status == "succeeded"
    by_id = {r["id"]: r for r in result.details["rules"]}
    assert {rule: r["table"] for rule, r in by_id.items()} == {
        "lat": "deployments", "known-deployment": "observations", "count": "observations",
        "ids": "observations"}
    assert by_id["lat"]["failing_rows"] == 1
    assert by_id["known-deployment"]["failing_rows"] == 1
    assert by_id["count"]["failing_rows"] == 1
    assert result.details["tables"] == {
        "deployments": {"rows": 3, "rules": 1, "flagged": 1},
        "observations": {"rows": 4, "rules": 3, "flagged": 2}}
    assert (result.rows_in, result.rows_out, result.rows_rejected) == (7, 7, 3)

    report = pl.read_csv(result.files["rejection_report"], infer_schema=False)
    assert report.select("_table", "_row", "_rule_ids").rows() == [
        ("deployments", "1", "lat"), ("observations", "2", "known-deployment"),
        ("observations", "3", "count")]
    assert result.tables["deployments.rejected"]["_row"].to_list() == [1]
    assert result.tables["observations.rejected"]["_row"].to_list() == [2, 3]


def test_the_step_can_check_only_some_tables(tmp_path):
    ctx = ctx_for(tmp_path, {"tables": ["deployments"]}, RULES, deployments=DEPLOYMENTS,
                  observations=OBSERVATIONS)
    result = get_step("validate.rules")(ctx)
    assert [r["id"] for r in result.details["rules"]] == ["lat"]
    assert set(result.tables) == {"deployments.rejected"}
    with pytest.raises(StepError, match="no table named 'media'"):
        get_step("validate.rules")(ctx_for(tmp_path, {"tables": ["media"]}, RULES,
                                           deployments=DEPLOYMENTS))


def test_a_rule_on_a_table_the_run_lacks_fails_by_name(tmp_path):
    ctx = ctx_for(tmp_path, {}, RULES, observations=OBSERVATIONS)
    result = get_step("validate.rules")(ctx)
    lat = next(r for r in result.details["rules"] if r["id"] == "lat")
    assert lat["passed"] is False
    assert lat["message"].startswith("no table named 'deployments' in this run")
    assert result.status == "succeeded"  # a warning rule: reported, not blocking
    blocking = [{**RULES[0], "severity": "error"}]
    assert get_step("validate.rules")(ctx_for(tmp_path, {}, blocking,
                                              observations=OBSERVATIONS)).status == "blocked"


def test_the_old_reference_form_still_checks_the_steps_table(tmp_path):
    old = [{"id": "known", "type": "reference", "severity": "warning", "column": "deploymentID",
            "table": "deployments", "ref_column": "deploymentID"}]
    assert validate_rule_spec({"rules": old}) == []
    ctx = ctx_for(tmp_path, {}, old, deployments=DEPLOYMENTS, observations=OBSERVATIONS)
    [known] = get_step("validate.rules")(ctx).details["rules"]
    assert (known["table"], known["failing_rows"]) == ("observations", 1)


def test_the_rule_schema_accepts_a_table_and_names_what_is_wrong():
    assert validate_rule_spec({"rules": RULES}) == []
    errors = validate_rule_spec({"rules": [{**RULES[0], "table": ""}]})
    assert [e.path for e in errors] == ["$.rules[0].table"]
    no_other = {"id": "r", "type": "reference", "severity": "info", "column": "a",
                "ref_column": "b"}
    assert validate_rule_spec({"rules": [no_other]}) != []
