"""Executing one step inside the work horse: attempts, retries, timeout, the outcome.

:func:`attempt_step` calls the step's function with its timeout and retries a
``TransientStepError`` with exponential back-off (not once a cancel is requested); any
other error fails the step, never the worker. :func:`stored_outcome` turns the result
into the step row's values (masked log excerpt, paths relative to WORK_ROOT) and keeps
the step's full log beside the run's work files.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from jobs import graceful
from jobs.heartbeat import StepTimeout, call_with_timeout
from jobs.registry import get_step
from jobs.run_ledger import StoredStep, json_safe
from jobs.steps.base import StepContext, StepError, StepFunc, StepResult, TransientStepError
from portal.models import utcnow
from portal.redact import mask_secrets
from portal.services import step_logs

LOG_EXCERPT_CHARS = 4000


def attempt_step(step: dict[str, Any], ctx: StepContext, *, timeout: float, retries: int,
                 retry_base_seconds: float, cancel_requested: Callable[[], bool],
                 function: StepFunc | None = None) -> tuple[StepResult, int, list[str]]:
    """Run ``step`` until it succeeds, fails for good or runs out of retries.

    ``function`` stands in for the registry's function of the step's type (the worker's
    rehearsal, ``jobs.warmup``).

    Returns:
        The result, the number of attempts and extra log lines (retries, a traceback).

    Raises:
        WorkerStopping: the worker is stopping (the run is handed back, not failed).
    """
    extra_log: list[str] = []
    attempts = 0
    function = function or get_step(step["type"])
    while True:
        attempts += 1
        try:
            return call_with_timeout(function, ctx, timeout, step["key"]), attempts, extra_log
        except TransientStepError as error:
            if attempts > retries or cancel_requested():
                plural = "s" if attempts > 1 else ""
                return (StepResult(status="failed",
                                   message=f"{error} (after {attempts} attempt{plural})"),
                        attempts, extra_log)
            delay = retry_base_seconds * 2 ** (attempts - 1)
            extra_log.append(f"attempt {attempts} failed ({error}); retrying in {delay:g} s")
            time.sleep(delay)
        except graceful.WorkerStopping:
            raise  # not the step's fault: the run is handed back
        except (StepTimeout, StepError) as error:
            return StepResult(status="failed", message=str(error)), attempts, extra_log
        except Exception as error:  # noqa: BLE001 — a step bug fails the step, not the worker
            extra_log.append(traceback.format_exc())
            return (StepResult(status="failed", message=f"{type(error).__name__}: {error}"),
                    attempts, extra_log)


def stored_outcome(step_id: int, ordering: int, result: StepResult, *, started: datetime,
                   attempts: int, lines: list[str], work_root: str | Path,
                   run_uuid: str) -> StoredStep:
    """The step row's final values; the full (masked) log is written to WORK_ROOT."""
    finished = utcnow()
    details = json_safe({**result.details, "message": result.message,
                         "input_fingerprint": result.input_fingerprint,
                         "output_fingerprint": result.output_fingerprint,
                         "files": work_relative(work_root, result.files)})
    excerpt = "\n".join([*lines, *([result.message] if result.message else [])])
    masked = mask_secrets(excerpt)
    step_logs.write(work_root, run_uuid, ordering, masked)
    return StoredStep(
        step_id=step_id, status=result.status, finished_at=finished, attempts=attempts,
        duration_seconds=(finished - started).total_seconds(), rows_in=result.rows_in,
        rows_out=result.rows_out, rows_rejected=result.rows_rejected, details_json=details,
        log_excerpt=masked[-LOG_EXCERPT_CHARS:] or None,
    )


def work_relative(work_root: str | Path, files: dict[str, str]) -> dict[str, str]:
    """Files kept by a step, relative to WORK_ROOT: no server path reaches pages or API."""
    root = Path(work_root).resolve()
    kept = {}
    for name, value in files.items():
        path = Path(value).resolve()
        kept[name] = str(path.relative_to(root)) if path.is_relative_to(root) else path.name
    return kept


def step_record(step: dict[str, Any], result: StepResult, stored: StoredStep) -> dict[str, Any]:
    """The run's in-memory record of a finished step (summary, lineage, checkpoints)."""
    return {
        "key": step["key"], "type": step["type"], "status": result.status,
        "rows_in": result.rows_in, "rows_out": result.rows_out,
        "rows_rejected": result.rows_rejected,
        "input_fingerprint": result.input_fingerprint,
        "output_fingerprint": result.output_fingerprint, "details": stored.details_json,
        "duration_seconds": stored.duration_seconds,
    }
