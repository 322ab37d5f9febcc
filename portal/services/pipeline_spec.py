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
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

# --- shared fragments -------------------------------------------------------

RELATIVE_PATH = {
    "type": "string",
    "minLength": 1,
    "maxLength": 500,
    # No absolute paths, no parent-directory segments: a source stays inside DATA_ROOT.
    "pattern": r"^(?!/)(?!.*(^|[\\/])\.\.([\\/]|$))[^\x00]+$",
    "patternMessage": "must be a path relative to DATA_ROOT without '..'",
    "description": "A path relative to DATA_ROOT; absolute paths and '..' are refused.",
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
INDICATOR_COLUMNS = {
    "table": COLUMN,
    "taxon": {**COLUMN, "description": "Taxon column (default scientificName)."},
    "site": {**COLUMN, "description": "Site column (default locationID, else locality)."},
    "period": {**COLUMN, "description": "Period column (default year, else from eventDate)."},
    "count": {
        **COLUMN,
        "description": "Count column (default individualCount, else organismQuantity).",
    },
}

# --- step types ---------------------------------------------------------------

STEP_TYPES: dict[str, dict[str, Any]] = {
    "ingest.csv": {
        "description": "Read a CSV or TSV file under DATA_ROOT.",
        "params": {
            "type": "object",
            "properties": {
                "source": RELATIVE_PATH,
                "delimiter": {"type": "string", "minLength": 1, "maxLength": 2},
                **INGEST_COMMON,
            },
            "required": ["source"],
            "additionalProperties": False,
        },
        "example": {"source": "ants/Portal_ant_colony.csv"},
    },
    "ingest.darwin_core": {
        "description": "Read a Darwin Core occurrence CSV under DATA_ROOT.",
        "params": {
            "type": "object",
            "properties": {"source": RELATIVE_PATH, **INGEST_COMMON},
            "required": ["source"],
            "additionalProperties": False,
        },
        "example": {"source": "snails/occurrence.csv"},
    },
    "ingest.dwca": {
        "description": "Read a Darwin Core Archive (zip with meta.xml) under DATA_ROOT.",
        "params": {
            "type": "object",
            "properties": {
                "source": RELATIVE_PATH,
                "extensions": {"type": "boolean", "default": True},
                **INGEST_COMMON,
            },
            "required": ["source"],
            "additionalProperties": False,
        },
        "example": {"source": "atlas/dwca-export.zip"},
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
                "token_env": {
                    "type": "string",
                    "pattern": r"^[A-Z][A-Z0-9_]*$",
                    "patternMessage": "must be the NAME of an environment variable "
                    "(A-Z, 0-9, _), never the token itself",
                    "description": "Name of the environment variable holding a bearer token.",
                },
                "timeout_seconds": {"type": "number", "minimum": 1, "maximum": 300},
                "max_bytes": {"type": "integer", "minimum": 1},
                **INGEST_COMMON,
            },
            "required": ["url"],
            "additionalProperties": False,
        },
        "example": {"url": "https://api.example.org/abundance", "token_env": "BIRDIE_TOKEN"},
    },
    "validate.rules": {
        "description": "Check the data against the programme's data-quality rules; "
        "a failing error or critical rule blocks the run.",
        "params": {
            "type": "object",
            "properties": {"table": COLUMN},
            "additionalProperties": False,
        },
        "example": {},
    },
    "compute.species_richness": {
        "description": "Number of distinct taxa per site per period.",
        "params": {
            "type": "object",
            "properties": INDICATOR_COLUMNS,
            "additionalProperties": False,
        },
        "example": {"site": "locality", "period": "year"},
    },
    "compute.abundance": {
        "description": "Total count per taxon per period.",
        "params": {
            "type": "object",
            "properties": INDICATOR_COLUMNS,
            "additionalProperties": False,
        },
        "example": {"taxon": "species", "count": "colonies", "period": "year"},
    },
    "compute.occupancy": {
        "description": "Share of surveyed sites where a taxon was recorded, per period.",
        "params": {
            "type": "object",
            "properties": INDICATOR_COLUMNS,
            "additionalProperties": False,
        },
        "example": {"site": "plot", "period": "year"},
    },
    "compute.trend": {
        "description": "Log-linear trend of yearly counts per taxon (OLS of log(total + 1) "
        "on year over surveyed years): percent change per year with a 95% interval; taxa "
        "recorded in fewer than min_years years go to the table <key>.insufficient.",
        "params": {
            "type": "object",
            "properties": {
                **INDICATOR_COLUMNS,
                "min_years": {
                    "type": "integer",
                    "minimum": 3,
                    "default": 5,
                    "description": "Fewest years with the taxon recorded for a trend.",
                },
            },
            "additionalProperties": False,
        },
        "example": {"taxon": "species", "count": "colonies", "min_years": 5},
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
                    "description": "SPDX licence id or URL (default CC0-1.0).",
                },
                "bump": {"enum": ["minor", "major"], "default": "minor"},
            },
            "required": ["name"],
            "additionalProperties": False,
        },
        "example": {"name": "snail-richness"},
    },
}

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
        "description": "Values come from a list or a vocabulary file under DATA_ROOT.",
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
        "description": "Values are present in a column of another input table.",
        "properties": {"column": COLUMN, "table": COLUMN, "ref_column": COLUMN},
        "required": ["column", "table", "ref_column"],
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
                **spec["properties"],
            },
            "required": spec["required"],
            "additionalProperties": False,
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
                            "type": "object",
                            "properties": {"column": COLUMN, "equals": {}},
                            "required": ["column"],
                            "additionalProperties": False,
                        },
                        "description": {"type": "string", "maxLength": 500},
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


def _validate(document: Any, schema: dict[str, Any]) -> list[SpecError]:
    validator = Draft202012Validator(schema)
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


def validate_pipeline(definition: Any) -> list[SpecError]:
    """Validate a pipeline definition; return its problems (empty when valid).

    Besides the schema, step keys must be unique.
    """
    errors = _validate(definition, pipeline_schema())
    return errors or _repeated(definition["steps"], "steps", "key", "step key")


def validate_rules(rules: Any) -> list[SpecError]:
    """Validate a data-quality rule set; return its problems (empty when valid).

    Besides the schema, rule ids must be unique.
    """
    errors = _validate(rules, rules_schema())
    return errors or _repeated(rules["rules"], "rules", "id", "rule id")


def register_step_type(name: str, params_schema: dict[str, Any], description: str = "") -> None:
    """Declare an extra step type (used by tests to add no-op and failing steps)."""
    STEP_TYPES[name] = {"description": description, "params": copy.deepcopy(params_schema)}
