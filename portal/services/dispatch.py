"""Redis and RQ, seen from the portal: enqueue runs by dotted path, inspect the queues.

Redis is only a transport (invariant 1): every function here either succeeds or
raises ``DispatchError`` (or, for read-only helpers, reports the problem), and the
run row in the database stays the source of truth. ``portal`` never imports ``jobs``:
jobs are named by their dotted path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.callbacks import Callback
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from portal.redact import mask_secrets, mask_url

log = logging.getLogger(__name__)

EXECUTE_RUN = "jobs.tasks.execute_run"
ON_RUN_STOPPED = "jobs.tasks.on_run_stopped"
QUEUES = ("high", "default")
SCHEDULER_TICK_KEY = "programme-ops:scheduler:last-tick"
HELD_STATUSES = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}

_connections: dict[tuple[int, str], Redis] = {}


class DispatchError(RuntimeError):
    """Redis could not be reached or refused the job; the run stays queued."""


def redis_connection(url: str | None = None) -> Redis:
    """Return a Redis client for ``url`` (default REDIS_URL), cached per process.

    Short socket timeouts keep a request answering promptly when Redis is down.
    """
    url = url or current_app.config["REDIS_URL"]
    key = (os.getpid(), url)
    if key not in _connections:
        _connections[key] = Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=10, health_check_interval=30
        )
    return _connections[key]


def get_queue(name: str, connection: Redis | None = None) -> Queue:
    """Return the RQ queue ``name`` on the configured Redis."""
    return Queue(name, connection=connection or redis_connection())


def job_id_for(run_uuid: str) -> str:
    """The deterministic RQ job id of a run: a re-dispatch reuses it."""
    return f"run-{run_uuid}"


def queue_for_trigger(trigger: str) -> str:
    """People and integrations wait on ``high``; the scheduler's runs go to ``default``."""
    return "default" if trigger == "scheduled" else "high"


def enqueue_run(run_id: int, job_id: str, queue_name: str) -> None:
    """Enqueue ``jobs.tasks.execute_run(run_id)`` under ``job_id``.

    Raises:
        DispatchError: Redis is unreachable or refused the job.
    """
    enqueue_runs([(run_id, job_id, queue_name)])


def enqueue_runs(runs: Iterable[tuple[int, str, str]]) -> int:
    """Enqueue many ``jobs.tasks.execute_run(run_id)`` jobs in one Redis round trip.

    The jobs are the ones :func:`enqueue_run` makes, written through one transactional
    pipeline (``MULTI``/``EXEC``): either every job of the call is enqueued or none is.

    Args:
        runs: ``(run_id, job_id, queue_name)`` of committed queued runs.

    Returns:
        How many jobs were enqueued.

    Raises:
        DispatchError: Redis is unreachable or refused the pipeline.
    """
    timeout = int(current_app.config["RUN_JOB_TIMEOUT_SECONDS"])
    by_queue: dict[str, list] = {}
    for run_id, job_id, queue_name in runs:
        by_queue.setdefault(queue_name, []).append(Queue.prepare_data(
            EXECUTE_RUN, args=(run_id,), job_id=job_id, timeout=timeout, result_ttl=3600,
            failure_ttl=7 * 86400, description=f"execute run {run_id}",
            on_stopped=Callback(ON_RUN_STOPPED)))
    if not by_queue:
        return 0
    try:
        connection = redis_connection()
        with connection.pipeline() as pipe:
            for queue_name, job_datas in by_queue.items():
                get_queue(queue_name, connection).enqueue_many(job_datas, pipeline=pipe)
            pipe.execute()
    except RedisError as error:
        raise DispatchError(f"Redis unavailable: {error}") from error
    return sum(len(job_datas) for job_datas in by_queue.values())


