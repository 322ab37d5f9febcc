"""What the health page shows to whom: worker details for admins, aggregates for others.

A worker's current job id, its name (a host and process id) and the queues it serves
may belong to any programme; a steward of one programme sees only how many workers
there are, how many are busy and when one last reported.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


def worker_aggregate(workers: list[dict[str, Any]]) -> dict[str, Any]:
    """Summarise ``queue_overview()["workers"]`` without naming a worker or a job.

    Args:
        workers: the overview's workers, with ``last_heartbeat_at`` parsed.

    Returns:
        ``{"total", "busy", "idle", "last_heartbeat_at"}``.
    """
    busy = sum(1 for w in workers if w.get("current_job") or w.get("state") == "busy")
    beats = [w["last_heartbeat_at"] for w in workers
             if isinstance(w.get("last_heartbeat_at"), datetime)]
    return {"total": len(workers), "busy": busy, "idle": len(workers) - busy,
            "last_heartbeat_at": max(beats) if beats else None}
