"""The pipeline runner: what ``jobs.tasks.execute_run`` does inside the work horse.

validate the definitions again → claim (queued → running, atomically) with the planned
steps recorded and the first one running, in one transaction → execute the steps in
order (timeout, retries, heartbeat, cancel at step boundaries) → finalise (succeeded |
blocked | failed | cancelled) with the last step's row, the output summary and the
lineage record, in one transaction. A run whose definitions are invalid is claimed
and failed with the reason.

At every step boundary the runner also notices a graceful stop (SIGTERM: the run is
handed back to the queue as a new attempt, ``jobs.graceful``) and a run that is no
longer its own (the reconciler ended it, e.g. after a database outage made the
heartbeat stale): it then stops without touching the run. Boundary writes wait out a
short database outage (``jobs.dbretry``).

Each boundary is one short write transaction (``jobs.run_ledger``): store the step
that ended, check the run, mark the next step running. Executing one step (attempts,
retries, timeout, its row values and full log) is ``jobs.step_execution``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, inspect, select
from sqlalchemy.orm import joinedload

from jobs import graceful, step_outputs
from jobs.dbretry import with_db_retry
from jobs.heartbeat import Heartbeat
from jobs.lineage import build_lineage, canonical_sha256
from jobs.registry import load_builtin_steps
from jobs.run_ledger import RunLedger, StoredStep, json_safe
from jobs.step_execution import attempt_step, step_record, stored_outcome
from jobs.steps.base import StepContext, StepFunc, StepResult
from portal.credentials import declared_credentials
from portal.dbutil import begin_write
from portal.extensions import db
from portal.models import MonitoringProgrammeRun, utcnow
from portal.services import dispatch
from portal.services.credential_checks import credential_errors
from portal.services.pipeline_spec import validate_pipeline, validate_rules
from portal.services.runs import IllegalTransition, get_run, transition
from portal.services.safezip import ZipLimits
from portal.services.shared_folders import (
    granted_folders,
    granted_paths,
    namespace,
    source_problems,
)
from portal.services.source_paths import SHARED_PREFIX, iter_sources

log = logging.getLogger(__name__)

FAMILY_RANK = {"ingest": 0, "validate": 1, "compute": 2, "publish": 3}
RUN_TYPE_LIMIT = {"ingest": 0, "validate": 1, "compute": 2, "publish": 3, "full": 3}


def select_steps(definition: dict[str, Any], run_type: str) -> list[dict[str, Any]]:
    """Return the steps a run of ``run_type`` executes, in order.

    ``ingest`` runs only the ``ingest.*`` steps; ``validate`` and ``compute`` run the
    pipeline up to and including their last step of that stage; ``full`` and
    ``publish`` run every step.
    """
    steps = list(definition.get("steps", []))
    limit = RUN_TYPE_LIMIT.get(run_type, 3)
    if run_type in ("full", "publish"):
        return steps
    if run_type == "ingest":
        return [step for step in steps if step["type"].startswith("ingest.")]
    last = -1
    for index, step in enumerate(steps):
        rank = FAMILY_RANK.get(step["type"].split(".", 1)[0])
        if rank is not None and rank <= limit:
            last = index
    return steps[: last + 1]


#: Built once (its options are not re-made and re-keyed for every run).
_LOAD_RUN = (select(MonitoringProgrammeRun)
             .options(joinedload(MonitoringProgrammeRun.programme))
             .where(MonitoringProgrammeRun.id == bindparam("run_id"))
             .execution_options(populate_existing=True))


def load_run(run_id: int) -> MonitoringProgrammeRun | None:
    """The run to execute and its programme, in one read.

    Kept loaded from the claim to the end (``transition(keep_loaded=True)``): the
    ledger's commits write Core statements only, and the final transition's
    compare-and-set still finds a run that someone else ended meanwhile.
    """
    return db.session.scalars(_LOAD_RUN, {"run_id": run_id}).one_or_none()


def execute(run_id: int, *, worker_name: str | None = None,
            rehearsal: dict[str, StepFunc] | None = None) -> str:
    """Claim and execute run ``run_id``; return its final status or why nothing ran.

    A run that is no longer queued (a second delivery, a stale copy, a cancelled run)
    is left alone. ``rehearsal`` is for the worker's warm-up only (``jobs.warmup``): the
    functions (by step type) that stand in for the steps'; no heartbeat thread then, and
    no OpenLineage events.
    """
    run = load_run(run_id)
    if run is None:
        return "missing"
    if run.status != "queued":
        return f"skipped: run is {run.status}"
    execution = PipelineExecution(run, rehearsal)  # grants: the same read transaction
    problem = execution.problem()
    try:
        execution.claim(worker_name, plan=problem is None)
    except IllegalTransition:
        return "skipped: claimed elsewhere"
    if problem is not None:
        return _finish(run, "failed", problem)
    config = current_app.config
    job_id = run.queue_job_id
    connection = dispatch.redis_connection()  # the heartbeat thread has no app context
    heartbeat = Heartbeat(
        db.engine, run.id, config["RUN_HEARTBEAT_SECONDS"],
        cancel_grace=float(config["RUN_CANCEL_GRACE_SECONDS"]),
        stop_job=(lambda: dispatch.stop_job(job_id, connection)) if job_id else None,
    )
    if rehearsal is None:
        heartbeat.start()
    try:
        status = execution.run(heartbeat)
    except BaseException as error:  # RQ's job timeout, a crash: never leave it running
        db.session.rollback()
        if rehearsal is None:  # a rehearsal is rolled back whole (jobs.warmup)
            _finish(run, "failed", f"run aborted: {type(error).__name__}: {error}")
        raise
    finally:
        heartbeat.stop()
    if rehearsal is None:
        emit_openlineage(run_id)
    return status


def emit_openlineage(run_id: int) -> None:
    """POST the run's OpenLineage events to OPENLINEAGE_URL, when set (not for dry runs).

    A collector that is down or refuses the events is logged; it never changes the run.
    """
    url = current_app.config.get("OPENLINEAGE_URL")
    if not url:
        return
    run = get_run(run_id)
    if run is None or run.dry_run:
        return
    from portal.services.openlineage import OpenLineageError, post_openlineage, run_events

    try:
        post_openlineage(run_events(run), url, timeout=10)
    except OpenLineageError as error:
        log.warning("run %s: OpenLineage events not delivered to %s: %s", run.uuid, url, error)


def _finish(run: MonitoringProgrammeRun, status: str, message: str | None,
            stored: StoredStep | None = None, **extra: Any) -> str:
    """End the run as ``status``; ``stored``, the last step's row, in the same transaction.

    Returns the run's final status (another one when the reconciler or a cancel ended
    it first: the step is then stored on its own).
    """
    run_id = inspect(run).identity[0]  # no attribute load: the session may be expired

    def write() -> None:
        # ``run`` as loaded (a failed attempt's rollback expires it: then read again).
        transition(run, status, message=message,
                   writes=[] if stored is None else [RunLedger.store_write(stored)], **extra)

    try:
        with_db_retry(write, f"run {run_id}: finalise")
    except IllegalTransition as error:  # the reconciler or a cancel got there first
        log.warning("run %s not finalised as %s: %s", run_id, status, error)
        if stored is not None:
            RunLedger(run_id, str(run_id)).store(stored)
        current = get_run(run_id)
        return current.status if current else status
    return status


class PipelineExecution:
    """One run's execution inside the work horse."""

    heartbeat: Heartbeat

    def __init__(self, run: MonitoringProgrammeRun,
                 step_functions: dict[str, StepFunc] | None = None):
        self.run_row = run
        self.step_functions = step_functions or {}
        # Plain copies: reading an expired ORM attribute would open a read transaction
        # that SQLite cannot upgrade to a write while the heartbeat thread writes.
        self.run_id, self.run_uuid = run.id, run.uuid
        self.dry_run, self.run_type = run.dry_run, run.run_type
        self.ledger = RunLedger(self.run_id, self.run_uuid)
        self.config = current_app.config
        programme = run.programme
        self.programme = programme
        self.programme_code = programme.code
        self.review_required = bool(programme.publish_requires_review)  # the sign-off gate
        self.definition = programme.pipeline_definition_json or {"steps": []}
        self.rules_doc = programme.data_quality_rules_json or {"rules": []}
        # A re-run or resume (services.rerun) executes its parent's definition and rules.
        self.requested = step_outputs.requested(run.input_summary_json)
        if self.requested:
            self.definition = self.requested["definition"]
            self.rules_doc = self.requested["rules"]
        self.resuming = bool(self.requested and self.requested.get("resume_from"))
        # Read once at run start: a grant revoked mid-run takes effect at the next run.
        self.namespace = namespace(self.config["DATA_ROOT"], programme.code)
        self.licence = (programme.licence or "").strip() or None
        # Only a definition that names a shared folder reads the grants (one query less);
        # without them no step can reach any shared folder.
        grants = (granted_paths(programme.id)
                  if any(source.startswith(SHARED_PREFIX)
                         for _, source in iter_sources(self.definition, self.rules_doc))
                  else {})
        self.shared_folders = granted_folders(programme.id, self.config["DATA_ROOT"], grants)
        self.source_problems = source_problems(programme.id, self.definition, self.rules_doc,
                                               grants)
        self.work_root = self.config["WORK_ROOT"]
        self.work_dir = Path(self.work_root) / self.run_uuid
        # The same for every step: built once.
        self.credentials = declared_credentials(current_app)
        self.zip_limits = ZipLimits.from_config(self.config)
        self.tables: dict[str, Any] = {}
        self.lineage: dict[str, Any] = {"inputs": [], "outputs": [], "release": None}
        self.primary: str | None = None
        self.records: list[dict[str, Any]] = []
        self.planned: list[dict[str, Any]] = []  # chosen at the claim, once found valid
        self.step_ids: list[int] = []
        self.first_started: datetime | None = None  # the first step, running from the claim

    def problem(self) -> str | None:
        """Why the run cannot execute (its definitions are invalid), or None."""
        load_builtin_steps()
        problems = [("pipeline definition", e) for e in validate_pipeline(self.definition)
                    or credential_errors(self.definition)]
        problems += [("rule set", e) for e in validate_rules(self.rules_doc)]
        problems += [("pipeline definition" if e.path.startswith("$.steps") else "rule set", e)
                     for e in self.source_problems]
        if not problems:
            return None
        what, error = problems[0]
        return f"the {what} is invalid at {error}"

    def claim(self, worker_name: str | None, *, plan: bool) -> None:
        """queued → running in one write transaction: with ``plan``, the planned steps are
        recorded too and the first one is running (not for a resume, whose first step
        comes after the reused ones, nor when the worker is already stopping).

        Raises:
            IllegalTransition: the run is no longer queued (claimed elsewhere, cancelled).
        """
        now = utcnow()
        begin_write(keep_loaded=True)  # (goes on with the read of the run, on PostgreSQL)
        if plan:
            # The plan first, whose ids are read back; the claim's compare-and-set then
            # decides (a refused claim rolls the plan back), and its last writes go with
            # the commit.
            self.planned = select_steps(self.definition, self.run_type)
            if self.planned and not self.resuming and not graceful.stop_requested():
                self.first_started = now
            self.step_ids = self.ledger.insert_plan(self.planned, self.first_started)
        # ``run`` carries the claim's values: nothing is re-read
        transition(self.run_row, "running", worker_name=worker_name, keep_loaded=True,
                   input_summary=self._input_summary(self.planned if plan else []),
                   began=True, at=now)
        self.now = now

    def run(self, heartbeat: Heartbeat) -> str:
        """Execute the planned steps (the run is claimed) and finalise the run; return its
        final status."""
        self.heartbeat = heartbeat
        planned, step_ids = self.planned, self.step_ids
        try:
            start = step_outputs.resume_into(
                self, planned, self.ledger.step_rows() if self.resuming else [])
        except step_outputs.OutputsUnavailable as error:
            return _finish(self.run_row, "failed", f"cannot resume: {error}")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        stored: StoredStep | None = None  # the last step's row values, stored at the boundary
        for index in range(start, len(planned)):
            step = planned[index]
            if index == 0 and self.first_started is not None:
                started = self.first_started  # marked running by the claim
            else:
                stopping = graceful.stop_requested()
                started = utcnow()
                boundary = self.ledger.boundary(
                    stored, None if stopping else step_ids[index], started,
                    cancel_seen=self.heartbeat.cancel_requested.is_set())
                stored = None
                if boundary == "gone":
                    return "abandoned: the run was ended elsewhere"
                if boundary == "cancel":
                    return _finish(self.run_row, "cancelled", "cancelled at a step boundary",
                                   **self._final_records())
                if stopping:
                    return graceful.hand_back(self.run_id, f"before step {step['key']}")
            try:
                result, stored = self._execute_step(step, index, step_ids[index], started,
                                                    last=index == len(planned) - 1)
            except graceful.WorkerStopping as error:
                return graceful.hand_back(self.run_id, f"({error})")
            if result.status != "succeeded":
                # (a validate step's row is stored already: ``stored`` is then None)
                reason = f"step {step['key']} {result.status}: {result.message or 'no reason'}"
                return _finish(self.run_row, result.status, reason, stored,
                               **self._final_records())
        release = self.lineage.get("release") or {}
        # A staged candidate waits for a reviewer (portal.services.review).
        final = "awaiting_review" if release.get("staged") else "succeeded"
        return _finish(self.run_row, final, None, stored, steps_closed=True,
                       **self._final_records())

    def _input_summary(self, planned: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "run_type": self.run_type, "dry_run": self.dry_run,
            "steps": [step["key"] for step in planned],
            "sources": [step.get("params", {}).get("source") for step in planned
                        if step["type"].startswith("ingest.")],
            # What this run executed, so a replay uses it even after the programme changes.
            "definition": self.definition, "rules": self.rules_doc,
            **({"requested": self.requested} if self.requested else {}),
        }

    def _context(self, step: dict[str, Any]) -> StepContext:
        return StepContext(
            run_uuid=self.run_uuid, programme_code=self.programme_code,
            step_key=step["key"], params=dict(step.get("params") or {}),
            rules=list(self.rules_doc.get("rules", [])),
            data_root=self.namespace, shared_folders=dict(self.shared_folders),
            publish_root=Path(self.config["PUBLISH_ROOT"]), work_dir=self.work_dir,
            store_root=Path(self.config["LINEAGE_STORE"]), dry_run=self.dry_run,
            now=self.now, tables=self.tables, primary_table=self.primary, lineage=self.lineage,
            http_allowlist=list(self.config.get("HTTP_ALLOWLIST") or []),
            credentials=self.credentials, zip_limits=self.zip_limits,
            programme_licence=self.licence, review_required=self.review_required,
        )

    def _execute_step(self, step: dict[str, Any], ordering: int, step_id: int,
                      started: datetime, *, last: bool) -> tuple[StepResult, StoredStep]:
        """Run one step (already marked running); return its result and row values.

        A step that succeeds is checkpointed for a later resume, except the ``last`` one:
        a run resumes from one of its steps, with the outputs of the one before.
        """
        ctx = self._context(step)
        result, attempts, extra_log = attempt_step(
            step, ctx, function=self.step_functions.get(step["type"]),
            timeout=float(step.get("timeout_seconds") or self.config["STEP_TIMEOUT_SECONDS"]),
            retries=int(step.get("retries", 2)),
            retry_base_seconds=float(self.config["STEP_RETRY_BASE_SECONDS"]),
            cancel_requested=lambda: (self.heartbeat.cancel_requested.is_set()
                                      or self.ledger.cancel_requested()))
        self.tables.update(result.tables)
        if self.primary is None and result.tables and step["type"].startswith("ingest."):
            self.primary = next(iter(result.tables))
        stored = stored_outcome(step_id, ordering, result, started=started, attempts=attempts,
                                lines=ctx.log_lines + extra_log, work_root=self.work_root,
                                run_uuid=self.run_uuid)
        self.records.append(step_record(step, result, stored))
        if step["type"].startswith("validate.") and not self.dry_run:
            self.ledger.store(stored)  # the step row first, then its alerts
            stored = None
            self._sync_alerts(result)
        if result.status == "succeeded" and not last:
            step_outputs.save(self.work_root, self.run_uuid, ordering, self.tables,
                              self.primary, self.lineage, self.records)
        return result, stored

    def _sync_alerts(self, result: StepResult) -> None:
        rule_results = result.details.get("rules")
        if not isinstance(rule_results, list):
            return
        from portal.services.alerts import sync_rule_alerts

        try:
            begin_write()
            sync_rule_alerts(self.programme, self.run_row, rule_results)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("run %s: could not sync rule alerts", self.run_uuid)

    def _final_records(self) -> dict[str, Any]:
        release = self.lineage.get("release") or {}
        summary = {
            "steps": {record["key"]: record["status"] for record in self.records},
            "tables": {name: getattr(frame, "height", None) for name, frame in self.tables.items()},
            "primary_table": self.primary,
            "rows_rejected": sum(record["rows_rejected"] or 0 for record in self.records),
            "release_version": release.get("version") if isinstance(release, dict) else None,
            "duration_seconds": round(sum(r["duration_seconds"] for r in self.records), 6),
        }
        return {"output_summary": summary, "lineage": self._lineage()}

    def _lineage(self) -> dict[str, Any]:
        code_version = str(self.config.get("CODE_VERSION") or "dev")
        try:
            record = build_lineage(self.definition, self.rules_doc, code_version,
                                   self.records, self.lineage)
            record.update(programme_code=self.programme_code, run_uuid=self.run_uuid)
            if self.requested:  # a re-run or resume names its parent run
                record.update(parent_run=self.requested["parent_run"],
                              resumed_from_step=self.requested.get("resume_from"))
            return json_safe(record)
        except Exception:  # a lineage bug must not lose the run's outcome
            log.exception("run %s: build_lineage failed; storing a minimal record",
                          self.run_uuid)
        return json_safe(minimal_lineage(self.definition, self.rules_doc, code_version,
                                         self.records, self.lineage))


def minimal_lineage(definition: Any, rules: Any, code_version: str,
                    records: list[dict[str, Any]], lineage: dict[str, Any]) -> dict[str, Any]:
    """The lineage record kept when ``jobs.lineage.build_lineage`` fails on a run."""
    return {
        "code_version": code_version, "definition_sha256": canonical_sha256(definition),
        "rules_sha256": canonical_sha256(rules), "inputs": lineage.get("inputs", []),
        "steps": [{key: r[key] for key in ("key", "type", "status", "input_fingerprint",
                                           "output_fingerprint")} for r in records],
        "outputs": lineage.get("outputs", []), "release": lineage.get("release"),
    }
