"""JSON Schemas for pipeline definitions and data-quality rules (invariant 5).

JSON configures, code executes: a definition may name only the step types declared
here, and a rule set only the rule types declared here. The portal validates with
these schemas when a definition is saved; the runner validates again when a run
starts. ``jobs.registry`` binds each step type to its function.

Errors come back as ``SpecError(path, message)`` where ``path`` is a JSON path such
as ``$.steps[2].params.source``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from portal.services.expression_checks import (
    pipeline_expression_problems,
    rules_expression_problems,
)
from portal.services.step_declarations import declared_step_types

# --- shared fragments -------------------------------------------------------

RELATIVE_PATH = {
    "type": "string",
    "minLength": 1,
    "maxLength": 500,
    # A path inside the programme's folder DATA_ROOT/<CODE>/, or shared:<folder>/<path>:
    # no absolute path, no drive letter, no '..', no NUL, no other prefix. Whether a
    # shared folder is granted is checked by the save service (it knows the programme).
    "pattern": r"^(shared:[A-Za-z0-9][A-Za-z0-9._-]{0,63}/)?(?![\\/])(?![A-Za-z]:)"
               r"(?!(.*[\\/])?\.\.([\\/]|$))[^\x00:]+$",
    "patternMessage": "must be a path relative to DATA_ROOT/<CODE>/ (the programme's folder, "
                      "e.g. inbox/latest) or shared:<folder>/<path>, without '..'",
    "description": "A path relative to the programme's folder DATA_ROOT/<CODE>/ (e.g. "
                   "inbox/latest), or shared:<folder>/<path> for a shared folder an admin "
                   "granted to the programme; absolute paths and '..' are refused.",
}
COLUMN = {"type": "string", "minLength": 1, "maxLength": 200}
COLUMN_MAPPING = {
    "type": "object",
    "description": "Column mapping: rename columns, build a date from day/month/year.",
    "properties": {
        "rename": {"type": "object", "additionalProperties": COLUMN},
        "date_from": {
            "type": "object",
            "properties": {
                "day": COLUMN,
                "month": COLUMN,
                "year": COLUMN,
                "target": COLUMN,
            },
            "required": ["month", "year"],
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}
INGEST_COMMON = {
    "as": {**COLUMN, "description": "Name of the table this ingest produces."},
    "mapping": COLUMN_MAPPING,
}
# --- step types ---------------------------------------------------------------

STEP_TYPES: dict[str, dict[str, Any]] = {
    "ingest.csv": {
        "description": "Read a CSV or TSV file from the programme's folder.",
        "params": {
            "type": "object",
            "properties": {
                "source": RELATIVE_PATH,
                "delimiter": {"type": "string", "minLength": 1, "maxLength": 2},
                "lazy": {"type": "boolean",
                         "description": "Keep the table on disk and validate it in batches "
                                        "(files too large for memory). Only validate.rules "
                                        "may follow; the run cannot be resumed from a step."},
                **INGEST_COMMON,
            },
            "required": ["source"],
            "additionalProperties": False,
        },
        "example": {"source": "Portal_ant_colony.csv"},
    },
    "ingest.darwin_core": {
        "description": "Read a Darwin Core occurrence CSV from the programme's folder.",
        "params": {
            "type": "object",
            "properties": {"source": RELATIVE_PATH, **INGEST_COMMON},
            "required": ["source"],
            "additionalProperties": False,
        },
        "example": {"source": "inbox/latest"},
    },
    "ingest.dwca": {
        "description": "Read a Darwin Core Archive (zip with meta.xml) from the programme's "
        "folder.",
        "params": {
            "type": "object",
            "properties": {
                "source": RELATIVE_PATH,
                "extensions": {"type": "boolean", "default": True},
                "linked": {"type": "boolean", "description": "Name the tables by row type "
                           "(event, occurrence, measurementorfact) and carry the core id "
                           "(e.g. eventID) into each extension (default: true for an "
                           "event core; otherwise extensions are <as>_<rowtype> with a "
                           "coreid column)."},
                **INGEST_COMMON,
            },
            "required": ["source"],
            "additionalProperties": False,
        },
        "example": {"source": "dwca-export.zip"},
    },
    "ingest.frictionless": {
        "description": "Read a Frictionless data package (datapackage.json or zip).",
        "params": {
            "type": "object",
            "properties": {
                "source": RELATIVE_PATH,
                "resource": COLUMN,
                **INGEST_COMMON,
            },
            "required": ["source"],
            "additionalProperties": False,
        },
        "example": {"source": "plots/datapackage.json", "resource": "counts"},
    },
    "ingest.http": {
        "description": "Fetch JSON or CSV over HTTP(S) from an allow-listed host.",
        "params": {
            "type": "object",
            "properties": {
                "url": {
                    "type": "string",
                    "pattern": r"^https?://",
                    "patternMessage": "must be an http:// or https:// URL",
                    "maxLength": 2000,
                },
                "format": {"enum": ["json", "csv"], "default": "json"},
                "records_path": {
                    "type": "string",
                    "description": "Dotted path to the list of records in a JSON answer.",
                },
                "credential": {
                    "type": "string",
                    "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
                    "patternMessage": "must be the name of a credential the deployment "
                    "declares (PORTAL_CREDENTIALS), never a token or a variable",
                    "description": "Name of a credential declared by the deployment "
                    "(PORTAL_CREDENTIALS); its token is sent as a bearer token, and only "
                    "to the credential's own hosts.",
                },
                "timeout_seconds": {"type": "number", "minimum": 1, "maximum": 300},
                "max_bytes": {"type": "integer", "minimum": 1},
                **INGEST_COMMON,
            },
            "required": ["url"],
            "additionalProperties": False,
        },
        "example": {"url": "https://api.birdie.example/abundance", "credential": "birdie"},
    },
    "validate.rules": {
        "description": "Check the data against the programme's data-quality rules, each "
        "rule on the table it names (rules without a table: this step's table, else the "
        "primary one); a failing error or critical rule blocks the run. Rows that fail are "
        "flagged in the rejection report, not removed (transform.exclude_rejected removes "
        "them).",
        "params": {
            "type": "object",
            "properties": {
                "table": {**COLUMN, "description": "Check only this table, with the rules "
                          "that name it or name none (default: every table with rules)."},
                "tables": {"type": "array", "items": COLUMN, "minItems": 1,
                           "description": "Check only these tables, each with its rules."},
            },
            "additionalProperties": False,
        },
        "example": {},
    },
    "publish.release": {
        "description": "Publish the computed tables as a versioned, checksummed release.",
        "params": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9._-]*$"},
                "tables": {
                    "type": "array",
                    "items": COLUMN,
                    "description": "Tables to publish (default: every compute step's output).",
                },
                "license": {
                    "type": "string",
                    "minLength": 1,
                    "description": "SPDX licence id, or URL and title; overrides the "
                                   "programme's licence (default: the programme's, else "
                                   "the one the input declares; none fails the step).",
                },
                "bump": {"enum": ["minor", "major"], "default": "minor"},
            },
            "required": ["name"],
            "additionalProperties": False,
        },
        "example": {"name": "snail-richness"},
    },
}

# Step types declared beside their code (jobs/steps/<module>.json): compute.*,
# transform.*, ...
STEP_TYPES.update(declared_step_types())

#: The step types the product ships (tests may register more with register_step_type).
BUILTIN_STEP_TYPES = frozenset(STEP_TYPES)

# --- rule types -----------------------------------------------------------------

RULE_TYPES: dict[str, dict[str, Any]] = {
    "required_columns": {
        "description": "These columns exist.",
        "properties": {"columns": {"type": "array", "items": COLUMN, "minItems": 1}},
        "required": ["columns"],
    },
    "not_null": {
        "description": "The column has a value in every row.",
        "properties": {"column": COLUMN},
        "required": ["column"],
    },
    "unique": {
        "description": "No two rows share these columns' values.",
        "properties": {"columns": {"type": "array", "items": COLUMN, "minItems": 1}},
        "required": ["columns"],
    },
    "range": {
        "description": "Numeric values lie between min and max (inclusive).",
        "properties": {"column": COLUMN, "min": {"type": "number"}, "max": {"type": "number"}},
        "required": ["column"],
    },
    "allowed_values": {
        "description": "Values come from a list or a vocabulary file (in the programme's "
        "folder or a granted shared folder, e.g. shared:taxonomy/species.csv).",
        "properties": {
            "column": COLUMN,
            "values": {"type": "array", "minItems": 1},
            "vocabulary": {
                "type": "object",
                "properties": {"source": RELATIVE_PATH, "column": COLUMN},
                "required": ["source", "column"],
                "additionalProperties": False,
            },
        },
        "required": ["column"],
    },
    "pattern": {
        "description": "Values match a regular expression.",
        "properties": {"column": COLUMN, "regex": {"type": "string", "minLength": 1}},
        "required": ["column", "regex"],
    },
    "date": {
        "description": "Values are parseable dates, not in the future, within bounds.",
        "properties": {
            "column": COLUMN,
            "min": {"type": "string", "format": "date"},
            "max": {"type": "string", "format": "date"},
            "allow_future": {"type": "boolean", "default": False},
        },
        "required": ["column"],
    },
    "coordinates": {
        "description": "Valid latitude/longitude, not 0/0, optionally inside a bounding box.",
        "properties": {
            "latitude": COLUMN,
            "longitude": COLUMN,
            "bbox": {
                "type": "array",
                "items": {"type": "number"},
                "minItems": 4,
                "maxItems": 4,
                "description": "[min_lon, min_lat, max_lon, max_lat]",
            },
        },
        "required": [],
    },
    "row_count": {
        "description": "The table has between min and max rows.",
        "properties": {"min": {"type": "integer", "minimum": 0}, "max": {"type": "integer"}},
        "required": [],
    },
    "null_fraction": {
        "description": "At most max_fraction of the column is empty.",
        "properties": {
            "column": COLUMN,
            "max_fraction": {"type": "number", "minimum": 0, "maximum": 1},
        },
        "required": ["column", "max_fraction"],
    },
    "freshness": {
        "description": "The newest date is within max_age_days of the run.",
        "properties": {"column": COLUMN, "max_age_days": {"type": "integer", "minimum": 0}},
        "required": ["column", "max_age_days"],
    },
    "reference": {
        "description": "Values are present in a column of another table (ref_table). A "
        "reference rule without ref_table reads table as the other table and checks the "
        "validation's own table (the form used before rules named their table).",
        "properties": {"column": COLUMN, "table": COLUMN, "ref_table": COLUMN,
                       "ref_column": COLUMN},
        "required": ["column", "ref_column"],
        "anyOf": [{"required": ["table"]}, {"required": ["ref_table"]}],
    },
}

SEVERITIES = ["info", "warning", "error", "critical"]


def _rule_schema(rule_type: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "if": {"properties": {"type": {"const": rule_type}}, "required": ["type"]},
        "then": {
            "properties": {
                "id": True,
                "type": True,
                "severity": True,
                "tolerance": True,
                "condition": True,
                "description": True,
                "table": True,
                **spec["properties"],
            },
            "required": spec["required"],
            "additionalProperties": False,
            **({"anyOf": spec["anyOf"]} if "anyOf" in spec else {}),
        },
    }


def pipeline_schema() -> dict[str, Any]:
    """Return the JSON Schema of a pipeline definition (built from STEP_TYPES)."""
    step_variants = [
        {
            "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
            "then": {"properties": {"params": spec["params"]}},
        }
        for name, spec in STEP_TYPES.items()
    ]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Pipeline definition",
        "type": "object",
        "properties": {
            "steps": {
                # Empty while a new programme is being set up; queueing a run refuses it.
                "type": "array",
                "maxItems": 50,
                "items": {
                    "type": "object",
                    "properties": {
                        "key": {"type": "string", "pattern": r"^[a-z][a-z0-9_-]{0,63}$"},
                        "type": {"enum": sorted(STEP_TYPES)},
                        "params": {"type": "object"},
                        "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 86400},
                        "retries": {"type": "integer", "minimum": 0, "maximum": 10},
                    },
                    "required": ["key", "type"],
                    "additionalProperties": False,
                    "allOf": step_variants,
                },
            }
        },
        "required": ["steps"],
        "additionalProperties": False,
    }


def rules_schema() -> dict[str, Any]:
    """Return the JSON Schema of a data-quality rule set (built from RULE_TYPES)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Data-quality rules",
        "type": "object",
        "properties": {
            "rules": {
                "type": "array",
                "maxItems": 200,
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"},
                        "type": {"enum": sorted(RULE_TYPES)},
                        "severity": {"enum": SEVERITIES},
                        "tolerance": {"type": "number", "minimum": 0, "maximum": 1},
                        "condition": {
                            # The object form, or an expression of the transforms' condition
                            # language, e.g. "flag in (6, 9)" (portal.services.expression_language).
                            "anyOf": [
                                {
                                    "type": "object",
                                    "properties": {"column": COLUMN, "equals": {}},
                                    "required": ["column"],
                                    "additionalProperties": False,
                                },
                                {"type": "string", "minLength": 1, "maxLength": 4000},
                            ],
                        },
                        "description": {"type": "string", "maxLength": 500},
                        # The table the rule checks (none: the validation's own table).
                        "table": COLUMN,
                    },
                    "required": ["id", "type", "severity"],
                    "allOf": [_rule_schema(name, spec) for name, spec in RULE_TYPES.items()],
                },
            }
        },
        "required": ["rules"],
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class SpecError:
    """One validation problem: where (a JSON path) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _json_path(parts: Any) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


class _PipelineValidator:
    """The pipeline schema's verdict, each step's params checked against its own type's
    schema only.

    The schema says this with one ``if``/``then`` per step type, which a validator
    evaluates for every step against every type; checking the one that applies gives the
    same errors (paths included) in a fraction of the time.
    """

    def __init__(self, schema: dict[str, Any]):
        schema = copy.deepcopy(schema)
        variants = schema["properties"]["steps"]["items"].pop("allOf")
        self.envelope = Draft202012Validator(schema)
        self.by_type = {variant["if"]["properties"]["type"]["const"]:
                        Draft202012Validator(variant["then"]) for variant in variants}

    def iter_errors(self, definition: Any) -> Iterator[Any]:
        """Every schema error of ``definition`` (jsonschema's ValidationError)."""
        yield from self.envelope.iter_errors(definition)
        steps = definition.get("steps") if isinstance(definition, dict) else None
        for index, step in enumerate(steps if isinstance(steps, list) else []):
            kind = step.get("type") if isinstance(step, dict) else None
            validator = self.by_type.get(kind) if isinstance(kind, str) else None
            for error in validator.iter_errors(step) if validator else ():
                error.path.extendleft((index, "steps"))  # where it is in the definition
                yield error


_VALIDATORS: dict[tuple, Any] = {}


def _validator(kind: str) -> tuple[tuple, Any]:
    """The ``pipeline`` or ``rules`` schema's validator, and its key.

    Built once for the step and rule types declared now, and keyed on them (names and
    their spec objects), so a step type registered later (``register_step_type``) gets
    a new validator.
    """
    types = STEP_TYPES if kind == "pipeline" else RULE_TYPES
    key = (kind, *((name, id(spec)) for name, spec in types.items()))
    validator = _VALIDATORS.get(key)
    if validator is None:
        for stale in [k for k in _VALIDATORS if k[0] == kind]:
            del _VALIDATORS[stale]
        validator = _VALIDATORS[key] = (_PipelineValidator(pipeline_schema())
                                        if kind == "pipeline"
                                        else Draft202012Validator(rules_schema()))
    return key, validator


#: Verdicts by (validator key, the document as canonical JSON): a programme's pipeline
#: and rules are validated again at each run request and at each run's start, unchanged.
_VERDICTS: dict[tuple, tuple[SpecError, ...]] = {}
_VERDICTS_MAX = 512


def _remembered(kind: str, document: Any,
                validate: Callable[[Any, Any], list[SpecError]]
                ) -> list[SpecError]:
    """``validate(document, validator)``, or its verdict on an identical document."""
    key, validator = _validator(kind)
    try:
        text = json.dumps(document, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):  # not JSON: validate it (and say what is wrong)
        return validate(document, validator)
    memo = (key, text)
    verdict = _VERDICTS.get(memo)
    if verdict is None:
        if len(_VERDICTS) >= _VERDICTS_MAX:
            _VERDICTS.clear()
        verdict = _VERDICTS[memo] = tuple(validate(document, validator))
    return list(verdict)


def _validate(document: Any, schema: Any) -> list[SpecError]:
    """``schema``: a JSON Schema, or a validator (anything with ``iter_errors``)."""
    validator = schema if hasattr(schema, "iter_errors") else Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.path)))
    return [SpecError(_json_path(error.absolute_path), _message(error)) for error in errors]


