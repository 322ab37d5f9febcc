"""``flask jobs`` (worker, scheduler) and ``flask ops`` (run-due, reconcile, list, run, replay).

Filled in by the run engine; registered through the ``flask.commands`` entry point.
"""

from __future__ import annotations

from flask.cli import AppGroup

jobs_cli = AppGroup("jobs", help="Run RQ workers and the scheduler.")
ops_cli = AppGroup("ops", help="Operate programmes from cron or CI.")
