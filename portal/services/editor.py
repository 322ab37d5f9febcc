"""Form-driven editing of pipeline definitions and rule sets (no JSON by hand).

The editor is stateless: the draft travels with each request as JSON text, and each
action (add, remove, move up/down) returns a new draft. Parameters are form fields
generated from the JSON Schemas; values are converted to the schema's types. Saving
goes through the same schema validation as everything else.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from portal.services import DomainError, json_text
from portal.services.pipeline_spec import RULE_TYPES, SEVERITIES, STEP_TYPES


@dataclass(frozen=True)
class ParamField:
    """One generated form field."""

    name: str
    label: str
    input: str  # text, number, checkbox, select, json, list
    required: bool
    description: str
    choices: tuple[str, ...] = ()
    default: Any = None


def _field(name: str, schema: dict[str, Any], required: bool) -> ParamField:
    kind = schema.get("type")
    if "enum" in schema:
        field_input, choices = "select", tuple(map(str, schema["enum"]))
    elif kind in ("integer", "number"):
        field_input, choices = "number", ()
    elif kind == "boolean":
        field_input, choices = "checkbox", ()
    elif kind == "array" and schema.get("items", {}).get("type") in ("string", None):
        field_input, choices = "list", ()
    elif kind in ("object", "array"):
        field_input, choices = "json", ()
    else:
        field_input, choices = "text", ()
    return ParamField(name, name.replace("_", " "), field_input, required,
                      schema.get("description", ""), choices, schema.get("default"))


def step_fields(step_type: str) -> list[ParamField]:
    """The form fields for a step type's parameters."""
    spec = STEP_TYPES.get(step_type)
    if spec is None:
        raise DomainError(f"Unknown step type {step_type!r}.", field="type")
    params = spec["params"]
    required = set(params.get("required", []))
    return [_field(name, schema, name in required)
            for name, schema in params.get("properties", {}).items()]


def rule_fields(rule_type: str) -> list[ParamField]:
    """The form fields for a rule type's parameters (besides id, severity, tolerance)."""
    spec = RULE_TYPES.get(rule_type)
    if spec is None:
        raise DomainError(f"Unknown rule type {rule_type!r}.", field="type")
    required = set(spec["required"])
    return [_field(name, schema, name in required) for name, schema in spec["properties"].items()]


def _convert(field: ParamField, raw: str | None) -> Any:
    if field.input == "checkbox":
        return raw not in (None, "", "0", "false", "off")
    raw = (raw or "").strip()
    if raw == "":
        return None
    if field.input == "number":
        try:
            number = float(raw)
        except ValueError:
            raise DomainError(f"{field.label}: {raw!r} is not a number.",
                              field=field.name) from None
        return int(number) if number.is_integer() else number
    if field.input == "list":
        return [part.strip() for part in raw.split(",") if part.strip()]
    if field.input == "json":
        try:
            return json_text.loads(raw)
        except json.JSONDecodeError as exc:
            raise DomainError(f"{field.label}: not valid JSON ({exc.msg}).",
                              field=field.name) from None
    return raw


def values_from_form(fields: list[ParamField], form: dict[str, str], prefix: str = "p_"
                     ) -> dict[str, Any]:
    """Convert submitted form values to typed parameters; empty optional fields are left out.

    Raises:
        DomainError: naming the field whose value cannot be converted or is missing.
    """
    values: dict[str, Any] = {}
    for field in fields:
        value = _convert(field, form.get(prefix + field.name))
        if value is None or (field.input == "checkbox" and value is False and
                             field.default in (None, False)):
            if field.required:
                raise DomainError(f"{field.label} is required.", field=field.name)
            continue
        values[field.name] = value
    return values


def parse_draft(text: str, root: str) -> dict[str, Any]:
    """Parse a draft's JSON text; ``root`` is "steps" or "rules"."""
    try:
        draft = json_text.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise DomainError(f"$: not valid JSON (line {exc.lineno}, column {exc.colno}: "
                          f"{exc.msg})", field="draft") from None
    if not isinstance(draft, dict) or not isinstance(draft.get(root, []), list):
        raise DomainError(f"$: expected an object with a list {root!r}", field="draft")
    draft.setdefault(root, [])
    return draft


def move(draft: dict[str, Any], root: str, index: int, offset: int) -> dict[str, Any]:
    """Return a copy of ``draft`` with item ``index`` moved by ``offset`` (-1 up, +1 down)."""
    items = copy.deepcopy(draft[root])
    target = index + offset
    if not (0 <= index < len(items) and 0 <= target < len(items)):
        return copy.deepcopy(draft)
    items[index], items[target] = items[target], items[index]
    return {**draft, root: items}


def remove(draft: dict[str, Any], root: str, index: int) -> dict[str, Any]:
    """Return a copy of ``draft`` without item ``index``."""
    items = copy.deepcopy(draft[root])
    if 0 <= index < len(items):
        items.pop(index)
    return {**draft, root: items}


def add_step(draft: dict[str, Any], step_type: str, key: str, form: dict[str, str]
             ) -> dict[str, Any]:
    """Return a copy of ``draft`` with a new step of ``step_type`` built from form values."""
    key = key.strip()
    if not key:
        raise DomainError("Give the step a key, e.g. 'ingest'.", field="key")
    if any(step.get("key") == key for step in draft["steps"]):
        raise DomainError(f"A step with key {key!r} already exists.", field="key")
    step: dict[str, Any] = {"key": key, "type": step_type}
    params = values_from_form(step_fields(step_type), form)
    if params:
        step["params"] = params
    return {**draft, "steps": [*copy.deepcopy(draft["steps"]), step]}


def add_rule(draft: dict[str, Any], rule_type: str, rule_id: str, severity: str,
             tolerance: str, form: dict[str, str]) -> dict[str, Any]:
    """Return a copy of ``draft`` with a new rule of ``rule_type`` built from form values."""
    rule_id = rule_id.strip()
    if not rule_id:
        raise DomainError("Give the rule an id, e.g. 'name-present'.", field="rule_id")
    if any(rule.get("id") == rule_id for rule in draft["rules"]):
        raise DomainError(f"A rule with id {rule_id!r} already exists.", field="rule_id")
    if severity not in SEVERITIES:
        raise DomainError(f"Severity must be one of {', '.join(SEVERITIES)}.", field="severity")
    rule: dict[str, Any] = {"id": rule_id, "type": rule_type, "severity": severity}
    if tolerance.strip():
        try:
            rule["tolerance"] = float(tolerance)
        except ValueError:
            raise DomainError("Tolerance must be a number between 0 and 1.",
                              field="tolerance") from None
    rule.update(values_from_form(rule_fields(rule_type), form))
    return {**draft, "rules": [*copy.deepcopy(draft["rules"]), rule]}


def dumps(draft: dict[str, Any]) -> str:
    """The draft as indented JSON text (what the raw editor shows)."""
    return json.dumps(draft, indent=2, ensure_ascii=False)
