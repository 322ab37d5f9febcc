"""Each step's recorded outputs, so a later run can resume after it.

After every step that succeeds, the runner checkpoints what the next step would
see: every table (Parquet, content-addressed by ``frame_fingerprint``), the primary
table's name, the lineage gathered so far and the step records. A run that resumes
from step K of a parent run loads the parent's checkpoint after step K-1, checks each
table's fingerprint against the one recorded, and executes only steps K onwards.

Layout: ``WORK_ROOT/<run uuid>/outputs/tables/<sha256>.parquet`` and
``WORK_ROOT/<run uuid>/outputs/<ordering>.json``. ``STEP_OUTPUT_RETENTION_DAYS``
bounds how long they are kept (``flask ops cleanup-work``).
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import polars as pl

from jobs.steps.base import frame_fingerprint
from portal.services.rerun import outputs_dir

log = logging.getLogger(__name__)


#: The current run's table fingerprints by object id (the frame is held, so the id stays
#: its own): a table that a step passed through unchanged is not serialised again.
_known: dict[str, dict[int, tuple[pl.DataFrame, str]]] = {}


def _fingerprint(run_uuid: str, frame: pl.DataFrame) -> str:
    if run_uuid not in _known:
        _known.clear()  # one run per work horse at a time: forget the previous one
        _known[run_uuid] = {}
    cached = _known[run_uuid].get(id(frame))
    if cached is not None and cached[0] is frame:
        return cached[1]
    fingerprint = frame_fingerprint(frame)
    _known[run_uuid][id(frame)] = (frame, fingerprint)
    return fingerprint


class OutputsUnavailable(Exception):
    """The parent run's outputs cannot be reused (deleted, never kept, or altered)."""


def requested(input_summary: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a re-run or resume asked for at queue time (``services.rerun``), or None."""
    wanted = (input_summary or {}).get("requested")
    return wanted if isinstance(wanted, dict) and wanted.get("parent_run") else None


def save(work_root: str | Path, run_uuid: str, ordering: int, tables: dict[str, Any],
         primary: str | None, lineage: dict[str, Any], records: list[dict[str, Any]]) -> bool:
    """Checkpoint the state after step ``ordering``; False (logged) when it cannot be kept."""
    folder = outputs_dir(work_root, run_uuid)
    try:
        (folder / "tables").mkdir(parents=True, exist_ok=True)
        fingerprints = {}
        for name, frame in tables.items():
            if not isinstance(frame, pl.DataFrame):
                log.info("run %s: table %s is not a DataFrame; not resumable after step %d",
                         run_uuid, name, ordering)
                return False
            fingerprint = _fingerprint(run_uuid, frame)
            target = folder / "tables" / f"{fingerprint}.parquet"
            if not target.exists():
                partial = target.with_suffix(".partial")
                frame.write_parquet(partial)
                partial.replace(target)
            fingerprints[name] = fingerprint
        state = {"ordering": ordering, "tables": fingerprints, "primary": primary,
                 "lineage": _json_safe(lineage), "records": _json_safe(records)}
        partial = folder / f"{ordering}.json.partial"
        partial.write_text(json.dumps(state))
        partial.replace(folder / f"{ordering}.json")
        return True
    except OSError as error:
        log.warning("run %s: outputs of step %d not kept: %s", run_uuid, ordering, error)
        return False


def checkpoint(work_root: str | Path, run_uuid: str, ordering: int) -> dict[str, Any]:
    """The recorded state after step ``ordering`` of run ``run_uuid`` (tables not loaded).

    Raises:
        OutputsUnavailable: no checkpoint was kept (or it was cleaned up).
    """
    path = outputs_dir(work_root, run_uuid) / f"{ordering}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        raise OutputsUnavailable(f"the outputs of step {ordering + 1} of run {run_uuid} are "
                                 "not kept (cleaned up after the retention period, or the "
                                 "step did not succeed); re-run instead") from None


def restore(work_root: str | Path, run_uuid: str, ordering: int) -> dict[str, Any]:
    """Load the state after step ``ordering``: tables as DataFrames, fingerprints checked.

    Raises:
        OutputsUnavailable: a checkpoint or table is missing or its fingerprint differs.
    """
    state = checkpoint(work_root, run_uuid, ordering)
    folder = outputs_dir(work_root, run_uuid) / "tables"
    tables = {}
    for name, fingerprint in state["tables"].items():
        try:
            frame = pl.read_parquet(folder / f"{fingerprint}.parquet")
        except (OSError, pl.exceptions.PolarsError) as error:
            raise OutputsUnavailable(f"table {name} of run {run_uuid} cannot be read: "
                                     f"{error}") from None
        if frame_fingerprint(frame) != fingerprint:
            raise OutputsUnavailable(f"table {name} of run {run_uuid} does not match its "
                                     f"recorded fingerprint {fingerprint[:12]}…; re-run "
                                     "instead") from None
        tables[name] = frame
    state["tables"] = tables
    state["lineage"] = copy.deepcopy(state["lineage"])
    return state


def _json_safe(document: Any) -> Any:
    return json.loads(json.dumps(document, default=str))


def resume_into(execution: Any, planned: list[dict[str, Any]], rows: list[Any]) -> int:
    """Load the parent's outputs into ``execution`` and record the reused steps.

    ``execution`` is the runner's ``PipelineExecution`` of a run queued by
    ``services.rerun`` with ``resume_from``. Returns the index of the first step to
    execute (0 for a plain re-run).

    Raises:
        OutputsUnavailable: the step is not in the plan or its predecessors' outputs
            are gone or altered (the run then fails with that reason).
    """
    from portal.dbutil import begin_write
    from portal.extensions import db

    wanted = execution.requested or {}
    key = wanted.get("resume_from")
    if not key:
        return 0
    keys = [step["key"] for step in planned]
    if key not in keys:
        raise OutputsUnavailable(f"step {key!r} is not in this run's plan")
    start = keys.index(key)
    if start == 0:
        return 0
    parent = wanted["parent_run"]
    state = restore(execution.config["WORK_ROOT"], parent, start - 1)
    reused = {record["key"]: record for record in state["records"]}
    if [r["key"] for r in state["records"]] != keys[:start]:
        raise OutputsUnavailable(f"run {parent} did not execute the steps before {key!r} "
                                 "in this order; re-run instead")
    execution.tables.update(state["tables"])
    execution.primary = state["primary"]
    execution.lineage = state["lineage"]
    execution.records = [{**record, "duration_seconds": 0.0,
                          "details": {**(record.get("details") or {}), "reused_from": parent}}
                         for record in state["records"]]
    begin_write()
    for row in rows[:start]:
        record = reused[row.step_key]
        row.status, row.attempts, row.duration_seconds = "succeeded", 0, 0.0
        row.rows_in, row.rows_out = record.get("rows_in"), record.get("rows_out")
        row.rows_rejected = record.get("rows_rejected")
        row.details_json = {**(record.get("details") or {}), "reused_from": parent}
        row.log_excerpt = (f"not executed: reused the recorded outputs of run {parent} "
                           f"(output fingerprint {record.get('output_fingerprint')})")
    db.session.commit()
    return start
