"""Reference documentation generated from the step and rule schemas (so it cannot drift).

``reference_entries()`` feeds the portal's ``/docs`` page; ``reference_markdown()``
writes ``docs/reference.md`` (``flask docs build``; a test fails when the committed
file differs from what the schemas say).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from portal.services.pipeline_spec import BUILTIN_STEP_TYPES, RULE_TYPES, SEVERITIES, STEP_TYPES

#: One example per rule type (each is validated against the rules schema by the tests).
RULE_EXAMPLES: dict[str, dict[str, Any]] = {
    "required_columns": {"columns": ["scientificName", "eventDate"]},
    "not_null": {"column": "scientificName", "tolerance": 0.99},
    "unique": {"columns": ["occurrenceID"]},
    "range": {"column": "individualCount", "min": 1, "max": 10000},
    "allowed_values": {"column": "species",
                       "vocabulary": {"source": "ants/Portal_ant_species.csv",
                                      "column": "speciescode"}},
    "pattern": {"column": "occurrenceID", "regex": "^urn:"},
    "date": {"column": "eventDate", "min": "1950-01-01"},
    "coordinates": {"latitude": "decimalLatitude", "longitude": "decimalLongitude",
                    "bbox": [-18.5, 27.5, -13.0, 29.5]},
    "row_count": {"min": 1},
    "null_fraction": {"column": "organismQuantity", "max_fraction": 0.2},
    "freshness": {"column": "eventDate", "max_age_days": 400},
    "reference": {"table": "occurrence", "column": "locationID", "ref_table": "sites",
                  "ref_column": "locationID"},
}

COMMON_RULE_FIELDS = [
    ("id", "string", True, None, "A unique id; alerts are keyed by it."),
    ("type", "string", True, None, "The rule type."),
    ("severity", "one of " + ", ".join(SEVERITIES), True, None,
     "error and critical failures block the run; info and warning never do."),
    ("tolerance", "number 0–1", False, 1.0, "The fraction of rows that must pass."),
    ("condition", "object or expression", False, None,
     "Apply only to matching rows: an expression such as `flag in (6, 9)`, or "
     "`{\"column\": c}` (c has a value) / `{\"column\": c, \"equals\": v}`."),
    ("table", "string", False, None,
     "The table the rule checks (default: the validation step's table, else the primary "
     "table)."),
]


@dataclass(frozen=True)
class Param:
    """One parameter of a step or rule type."""

    name: str
    type: str
    required: bool
    default: Any
    description: str


@dataclass(frozen=True)
class Entry:
    """One step or rule type in the reference."""

    kind: str  # "step" or "rule"
    name: str
    description: str
    params: list[Param]
    example: dict[str, Any]
    #: Longer explanation in Markdown blocks (a declaration's ``guide``), e.g. the method.
    guide: tuple[str, ...] = ()


def describe_type(schema: dict[str, Any]) -> str:
    """A short human description of a JSON Schema's type."""
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {describe_type(schema.get('items', {}))}"
    if kind == "string" and schema.get("pattern", "").startswith("^https?"):
        return "URL"
    if kind == "object" and "properties" in schema:
        return "object (" + ", ".join(schema["properties"]) + ")"
    return str(kind)


def _params(properties: dict[str, Any], required: list[str]) -> list[Param]:
    return [
        Param(name, describe_type(schema), name in required, schema.get("default"),
              schema.get("description", ""))
        for name, schema in properties.items()
    ]


def reference_entries() -> list[Entry]:
    """Every step type and rule type, with parameters, defaults and an example."""
    entries = []
    for name, spec in sorted(STEP_TYPES.items()):
        if name not in BUILTIN_STEP_TYPES:
            continue  # test-only step types
        params = spec["params"]
        example = {"key": name.split(".")[-1].replace("_", "-")[:20], "type": name}
        if spec.get("example"):
            example["params"] = spec["example"]
        entries.append(Entry("step", name, spec.get("description", ""),
                             _params(params.get("properties", {}), params.get("required", [])),
                             example, tuple(spec.get("guide", ()))))
    for name, spec in sorted(RULE_TYPES.items()):
        params = [Param(*field) for field in COMMON_RULE_FIELDS]
        params += _params(spec["properties"], spec["required"])
        example = {"id": name.replace("_", "-"), "type": name, "severity": "error",
                   **RULE_EXAMPLES.get(name, {})}
        entries.append(Entry("rule", name, spec.get("description", ""), params, example))
    return entries


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def reference_markdown() -> str:
    """The reference as Markdown (the content of docs/reference.md)."""
    lines = ["# Step and rule reference", "",
             "Generated from the JSON Schemas in `portal/services/pipeline_spec.py` by "
             "`flask docs build`; do not edit by hand.", ""]
    for kind, title in (("step", "Step types"), ("rule", "Rule types")):
        lines += [f"## {title}", ""]
        for entry in (e for e in reference_entries() if e.kind == kind):
            lines += [f"### `{entry.name}`", "", entry.description, "",
                      "| parameter | type | required | default | description |",
                      "|---|---|---|---|---|"]
            for p in entry.params:
                default = "" if p.default is None else f"`{json.dumps(p.default)}`"
                lines.append(f"| `{p.name}` | {_cell(p.type)} | {'yes' if p.required else ''} "
                             f"| {default} | {_cell(p.description)} |")
            lines += ["", "```json", json.dumps(entry.example, indent=2), "```", ""]
            for block in entry.guide:
                lines += [block, ""]
    return "\n".join(lines).rstrip() + "\n"
