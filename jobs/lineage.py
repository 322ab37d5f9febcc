"""Lineage records (invariant 8).

``build_lineage`` turns what a run did into the JSON the portal stores on the run:
every input's sha256, the sha256 of the canonical pipeline definition and rule set,
the code version, each step's counts and fingerprints, the outputs and the release.
Its export as OpenLineage events lives in ``portal.services.openlineage`` (the portal
serves the same events as a download, and must not import ``jobs``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from jobs.steps.base import FINGERPRINT_SCHEME

LINEAGE_FORMAT = "programme-ops.lineage/1"
INGEST_DEFAULT_TABLE = "data"  # jobs.steps.ingest.DEFAULT_TABLE (not imported: no connectors here)
STEP_FIELDS = (
    "status",
    "rows_in",
    "rows_out",
    "rows_rejected",
    "input_fingerprint",
    "output_fingerprint",
)


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys, compact separators and UTF-8 text (no ASCII escapes)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_sha256(obj: Any) -> str:
    """The sha256 of ``obj``'s canonical JSON: equal documents give equal hashes."""
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def _get(item: Any, name: str, default: Any = None) -> Any:
    if isinstance(item, Mapping):
        return item.get(name, default)
    return getattr(item, name, default)


def _rule_list(rules: Any) -> list[Mapping[str, Any]]:
    if isinstance(rules, Mapping):
        return list(rules.get("rules", []))
    return list(rules or [])


def _rule_column(rule: Mapping[str, Any]) -> str | None:
    if rule.get("column"):
        return str(rule["column"])
    columns = rule.get("columns") or []
    return str(columns[0]) if len(columns) == 1 else None


def _input_table(
    entry: Mapping[str, Any], types: Mapping[str, Any], params: Mapping[str, Any]
) -> str | None:
    """The table an input became: its own ``table``, else its ingest step's ``as``."""
    if entry.get("table"):
        return str(entry["table"])
    step = entry.get("step")
    if entry.get("rows") is None or not str(types.get(step)).startswith("ingest."):
        return None  # a package descriptor, or a vocabulary read by a rule
    return params[step].get("as") or INGEST_DEFAULT_TABLE


def build_lineage(
    definition: Mapping[str, Any],
    rules: Any,
    code_version: str,
    steps: Iterable[Any],
    lineage: Mapping[str, Any],
) -> dict[str, Any]:
    """Build the stored lineage record of a run.

    Args:
        definition: the pipeline definition the run used.
        rules: the rule set (``{"rules": [...]}``) or the rule list the run used.
        code_version: the code version (e.g. a git commit) that ran.
        steps: in order, mappings or objects with ``key`` and optionally ``type``,
            ``status``, ``rows_in``, ``rows_out``, ``rows_rejected``,
            ``input_fingerprint``, ``output_fingerprint`` and ``details`` (a validate
            step's ``details["rules"]`` become the quality assertions).
        lineage: ``ctx.lineage`` at the end of the run (inputs, outputs, release).

    Returns:
        A JSON-serialisable dict (see the keys below; ``release_version`` is None when
        nothing was published).
    """
    types = {step.get("key"): step.get("type") for step in definition.get("steps", [])}
    params = {step.get("key"): step.get("params") or {} for step in definition.get("steps", [])}
    rule_by_id = {rule.get("id"): rule for rule in _rule_list(rules)}
    ingests = [key for key, kind in types.items() if str(kind).startswith("ingest.")]
    primary = (params[ingests[0]].get("as") or INGEST_DEFAULT_TABLE) if ingests else None
    step_records: list[dict[str, Any]] = []
    quality: list[dict[str, Any]] = []
    for step in steps:
        key = _get(step, "key")
        record = {"key": key, "type": _get(step, "type") or types.get(key)}
        record.update({name: _get(step, name) for name in STEP_FIELDS})
        step_records.append(record)
        details = _get(step, "details") or {}
        for result in details.get("rules", []) if isinstance(details, Mapping) else []:
            rule = rule_by_id.get(result.get("id"), {})
            quality.append(
                {
                    "rule": result.get("id"),
                    "type": result.get("type") or rule.get("type"),
                    "severity": result.get("severity") or rule.get("severity"),
                    "passed": bool(result.get("passed")),
                    "column": _rule_column(rule),
                    "step": key,
                    "table": details.get("table") or params.get(key, {}).get("table") or primary,
                }
            )
    inputs = [
        {name: entry.get(name) for name in ("uri", "sha256", "bytes", "rows", "step")}
        | {"table": _input_table(entry, types, params)}
        for entry in lineage.get("inputs", [])
    ]
    release = lineage.get("release")
    return {
        "format": LINEAGE_FORMAT,
        "code_version": code_version,
        "fingerprint_scheme": FINGERPRINT_SCHEME,
        "definition_sha256": canonical_sha256(definition),
        "rules_sha256": canonical_sha256(rules),
        "inputs": inputs,
        "steps": step_records,
        "quality": quality,
        "outputs": [dict(entry) for entry in lineage.get("outputs", [])],
        "release": dict(release) if release else None,
        "release_version": release.get("version") if release else None,
    }
