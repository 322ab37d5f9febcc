"""Retention of what runs keep under WORK_ROOT: step outputs and full step logs.

``WORK_ROOT/<run uuid>/outputs`` (Parquet checkpoints for resume) is removed
``STEP_OUTPUT_RETENTION_DAYS`` after the run ended, ``WORK_ROOT/<run uuid>/logs``
after ``STEP_LOG_RETENTION_DAYS``. Active runs are never touched; folders of runs
that no longer exist are removed. Other files of a run (rejection reports) stay.
"""

from __future__ import annotations

import shutil
import uuid as uuid_module
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.models import MonitoringProgrammeRun, utcnow

KEPT = (("outputs", "STEP_OUTPUT_RETENTION_DAYS"), ("logs", "STEP_LOG_RETENTION_DAYS"))


def _is_uuid(name: str) -> bool:
    try:
        return str(uuid_module.UUID(name)) == name
    except ValueError:
        return False


def _size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def cleanup_work(config: Mapping[str, Any], now: datetime | None = None) -> dict[str, int]:
    """Remove step outputs and logs past their retention; return what was removed.

    Returns:
        ``{"outputs": folders, "logs": folders, "bytes": bytes freed}``.
    """
    now = now or utcnow()
    root = Path(config["WORK_ROOT"])
    summary = {"outputs": 0, "logs": 0, "bytes": 0}
    if not root.is_dir():
        return summary
    names = [p.name for p in root.iterdir() if p.is_dir() and _is_uuid(p.name)]
    for start in range(0, len(names), 500):
        chunk = names[start:start + 500]
        ended = dict(db.session.execute(
            select(MonitoringProgrammeRun.uuid, MonitoringProgrammeRun.finished_at)
            .where(MonitoringProgrammeRun.uuid.in_(chunk))).all())
        active = set(db.session.scalars(
            select(MonitoringProgrammeRun.uuid).where(MonitoringProgrammeRun.uuid.in_(chunk),
                                                      MonitoringProgrammeRun.status.in_(
                                                          ("queued", "running")))))
        db.session.rollback()
        for name in chunk:
            if name in active:
                continue
            finished = ended.get(name)
            for folder_name, setting in KEPT:
                folder = root / name / folder_name
                cutoff = now - timedelta(days=int(config.get(setting) or 0))
                gone = name not in ended
                if folder.is_dir() and (gone or finished is None or finished < cutoff):
                    summary["bytes"] += _size(folder)
                    shutil.rmtree(folder, ignore_errors=True)
                    summary[folder_name] += 1
    return summary
