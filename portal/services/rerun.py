"""Re-run a finished run, or resume it from one of its steps.

Both start a *new* run (its own row, audit trail and lineage) with the parent's
run type, dry-run flag, pipeline definition and rule set — the definition the parent
executed, even if the programme changed since. A resume from step K reuses the
recorded outputs of the steps before K (``jobs.step_outputs``, fingerprints checked)
and executes only K onwards. The parent's uuid is recorded in the new run's
``input_summary_json["requested"]`` and in its lineage (``parent_run``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import current_app

from portal.dbutil import begin_write
from portal.extensions import db
from portal.models import MonitoringProgrammeRun
from portal.services import Conflict, DomainError, audit
from portal.services.runs import (
    QueueResult,
    dispatch_queued,
    new_run,
    one_active_run,
    run_refusal,
)


def outputs_dir(work_root: str | Path, run_uuid: str) -> Path:
    """The folder of one run's recorded step outputs (written by ``jobs.step_outputs``)."""
    return Path(work_root) / run_uuid / "outputs"


def resumable_steps(run: MonitoringProgrammeRun) -> list[str]:
    """The step keys ``run`` can be resumed from: each one whose predecessors all
    succeeded and whose predecessor's outputs are still kept (first step excluded)."""
    if run.is_active or not (run.input_summary_json or {}).get("definition"):
        return []
    folder = outputs_dir(current_app.config["WORK_ROOT"], run.uuid)
    keys = []
    for index, step in enumerate(run.steps):
        if index == 0:
            continue
        before = run.steps[index - 1]
        if before.status != "succeeded" or not (folder / f"{before.ordering}.json").exists():
            break
        keys.append(step.step_key)
    return keys


def _requested(parent: MonitoringProgrammeRun, resume_from: str | None) -> dict[str, Any]:
    executed = parent.input_summary_json or {}
    definition = executed.get("definition") or parent.programme.pipeline_definition_json
    rules = executed.get("rules") or parent.programme.data_quality_rules_json
    if resume_from is not None:
        if not isinstance(resume_from, str) or not resume_from.strip():
            raise DomainError("Name the step to resume from.", field="step")
        keys = [step.step_key for step in parent.steps]
        if resume_from not in keys:
            raise DomainError(f"Run {parent.uuid} has no step {resume_from!r}; its steps are "
                              f"{', '.join(keys) or 'none'}.", field="step")
        if resume_from not in resumable_steps(parent) and keys.index(resume_from) > 0:
            raise Conflict(f"Cannot resume from {resume_from!r}: the steps before it did not "
                           "all succeed, or their recorded outputs are no longer kept "
                           "(STEP_OUTPUT_RETENTION_DAYS). Re-run instead.", field="step")
        if keys.index(resume_from) == 0:
            resume_from = None  # resuming from the first step is a plain re-run
    return {"parent_run": parent.uuid, "resume_from": resume_from,
            "definition": definition, "rules": rules}


def rerun(parent: MonitoringProgrammeRun, user: Any, *, resume_from: str | None = None,
          trigger: str = "manual", request_id: str | None = None) -> QueueResult:
    """Queue a new run repeating ``parent`` (from step ``resume_from`` when given).

    The caller has authorised ``access.RUN`` on the parent's programme.

    Raises:
        Conflict: the parent is still active, or its outputs before the step are gone.
        DomainError: an unknown step; the programme is archived.
        ActiveRunExists: the programme already has a queued or running run.
    """
    if parent.is_active:
        raise Conflict(f"Run {parent.uuid} is still {parent.status}; wait for it to end.",
                       field="run")
    programme = parent.programme
    if reason := run_refusal(programme):
        raise DomainError(reason, field="programme")
    requested = _requested(parent, resume_from)
    programme_id = programme.id
    begin_write()
    with one_active_run(programme_id):
        run = new_run(programme, run_type=parent.run_type, trigger=trigger,
                      dry_run=parent.dry_run, user=user, request_id=request_id)
        run.input_summary_json = {"requested": requested}
        audit.record("programme_run_resumed" if requested["resume_from"]
                     else "programme_run_rerun", actor=user, object_type="run",
                     object_id=run.uuid, programme_id=programme_id, request_id=request_id,
                     metadata={"parent_run": parent.uuid,
                               "resume_from": requested["resume_from"]})
        db.session.commit()
    return dispatch_queued(run)
