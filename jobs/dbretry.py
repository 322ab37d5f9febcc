"""Ride out a database outage at a run's step boundaries.

A step that runs while PostgreSQL restarts (or while SQLite is locked longer than the
busy timeout) should not lose its result: the runner's boundary writes go through
:func:`with_db_retry`, which rolls back, waits (0.5 s doubling to 5 s) and tries again
for up to RUN_DB_WAIT_SECONDS. Past that the error is raised: the job fails in RQ and
the reconciler ends the run as lost (and retries it) once the database is back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from flask import current_app
from sqlalchemy.exc import DBAPIError, OperationalError

from portal.extensions import db

log = logging.getLogger(__name__)
T = TypeVar("T")


def _is_outage(error: Exception) -> bool:
    return isinstance(error, OperationalError) or (
        isinstance(error, DBAPIError) and error.connection_invalidated)


def with_db_retry(action: Callable[[], T], what: str) -> T:
    """Call ``action`` until it gets past a database outage, within RUN_DB_WAIT_SECONDS.

    Raises:
        Exception: ``action``'s own errors at once; an outage's error once the wait is over.
    """
    deadline = time.monotonic() + float(current_app.config.get("RUN_DB_WAIT_SECONDS", 300))
    delay = 0.5
    while True:
        try:
            return action()
        except (OperationalError, DBAPIError) as error:
            if not _is_outage(error) or time.monotonic() + delay > deadline:
                raise
            log.warning("%s: database unavailable (%s); trying again in %gs", what,
                        str(error).splitlines()[0], delay)
            try:
                db.session.rollback()
            except Exception:  # noqa: BLE001 — the connection is gone; the pool reconnects
                db.session.remove()
            time.sleep(delay)
            delay = min(5.0, delay * 2)