def _message(error: Any) -> str:
    """The schema's own wording for a failed pattern (``patternMessage``), else jsonschema's."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "pattern" and "patternMessage" in schema:
        return schema["patternMessage"]
    return error.message


def _repeated(items: list[dict[str, Any]], root: str, field: str, noun: str
              ) -> list[SpecError]:
    """One error for each item whose ``field`` repeats an earlier item's."""
    seen: set[str] = set()
    errors = []
    for index, item in enumerate(items):
        if item[field] in seen:
            errors.append(SpecError(f"$.{root}[{index}].{field}",
                                    f"duplicate {noun} {item[field]!r}"))
        seen.add(item[field])
    return errors


#: Parameters a step type no longer accepts -> what to write instead. Reported by name
#: (definitions saved before the change still hold them) rather than as "unexpected".
RETIRED_PARAMS: dict[tuple[str, str], str] = {
    ("ingest.http", "token_env"): "token_env is no longer accepted: a pipeline names a "
    "credential, never an environment variable. Ask an admin to declare one in "
    "PORTAL_CREDENTIALS (its variable and hosts), then write \"credential\": \"<name>\"",
}


def _without_retired(definition: Any) -> tuple[Any, list[SpecError]]:
    """``definition`` without retired parameters (a copy), and one error for each."""
    steps = definition.get("steps") if isinstance(definition, dict) else None
    if not isinstance(steps, list):
        return definition, []
    errors, cleaned = [], copy.deepcopy(definition)
    for index, step in enumerate(cleaned["steps"]):
        params = step.get("params") if isinstance(step, dict) else None
        if not isinstance(params, dict):
            continue
        for name in [n for n in params if (step.get("type"), n) in RETIRED_PARAMS]:
            errors.append(SpecError(f"$.steps[{index}].params.{name}",
                                    RETIRED_PARAMS[(step.get("type"), name)]))
            del params[name]
    return cleaned, errors


