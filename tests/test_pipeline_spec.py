"""The pipeline and rule schemas: errors come back with the JSON path of the problem."""

from __future__ import annotations

from portal.services.pipeline_spec import validate_pipeline, validate_rules

INGEST = {"key": "ingest", "type": "ingest.csv", "params": {"source": "snails/occurrence.csv"}}


def paths(errors) -> list[str]:
    return [error.path for error in errors]


def test_a_valid_pipeline_has_no_errors():
    assert validate_pipeline({"steps": [INGEST, {"key": "validate", "type": "validate.rules"}]}
                             ) == []


def test_repeated_step_keys_and_rule_ids_are_named():
    errors = validate_pipeline({"steps": [INGEST, INGEST]})
    assert paths(errors) == ["$.steps[1].key"] and "duplicate step key" in errors[0].message
    rule = {"id": "r", "type": "not_null", "severity": "error", "column": "a"}
    errors = validate_rules({"rules": [rule, rule]})
    assert paths(errors) == ["$.rules[1].id"] and "duplicate rule id" in errors[0].message


def test_unsafe_source_paths_are_refused_in_plain_words():
    for source in ("../etc/passwd", "/etc/passwd", "snails/../../x.csv"):
        errors = validate_pipeline({"steps": [{**INGEST, "params": {"source": source}}]})
        assert paths(errors) == ["$.steps[0].params.source"], source
        assert "relative to DATA_ROOT" in errors[0].message


def test_unknown_types_and_parameters_are_named():
    errors = validate_pipeline({"steps": [{"key": "x", "type": "shell.exec"}]})
    assert paths(errors) == ["$.steps[0].type"]
    errors = validate_pipeline({"steps": [{**INGEST, "params": {"source": "a.csv",
                                                                 "command": "rm"}}]})
    assert paths(errors) == ["$.steps[0].params"] and "command" in errors[0].message
    errors = validate_rules({"rules": [{"id": "r", "type": "range", "severity": "loud",
                                        "column": "a"}]})
    assert paths(errors) == ["$.rules[0].severity"]


def test_a_lazy_ingest_may_only_be_followed_by_batched_validation():
    from portal.services.pipeline_spec import validate_pipeline

    ingest = {"key": "load", "type": "ingest.csv", "params": {"source": "big.csv", "lazy": True}}
    assert validate_pipeline({"steps": [ingest, {"key": "check", "type": "validate.rules"}]}) == []
    errors = validate_pipeline({"steps": [
        ingest, {"key": "check", "type": "validate.rules"},
        {"key": "rich", "type": "compute.species_richness"}]})
    assert [(e.path, "only validate.rules may follow a lazy ingest" in e.message)
            for e in errors] == [("$.steps[2].type", True)]
    eager = {**ingest, "params": {"source": "big.csv", "lazy": False}}
    assert validate_pipeline({"steps": [eager, {"key": "rich",
                                                "type": "compute.species_richness"}]}) == []
    bad = validate_pipeline({"steps": [{**ingest, "params": {"source": "b.csv", "lazy": "yes"}}]})
    assert bad and bad[0].path == "$.steps[0].params.lazy"


def test_validation_gives_exactly_the_published_schemas_errors():
    """Each step is checked against its own type's params only (fast); the errors, paths
    and messages are those of the schema the API publishes, which says it with an if/then
    per step type."""
    from jsonschema import Draft202012Validator

    from jobs.registry import load_builtin_steps
    from portal.services.pipeline_spec import STEP_TYPES, _validator, pipeline_schema

    load_builtin_steps()
    published = Draft202012Validator(pipeline_schema())
    _, fast = _validator("pipeline")
    every_type = [{"key": f"k{index}", "type": name, "params": {"unexpected": 1}}
                  for index, name in enumerate(sorted(STEP_TYPES))]
    documents = [
        {"steps": [INGEST, {"key": "validate", "type": "validate.rules"}]},
        {"steps": [{**INGEST, "params": {"source": 3, "x": 1}}]},
        {"steps": [{"key": "f", "type": "transform.filter", "params": {"condition": 5}},
                   "not a step", 3, {"type": ["a list"]}, {"key": "n", "type": "no.such"}]},
        {"steps": [{"key": "Bad Key", "type": "ingest.csv", "params": []}], "extra": 1},
        {"steps": "not a list"}, [], None,
        {"steps": every_type},
        {"steps": [{"key": "t", "type": "compute.trend", "params": {"bogus": True},
                    "retries": -1}] * 51},
    ]

    def errors(validator, document):
        return sorted((list(map(str, e.absolute_path)), e.message)
                      for e in validator.iter_errors(document))

    for document in documents:
        assert errors(fast, document) == errors(published, document), document
    assert len(errors(fast, {"steps": every_type})) >= len(STEP_TYPES)  # each type checked
