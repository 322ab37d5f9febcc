"""Saving a pipeline or a rule set checks the syntax of its expressions and reports the
JSON path and the character position; nothing is saved."""

from __future__ import annotations

import json

from portal.extensions import db
from portal.services.pipeline_spec import validate_pipeline, validate_rules
from tests.factories import gen_programme, gen_steward, gen_user

FILTER = {"key": "keep", "type": "transform.filter",
          "params": {"condition": "observationType = 'animal' and count >"}}
DERIVE = {"key": "year", "type": "transform.derive",
          "params": {"columns": {"year": "year(eventStart)", "n": "number(count"}}}


def test_pipeline_expression_errors_name_path_and_position():
    errors = validate_pipeline({"steps": [FILTER, DERIVE]})
    assert [(e.path, e.message) for e in errors] == [
        ("$.steps[0].params.condition",
         "syntax error: at character 39: expected a value, a column or a function, found "
         "the end of the expression"),
        ("$.steps[1].params.columns.n",
         "syntax error: at character 13: expected ')', found the end of the expression")]
    good = {"steps": [{**FILTER, "params": {"condition": "count > 0"}}]}
    assert validate_pipeline(good) == []


def test_rule_condition_errors_name_path_and_position():
    rule = {"id": "flagged", "type": "not_null", "severity": "warning", "column": "day",
            "condition": "flag in (6, 9"}
    [error] = validate_rules({"rules": [rule]})
    assert error.path == "$.rules[0].condition"
    assert "at character 14" in error.message
    assert validate_rules({"rules": [{**rule, "condition": "flag in (6, 9)"}]}) == []


def test_the_editors_refuse_to_save_a_broken_expression(app, client, auth):
    programme = gen_programme("P")
    gen_steward(programme, gen_user("st@x.org"), "steward")
    auth.login("st@x.org")
    saved = auth.post("/programmes/P/pipeline/edit",
                      {"draft": json.dumps({"steps": [FILTER]}), "action": "save"})
    assert saved.status_code == 400
    text = saved.get_data(as_text=True)
    assert "$.steps[0].params.condition" in text and "at character 39" in text
    rules = {"rules": [{"id": "r", "type": "not_null", "severity": "info", "column": "a",
                        "condition": "b = "}]}
    refused = auth.post("/programmes/P/rules/edit",
                        {"draft": json.dumps(rules), "action": "save"})
    assert refused.status_code == 400
    assert "$.rules[0].condition" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert programme.pipeline_definition_json == {"steps": []}
