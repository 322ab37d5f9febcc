"""Rule preview: validate a draft rule set against the programme's latest input.

Runs in a worker (``portal.services.preview`` enqueues it by dotted path). It executes
the programme's ingest steps and then ``validate.rules`` with the *draft* rules, in
a throw-away sandbox, as a dry run: nothing is published, no alert is opened, nothing
is saved to the programme or the lineage store. The result lives in the RQ job.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

from flask import current_app

from jobs.replay import execute_steps
from jobs.tasks import get_app
from portal.services.safezip import ZipLimits


def preview_plan(definition: dict[str, Any]) -> dict[str, Any]:
    """The steps a preview executes: the pipeline's ingest steps, then the validation."""
    steps = [step for step in definition.get("steps", []) if step["type"].startswith("ingest.")]
    validate = next((step for step in definition.get("steps", [])
                     if step["type"] == "validate.rules"), None)
    steps.append(validate or {"key": "validate", "type": "validate.rules"})
    return {"steps": steps}


def run_preview(programme_code: str, definition: dict[str, Any], rules: dict[str, Any],
                programme_id: int | None = None) -> dict[str, Any]:
    """Validate ``rules`` on the data ``definition``'s ingest steps read; return per-rule results.

    The steps read the programme's namespace ``DATA_ROOT/<CODE>`` and the shared folders
    granted to programme ``programme_id``, checked first as a run's are.
    Must run inside an app context (for DATA_ROOT and the grants).
    """
    from portal.services.shared_folders import granted_folders, namespace, source_problems

    plan = preview_plan(definition)
    if len(plan["steps"]) == 1:
        return {"ok": False, "message": "The pipeline has no ingest step: nothing to preview."}
    if problems := source_problems(programme_id, plan, rules):
        return {"ok": False, "message": "; ".join(map(str, problems[:5]))}
    data_root = current_app.config["DATA_ROOT"]
    with tempfile.TemporaryDirectory(prefix="rule-preview-") as sandbox:
        root = Path(sandbox)
        execution = execute_steps(
            plan, rules, programme_code=programme_code, run_uuid=f"preview-{uuid.uuid4()}",
            data_root=namespace(data_root, programme_code), publish_root=root / "publish",
            work_dir=root / "work", store_root=root / "store", dry_run=True,
            shared_folders=granted_folders(programme_id, data_root),
            zip_limits=ZipLimits.from_config(current_app.config),
        )
    last_step, last = execution.results[-1]
    if last_step["type"] != "validate.rules" or last.status == "failed":
        return {"ok": False, "message": f"step {last_step['key']} failed: "
                                        f"{last.message or 'no reason given'}"}
    inputs = [{key: item.get(key) for key in ("uri", "sha256", "rows")}
              for item in execution.lineage.get("inputs", [])]
    return {"ok": True, "status": last.status, "rows": last.rows_in,
            "rows_rejected": last.rows_rejected, "rules": last.details.get("rules", []),
            "inputs": inputs, "message": last.message}


def preview_rules(programme_id: int, rules: dict[str, Any]) -> dict[str, Any]:
    """RQ task: preview ``rules`` for programme ``programme_id`` (ids and plain JSON only)."""
    from portal.extensions import db
    from portal.models import MonitoringProgramme

    with get_app().app_context():
        programme = db.session.get(MonitoringProgramme, programme_id)
        if programme is None:
            return {"ok": False, "message": "The programme no longer exists."}
        return run_preview(programme.code, programme.pipeline_definition_json or {}, rules,
                           programme_id=programme.id)
