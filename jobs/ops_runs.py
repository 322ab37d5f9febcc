"""``flask ops rerun RUN [--from STEP]`` and ``flask ops cleanup-work``."""

from __future__ import annotations

import click
from flask import current_app
from sqlalchemy import select

from jobs.cli import ops_cli
from portal.redact import mask_secrets


@ops_cli.command("rerun")
@click.argument("run_id")
@click.option("--from", "step", default=None, help="Resume from this step: reuse the "
              "recorded outputs of the steps before it.")
def rerun_command(run_id: str, step: str | None) -> None:
    """Start a new run repeating run RUN_ID (uuid or id), or resume it from a step."""
    from portal.extensions import db
    from portal.models import MonitoringProgrammeRun
    from portal.services import DomainError
    from portal.services.rerun import rerun

    column = MonitoringProgrammeRun.id if run_id.isdigit() else MonitoringProgrammeRun.uuid
    parent = db.session.scalar(select(MonitoringProgrammeRun)
                               .where(column == (int(run_id) if run_id.isdigit() else run_id)))
    if parent is None:
        raise click.ClickException(f"no run {run_id}")
    try:
        result = rerun(parent, None, resume_from=step, trigger="integration")
    except DomainError as error:
        raise click.ClickException(
            mask_secrets(f"{error.field or 'error'}: {error.message}")) from error
    what = f"resumed from {step}" if step else "re-run"
    click.echo(f"run {result.run.uuid} {result.message} ({what} of {parent.uuid})")


@ops_cli.command("cleanup-work")
def cleanup_work_command() -> None:
    """Delete step outputs and full logs past STEP_OUTPUT/LOG_RETENTION_DAYS."""
    from portal.services.work_retention import cleanup_work

    summary = cleanup_work(current_app.config)
    click.echo(f"step outputs removed: {summary['outputs']}  logs removed: {summary['logs']}  "
               f"bytes freed: {summary['bytes']:,}")
