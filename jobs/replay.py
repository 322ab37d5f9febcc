"""Replay a recorded run in a sandbox and prove its outputs identical (invariant 8).

The recorded inputs are read back from the content-addressed store
(``store_root/<sha[:2]>/<sha>``) after checking their sha256; the pipeline runs with a
small sequential executor (no database, no queue) whose releases go to the sandbox;
then every recorded fingerprint — inputs read, step outputs, output tables and release
files — is compared with the replay's.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from jobs.lineage import canonical_sha256
from jobs.registry import get_step
from jobs.steps.base import (
    LEGACY_FINGERPRINT_SCHEME,
    StepContext,
    StepError,
    StepResult,
    fingerprint_scheme,
    sha256_file,
)
from portal.services.safezip import ZipLimits


@dataclass
class Execution:
    """What :func:`execute_steps` did: per-step results, the tables and the lineage."""

    results: list[tuple[dict[str, Any], StepResult]] = field(default_factory=list)
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    lineage: dict[str, Any] = field(
        default_factory=lambda: {"inputs": [], "outputs": [], "release": None}
    )


def rule_list(rules: Any) -> list[dict[str, Any]]:
    """The rule list from a rule set document (``{"rules": [...]}``) or a list."""
    if isinstance(rules, Mapping):
        return list(rules.get("rules", []))
    return list(rules or [])


def execute_steps(
    definition: Mapping[str, Any],
    rules: Any,
    *,
    programme_code: str,
    run_uuid: str,
    data_root: Path,
    publish_root: Path,
    work_dir: Path,
    store_root: Path,
    now: datetime | None = None,
    dry_run: bool = False,
    replay_inputs: dict[str, Path] | None = None,
    shared_folders: Mapping[str, Path] | None = None,
    zip_limits: ZipLimits | None = None,
    licence: str | None = None,
) -> Execution:
    """Run a pipeline's steps in order in this process, stopping at the first not succeeded.

    A step that raises ``StepError`` (or anything else) is recorded as failed with the
    message. The primary table is the first one an ``ingest.*`` step produces.
    ``data_root`` is the programme's namespace ``DATA_ROOT/<CODE>``; ``shared_folders``
    maps the shared folders granted to it to their folders; ``zip_limits`` are the
    deployment's ``ZIP_*`` limits (the defaults when None); ``licence`` is the
    programme's release licence (``StepContext.programme_licence``).

    Returns:
        The results in order, the final tables and the lineage the steps built.
    """
    execution = Execution()
    primary: str | None = None
    for step in definition.get("steps", []):
        work_dir.mkdir(parents=True, exist_ok=True)
        ctx = StepContext(
            run_uuid=run_uuid,
            programme_code=programme_code,
            step_key=step["key"],
            params=dict(step.get("params") or {}),
            rules=rule_list(rules),
            data_root=Path(data_root),
            publish_root=Path(publish_root),
            work_dir=work_dir,
            store_root=Path(store_root),
            dry_run=dry_run,
            now=now or datetime.now(UTC),
            tables=execution.tables,
            primary_table=primary,
            lineage=execution.lineage,
            replay_inputs=replay_inputs,
            shared_folders=dict(shared_folders or {}),
            zip_limits=zip_limits or ZipLimits(),
            programme_licence=licence,
        )
        try:
            result = get_step(step["type"])(ctx)
        except StepError as exc:
            result = StepResult(status="failed", message=str(exc))
        except Exception as exc:  # noqa: BLE001 — a replay reports, it does not crash
            result = StepResult(status="failed", message=f"{type(exc).__name__}: {exc}")
        execution.tables.update(result.tables)
        if primary is None and result.tables and step["type"].startswith("ingest."):
            primary = next(iter(result.tables))
        execution.results.append((dict(step), result))
        if result.status != "succeeded":
            break
    return execution


def _check_inputs(lineage: Mapping[str, Any], store_root: Path) -> tuple[dict[str, Path], list]:
    paths: dict[str, Path] = {}
    problems: list[dict[str, Any]] = []
    for entry in lineage.get("inputs", []):
        uri, digest = str(entry.get("uri")), str(entry.get("sha256") or "")
        path = Path(store_root) / digest[:2] / digest
        if not digest or not path.is_file():
            problems.append(
                {
                    "kind": "input",
                    "name": uri,
                    "problem": "input missing",
                    "recorded": digest or None,
                    "replayed": None,
                }
            )
            continue
        actual = sha256_file(path)
        if actual != digest:
            problems.append(
                {
                    "kind": "input",
                    "name": uri,
                    "problem": "input changed",
                    "recorded": digest,
                    "replayed": actual,
                }
            )
            continue
        paths[uri] = path
    return paths, problems


def _compare(kind: str, recorded: Mapping[str, Any], replayed: Mapping[str, Any]) -> list[dict]:
    return [
        {
            "kind": kind,
            "name": name,
            "recorded": recorded.get(name),
            "replayed": replayed.get(name),
            "identical": recorded.get(name) == replayed.get(name),
        }
        for name in sorted(set(recorded) | set(replayed), key=str)
    ]


def _recorded_licence(lineage: Mapping[str, Any]) -> str | None:
    """The licence the recorded release was published under (the programme's may have
    changed since); releases recorded before licences were required were CC0-1.0."""
    release = lineage.get("release") or {}
    return release.get("licence") or ("CC0-1.0" if release else None)


def replay(
    definition: Mapping[str, Any],
    rules: Any,
    lineage: Mapping[str, Any],
    *,
    data_root: Path,
    store_root: Path,
    sandbox_dir: Path,
    programme_code: str | None = None,
    now: datetime | None = None,
    shared_folders: Mapping[str, Path] | None = None,
    zip_limits: ZipLimits | None = None,
) -> dict[str, Any]:
    """Re-run a recorded run from its stored inputs and compare every fingerprint.

    Args:
        definition / rules: the pipeline definition and rule set the run used.
        lineage: the run's record from ``build_lineage`` (a bare ``ctx.lineage`` also works).
        data_root: the programme's namespace ``DATA_ROOT/<CODE>`` (steps that read
            reference files still need it).
        store_root: the content-addressed store of raw inputs.
        sandbox_dir: an empty folder for the replay's releases and scratch files.
        programme_code: the programme's code (default: the lineage's, else "REPLAY").
        now: the original run's reference time, for rules that depend on it.
        shared_folders: the shared folders granted to the programme, by name.
        zip_limits: the deployment's ``ZIP_*`` limits (the defaults when None).

    Returns:
        ``{"identical": bool, "compared": [...], "differences": [...], "steps": [...]}``;
        each comparison is ``{kind, name, recorded, replayed, identical}`` with kind one of
        definition, rules, input, step, output, release_file.
    """
    differences: list[dict[str, Any]] = []
    compared: list[dict[str, Any]] = []
    for kind, document in (("definition", definition), ("rules", rules)):
        recorded = lineage.get(f"{kind}_sha256")
        if recorded:
            compared += _compare(kind, {kind: recorded}, {kind: canonical_sha256(document)})
    replay_inputs, problems = _check_inputs(lineage, store_root)
    if problems:
        return {"identical": False, "compared": compared, "differences": problems, "steps": []}

    sandbox = Path(sandbox_dir)
    # A run recorded before lineage named its scheme made CSV-text fingerprints.
    scheme = lineage.get("fingerprint_scheme") or LEGACY_FINGERPRINT_SCHEME
    with fingerprint_scheme(scheme):
        execution = execute_steps(
            definition,
            rules,
            run_uuid=str(uuid.uuid4()),
            programme_code=programme_code or lineage.get("programme_code") or "REPLAY",
            data_root=data_root,
            publish_root=sandbox / "publish",
            work_dir=sandbox / "work",
            store_root=sandbox / "store",
            now=now,
            replay_inputs=replay_inputs,
            shared_folders=shared_folders,
            zip_limits=zip_limits,
            licence=_recorded_licence(lineage),
        )
    steps = [
        {"key": step["key"], "status": result.status, "message": result.message}
        for step, result in execution.results
    ]
    replayed_steps = {step["key"]: result.output_fingerprint for step, result in execution.results}
    recorded_steps = {s["key"]: s.get("output_fingerprint") for s in lineage.get("steps", [])}
    compared += _compare("step", recorded_steps, replayed_steps) if recorded_steps else []

    def by(entries: Any, key: str) -> dict[str, Any]:
        return {entry[key]: entry.get("sha256") for entry in entries or []}

    done = execution.lineage
    compared += _compare("input", by(lineage.get("inputs"), "uri"), by(done["inputs"], "uri"))
    compared += _compare(
        "output", by(lineage.get("outputs"), "table"), by(done["outputs"], "table")
    )
    if lineage.get("release"):
        replayed_files = by((done.get("release") or {}).get("files"), "path")
        compared += _compare(
            "release_file", by(lineage["release"].get("files"), "path"), replayed_files
        )
    differences += [item for item in compared if not item["identical"]]
    recorded_status = {s["key"]: s.get("status") for s in lineage.get("steps", [])}
    differences += [
        {
            "kind": "step_status",
            "name": s["key"],
            "recorded": recorded_status.get(s["key"]),
            "replayed": s["status"],
            "problem": s["message"],
        }
        for s in steps
        if s["status"] != (recorded_status.get(s["key"]) or "succeeded")
    ]
    return {
        "identical": not differences and bool(compared),
        "compared": compared,
        "differences": differences,
        "steps": steps,
    }
