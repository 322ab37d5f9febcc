"""Enqueue a rule preview in a worker and read its result (nothing saved to the programme)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rq.exceptions import NoSuchJobError
from rq.job import Job

from portal.models import MonitoringProgramme
from portal.services import DomainError
from portal.services.dispatch import get_queue, redis_connection
from portal.services.pipeline_spec import validate_rules
from portal.services.shared_folders import source_problems

PREVIEW_TASK = "jobs.preview.preview_rules"
RESULT_TTL_SECONDS = 3600


@dataclass(frozen=True)
class PreviewState:
    """Where a preview is: queued, started, finished (with its result) or failed."""

    status: str
    result: dict[str, Any] | None = None
    message: str | None = None

    @property
    def done(self) -> bool:
        """Whether polling can stop."""
        return self.status in ("finished", "failed", "missing")


def start_preview(programme: MonitoringProgramme, rules: dict[str, Any]) -> str:
    """Validate the draft ``rules`` and enqueue a preview; return the job id.

    Raises:
        DomainError: the draft is invalid (field ``draft``, with the JSON path), or Redis
            is unreachable.
    """
    if errors := validate_rules(rules) or source_problems(programme.id, {}, rules):
        raise DomainError("; ".join(map(str, errors[:5])), field="draft")
    try:
        job = get_queue("high").enqueue(PREVIEW_TASK, programme.id, rules,
                                        result_ttl=RESULT_TTL_SECONDS, job_timeout=600,
                                        description=f"rule preview for {programme.code}")
    except Exception as exc:  # redis.ConnectionError and friends
        raise DomainError(f"The preview could not be queued: {exc}. Try again shortly.") from exc
    return job.id


def preview_state(job_id: str, programme_id: int) -> PreviewState:
    """Read a preview job's state and, once finished, its result.

    A job of another programme (or not a preview at all) reads as missing.
    """
    try:
        job = Job.fetch(job_id, connection=redis_connection())
    except NoSuchJobError:
        return PreviewState("missing", message="This preview has expired; run it again.")
    except Exception as exc:
        return PreviewState("failed", message=f"Redis is unreachable: {exc}")
    if job.func_name != PREVIEW_TASK or not job.args or job.args[0] != programme_id:
        return PreviewState("missing", message="No such preview.")
    status = job.get_status(refresh=True)
    status_name = getattr(status, "value", str(status))
    if status_name == "finished":
        return PreviewState("finished", result=job.return_value())
    if status_name in ("failed", "stopped", "canceled"):
        return PreviewState("failed", message="The preview failed in the worker; "
                                              "see the worker log.")
    return PreviewState(status_name)