def validate_pipeline(definition: Any) -> list[SpecError]:
    """Validate a pipeline definition; return its problems (empty when valid).

    Besides the schema, step keys must be unique, and conditions and derived columns
    must parse (reported with their character position); a retired parameter
    (``token_env``) is reported by name with what replaces it.
    """
    return _remembered("pipeline", definition, _pipeline_problems)


def _pipeline_problems(definition: Any, validator: _PipelineValidator) -> list[SpecError]:
    definition, retired = _without_retired(definition)
    errors = retired + _validate(definition, validator)
    return errors or (_repeated(definition["steps"], "steps", "key", "step key")
                      + _after_lazy_ingest(definition["steps"])
                      + [SpecError(*problem)
                         for problem in pipeline_expression_problems(definition)])


#: Steps that accept a table an ``ingest.csv`` with ``lazy`` left on disk.
LAZY_CONSUMERS = frozenset({"validate.rules"})


def _after_lazy_ingest(steps: list[dict[str, Any]]) -> list[SpecError]:
    """A lazy (batched) ingest may only be followed by steps that read it in batches."""
    errors: list[SpecError] = []
    lazy_key = None
    for index, step in enumerate(steps):
        if lazy_key and step.get("type") not in LAZY_CONSUMERS:
            errors.append(SpecError(
                f"$.steps[{index}].type",
                f"{step.get('type')} needs the whole table in memory, but step {lazy_key!r} "
                f"reads it lazily (params.lazy): only {', '.join(sorted(LAZY_CONSUMERS))} "
                f"may follow a lazy ingest"))
        if step.get("type") == "ingest.csv" and (step.get("params") or {}).get("lazy"):
            lazy_key = step.get("key")
    return errors


def validate_rules(rules: Any) -> list[SpecError]:
    """Validate a data-quality rule set; return its problems (empty when valid).

    Besides the schema, rule ids must be unique and text conditions must parse.
    """
    return _remembered("rules", rules, _rules_problems)


def _rules_problems(rules: Any, validator: Draft202012Validator) -> list[SpecError]:
    errors = _validate(rules, validator)
    return errors or (_repeated(rules["rules"], "rules", "id", "rule id")
                      + [SpecError(*problem) for problem in rules_expression_problems(rules)])


def register_step_type(name: str, params_schema: dict[str, Any], description: str = "") -> None:
    """Declare an extra step type (used by tests to add no-op and failing steps)."""
    STEP_TYPES[name] = {"description": description, "params": copy.deepcopy(params_schema)}