def held_jobs(job_ids: Sequence[str]) -> set[str]:
    """The ids among ``job_ids`` Redis holds as waiting or executing (one round trip).

    Raises:
        DispatchError: Redis is unreachable.
    """
    if not job_ids:
        return set()
    held = {status.value for status in HELD_STATUSES}
    try:
        with redis_connection().pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hget(Job.key_for(job_id), "status")
            statuses = pipe.execute()
    except RedisError as error:
        raise DispatchError(f"Redis unavailable: {error}") from error
    return {job_id for job_id, status in zip(job_ids, statuses, strict=True)
            if status is not None and status.decode() in held}


def remove_job(job_id: str) -> bool:
    """Take a waiting job out of its queue and delete it; True when it was removed."""
    try:
        job = Job.fetch(job_id, connection=redis_connection())
        job.delete(remove_from_queue=True)
        return True
    except (NoSuchJobError, InvalidJobOperation):
        return False
    except RedisError as error:
        log.warning("could not remove job %s: %s", job_id, error)
        return False


def stop_job(job_id: str, connection: Redis | None = None) -> bool:
    """Ask the worker executing ``job_id`` to kill it (RQ's stop-job command)."""
    try:
        send_stop_job_command(connection or redis_connection(), job_id)
        return True
    except (NoSuchJobError, InvalidJobOperation):
        return False
    except RedisError as error:
        log.warning("could not stop job %s: %s", job_id, error)
        return False


def failed_run_jobs(limit: int = 500) -> list[tuple[str, str]]:
    """Return ``(job_id, exception text)`` of failed run jobs in the failed registries.

    Raises:
        DispatchError: Redis is unreachable.
    """
    found: list[tuple[str, str]] = []
    try:
        connection = redis_connection()
        for name in QUEUES:
            registry = get_queue(name, connection).failed_job_registry
            for job_id in registry.get_job_ids(0, limit - 1):
                if not job_id.startswith("run-"):
                    continue
                try:
                    job = Job.fetch(job_id, connection=connection)
                except NoSuchJobError:
                    continue
                result = job.latest_result()
                text = (result.exc_string if result else None) or "job failed in RQ"
                found.append((job_id, text))
    except RedisError as error:
        raise DispatchError(f"Redis unavailable: {error}") from error
    return found


def record_scheduler_tick(at: datetime | None = None) -> None:
    """Store ``at`` (default now) as the last dispatch tick under the key of earlier
    versions, which their health pages and external dashboards read."""
    redis_connection().set(SCHEDULER_TICK_KEY, (at or datetime.now(UTC)).isoformat(),
                           ex=7 * 86400)


def queue_overview() -> dict[str, Any]:
    """Describe queues, workers and the scheduler for the health page.

    Returns:
        ``{"ok": bool, "error": str | None, "queues": [{name, depth, started, failed}],
        "workers": [{name, state, current_job, last_heartbeat, queues}],
        "failed_jobs": int}``. Never raises when Redis is down.
    """
    overview: dict[str, Any] = {
        "ok": False, "error": None, "queues": [], "workers": [], "failed_jobs": 0,
    }
    try:
        connection = redis_connection()
        connection.ping()
        for name in QUEUES:
            queue = get_queue(name, connection)
            failed = queue.failed_job_registry.count
            overview["queues"].append({
                "name": name, "depth": queue.count,
                "started": queue.started_job_registry.count, "failed": failed,
            })
            overview["failed_jobs"] += failed
        for worker in Worker.all(connection=connection):
            overview["workers"].append({
                "name": worker.name,
                "state": str(getattr(worker.get_state(), "value", worker.get_state())),
                "current_job": worker.get_current_job_id(),
                "last_heartbeat": worker.last_heartbeat.isoformat()
                if worker.last_heartbeat else None,
                "queues": worker.queue_names(),
            })
        overview["ok"] = True
    except RedisError as error:
        overview["error"] = mask_secrets(
            f"Redis unavailable at {mask_url(current_app.config['REDIS_URL'])}: {error}")
    return overview
