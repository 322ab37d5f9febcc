"""Step types declared beside their code, read without importing ``jobs``.

A step module may keep its step types' declarations in a JSON file of the same name
(``jobs/steps/transform.json`` beside ``jobs/steps/transform.py``): a mapping from
type name to ``{"title", "description", "params" (JSON Schema), "example"}``. The
portal reads these files as data — it never imports ``jobs`` (nor polars) — and
``pipeline_spec`` merges them into its step-type table, so the editor, the
reference docs and save-time validation know those types.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

STEP_MODULES = Path(__file__).resolve().parents[2] / "jobs" / "steps"
REQUIRED_KEYS = ("description", "params")


class DeclarationError(Exception):
    """A declaration file is malformed (a bug in the shipped code, not user input)."""


def read_declarations(path: Path) -> dict[str, dict[str, Any]]:
    """Read one declaration file and check its shape.

    Raises:
        DeclarationError: naming the file and the step type at fault.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DeclarationError(f"{path.name}: cannot be read: {exc}") from None
    if not isinstance(document, dict):
        raise DeclarationError(f"{path.name}: expected an object of step types")
    for name, spec in document.items():
        missing = [key for key in REQUIRED_KEYS if key not in spec]
        if missing:
            raise DeclarationError(f"{path.name}: step type {name!r} lacks {', '.join(missing)}")
        if spec["params"].get("type") != "object":
            raise DeclarationError(f"{path.name}: {name!r} params must be an object schema")
    return document


def declared_step_types(folder: Path = STEP_MODULES) -> dict[str, dict[str, Any]]:
    """Every step type declared in ``folder/*.json``, by name (files in name order)."""
    declared: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")):
        for name, spec in read_declarations(path).items():
            if name in declared:
                raise DeclarationError(f"{path.name}: step type {name!r} declared twice")
            declared[name] = spec
    return declared
